"""Hand-labelled hits: append one event to an events JSONL manifest, validated, atomically.

The seed's single-sample collection (``--add-sample audio.mp3 1.234 kick``):
the row passes the same checks as every row the ``ingest_manifest`` stage reads
(fields, audio present and readable, onset inside the audio) and the label
must be a taxonomy class or ``unknown``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from musicml.atomic import atomic_path
from musicml.audio import audio_duration
from musicml.errors import InputError
from musicml.manifest import iter_jsonl, normalize_row
from musicml.taxonomy import UNKNOWN

DEFAULT_LABEL_MANIFEST = "data/raw/manifest/manifest.jsonl"


def _stored_audio_path(audio: Path, manifest: Path) -> str:
    """The audio path as the manifest stores it: relative to the manifest's folder when inside it."""
    try:
        return Path(os.path.relpath(audio.resolve(), manifest.resolve().parent)).as_posix() \
            if audio.resolve().is_relative_to(manifest.resolve().parent) else audio.as_posix()
    except ValueError:  # another drive (Windows)
        return audio.as_posix()


def label_hit(
    audio: str | os.PathLike,
    time_s: float,
    label: str,
    *,
    manifest: str | os.PathLike = DEFAULT_LABEL_MANIFEST,
    classes: Sequence[str],
    session_id: str | None = None,
    kit: str = "unknown",
    source: str = "manual",
    velocity: int | None = None,
    openness: float | None = None,
    techniques: Sequence[str] = (),
) -> tuple[dict, bool]:
    """Append one hit to ``manifest`` (created when missing).

    Parameters
    ----------
    audio : path
        The recording; stored relative to the manifest's folder when it lies
        inside it (as ``musicml manifest add`` expects), else as given.
    time_s : float
        Onset in seconds, inside the audio.
    label : str
        A class of ``classes`` or ``unknown``.
    session_id : str, optional
        Recording session (default: the audio file's stem): the unit of splits.

    Returns
    -------
    row : dict
        The validated row as written.
    added : bool
        False when the same hit (same audio and onset) with the same label was
        already there: nothing is written.

    Raises
    ------
    InputError
        A bad field, a missing or unreadable audio file, an onset outside the
        audio, a label outside the taxonomy, or the same hit already labelled
        differently (naming that line).
    """
    manifest, audio = Path(manifest), Path(audio)
    where = str(manifest)
    if label not in classes and label != UNKNOWN:
        raise InputError(where, f"label '{label}' is not a taxonomy class; expected one of "
                                f"{list(classes) + [UNKNOWN]}", field="label")
    if not audio.is_file():
        raise InputError(audio, "audio file not found", field="audio_path")
    duration = audio_duration(audio)
    row = {"source": source, "session_id": session_id or audio.stem, "kit": kit,
           "audio_path": _stored_audio_path(audio, manifest), "onset_s": time_s, "label": label,
           "techniques": list(techniques), "velocity": velocity, "openness": openness}
    existing = list(iter_jsonl(manifest)) if manifest.exists() else []
    row = normalize_row(row, path=where, line=len(existing) + 1)
    if row["onset_s"] >= duration:
        raise InputError(where, f"onset {row['onset_s']:.3f} s is past the end of {audio} ({duration:.3f} s)",
                         line=len(existing) + 1, field="onset_s")
    for lineno, old in existing:
        old = normalize_row(old, path=where, line=lineno)
        if old["event_id"] == row["event_id"]:
            if old["label"] == row["label"]:
                return old, False
            raise InputError(where, f"this hit is already labelled '{old['label']}'", line=lineno, field="label")
    text = manifest.read_text(encoding="utf-8") if manifest.exists() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    with atomic_path(manifest) as tmp:
        tmp.write_text(text + json.dumps(row, sort_keys=True) + "\n", encoding="utf-8")
    return row, True
