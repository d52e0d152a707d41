"""Tiny MIDI files and params the MIDI tests write themselves."""

from __future__ import annotations

from pathlib import Path

import pretty_midi
import yaml

ROOT = Path(__file__).resolve().parents[1]


def midi_params() -> dict:
    """The repository's `midi` params section (a fresh copy)."""
    return yaml.safe_load((ROOT / "params.yaml").read_text())["midi"]


def chord_midi(chords: list[list[int]], *, tempo: float = 120.0, drum: bool = False, velocity: int = 80
               ) -> pretty_midi.PrettyMIDI:
    """One chord (list of pitches) per bar of 4 beats."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    inst = pretty_midi.Instrument(program=0, is_drum=drum)
    bar = 4 * 60.0 / tempo
    for i, pitches in enumerate(chords):
        for p in pitches:
            inst.notes.append(pretty_midi.Note(velocity=velocity, pitch=p, start=i * bar, end=(i + 1) * bar * 0.98))
    pm.instruments.append(inst)
    return pm


def write_midi(pm: pretty_midi.PrettyMIDI, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pm.write(str(path))
    return path


C_MAJOR_CADENCE = [[48, 64, 67, 72], [53, 65, 69, 72], [55, 62, 67, 71], [48, 64, 67, 72]]  # C F G C
