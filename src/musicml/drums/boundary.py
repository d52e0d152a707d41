"""Streaming boundary labels and the scores of a transcription against them.

A streaming transcriber sees a recording through overlapping windows, and
hits near a window's edge are where it goes wrong: cut in half, missed, or
reported twice by two windows. The *boundary pack* lists, for every window of
every held-out take, the annotated events inside it and which of them lie
within ``margin`` of the window's start or end. The evaluation matches a
transcription to the annotations and reports

* per-class recall of the boundary events (macro-averaged: the seed's gate,
  0.95), and
* per-class onset precision / recall / F-measure over all events with a
  tolerance (50 ms), following mir_eval's conventions: one-to-one matching,
  ``|reference - estimate| <= tolerance``, and 0 when either side is empty.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from musicml.errors import InputError
from musicml.manifest import iter_jsonl


def match_onsets(reference: Sequence[float], estimate: Sequence[float], *, tolerance_s: float) -> list[tuple[int, int]]:
    """A maximum one-to-one matching of reference and estimated onsets (mir_eval.util.match_events).

    Two onsets may be matched when ``|r - e| <= tolerance_s``. With one tolerance
    for every pair the candidate graph is an interval graph, where matching
    each reference (in time order) to the earliest free estimate it reaches is
    maximum, so no bipartite search is needed.

    Returns
    -------
    list of (reference index, estimate index)
        Indexes into the arguments as given (they need not be sorted).
    """
    ref = np.asarray(reference, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    ref_order, est_order = np.argsort(ref, kind="stable"), np.argsort(est, kind="stable")
    pairs = []
    j = 0
    for i in ref_order:
        while j < est_order.size and est[est_order[j]] < ref[i] - tolerance_s:
            j += 1
        if j < est_order.size and abs(est[est_order[j]] - ref[i]) <= tolerance_s:
            pairs.append((int(i), int(est_order[j])))
            j += 1
    return pairs


def first_of_close(onsets: Sequence[float], *, merge_s: float) -> np.ndarray:
    """Which strokes of one class remain when strokes closer than ``merge_s`` to the last kept one are one.

    A class-level transcription reports at most one onset of a class within its
    peak-picking gap, so two strokes of one class closer than that (a flam, two
    crash cymbals struck together) can never both be matched: counted apart, the
    second is a miss no transcriber can avoid. The first of each run is kept.

    Returns
    -------
    ndarray of bool
        A mask in the order of ``onsets`` (which need not be sorted); all True when ``merge_s`` <= 0.
    """
    times = np.asarray(onsets, dtype=np.float64)
    keep = np.ones(times.size, dtype=bool)
    if merge_s <= 0:
        return keep
    last = -np.inf
    for i in np.argsort(times, kind="stable"):
        if times[i] - last < merge_s:
            keep[i] = False
        else:
            last = times[i]
    return keep


def merge_close_onsets(references: Sequence[tuple[float, int]], *, merge_s: float) -> list[tuple[float, int]]:
    """``(onset_s, class)`` pairs without those :func:`first_of_close` merges within each class, order kept."""
    keep = np.ones(len(references), dtype=bool)
    for c in {c for _, c in references}:
        members = [i for i, (_, k) in enumerate(references) if k == c]
        keep[members] = first_of_close([references[i][0] for i in members], merge_s=merge_s)
    return [r for r, k in zip(references, keep) if k]


def merge_close_strikes(references: Sequence["Reference"], *, merge_s: float) -> tuple[list["Reference"], dict]:
    """:func:`first_of_close` per take and class; a merged stroke is a boundary event when any of its strokes was.

    Returns
    -------
    (references, merged): the references kept (in the given order) and the count merged away per label.
    """
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(references):
        groups.setdefault((r.take, r.label), []).append(i)
    kept: dict[int, Reference] = {}
    merged: dict[str, int] = {}
    for (_, label), members in groups.items():
        members.sort(key=lambda i: references[i].onset_s)
        keep = first_of_close([references[i].onset_s for i in members], merge_s=merge_s)
        head = None
        for i, k in zip(members, keep):
            if k:
                head = i
                kept[i] = references[i]
            else:
                merged[label] = merged.get(label, 0) + 1
                if references[i].boundary and not kept[head].boundary:
                    kept[head] = replace(kept[head], boundary=True)
    return [kept[i] for i in sorted(kept)], merged


def onset_scores(n_reference: int, n_estimate: int, n_matched: int) -> dict:
    """Precision, recall and F-measure from counts; 0 when either side is empty (mir_eval)."""
    if n_reference == 0 or n_estimate == 0:
        return {"precision": 0.0, "recall": 0.0, "f_measure": 0.0}
    precision, recall = n_matched / n_estimate, n_matched / n_reference
    f = 0.0 if n_matched == 0 else 2 * precision * recall / (precision + recall)
    return {"precision": precision, "recall": recall, "f_measure": f}


def plan_boundary_windows(duration_s: float, *, window_s: float, hop_s: float) -> list[tuple[float, float]]:
    """``(start, end)`` of the windows a streaming transcriber runs over a recording.

    Windows start every ``hop_s`` while they start inside the recording; the
    last may run past its end. A recording shorter than a window has one.
    """
    count = max(1, math.ceil((duration_s - window_s) / hop_s - 1e-9) + 1)
    return [(round(k * hop_s, 6), round(k * hop_s + window_s, 6)) for k in range(count)]


def pack_windows(events: pd.DataFrame, durations: Mapping[str, float], *, window_s: float, hop_s: float,
                 margin_s: float) -> list[dict]:
    """The boundary pack: one row per window of every take.

    Parameters
    ----------
    events : DataFrame
        Annotated events with ``event_id``, ``audio_path`` (the take),
        ``session_id``, ``onset_s``, ``label`` and ``extra_labels``.
    durations : mapping
        Seconds of every take named in ``events``.
    window_s, hop_s, margin_s : float
        Window, hop and the boundary margin.

    Returns
    -------
    list of dict
        ``take``, ``session_id``, ``window``, ``start_s``, ``end_s``,
        ``events`` (each ``event_id``, ``onset_s``, ``labels``, ``near_start``,
        ``near_end``) and ``n_boundary`` (events within ``margin_s`` of an edge).
    """
    rows = []
    for take, group in events.sort_values(["audio_path", "onset_s", "event_id"]).groupby("audio_path", sort=True):
        session = str(group["session_id"].iloc[0])
        onsets = group["onset_s"].to_numpy(dtype=np.float64)
        for k, (start, end) in enumerate(plan_boundary_windows(durations[take], window_s=window_s, hop_s=hop_s)):
            inside = np.flatnonzero((onsets >= start) & (onsets < end))
            listed = []
            for i in inside:
                row = group.iloc[i]
                onset = float(onsets[i])
                listed.append({
                    "event_id": str(row["event_id"]), "onset_s": round(onset, 6),
                    "labels": [str(row["label"])] + [str(x) for x in row["extra_labels"]],
                    "near_start": bool(onset - start <= margin_s), "near_end": bool(end - onset <= margin_s),
                })
            rows.append({"take": str(take), "session_id": session, "window": k, "start_s": start, "end_s": end,
                         "events": listed, "n_boundary": sum(e["near_start"] or e["near_end"] for e in listed)})
    return rows


@dataclass(frozen=True)
class Reference:
    """One annotated strike of one class, from the pack."""

    take: str
    event_id: str
    onset_s: float
    label: str
    boundary: bool


def read_pack(path: str | os.PathLike) -> list[Reference]:
    """The unique annotated strikes of a boundary pack (an event with extra labels is one per label).

    An empty pack (no held-out takes) gives no references.

    Raises
    ------
    InputError
        For a missing file, a row or event with a missing or mistyped field
        (naming the line), or one event id with two different onsets.
    """
    path = str(path)
    seen: dict[tuple[str, str], float] = {}
    rows = []
    for lineno, row in iter_jsonl(path):
        for name, kind in (("take", str), ("window", int), ("events", list)):
            if name not in row:
                raise InputError(path, "missing required field", line=lineno, field=name)
            if not isinstance(row[name], kind) or isinstance(row[name], bool):
                raise InputError(path, f"expected {kind.__name__}, got {row[name]!r}", line=lineno, field=name)
        for event in row["events"]:
            if not isinstance(event, dict):
                raise InputError(path, f"expected an event object, got {event!r}", line=lineno, field="events")
            for name in ("event_id", "onset_s", "labels"):
                if name not in event:
                    raise InputError(path, "an event lacks a required field", line=lineno, field=f"events.{name}")
            onset = event["onset_s"]
            if isinstance(onset, bool) or not isinstance(onset, (int, float)) or not math.isfinite(onset) or onset < 0:
                raise InputError(path, f"expected a finite number >= 0, got {onset!r}", line=lineno,
                                 field="events.onset_s")
            if not isinstance(event["labels"], list) or not event["labels"] \
                    or not all(isinstance(x, str) for x in event["labels"]):
                raise InputError(path, f"expected a non-empty list of labels, got {event['labels']!r}",
                                 line=lineno, field="events.labels")
            key = (row["take"], str(event["event_id"]))
            if key in seen and abs(seen[key] - onset) > 1e-6:
                raise InputError(path, f"event {key[1]} has onset {onset} here but {seen[key]} in an earlier window",
                                 line=lineno, field="events.onset_s")
            seen[key] = float(onset)
        rows.append(row)
    return pack_references(rows)


def extra_pack_takes(path: str | os.PathLike) -> set[str]:
    """The takes whose pack rows are marked ``extra`` (more takes of the held-out kits than the dataset holds).

    A pack without the field (written before it existed) has none.
    """
    path = str(path)
    takes = set()
    for lineno, row in iter_jsonl(path):
        flag = row.get("extra", False)
        if not isinstance(flag, bool):
            raise InputError(path, f"expected true or false, got {flag!r}", line=lineno, field="extra")
        if flag:
            takes.add(str(row.get("take")))
    return takes


def pack_references(rows: Iterable[Mapping]) -> list[Reference]:
    """The unique strikes of boundary-pack rows (as :func:`pack_windows` makes them), in take and time order;
    an event is a boundary event when any window flags it near an edge."""
    seen: dict[tuple[str, str], float] = {}
    boundary: dict[tuple[str, str], bool] = {}
    labels: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        for event in row["events"]:
            key = (row["take"], str(event["event_id"]))
            seen[key] = float(event["onset_s"])
            labels[key] = event["labels"]
            boundary[key] = boundary.get(key, False) or bool(event.get("near_start")) or bool(event.get("near_end"))
    return [Reference(take, event_id, seen[(take, event_id)], label, boundary[(take, event_id)])
            for (take, event_id) in sorted(seen, key=lambda k: (k[0], seen[k], k[1]))
            for label in dict.fromkeys(labels[(take, event_id)])]


def read_predictions(path: str | os.PathLike, *, takes: Iterable[str]) -> pd.DataFrame:
    """Transcribed events (``take``, ``time_s``, ``label``) from JSONL, checked against the pack's takes.

    An empty file is a valid, empty transcription. A row naming a take the
    pack does not hold is an error (mismatched ids), as is a missing field.
    """
    path = str(path)
    known = set(takes)
    rows = []
    for lineno, row in iter_jsonl(path):
        for name in ("take", "time_s", "label"):
            if name not in row:
                raise InputError(path, "missing required field", line=lineno, field=name)
        if row["take"] not in known:
            raise InputError(path, f"take {row['take']!r} is not in the boundary pack", line=lineno, field="take")
        t = row["time_s"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
            raise InputError(path, f"expected a finite number >= 0, got {t!r}", line=lineno, field="time_s")
        if not isinstance(row["label"], str) or not row["label"]:
            raise InputError(path, f"expected a non-empty string, got {row['label']!r}", line=lineno, field="label")
        rows.append({"take": row["take"], "time_s": float(t), "label": row["label"]})
    return pd.DataFrame(rows, columns=["take", "time_s", "label"])


def evaluate_boundaries(references: Sequence[Reference], predictions: pd.DataFrame, *, classes: Sequence[str],
                        tolerance_s: float, min_macro_recall: float, merge_s: float = 0.0) -> dict:
    """Boundary recall and onset F-measure per class, with the macro-recall gate.

    References whose label is not in ``classes`` (e.g. ``unknown``) are not
    scored and are counted under ``ignored_references``. Predictions of
    labels outside ``classes`` count as false positives of no class.
    Strokes of one class closer than ``merge_s`` are one reference
    (:func:`merge_close_strikes`; ``merged_references`` per class counts them).

    Returns
    -------
    dict
        ``macro_recall`` (boundary events, classes present), ``macro_f_measure``,
        ``per_class`` {class: boundary_recall, boundary_events, precision,
        recall, f_measure, references, estimates}, counts, and ``gates``.
    """
    references, merged = merge_close_strikes(references, merge_s=merge_s)
    ref = pd.DataFrame([r.__dict__ for r in references], columns=["take", "event_id", "onset_s", "label", "boundary"])
    scored = ref[ref["label"].isin(classes)]
    per_class = {}
    for label in classes:
        r = scored[scored["label"] == label]
        p = predictions[predictions["label"] == label]
        matched = 0
        boundary_hit = 0
        for take in sorted(set(r["take"]) | set(p["take"])):
            rt, pt = r[r["take"] == take], p[p["take"] == take]
            pairs = match_onsets(rt["onset_s"].to_numpy(), pt["time_s"].to_numpy(), tolerance_s=tolerance_s)
            matched += len(pairs)
            is_boundary = rt["boundary"].to_numpy()
            boundary_hit += sum(bool(is_boundary[i]) for i, _ in pairs)
        n_boundary = int(r["boundary"].sum())
        scores = onset_scores(len(r), len(p), matched)
        per_class[label] = {
            "references": int(len(r)), "merged_references": merged.get(label, 0), "estimates": int(len(p)),
            "matched": matched,
            "boundary_events": n_boundary, "boundary_recall": boundary_hit / n_boundary if n_boundary else 0.0,
            **scores,
        }
    with_boundary = [c for c in classes if per_class[c]["boundary_events"]]
    with_refs = [c for c in classes if per_class[c]["references"]]
    macro_recall = float(np.mean([per_class[c]["boundary_recall"] for c in with_boundary])) if with_boundary else 0.0
    macro_f = float(np.mean([per_class[c]["f_measure"] for c in with_refs])) if with_refs else 0.0
    return {
        "macro_recall": macro_recall,
        "macro_f_measure": macro_f,
        "tolerance_ms": round(tolerance_s * 1000, 3),
        "merge_ms": round(merge_s * 1000, 3),
        "takes": int(ref["take"].nunique()),
        "references": int(len(scored)),
        "boundary_references": int(scored["boundary"].sum()),
        "ignored_references": int(len(ref) - len(scored)),
        "estimates": int(len(predictions)),
        "per_class": per_class,
        "gates": {"macro_recall": {"passed": bool(with_boundary) and macro_recall >= min_macro_recall,
                                   "value": macro_recall, "threshold": min_macro_recall}},
    }


def evaluate_with_base(references: Sequence[Reference], predictions: pd.DataFrame, *, extra_takes: Iterable[str],
                       classes: Sequence[str], tolerance_s: float, min_macro_recall: float,
                       merge_s: float = 0.0) -> dict:
    """:func:`evaluate_boundaries` over every take, plus ``base_takes``: the same scores over the takes that are
    not in ``extra_takes`` (the original held-out takes, comparable with figures from before the extra takes).
    ``base_takes`` is absent when there are no extra takes."""
    kw = dict(classes=classes, tolerance_s=tolerance_s, min_macro_recall=min_macro_recall, merge_s=merge_s)
    report = evaluate_boundaries(references, predictions, **kw)
    extra = set(extra_takes)
    if extra:
        base = evaluate_boundaries([r for r in references if r.take not in extra],
                                   predictions[~predictions["take"].isin(extra)], **kw)
        report["base_takes"] = {k: v for k, v in base.items() if k != "gates"}
    return report


def held_out_takes(dataset: pd.DataFrame, *, source: str, split: str, origin: str) -> pd.DataFrame:
    """The events of ``source`` in ``split`` (e.g. the grooves' test takes); possibly none."""
    for column in ("source", "split", "audio_path", "onset_s", "label", "event_id", "session_id"):
        if column not in dataset.columns:
            raise InputError(origin, f"missing column '{column}'", field=column)
    chosen = dataset[(dataset["source"] == source) & (dataset["split"] == split)]
    if "extra_labels" not in chosen.columns:
        chosen = chosen.assign(extra_labels=[[] for _ in range(len(chosen))])
    return chosen.reset_index(drop=True)
