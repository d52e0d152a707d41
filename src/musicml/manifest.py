"""The events manifest: one row per labelled drum hit, the contract between stages.

Columns (see ARCHITECTURE.md):

==============  ===============  ====================================================
column          type             meaning
==============  ===============  ====================================================
event_id        str              stable id: hash of source, audio path and onset
source          str              where it came from (synth, hydrogen, manifest, ...)
session_id      str              recording session / kit instance (unit of splits)
kit             str              drum kit name
audio_path      str              audio holding the hit, relative to the repo root
onset_s         float >= 0       onset time in that audio, seconds
label           str              a taxonomy class, or ``unknown`` (open-set)
extra_labels    list[str]        further classes struck at the same onset
techniques      list[str]        playing techniques (hihat_bark, rimshot, flam, ...)
velocity        int 1-127|null   MIDI-style velocity
openness        float 0-1|null   hi-hat openness
==============  ===============  ====================================================

Inside the pipeline manifests are Parquet; JSONL is accepted at the edges.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import pandas as pd

from musicml.atomic import atomic_path
from musicml.audio import audio_duration
from musicml.errors import InputError

COLUMNS: tuple[str, ...] = (
    "event_id",
    "source",
    "session_id",
    "kit",
    "audio_path",
    "onset_s",
    "label",
    "extra_labels",
    "techniques",
    "velocity",
    "openness",
)
REQUIRED: tuple[str, ...] = ("source", "session_id", "kit", "audio_path", "onset_s", "label")
LIST_COLUMNS: tuple[str, ...] = ("extra_labels", "techniques")


def make_event_id(source: str, audio_path: str, onset_s: float) -> str:
    """Stable 16-hex-digit id of a hit: the same source, file and onset (to 0.1 ms) give the same id."""
    key = f"{source}|{audio_path}|{round(float(onset_s), 4):.4f}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def _check_str(value: Any, *, path: str, line: int, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(path, f"expected a non-empty string, got {value!r}", line=line, field=field)
    return value


def _check_str_list(value: Any, *, path: str, line: int, field: str) -> list[str]:
    if value is None:
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InputError(path, f"expected a list of strings, got {value!r}", line=line, field=field)
    return list(value)


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def normalize_row(row: Mapping[str, Any], *, path: str, line: int) -> dict[str, Any]:
    """Validate one event and return it with every column of :data:`COLUMNS`.

    Raises
    ------
    InputError
        Naming ``path``, ``line`` and the field when a value is missing or has
        the wrong type or range. Labels are *not* checked against the taxonomy
        here: an unknown label is counted and gated by ``health``, not dropped.
    """
    for name in REQUIRED:
        if name not in row or _is_missing(row[name]):
            raise InputError(path, "missing required field", line=line, field=name)
    out: dict[str, Any] = {}
    for name in ("source", "session_id", "kit", "audio_path", "label"):
        out[name] = _check_str(row[name], path=path, line=line, field=name)
    onset = row["onset_s"]
    if isinstance(onset, bool) or not isinstance(onset, (int, float)) or not math.isfinite(onset) or onset < 0:
        raise InputError(path, f"expected a finite number >= 0, got {onset!r}", line=line, field="onset_s")
    out["onset_s"] = float(onset)
    for name in LIST_COLUMNS:
        out[name] = _check_str_list(row.get(name), path=path, line=line, field=name)
    velocity = row.get("velocity")
    if _is_missing(velocity):
        out["velocity"] = None
    else:
        if isinstance(velocity, bool) or not isinstance(velocity, (int, float)) or not 1 <= velocity <= 127 \
                or velocity != int(velocity):
            raise InputError(path, f"expected an integer 1-127 or null, got {velocity!r}", line=line, field="velocity")
        out["velocity"] = int(velocity)
    openness = row.get("openness")
    if _is_missing(openness):
        out["openness"] = None
    else:
        if isinstance(openness, bool) or not isinstance(openness, (int, float)) or not 0.0 <= openness <= 1.0:
            raise InputError(path, f"expected a number 0-1 or null, got {openness!r}", line=line, field="openness")
        out["openness"] = float(openness)
    event_id = row.get("event_id")
    out["event_id"] = (
        _check_str(event_id, path=path, line=line, field="event_id")
        if not _is_missing(event_id)
        else make_event_id(out["source"], out["audio_path"], out["onset_s"])
    )
    return {name: out[name] for name in COLUMNS}


def events_frame(rows: Iterable[Mapping[str, Any]], *, origin: str = "<events>") -> pd.DataFrame:
    """Validate ``rows`` (dicts) and build a manifest DataFrame with the canonical dtypes."""
    normalized = [normalize_row(r, path=origin, line=i + 1) for i, r in enumerate(rows)]
    return _typed(pd.DataFrame(normalized, columns=list(COLUMNS)))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for name in ("event_id", "source", "session_id", "kit", "audio_path", "label"):
        df[name] = df[name].astype("string")
    df["onset_s"] = df["onset_s"].astype("float64")
    df["velocity"] = pd.array(df["velocity"], dtype="Int64")
    df["openness"] = pd.array(df["openness"], dtype="Float64")
    for name in LIST_COLUMNS:
        df[name] = df[name].map(lambda v: [] if v is None else list(v))
    return df.reset_index(drop=True)


def empty_events() -> pd.DataFrame:
    """A manifest with no rows and the canonical columns."""
    return events_frame([])


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)`` for every non-blank line of a JSONL file.

    A file that cannot be opened, a line that is not JSON, or a line that is not
    a JSON object raises :class:`InputError` naming ``path:line``.
    """
    path = str(path)
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror}") from exc
    with handle:
        for lineno, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(path, f"not valid JSON ({exc.msg} at column {exc.colno})", line=lineno) from exc
            if not isinstance(row, dict):
                raise InputError(path, f"expected a JSON object, got {type(row).__name__}", line=lineno)
            yield lineno, row


def read_jsonl(path: str | os.PathLike) -> pd.DataFrame:
    """Read an events JSONL file; every error names ``path:line`` and the field."""
    rows = [normalize_row(row, path=str(path), line=lineno) for lineno, row in iter_jsonl(path)]
    return _typed(pd.DataFrame(rows, columns=list(COLUMNS)))


def _jsonable(value: Any) -> Any:
    if value is pd.NA or _is_missing(value):
        return None
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return value


def write_jsonl(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write any DataFrame as JSONL (one object per row), atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for record in df.to_dict(orient="records"):
            handle.write(json.dumps({k: _jsonable(v) for k, v in record.items()}, sort_keys=True) + "\n")


def read_events(path: str | os.PathLike) -> pd.DataFrame:
    """Read a manifest written by :func:`write_events` (Parquet) or a JSONL file."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    if not path.exists():
        raise InputError(path, "manifest not found")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        raise InputError(path, f"not a readable Parquet manifest: {exc}") from exc
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputError(path, f"missing columns {missing}", field=missing[0])
    for name in LIST_COLUMNS:
        df[name] = df[name].map(lambda v: [] if v is None else [str(x) for x in v])
    return df


def sort_events(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical row order, so identical content always gives identical bytes."""
    return df.sort_values(["source", "session_id", "audio_path", "onset_s", "event_id"], kind="mergesort") \
        .reset_index(drop=True)


def write_events(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a manifest as Parquet, atomically, in canonical row order.

    Extra columns (e.g. ``split``) are kept after the canonical ones.
    """
    extra = [c for c in df.columns if c not in COLUMNS]
    df = sort_events(df[list(COLUMNS) + extra])
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, engine="pyarrow")


def read_manifest_folder(folder: str | os.PathLike) -> pd.DataFrame:
    """Read every ``*.jsonl`` under ``folder`` and check each hit against its audio.

    ``audio_path`` may be relative to the current directory (the repo root) or
    to the JSONL file's folder; it is rewritten relative to the current
    directory. Every error names the JSONL file and line: a missing or
    unreadable audio file, an onset past the end of its audio.
    """
    folder = Path(folder)
    files = sorted(folder.rglob("*.jsonl")) if folder.is_dir() else []
    if not files:
        raise InputError(folder, "empty source: no *.jsonl events manifest found")
    rows = []
    for jsonl in files:
        durations: dict[str, float] = {}
        for lineno, raw in iter_jsonl(jsonl):
            row = normalize_row(raw, path=str(jsonl), line=lineno)
            audio_path, onset = row["audio_path"], row["onset_s"]
            resolved = audio_path if os.path.exists(audio_path) else os.path.relpath(jsonl.parent / audio_path)
            if not os.path.exists(resolved):
                raise InputError(jsonl, f"audio file {audio_path} not found (event {row['event_id']})",
                                 line=lineno, field="audio_path")
            if resolved not in durations:
                try:
                    durations[resolved] = audio_duration(resolved)
                except InputError as exc:
                    raise InputError(jsonl, f"{audio_path}: {exc.message}", line=lineno, field="audio_path") from exc
            if onset >= durations[resolved]:
                raise InputError(jsonl, f"onset {onset:.3f} s is past the end of {audio_path} "
                                        f"({durations[resolved]:.3f} s)", line=lineno, field="onset_s")
            rows.append({**row, "audio_path": resolved})
    if not rows:
        raise InputError(folder, "empty source: the manifests hold no events")
    return _typed(pd.DataFrame(rows, columns=list(COLUMNS)))
