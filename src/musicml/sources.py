"""Adding a user's events manifest (JSONL + audio) as a DVC-tracked data source."""

from __future__ import annotations

import os
from pathlib import Path

from musicml.drums.kits import copy_folder, dvc_add, update_params
from musicml.manifest import read_manifest_folder

DEFAULT_MANIFEST_ROOT = "data/raw/manifest"


def add_manifest(
    src_dir: str | os.PathLike,
    *,
    name: str | None = None,
    dest_root: str | os.PathLike = DEFAULT_MANIFEST_ROOT,
    params_path: str | os.PathLike = "params.yaml",
    track: bool = True,
) -> list[str]:
    """Copy a folder holding events JSONL + audio into the repo, validate, track and enable it.

    The folder is validated as the ``ingest_manifest`` stage validates it
    (every row, every audio file, every onset) *before* anything is copied or
    ``params.yaml`` touched, so bad input never lands. Idempotent.

    Returns
    -------
    list of str
        What changed: the copy, then the ``params.yaml`` changes; empty on a repeated run.
    """
    src_dir = Path(src_dir)
    events = read_manifest_folder(src_dir)  # bad input fails here, before anything is copied
    target = Path(dest_root) / (name or src_dir.name)
    changes = [f"copied {src_dir} -> {target}"] if copy_folder(src_dir, target) else []
    if track:
        dvc_add([target])
    changes += update_params(params_path, {"sources.manifest.enabled": True,
                                           "sources.manifest.path": Path(dest_root).as_posix()})
    if changes:
        changes.append(f"manifest source: {len(events)} events in {events['session_id'].nunique()} sessions")
    return changes


DEFAULT_AUDIO_MIDI_ROOT = "data/raw/audio_midi"


def add_audio_midi(
    src_dir: str | os.PathLike,
    *,
    rules,
    name: str | None = None,
    dest_root: str | os.PathLike = DEFAULT_AUDIO_MIDI_ROOT,
    params_path: str | os.PathLike = "params.yaml",
    track: bool = True,
) -> list[str]:
    """Copy a folder of ``<name>.wav`` + ``<name>.mid`` pairs into the repo, track and enable it.

    Every pair is labelled with ``rules`` (:class:`musicml.drums.audio_midi.MidiRules`)
    *before* anything is copied or ``params.yaml`` touched, so bad input never
    lands. Idempotent: a repeated run changes nothing and returns no lines.
    """
    from musicml.drums.audio_midi import ingest_audio_midi

    src_dir = Path(src_dir)
    events = ingest_audio_midi(src_dir, rules)  # bad input fails here, before anything is copied
    target = Path(dest_root) / (name or src_dir.name)
    changes = [f"copied {src_dir} -> {target}"] if copy_folder(src_dir, target) else []
    if track:
        dvc_add([target])
    changes += update_params(params_path, {"sources.audio_midi.enabled": True,
                                           "sources.audio_midi.path": Path(dest_root).as_posix()})
    if changes:
        changes.append(f"audio_midi source: {len(events)} events in {events['session_id'].nunique()} recordings")
    return changes
