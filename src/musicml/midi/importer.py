"""Real MIDI collections (a Lakh or Groove MIDI subset) as dataset sources.

``musicml midi import DIR --source NAME --dataset D`` copies ``DIR`` to
``data/raw/midi/NAME``, tracks it with ``dvc add`` and enables it in params
(:func:`add_midi_source`); the ``midi_import`` stage then scans every enabled
source (:func:`scan_sources`): content-hash de-duplication, folder-name
labels, and unreadable files skipped with their reason. Collections are
dirty, so a bad file is a counted skip here, not an error; the stage's gate
fails only when too large a share is skipped.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from musicml.drums.kits import copy_folder, dvc_add, update_params
from musicml.errors import ConfigError, InputError
from musicml.midi.analysis import analyse, load_midi
from musicml.midi.annotate import check_label
from musicml.midi.synth import DATASETS
from musicml.parallel import one_blas_thread

MIDI_SUFFIXES = (".mid", ".midi", ".kar")
DEFAULT_ROOT = "data/raw/midi"


def midi_files(folder: str | os.PathLike) -> list[Path]:
    """Every MIDI file under ``folder`` (by suffix, any case), sorted."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)


def folder_label(rel: Path, mapping: Mapping[str, Mapping[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    """The first folder of ``rel`` that the mapping knows, and its labels (``happy/x.mid`` -> emotion happy)."""
    for part in rel.parts[:-1]:
        if part in mapping:
            return part, dict(mapping[part])
        if part.lower() in mapping:
            return part.lower(), dict(mapping[part.lower()])
    return None, {}


def check_folder_labels(mapping: Mapping[str, Mapping[str, Any]], categories: Mapping[str, Mapping[str, Sequence[str]]]
                        ) -> None:
    """Every label in ``midi.import.folder_labels`` must be a valid label value."""
    allowed = {}
    for per_dataset in categories.values():
        for name, values in per_dataset.items():
            allowed.setdefault(name, set()).update(values)
    for folder, labels in mapping.items():
        if not isinstance(labels, Mapping):
            raise ConfigError(f"midi.import.folder_labels.{folder}: expected a mapping of labels")
        for name, value in labels.items():
            try:
                check_label(name, value, categories={k: sorted(v) for k, v in allowed.items()})
            except ConfigError as exc:
                raise ConfigError(f"midi.import.folder_labels.{folder}.{name}: {exc}") from exc


def scan_source(name: str, folder: str | os.PathLike, *, dataset: str, folder_labels: Mapping[str, Mapping[str, Any]],
                seen: dict[str, str]) -> dict[str, Any]:
    """Scan one source folder.

    Parameters
    ----------
    seen : dict
        Content hash -> file already taken (across sources); updated in place.

    Returns
    -------
    dict
        ``rows`` (index rows), ``skipped`` (``[{"file", "reason"}]``),
        ``duplicates`` (``[{"file", "same_as"}]``) and ``files`` (count).

    Raises
    ------
    InputError
        The folder is missing or holds no MIDI file.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"midi.import.sources.{name}.dataset: unknown dataset '{dataset}'; expected {list(DATASETS)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, f"import folder of source '{name}' missing")
    files = midi_files(folder)
    if not files:
        raise InputError(folder, f"import folder of source '{name}' holds no MIDI file (*.mid, *.midi)")
    with one_blas_thread():
        return _scan(name, folder, files, dataset=dataset, folder_labels=folder_labels, seen=seen)


def _scan(name: str, folder: Path, files: list[Path], *, dataset: str,
          folder_labels: Mapping[str, Mapping[str, Any]], seen: dict[str, str]) -> dict[str, Any]:
    rows, skipped, duplicates = [], [], []
    for path in files:
        rel = path.relative_to(folder)
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            duplicates.append({"file": path.as_posix(), "same_as": seen[digest]})
            continue
        try:
            analysis = analyse(load_midi(data, path=path.as_posix()), path=path.as_posix())
        except InputError as exc:
            skipped.append({"file": path.as_posix(), "reason": exc.message if not exc.field else
                            f"{exc.field}: {exc.message}"})
            continue
        if analysis.drum_only and dataset != "groove":
            skipped.append({"file": path.as_posix(), "reason": f"drum-only file offered to the {dataset} dataset"})
            continue
        seen[digest] = path.as_posix()
        label_folder, labels = folder_label(rel, folder_labels)
        rows.append({"dataset": dataset, "sample_id": digest[:12], "file_path": path.as_posix(), "audio_path": None,
                     "source": name, "family": f"import:{name}", "origin": f"{name}:{rel.as_posix()}",
                     "labels": labels, "label_folder": label_folder})
    return {"rows": rows, "skipped": skipped, "duplicates": duplicates, "files": len(files)}


def scan_sources(sources: Mapping[str, Mapping[str, Any]], *, folder_labels: Mapping[str, Mapping[str, Any]]
                 ) -> tuple[list[dict], dict[str, Any]]:
    """Scan every enabled source; returns the index rows and the report (metrics/midi_import.json)."""
    seen: dict[str, str] = {}
    rows: list[dict] = []
    report: dict[str, Any] = {"sources": {}, "files": 0, "imported": 0, "duplicates": 0, "skipped": 0}
    skipped_all: list[dict] = []
    for name in sorted(sources):
        spec = sources[name] or {}
        if not spec.get("enabled", False):
            continue
        for required in ("dataset", "path"):
            if required not in spec:
                raise ConfigError(f"params: midi.import.sources.{name}.{required} missing")
        result = scan_source(name, spec["path"], dataset=spec["dataset"], folder_labels=folder_labels, seen=seen)
        rows += result["rows"]
        labelled = sum(1 for r in result["rows"] if r["labels"])
        report["sources"][name] = {"dataset": spec["dataset"], "files": result["files"],
                                   "imported": len(result["rows"]), "labelled": labelled,
                                   "duplicates": len(result["duplicates"]), "skipped": len(result["skipped"])}
        for key in ("files",):
            report[key] += result["files"]
        report["imported"] += len(result["rows"])
        report["duplicates"] += len(result["duplicates"])
        report["skipped"] += len(result["skipped"])
        skipped_all += result["skipped"]
    report["skipped_share"] = round(report["skipped"] / report["files"], 4) if report["files"] else 0.0
    report["skipped_files"] = skipped_all
    return rows, report


def add_midi_source(src_dir: str | os.PathLike, *, name: str, dataset: str, root: str | os.PathLike = DEFAULT_ROOT,
                    params_path: str | os.PathLike = "params.yaml", test: bool = False, track: bool = True
                    ) -> list[str]:
    """Copy a MIDI folder into the repo, ``dvc add`` it and enable it in params. Idempotent.

    Returns what changed (the copy, then one line per changed params key);
    empty on a repeated run.

    Raises
    ------
    InputError
        ``src_dir`` is missing or holds no MIDI file (checked before anything is copied).
    ConfigError
        Unknown dataset or a source name that is not a plain folder name.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset '{dataset}': expected one of {list(DATASETS)}")
    if not name or "/" in name or name.startswith(".") or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigError(f"source name '{name}': expected letters, digits, '-' or '_'")
    src_dir = Path(src_dir)
    if not src_dir.is_dir():
        raise InputError(src_dir, "import folder missing")
    if not midi_files(src_dir):
        raise InputError(src_dir, "import folder holds no MIDI file (*.mid, *.midi)")
    target = Path(root) / name
    changes = [f"copied {src_dir} -> {target}"] if copy_folder(src_dir, target) else []
    if track:
        dvc_add([target])
    prefix = f"midi.import.sources.{name}"
    changes += update_params(params_path, {f"{prefix}.enabled": True, f"{prefix}.dataset": dataset,
                                           f"{prefix}.path": target.as_posix(), f"{prefix}.test": bool(test)})
    return changes
