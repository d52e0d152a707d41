"""Label-aware MIDI augmentation of training samples (the seed's MIDI augmentations).

Transpose -6..+6 semitones (key and chords move with it; drum tracks do not),
time stretch 0.9-1.1 (the tempo label is divided by the factor), velocity
x0.8-1.2, timing jitter +-5 ms and 2 % note dropout. Each copy draws from its
own generator seeded by ``(seed, sample id, copy)``, so one copy can be
re-created alone.

Emotion audio is re-rendered from the augmented MIDI and then goes through
the drum pipeline's audio augmenter (:func:`musicml.drums.augment.augment_clip`)
with the seed's audio augmentations: pitch shift +-2 semitones, time stretch
0.9-1.1 (length kept), Gaussian noise up to 0.5 % and gain 0.8-1.2, each
applied with probability ``prob``, drawn from a generator seeded per clip.
The emotion labels (emotion, valence, arousal) are kept: small shifts of pitch
and tempo do not change them. Key, chords and tempo labels describe the
copy's MIDI; the audio transforms drawn are kept in the row's
``audio_params``, so a user who needs the audio's exact key or tempo can
recompute it.
"""

from __future__ import annotations

import copy
import hashlib
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pretty_midi

from musicml.errors import ConfigError
from musicml.midi.theory import key_name, pitch_class, transpose_chord_name
from musicml.parallel import check_workers, process_map

# Labels a transform leaves meaningless are recomputed, never copied:
# transposition moves key and chords; stretching moves the tempo.


@dataclass(frozen=True)
class MidiAugmentConfig:
    multiplier: int = 10
    transpose: int = 6            # semitones, uniform integer in [-x, +x]
    stretch_min: float = 0.9
    stretch_max: float = 1.1
    velocity_min: float = 0.8
    velocity_max: float = 1.2
    jitter_ms: float = 5.0
    dropout: float = 0.02

    def __post_init__(self) -> None:
        if self.multiplier < 0:
            raise ConfigError(f"midi.augment.multiplier must be >= 0, got {self.multiplier}")
        if not 0 < self.stretch_min <= self.stretch_max:
            raise ConfigError(f"midi.augment: need 0 < stretch_min <= stretch_max, got {self.stretch_min}, "
                              f"{self.stretch_max}")
        if not 0 < self.velocity_min <= self.velocity_max:
            raise ConfigError("midi.augment: need 0 < velocity_min <= velocity_max")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"midi.augment.dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.transpose <= 12:
            raise ConfigError(f"midi.augment.transpose must be 0..12 semitones, got {self.transpose}")


def copy_rng(seed: int, sample_id: str, index: int) -> np.random.Generator:
    digest = int(hashlib.sha256(f"{seed}|{sample_id}|{index}".encode()).hexdigest()[:16], 16)
    return np.random.default_rng(digest)


def draw(rng: np.random.Generator, config: MidiAugmentConfig) -> dict[str, float]:
    return {
        "transpose": int(rng.integers(-config.transpose, config.transpose + 1)),
        "stretch": float(rng.uniform(config.stretch_min, config.stretch_max)),
        "velocity": float(rng.uniform(config.velocity_min, config.velocity_max)),
    }


def transform(pm: pretty_midi.PrettyMIDI, *, transpose: int = 0, stretch: float = 1.0, velocity: float = 1.0,
              jitter_ms: float = 0.0, dropout: float = 0.0, rng: np.random.Generator | None = None
              ) -> pretty_midi.PrettyMIDI:
    """A transformed copy of ``pm``.

    ``stretch`` > 1 makes the piece longer (slower): times are multiplied by
    it and the tempo divided. Drum tracks are never transposed; a note pushed
    outside 0..127 by transposition moves by an octave back inside.
    """
    rng = rng or np.random.default_rng(0)
    tempo = pm.get_tempo_changes()[1]
    out = pretty_midi.PrettyMIDI(initial_tempo=float(tempo[0] if len(tempo) else 120.0) / stretch)
    for inst in pm.instruments:
        new = pretty_midi.Instrument(program=inst.program, is_drum=inst.is_drum, name=inst.name)
        for note in inst.notes:
            if dropout and rng.random() < dropout:
                continue
            pitch = note.pitch if inst.is_drum else note.pitch + transpose
            while pitch > 127:
                pitch -= 12
            while pitch < 0:
                pitch += 12
            shift = rng.uniform(-jitter_ms, jitter_ms) / 1000.0 if jitter_ms else 0.0
            start = max(note.start * stretch + shift, 0.0)
            end = max(note.end * stretch + shift, start + 0.005)
            vel = int(np.clip(round(note.velocity * velocity), 1, 127))
            new.notes.append(pretty_midi.Note(velocity=vel, pitch=int(pitch), start=start, end=end))
        if new.notes:
            out.instruments.append(new)
    return out


def transpose_labels(labels: Mapping[str, Any], semitones: int, stretch: float) -> dict[str, Any]:
    """Labels after transposing by ``semitones`` and stretching time by ``stretch``."""
    out = copy.deepcopy(dict(labels))
    if semitones:
        if out.get("key"):
            out["key"] = key_name(pitch_class(out["key"]) + semitones)
        if out.get("chord_progression"):
            out["chord_progression"] = [transpose_chord_name(c, semitones) for c in out["chord_progression"]]
    if out.get("tempo_bpm"):
        out["tempo_bpm"] = round(float(out["tempo_bpm"]) / stretch, 2)
    return out


def augment_sample(pm: pretty_midi.PrettyMIDI, labels: Mapping[str, Any], *, sample_id: str, index: int,
                   seed: int, config: MidiAugmentConfig) -> tuple[pretty_midi.PrettyMIDI, dict[str, Any], dict]:
    """Copy ``index`` of one sample: the MIDI, its labels and the parameters drawn."""
    rng = copy_rng(seed, sample_id, index)
    params = draw(rng, config)
    # Uniform +-5 ms jitter leaves the median-based swing and offset measurements of groove labels intact.
    out = transform(pm, transpose=params["transpose"], stretch=params["stretch"], velocity=params["velocity"],
                    jitter_ms=config.jitter_ms, dropout=config.dropout, rng=rng)
    if not any(inst.notes for inst in out.instruments):  # dropout can empty a tiny file
        out = transform(pm, transpose=params["transpose"], stretch=params["stretch"], velocity=params["velocity"])
    return out, transpose_labels(labels, params["transpose"], params["stretch"]), params


def augment_dataset(dataset: str, entries: list[Mapping[str, Any]], *, out_dir: str | os.PathLike, seed: int,
                    config: MidiAugmentConfig, audio: Mapping[str, Any] | None = None,
                    render: Mapping[str, Any] | None = None, workers: int = 1) -> list[dict[str, Any]]:
    """``config.multiplier`` augmented copies of each manifest entry (train split only: the caller filters).

    MIDI goes to ``out_dir/<dataset>/<sample_id>.mid``. With ``render`` (the
    keyword arguments of :func:`musicml.midi.synth.render_audio`: ``sr``,
    ``soundfont``, ``gain``) the copy is also rendered to ``<sample_id>.wav``
    and passed through the drum pipeline's audio augmenter, configured by
    ``audio`` (``midi.augment.audio``: ``prob``, ``pitch_semitones``,
    ``stretch_min``, ``stretch_max``, ``noise_max``, ``gain_min``,
    ``gain_max``; see the module docstring). Returns the index rows, in entry order.
    ``workers`` processes augment entries side by side (:func:`musicml.parallel.process_map`);
    each copy draws from its own seed, so the files are the same for any number.
    """
    check_workers(workers, "midi.augment.workers")
    if render is not None and audio is None:
        raise ConfigError("midi.augment.audio is needed to augment rendered audio")
    folder = Path(out_dir) / dataset
    folder.mkdir(parents=True, exist_ok=True)
    audio_config = None if render is None else audio_augment_config(audio)
    augment = partial(_augment_entry, dataset, folder=folder, seed=seed, config=config, render=render,
                      audio_config=audio_config)
    return [row for rows in process_map(augment, entries, workers=workers) for row in rows]


def audio_augment_config(audio: Mapping[str, Any]) -> Any:
    """The drum augmenter's :class:`~musicml.drums.augment.AugmentConfig` from ``midi.augment.audio``."""
    from musicml.drums.augment import AugmentConfig

    try:
        cfg = AugmentConfig(multiplier=1, prob=float(audio["prob"]), pitch_semitones=float(audio["pitch_semitones"]),
                            stretch_min=float(audio["stretch_min"]), stretch_max=float(audio["stretch_max"]),
                            noise_max=float(audio["noise_max"]), gain_min=float(audio["gain_min"]),
                            gain_max=float(audio["gain_max"]))
    except KeyError as exc:
        raise ConfigError(f"midi.augment.audio: missing key '{exc.args[0]}'") from exc
    if not 0 <= cfg.prob <= 1:
        raise ConfigError(f"midi.augment.audio.prob must be in [0, 1], got {cfg.prob}")
    if not 0 <= cfg.pitch_semitones <= 12:
        raise ConfigError(f"midi.augment.audio.pitch_semitones must be 0..12, got {cfg.pitch_semitones}")
    if not 0 < cfg.stretch_min <= cfg.stretch_max:
        raise ConfigError("midi.augment.audio: need 0 < stretch_min <= stretch_max")
    if cfg.noise_max < 0 or not 0 < cfg.gain_min <= cfg.gain_max:
        raise ConfigError("midi.augment.audio: need noise_max >= 0 and 0 < gain_min <= gain_max")
    return cfg


def _augment_entry(dataset: str, entry: Mapping[str, Any], *, folder: Path, seed: int, config: MidiAugmentConfig,
                   render: Mapping[str, Any] | None, audio_config: Any) -> list[dict[str, Any]]:
    """The copies of one sample (see :func:`augment_dataset`)."""
    import soundfile as sf

    from musicml.drums.augment import augment_clip
    from musicml.midi.analysis import load_midi, midi_bytes
    from musicml.midi.synth import render_audio

    path = Path(entry["file_path"])
    pm = load_midi(path.read_bytes(), path=str(path))
    rows = []
    for k in range(config.multiplier):
        new, labels, drawn = augment_sample(pm, entry["annotations"], sample_id=entry["sample_id"], index=k,
                                            seed=seed, config=config)
        sample_id = f"{entry['sample_id']}-a{k}"
        midi_path = folder / f"{sample_id}.mid"
        midi_path.write_bytes(midi_bytes(new))
        audio_path, audio_params = None, None
        if render is not None:
            # Its own generator per clip (seed + 1 keeps it apart from the MIDI draws of the same copy).
            rng = copy_rng(seed + 1, entry["sample_id"], k)
            sr = render["sr"]
            clip, audio_params = augment_clip(render_audio(new, **render), sr=sr, rng=rng, config=audio_config)
            audio_path = folder / f"{sample_id}.wav"
            sf.write(audio_path, clip, sr, subtype="PCM_16")
            audio_params = {k2: (round(v, 6) if isinstance(v, float) else v) for k2, v in audio_params.items()}
        rows.append({"dataset": dataset, "sample_id": sample_id, "parent_id": entry["sample_id"],
                     "file_path": midi_path.as_posix(), "audio_path": audio_path.as_posix() if audio_path else None,
                     "source": entry["source"], "family": entry["family"], "origin": entry["origin"],
                     "annotations": labels, "augmented": True, "params": drawn, "audio_params": audio_params})
    return rows
