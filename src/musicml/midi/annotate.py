"""Labels of every sample: automatic (measured), from the source, and manual.

Precedence, lowest first: what the annotator measures (key, mode, tempo,
chords, groove type, swing ratio, articulation, dynamics, contour, range) <
what the source says (generator rules, or an import folder's label mapping) <
a person's label in the tracked manual-labels file (``is_verified: true``).

``quality_score`` is the share of a sample's label-consistency checks that
pass: a label the source gives must agree with what the annotator measures
(key and mode, chords per bar, contour, range, notes inside the labelled
scale, articulation, dynamics curve, groove type, swing ratio within a
tolerance).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from musicml.atomic import atomic_path
from musicml.errors import ConfigError, InputError
from musicml.midi.analysis import CONTOURS, RANGES, analyse, load_midi
from musicml.midi.datasets import EXTRA_FIELDS, SEED_FIELDS, DatasetSpec
from musicml.midi.theory import SCALES, parse_chord, pitch_class
from musicml.parallel import one_blas_thread

# Which consistency checks apply to which dataset.
CHECKS = {
    "emotion": ("key", "mode", "chords"),
    "harmony": ("key", "mode", "chords"),
    "melody": ("contour", "range", "in_scale"),
    "dynamics": ("articulation", "dynamics"),
    "groove": ("groove_type", "swing_ratio"),
}
ARTICULATIONS = ("staccato", "legato", "accented", "detached")
DYNAMICS = ("crescendo", "decrescendo", "swell", "steady")
LABEL_FIELDS = set(SEED_FIELDS) | set(EXTRA_FIELDS)


def check_label(name: str, value: Any, *, categories: Mapping[str, Sequence[str]] | None = None) -> Any:
    """``value`` if it is a valid ``name`` label, else ConfigError saying what was expected.

    ``categories`` maps a label field to its allowed values (e.g. emotion names).
    """
    if value is None:
        return None
    allowed = (categories or {}).get(name)
    if name in ("valence", "arousal", "quality_score", "swing_ratio"):
        lo, hi = (0.0, 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= float(value) <= hi:
            raise ConfigError(f"{name} {value!r} outside {lo:g}..{hi:g}")
        return float(value)
    if name == "tempo_bpm":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < float(value) <= 400:
            raise ConfigError(f"tempo_bpm {value!r} outside (0, 400]")
        return float(value)
    if name == "key":
        pitch_class(value)  # raises "unknown key name"
        return str(value)
    if name == "mode" and value not in SCALES:
        raise ConfigError(f"unknown mode '{value}': expected {sorted(SCALES)}")
    if name == "contour" and value not in CONTOURS:
        raise ConfigError(f"unknown contour '{value}': expected {list(CONTOURS)}")
    if name == "range" and value not in RANGES:
        raise ConfigError(f"unknown range '{value}': expected {list(RANGES)}")
    if name == "dynamics" and value not in DYNAMICS:
        raise ConfigError(f"unknown dynamics '{value}': expected {list(DYNAMICS)}")
    if name == "articulation" and value not in ARTICULATIONS:
        raise ConfigError(f"unknown articulation '{value}': expected {list(ARTICULATIONS)}")
    if name == "chord_progression":
        if not isinstance(value, list):
            raise ConfigError(f"chord_progression must be a list of chord names, got {value!r}")
        for chord in value:
            parse_chord(chord)
        return list(value)
    if name == "is_verified" and not isinstance(value, bool):
        raise ConfigError(f"is_verified must be true or false, got {value!r}")
    if allowed and value not in allowed:
        raise ConfigError(f"unknown {name} '{value}': expected one of {list(allowed)}")
    return value


# ------------------------------------------------------------- manual labels


def read_manual_labels(path: str | os.PathLike, *, categories: Mapping[str, Mapping[str, Sequence[str]]]
                       ) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(dataset, sample_id): labels}`` from the manual-labels JSONL (later lines win).

    Every line names ``dataset`` and ``sample_id``; the other keys are labels.
    A missing file means no manual labels.
    """
    path = Path(path)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if not path.exists():
        return out
    for line_no, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not valid JSON: {exc.msg}", line=line_no) from exc
        if not isinstance(row, dict):
            raise InputError(path, "expected a JSON object", line=line_no)
        for required in ("dataset", "sample_id"):
            if not isinstance(row.get(required), str):
                raise InputError(path, "missing or not a string", line=line_no, field=required)
        dataset = row.pop("dataset")
        if dataset not in categories:
            raise InputError(path, f"unknown dataset '{dataset}': expected {sorted(categories)}", line=line_no,
                             field="dataset")
        sample_id = row.pop("sample_id")
        labels = {}
        for name, value in row.items():
            if name not in LABEL_FIELDS:
                raise InputError(path, f"unknown label field; expected one of {sorted(LABEL_FIELDS)}", line=line_no,
                                 field=name)
            try:
                labels[name] = check_label(name, value, categories=categories[dataset])
            except ConfigError as exc:
                raise InputError(path, str(exc), line=line_no, field=name) from exc
        out.setdefault((dataset, sample_id), {}).update(labels)
    return out


def append_manual_label(path: str | os.PathLike, row: Mapping[str, Any]) -> None:
    """Append one JSON line to the manual-labels file (atomically: rewrite + rename)."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(old + json.dumps(dict(row), sort_keys=True) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ annotate


def consistency(dataset: str, labels: Mapping[str, Any], measured: Mapping[str, Any], *,
                swing_tolerance: float) -> dict[str, bool]:
    """Each applicable check of :data:`CHECKS`: does the label agree with the measurement?

    A check is skipped (absent from the result) when the sample lacks the label.
    """
    out: dict[str, bool] = {}
    for check in CHECKS[dataset]:
        if check == "chords":
            if labels.get("chord_progression"):
                out[check] = list(labels["chord_progression"]) == list(measured.get("chord_progression") or [])
        elif check == "in_scale":
            if labels.get("key") and labels.get("mode"):
                out[check] = bool(measured.get(f"in_scale:{labels['key']}:{labels['mode']}", False))
        elif check == "swing_ratio":
            if labels.get("swing_ratio") is not None and measured.get("swing_ratio") is not None:
                out[check] = abs(float(labels["swing_ratio"]) - float(measured["swing_ratio"])) <= swing_tolerance
        elif labels.get(check) is not None:
            out[check] = labels[check] == measured.get(check)
    return out


def annotate_sample(dataset: str, *, data: bytes, path: str, source_labels: Mapping[str, Any],
                    manual: Mapping[str, Any] | None, swing_tolerance: float) -> dict[str, Any]:
    """Annotations (all seed fields) and measurements of one sample.

    Returns
    -------
    dict
        ``annotations`` (seed + extra fields), ``measured`` (what the annotator
        found, plus ``checks``), ``auto_fields`` (labels only the annotator gave).
    """
    pm = load_midi(data, path=path)
    analysis = analyse(pm, path=path)
    measured = analysis.labels()
    key = source_labels.get("key") or (manual or {}).get("key")
    mode = source_labels.get("mode") or (manual or {}).get("mode")
    if key and mode:
        pcs = {(pitch_class(key) + s) % 12 for s in SCALES[mode]}
        pitched = [n.pitch for inst in pm.instruments if not inst.is_drum for n in inst.notes]
        measured[f"in_scale:{key}:{mode}"] = all(p % 12 in pcs for p in pitched)
    annotations: dict[str, Any] = {name: None for name in (*SEED_FIELDS, *EXTRA_FIELDS)}
    auto = []
    for name, value in measured.items():
        if name in annotations and value is not None:
            annotations[name] = value
            auto.append(name)
    for name, value in source_labels.items():
        if name in annotations:
            annotations[name] = value
            if name in auto:
                auto.remove(name)
    annotations["is_verified"] = False
    annotations["notes"] = ""
    # Only labels someone asserted are checked: an auto-filled label agrees with itself.
    checks = consistency(dataset, source_labels, measured, swing_tolerance=swing_tolerance)
    for name, value in (manual or {}).items():
        annotations[name] = value
        if name in auto:
            auto.remove(name)
    if manual:
        annotations["is_verified"] = bool(manual.get("is_verified", True))
    annotations["quality_score"] = round(float(np.mean(list(checks.values()))), 4) if checks else 1.0
    measured = {k: v for k, v in measured.items() if not k.startswith("in_scale:")}
    measured.update(checks=checks, n_notes=analysis.n_notes, duration_s=round(analysis.duration_s, 3),
                    onset_deviation_ms=round(analysis.onset_deviation_ms, 2))
    return {"annotations": annotations, "measured": measured, "auto_fields": sorted(auto)}


def annotate_rows(dataset: str, rows: Iterable[Mapping[str, Any]], *, root: str | os.PathLike,
                  manual: Mapping[tuple[str, str], Mapping[str, Any]], swing_tolerance: float) -> list[dict]:
    """Annotate index rows (synth or import) of one dataset; duplicates by sample id are dropped."""
    with one_blas_thread():
        return _annotate_rows(dataset, rows, root=root, manual=manual, swing_tolerance=swing_tolerance)


def _annotate_rows(dataset: str, rows: Iterable[Mapping[str, Any]], *, root: str | os.PathLike,
                   manual: Mapping[tuple[str, str], Mapping[str, Any]], swing_tolerance: float) -> list[dict]:
    out, seen = [], set()
    for row in rows:
        if row["sample_id"] in seen:
            continue
        seen.add(row["sample_id"])
        path = Path(root) / row["file_path"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(path, f"cannot read: {exc.strerror}") from exc
        result = annotate_sample(dataset, data=data, path=str(path), source_labels=row.get("labels") or {},
                                 manual=manual.get((dataset, row["sample_id"])), swing_tolerance=swing_tolerance)
        out.append({**{k: row.get(k) for k in ("sample_id", "file_path", "audio_path", "source", "family",
                                               "origin")}, **result})
    return out


def prompt_labels(samples: Sequence[Mapping[str, Any]], *, dataset: str, category: str, allowed: Sequence[str],
                  manual: Mapping[tuple[str, str], Mapping[str, Any]], labels_file: str | os.PathLike, limit: int,
                  ask, say) -> int:
    """Ask ``ask(prompt)`` for the ``category`` label of unverified samples; record answers.

    Imported samples come first (their labels are least certain), then the
    rest by sample id. ``ask`` returns the answer line or ``None`` at end of
    input; an empty answer skips, ``q`` stops; an invalid answer is reported
    through ``say`` and asked again. Returns how many labels were recorded.
    """
    pending = [s for s in samples if not s["annotations"].get("is_verified")
               and not (manual.get((dataset, s["sample_id"])) or {}).get("is_verified")]
    pending.sort(key=lambda s: (s.get("source") == "synth", s["sample_id"]))
    recorded = 0
    for sample in pending[:max(limit, 0)]:
        current = sample["annotations"].get(category)
        say(f"{sample['sample_id']}  {sample['file_path']}  {category}={current}  "
            f"measured key={sample.get('measured', {}).get('key')} {sample.get('measured', {}).get('mode')}")
        while True:
            answer = ask(f"{category} [{'/'.join(allowed)}], empty = skip, q = quit: ")
            if answer is None or answer == "q":
                return recorded
            if answer == "":
                break
            parts = answer.split()
            row: dict[str, Any] = {"dataset": dataset, "sample_id": sample["sample_id"], "is_verified": True}
            try:
                row[category] = check_label(category, parts[0], categories={category: list(allowed)})
                if len(parts) > 1:
                    if dataset != "emotion" or len(parts) != 3:
                        raise ConfigError("expected 'LABEL' or, for emotion, 'LABEL VALENCE AROUSAL'")
                    for name, text in zip(("valence", "arousal"), parts[1:]):
                        try:
                            number = float(text)
                        except ValueError:
                            raise ConfigError(f"{name} '{text}' is not a number") from None
                        row[name] = check_label(name, number)
            except ConfigError as exc:
                say(f"error: {exc}")
                continue
            append_manual_label(labels_file, row)
            recorded += 1
            break
    return recorded
