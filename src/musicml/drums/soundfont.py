"""General-MIDI drum kits of SoundFont files (``.sf2`` / ``.sf3``) as a source of real hits.

A GM SoundFont holds recorded drum kits as presets of bank 128 (FluidR3_GM has
Standard, Room, Power, Electronic, TR-808, Jazz, Brush and Orchestra kits);
drum-only fonts such as AVLdrums' Red Zeppelin hold one kit in bank 0. Every
kit is played note by note with FluidSynth, and each note's label comes from
the General MIDI percussion map in ``configs/taxonomy.yaml`` (``gm_drums``), so
the labels are exact, unlike instrument names.

Presets of one font share many samples (FluidR3's Standard 1-7 differ in a few
drums only), so a rendered hit identical to one already kept is dropped: the
counts then say how much distinct material a font brings, and a hit cannot sit
in training and validation at once under two kit names.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pretty_midi
import soundfile as sf

from musicml.atomic import atomic_path
from musicml.drums.hydrogen import slugify
from musicml.errors import ConfigError, InputError
from musicml.manifest import events_frame

SOURCE = "soundfont"
DRUM_BANK = 128
FONT_SUFFIXES = (".sf2", ".sf3")
# Silence before each note in a hit's slot, so the features' pre-onset context
# is silence as it is in a one-shot sample.
LEAD_S = 0.05
# A slot quieter than this (peak, full scale 1) holds no sample for the note.
SILENCE_PEAK = 1e-3
# Notes are rendered this much further apart than the kept slot, so a
# cymbal's release has died away before the next note's pre-onset silence.
RING_S = 1.5
GM_RIDE_BELL = 53  # played as a ride, tagged with the `bell` technique
PHDR_RECORD = 38  # bytes per preset header: name[20], preset, bank, bag, library, genre, morphology


@dataclass(frozen=True)
class Preset:
    """One preset (instrument or drum kit) of a SoundFont."""

    name: str
    bank: int
    program: int


def _chunks(data: bytes, start: int, end: int, *, path: Path) -> Iterable[tuple[bytes, int, int]]:
    """Yield ``(id, payload start, payload end)`` of the RIFF chunks in ``data[start:end]``."""
    pos = start
    while pos + 8 <= end:
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if pos + 8 + size > end:
            raise InputError(path, f"truncated RIFF chunk {cid!r} at byte {pos}")
        yield cid, pos + 8, pos + 8 + size
        pos += 8 + size + (size & 1)


def read_presets(path: str | os.PathLike) -> list[Preset]:
    """The presets of a SoundFont, from its ``pdta/phdr`` chunk, in file order.

    Raises
    ------
    InputError
        The file is missing, is not a RIFF ``sfbk`` file, or has no preset headers.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read SoundFont: {exc.strerror or exc}") from exc
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise InputError(path, "not a SoundFont: expected a RIFF 'sfbk' file (.sf2/.sf3)")
    for cid, lo, hi in _chunks(data, 12, len(data), path=path):
        if cid != b"LIST" or data[lo:lo + 4] != b"pdta":
            continue
        for sub, slo, shi in _chunks(data, lo + 4, hi, path=path):
            if sub == b"phdr":
                records = [data[i:i + PHDR_RECORD] for i in range(slo, shi - PHDR_RECORD + 1, PHDR_RECORD)]
                # The last record is the terminal "EOP" sentinel, not a preset.
                return [Preset(name=rec[:20].split(b"\0")[0].decode("latin-1").strip(),
                               program=struct.unpack("<H", rec[20:22])[0],
                               bank=struct.unpack("<H", rec[22:24])[0]) for rec in records[:-1]]
    raise InputError(path, "SoundFont has no preset headers (pdta/phdr chunk)")


def drum_kits(presets: Sequence[Preset], *, exclude: Sequence[str] = ()) -> list[Preset]:
    """The presets to play as drum kits: bank 128 (GM percussion), sorted by program.

    A font without bank 128 is taken as drum-only (one kit per preset, played
    on the GM drum notes), as AVLdrums' fonts are. Presets whose name contains
    one of ``exclude`` (case-insensitive) are left out: a GS Orchestra kit puts
    timpani on the tom notes, so its notes do not mean what ``gm_drums`` says.
    """
    kits = [p for p in presets if p.bank == DRUM_BANK] or list(presets)
    kits = [p for p in kits if not any(word.lower() in p.name.lower() for word in exclude)]
    return sorted(kits, key=lambda p: (p.bank, p.program, p.name))


def find_fonts(root: str | os.PathLike) -> list[Path]:
    """SoundFont files directly under ``root`` (or ``root`` itself), sorted by name."""
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in FONT_SUFFIXES)


def fluidsynth_binary() -> str:
    """Path of the ``fluidsynth`` command, or a :class:`ConfigError` saying how to install it."""
    found = shutil.which("fluidsynth")
    if not found:
        raise ConfigError("fluidsynth not found: the soundfont source renders with it; "
                          "install it (Debian/Ubuntu: apt-get install fluidsynth)")
    return found


def note_plan(notes: Sequence[int], velocities: Sequence[int], *, spacing_s: float) -> list[tuple[int, int, float]]:
    """``(note, velocity, start_s)`` of every hit, one every ``spacing_s`` seconds."""
    plan = [(int(n), int(v)) for n in notes for v in velocities]
    return [(n, v, i * spacing_s + LEAD_S) for i, (n, v) in enumerate(plan)]


def render_midi(font: str | os.PathLike, midi: pretty_midi.PrettyMIDI, *, sr: int, gain: float,
                what: str = "the MIDI") -> np.ndarray:
    """Play ``midi`` on ``font`` with the FluidSynth command (reverb and chorus off); mono float32 at ``sr``.

    ``what`` names the material in an error (e.g. a preset). Used for drum kits
    here and for the MIDI datasets' emotion audio.
    """
    with tempfile.TemporaryDirectory(prefix="musicml-sf-") as tmp:
        mid, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        midi.write(str(mid))
        cmd = [fluidsynth_binary(), "-n", "-i", "-q", "-g", str(gain), "-r", str(sr),
               "-o", "synth.reverb.active=0", "-o", "synth.chorus.active=0",
               "-F", str(wav), str(font), str(mid)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not wav.exists():
            lines = [ln.strip() for ln in (result.stderr + result.stdout).splitlines() if ln.strip()]
            raise InputError(font, f"fluidsynth failed on {what} (exit {result.returncode}): "
                                   f"{lines[-1] if lines else 'no output'}")
        audio, rate = sf.read(wav, dtype="float32", always_2d=True)
    if rate != sr:
        raise InputError(font, f"fluidsynth wrote {rate} Hz, expected {sr}")
    return audio.mean(axis=1)


def render_kit(
    font: str | os.PathLike,
    preset: Preset,
    plan: Sequence[tuple[int, int, float]],
    *,
    sr: int,
    gain: float,
    note_s: float,
) -> np.ndarray:
    """Play ``plan`` on one kit with FluidSynth (see :func:`render_midi`); mono float32 at ``sr``.

    Bank-128 kits play on the GM drum channel; a drum-only font's bank-0
    preset plays on a melodic channel, where its program selects it.
    """
    midi = pretty_midi.PrettyMIDI()
    instrument = pretty_midi.Instrument(program=preset.program, is_drum=preset.bank == DRUM_BANK)
    instrument.notes = [pretty_midi.Note(velocity=v, pitch=n, start=t, end=t + note_s) for n, v, t in plan]
    midi.instruments.append(instrument)
    return render_midi(font, midi, sr=sr, gain=gain, what=f"preset {preset.name!r}")


def _slot(audio: np.ndarray, start_s: float, *, sr: int, hit_s: float) -> np.ndarray:
    """The ``hit_s`` seconds of ``audio`` holding the hit that starts at ``start_s``, zero-padded."""
    lo = int(round((start_s - LEAD_S) * sr))
    n = int(round(hit_s * sr))
    out = np.zeros(n, dtype=np.float32)
    piece = audio[lo:lo + n]
    out[:len(piece)] = piece
    return out


def kit_session_id(font: Path, preset: Preset) -> str:
    """``soundfont-<font>-<preset>``: stable across machines and runs."""
    return f"{SOURCE}-{slugify(font.stem)}-{slugify(preset.name) or f'{preset.bank}-{preset.program}'}"


def ingest_soundfonts(
    root: str | os.PathLike,
    *,
    gm_map: Mapping[int, str],
    velocities: Sequence[int],
    audio_dir: str | os.PathLike,
    sr: int = 22050,
    hit_s: float = 1.0,
    gain: float = 0.8,
    exclude: Sequence[str] = (),
) -> pd.DataFrame:
    """Render every drum kit of every font under ``root``; one event per distinct audible hit.

    Parameters
    ----------
    root : path
        A SoundFont file, or a folder of them (``.sf2``/``.sf3``).
    gm_map : mapping of int to str
        GM percussion note -> taxonomy label (``unknown`` for open-set sounds).
        Only these notes are played.
    velocities : sequence of int
        MIDI velocities each note is played at (velocity layers of the kit).
    audio_dir : path
        Folder (replaced whole) for one mono 16-bit WAV per kit holding only
        its kept hits, one ``hit_s`` slot each.
    sr, hit_s, gain :
        Sample rate, slot length in seconds, and FluidSynth's output gain.
    exclude : sequence of str
        Preset-name words to leave out (see :func:`drum_kits`).

    Returns
    -------
    pandas.DataFrame
        Events (ARCHITECTURE.md columns), ``source`` = ``soundfont``.
    """
    fonts = find_fonts(root)
    if not fonts:
        raise InputError(root, "no SoundFont found: expected .sf2/.sf3 files")
    if not velocities or any(not 1 <= int(v) <= 127 for v in velocities):
        raise ConfigError(f"sources.soundfont.velocities must be MIDI velocities 1-127, got {list(velocities)}")
    plan = note_plan(sorted(gm_map), velocities, spacing_s=hit_s + RING_S)
    seen: set[str] = set()
    rows: list[dict] = []
    with atomic_path(audio_dir, is_dir=True) as tmp_dir:
        Path(tmp_dir).mkdir(parents=True, exist_ok=True)
        for font in fonts:
            for preset in drum_kits(read_presets(font), exclude=exclude):
                audio = render_kit(font, preset, plan, sr=sr, gain=gain, note_s=hit_s * 0.8)
                kept: list[tuple[int, int, np.ndarray]] = []
                for note, velocity, start in plan:
                    clip = _slot(audio, start, sr=sr, hit_s=hit_s)
                    if np.abs(clip).max() < SILENCE_PEAK:
                        continue  # the kit has no sample on this note
                    digest = hashlib.sha1(np.round(clip * 32767).astype(np.int16).tobytes()).hexdigest()
                    if digest in seen:
                        continue  # the same sample under another preset
                    seen.add(digest)
                    kept.append((note, velocity, clip))
                if not kept:
                    continue
                session = kit_session_id(font, preset)
                name = f"{session}.wav"
                sf.write(Path(tmp_dir) / name, np.concatenate([c for _, _, c in kept]), sr, subtype="PCM_16")
                audio_path = (Path(audio_dir) / name).as_posix()
                for i, (note, velocity, _) in enumerate(kept):
                    rows.append({"source": SOURCE, "session_id": session, "kit": f"{font.name}: {preset.name}",
                                 "audio_path": audio_path, "onset_s": round(i * hit_s + LEAD_S, 4),
                                 "label": gm_map[note], "velocity": velocity,
                                 "techniques": ["bell"] if note == GM_RIDE_BELL else []})
    return events_frame(rows, origin=str(root))



def gm_drum_map(taxonomy_doc: Mapping) -> dict[int, str]:
    """``gm_drums`` of ``configs/taxonomy.yaml`` as ``{note: label}``, checked against the classes."""
    raw = taxonomy_doc.get("gm_drums")
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("configs/taxonomy.yaml: field 'gm_drums': expected a mapping of GM note -> label")
    classes = set(taxonomy_doc["taxonomy"]["classes"]) | {"unknown"}
    out: dict[int, str] = {}
    for note, label in raw.items():
        if not isinstance(note, int) or not 0 <= note <= 127 or label not in classes:
            raise ConfigError(f"configs/taxonomy.yaml: field 'gm_drums.{note}': expected a note 0-127 "
                              f"mapped to a class or 'unknown', got {label!r}")
        out[note] = label
    return out


def add_soundfonts(
    fonts: Sequence[str | os.PathLike],
    *,
    dest_root: str | os.PathLike = "data/raw/soundfont",
    params_path: str | os.PathLike = "params.yaml",
    track: bool = True,
) -> list[str]:
    """Copy SoundFont files into the repo, ``dvc add`` them and enable the source. Idempotent.

    Every file is checked to be a SoundFont with at least one drum kit before
    anything is copied. Returns one line per copied font, then the
    ``params.yaml`` changes; empty on a repeated run.
    """
    from musicml.drums.kits import dvc_add, update_params  # kits imports pandas-heavy parsing; keep it lazy

    if not fonts:
        raise InputError("<arguments>", "no SoundFont given")
    for font in fonts:
        if not drum_kits(read_presets(font)):
            raise InputError(font, "SoundFont has no presets to play as drum kits")
    dest_root = Path(dest_root)
    changes: list[str] = []
    for font in map(Path, fonts):
        target = dest_root / font.name
        if target.is_file() and filecmp.cmp(font, target, shallow=False):
            continue
        with atomic_path(target) as tmp:
            shutil.copyfile(font, tmp)
        changes.append(f"copied {font} -> {target}")
    if track:
        dvc_add(dest_root / Path(f).name for f in fonts)
    changes += update_params(params_path, {"sources.soundfont.enabled": True,
                                           "sources.soundfont.path": dest_root.as_posix()})
    return changes
