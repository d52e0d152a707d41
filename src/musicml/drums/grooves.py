"""Grooves: drum performances composed as General-MIDI files and played through real one-shots.

Each take is composed in musical time (:func:`compose_take`): a style
(rock, funk, shuffle, half-time, four-on-the-floor, fills), a form (common
4/4, an odd meter, changing bar lengths, or a metric modulation), a tempo of
70-180 BPM, fills and crashes at phrase ends, humanised velocities and
micro-timing, open / closed / pedal hi-hat with the pedal as CC4. It is
written as ``<take_id>.mid`` (GM drum map, channel 10), read back, and played
(:func:`render_midi`) through one-shots of a kit cut from that kit's own
source audio (:func:`kit_one_shots`): velocity picks the nearest-velocity
sample and sets the gain, a new hi-hat stroke chokes the ringing one, and a
half-open hat rings for part of its sample. The labels are then read from the
MIDI file by :func:`musicml.drums.audio_midi.midi_events`, the importer of
recordings with aligned MIDI, so a groove is exactly an audio + MIDI pair.

Every groove of a kit carries the kit's ``session_id``: the split stage holds
a groove out exactly when it holds its kit out.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import soundfile as sf

from musicml.atomic import atomic_path
from musicml.audio import load_audio
from musicml.drums.audio_midi import HIHATS, AudioMidiPair, MidiRules, pair_events, read_drum_midi
from musicml.drums.openness import CC_HIHAT_PEDAL, OpennessCurve
from musicml.errors import ConfigError
from musicml.manifest import empty_events, events_frame

SOURCE = "grooves"
STYLES = ("rock", "funk", "shuffle", "half_time", "four_on_the_floor", "fills")
FORMS = ("common", "odd_meter", "variable_meter", "metric_modulation")
TPQ = 960  # MIDI ticks per quarter note: 0.35 ms at 180 BPM
SIXTEENTH = TPQ // 4

# General MIDI drum notes the composer plays (configs/taxonomy.yaml gm_drums labels them).
KICK, SIDESTICK, SNARE, CLAP = 36, 37, 38, 39
HH_CLOSED, HH_PEDAL, HH_OPEN = 42, 44, 46
CRASH, CRASH_2, RIDE = 49, 57, 51
TOM_HIGH, TOM_MID, TOM_LOW = 50, 47, 43
FILL_VOICES = (SNARE, SNARE, TOM_HIGH, TOM_HIGH, TOM_MID, TOM_MID, TOM_LOW, TOM_LOW)
# A variable-meter phrase has one bar of these; odd-meter takes use one throughout.
ODD_METERS = ((5, 4), (7, 8))
SHORT_METERS = ((5, 4), (7, 8), (3, 4), (6, 8))
MODULATIONS = ((3, 2), (2, 3), (4, 3), (3, 4))
NOTE_S = 0.01  # written note length; drums ignore it, but a same-pitch repeat must not overlap
FADE_S = 0.01
PEAK = 0.9


@dataclass(frozen=True)
class GrooveConfig:
    """How takes are composed (``sources.grooves`` in params.yaml).

    Parameters
    ----------
    take_s : float
        Each take holds whole bars until it is at least this long.
    tempo_min, tempo_max : int
        Tempo range, quarter-note BPM.
    humanize_ms : float
        Standard deviation of each note's timing offset.
    velocity_sd : float
        Standard deviation added to each note's velocity.
    swing : float
        Position of the off-beat eighth in a shuffle beat (0.5 straight, 0.67 triplet).
    open_hat_prob, ghost_prob, flam_prob, layer_prob, ride_prob : float
        Chance of an open hi-hat at a bar's last off-beat, a ghost note per
        free sixteenth (funk, shuffle), a flam starting a fill, a second crash
        layered on a crash, and the ride keeping time instead of the hi-hat.
    open_min : float
        Least openness of an open hi-hat (0-1).
    phrase_bars : int
        A fill ends every phrase (every second bar in the ``fills`` style).
    """

    take_s: float = 24.0
    tempo_min: int = 70
    tempo_max: int = 180
    humanize_ms: float = 6.0
    velocity_sd: float = 8.0
    swing: float = 0.67
    open_hat_prob: float = 0.4
    ghost_prob: float = 0.2
    flam_prob: float = 0.5
    layer_prob: float = 0.5
    ride_prob: float = 0.3
    open_min: float = 0.5
    phrase_bars: int = 4

    def __post_init__(self) -> None:
        if not 1.0 <= self.take_s <= 600:
            raise ConfigError(f"grooves take_s must be 1-600 s, got {self.take_s}")
        if not 20 <= self.tempo_min <= self.tempo_max <= 400:
            raise ConfigError(f"grooves tempo range must satisfy 20 <= min <= max <= 400, "
                              f"got {self.tempo_min}-{self.tempo_max}")
        for name in ("open_hat_prob", "ghost_prob", "flam_prob", "layer_prob", "ride_prob", "open_min"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"grooves {name} must be in 0-1, got {getattr(self, name)}")
        if not 0.5 <= self.swing < 1.0:
            raise ConfigError(f"grooves swing must be in [0.5, 1), got {self.swing}")
        if self.phrase_bars < 2:
            raise ConfigError(f"grooves phrase_bars must be >= 2, got {self.phrase_bars}")


    @classmethod
    def from_params(cls, cfg: Mapping) -> "GrooveConfig":
        """The composition keys of the ``sources.grooves`` params section (others are ignored)."""
        missing = [k for k in cls.__dataclass_fields__ if k not in cfg]
        if missing:
            raise ConfigError(f"params: sources.grooves lacks {missing}")
        return cls(**{k: cfg[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Take:
    """A composed performance in MIDI ticks (``TPQ`` per quarter note)."""

    take_id: str
    style: str
    form: str
    notes: tuple[tuple[int, int, int], ...]   # (tick, GM note, velocity), time order
    cc4: tuple[tuple[int, int], ...]          # (tick, value)
    tempos: tuple[tuple[int, float], ...]     # (tick, quarter-note BPM)
    meters: tuple[tuple[int, int, int], ...]  # (tick, numerator, denominator)


# ------------------------------------------------------------------ composing


def beat_groups(numerator: int, denominator: int) -> list[int]:
    """A bar's beats as sixteenth counts: 4/4 -> [4, 4, 4, 4], 7/8 -> [4, 4, 6], 6/8 -> [6, 6]."""
    if denominator == 4:
        return [4] * numerator
    if denominator == 8:
        eighths = [3] * (numerator // 3) if numerator % 3 == 0 else [2] * (numerator // 2 - 1) + [3] \
            if numerator % 2 else [2] * (numerator // 2)
        return [2 * e for e in eighths]
    raise ConfigError(f"meter {numerator}/{denominator}: only quarter and eighth denominators are composed")


@dataclass
class _Bar:
    groups: list[int]
    starts: list[int]
    length: int  # sixteenths


def _bar(meter: tuple[int, int]) -> _Bar:
    groups = beat_groups(*meter)
    return _Bar(groups, [int(s) for s in np.cumsum([0] + groups[:-1])], sum(groups))


def _offbeats(start: int, size: int) -> list[int]:
    return [start + p for p in range(0, size, 2)]


def _time_line(bar: _Bar, voice: int, *, sixteenths: bool = False) -> list[tuple[float, int, int]]:
    """Hi-hat or ride: eighths (accent on the beat) or sixteenths (accents on eighths)."""
    step = 1 if sixteenths else 2
    return [(float(s + p), voice, 95 if p == 0 else 80 if p % 2 == 0 else 55)
            for s, g in zip(bar.starts, bar.groups) for p in range(0, g, step)]


def _backbeat(bar: _Bar, snare: int) -> list[tuple[float, int, int]]:
    """Kick on even beats, snare on odd ones (beats = groups, so odd meters alternate too)."""
    return [(float(s), KICK if i % 2 == 0 else snare, 105 if i % 2 == 0 else 110) for i, s in enumerate(bar.starts)]


def _open_last_hat(notes: list[tuple[float, int, int]], bar: _Bar, *, pedal_close: bool) -> None:
    """The bar's last hi-hat stroke opens; the pedal (or the next stroke) closes it."""
    hats = [i for i, n in enumerate(notes) if n[1] == HH_CLOSED]
    if not hats:
        return
    i = hats[-1]
    notes[i] = (notes[i][0], HH_OPEN, notes[i][2] + 10)
    if pedal_close:
        notes.append((float(bar.length), HH_PEDAL, 70))


def _pattern(style: str, bar: _Bar, rng: np.random.Generator, cfg: GrooveConfig, *, ride: bool,
             snare: int) -> list[tuple[float, int, int]]:
    """One bar of ``style``: (position in sixteenths, GM note, base velocity)."""
    keeper = RIDE if ride else HH_CLOSED
    if style in ("rock", "fills"):
        notes = _time_line(bar, keeper) + _backbeat(bar, snare)
        if len(bar.starts) >= 3 and rng.random() < 0.5:
            notes.append((float(bar.starts[-2] + 2), KICK, 90))
    elif style == "funk":
        notes = _time_line(bar, keeper, sixteenths=True) + _backbeat(bar, snare)
        notes.append((float(bar.starts[0] + 3), KICK, 85))
        taken = {int(n[0]) for n in notes if n[1] in (KICK, SNARE, SIDESTICK)}
        notes += [(float(p), SNARE, int(rng.integers(18, 36))) for p in range(bar.length)
                  if p % 2 and p not in taken and rng.random() < cfg.ghost_prob]
    elif style == "shuffle":
        swung = cfg.swing * 4
        notes = [(float(s), keeper, 95) for s in bar.starts] + [
            (s + (swung if g == 4 else float(p)), keeper, 70)
            for s, g in zip(bar.starts, bar.groups) for p in range(2, g, 2)]
        notes += _backbeat(bar, snare) + [(float(s), HH_PEDAL, 60) for i, s in enumerate(bar.starts) if i % 2 and ride]
        notes += [(s + swung, SNARE, int(rng.integers(18, 36))) for s, g in zip(bar.starts, bar.groups)
                  if g == 4 and rng.random() < cfg.ghost_prob]
    elif style == "half_time":
        middle = len(bar.starts) // 2
        notes = _time_line(bar, keeper) + [(0.0, KICK, 105), (float(bar.starts[middle]), snare, 112)]
        if middle >= 2:
            notes.append((float(bar.starts[middle - 1] + 2), KICK, 90))
    elif style == "four_on_the_floor":
        notes = [(float(s), KICK, 110) for s in bar.starts]
        notes += [(float(s), CLAP if snare == CLAP else SNARE, 105) for i, s in enumerate(bar.starts) if i % 2]
        for s, g in zip(bar.starts, bar.groups):
            notes += [(float(s + p), HH_CLOSED, 50) for p in range(1, g, 2)]
            notes += [(float(s + p), HH_OPEN, 85) for p in range(2, g, 2)]
            notes.append((float(s), HH_PEDAL, 65))
        return notes
    else:
        raise ConfigError(f"unknown groove style '{style}', expected one of {list(STYLES)}")
    if keeper == HH_CLOSED and rng.random() < cfg.open_hat_prob:
        _open_last_hat(notes, bar, pedal_close=style != "funk")
    return notes


def _fill(bar: _Bar, rng: np.random.Generator, cfg: GrooveConfig, keep: list[tuple[float, int, int]]
          ) -> list[tuple[float, int, int, float]]:
    """The bar's second half becomes sixteenths descending snare -> toms, kick under each beat."""
    half = bar.starts[len(bar.starts) // 2]
    notes: list[tuple[float, int, int, float]] = [(*n, 0.0) for n in keep if n[0] < half and n[0] < bar.length]
    steps = range(half, bar.length)
    for k, pos in enumerate(steps):
        voice = FILL_VOICES[min(len(FILL_VOICES) - 1, k * len(FILL_VOICES) // max(1, len(steps)))]
        notes.append((float(pos), voice, int(90 + 25 * k / max(1, len(steps) - 1)), 0.0))
        if pos in bar.starts:
            notes.append((float(pos), KICK, 95, 0.0))
    if rng.random() < cfg.flam_prob:
        # A grace note 15-35 ms before the fill's first stroke, much softer.
        notes.append((float(half), FILL_VOICES[0], int(rng.integers(35, 60)), -float(rng.uniform(0.015, 0.035))))
    return notes


def _plan(form: str, rng: np.random.Generator, cfg: GrooveConfig) -> tuple[list[tuple[int, int]], float, float | None]:
    """Meters of a phrase pattern, first tempo and (metric modulation) the second tempo."""
    tempo = float(rng.integers(cfg.tempo_min, cfg.tempo_max + 1))
    if form == "common":
        return [(4, 4)], tempo, None
    if form == "odd_meter":
        return [ODD_METERS[int(rng.integers(len(ODD_METERS)))]], tempo, None
    if form == "variable_meter":
        # The second bar of each phrase changes length, so even a short take holds a change.
        short = SHORT_METERS[int(rng.integers(len(SHORT_METERS)))]
        return [(4, 4), short] + [(4, 4)] * (cfg.phrase_bars - 2), tempo, None
    if form == "metric_modulation":
        fits = [(p, q) for p, q in MODULATIONS if cfg.tempo_min <= tempo * p / q <= cfg.tempo_max]
        if not fits:  # a narrow tempo range: the nearest simple ratio still modulates
            fits = [min(MODULATIONS, key=lambda r: abs(tempo * r[0] / r[1] - (cfg.tempo_min + cfg.tempo_max) / 2))]
        p, q = fits[int(rng.integers(len(fits)))]
        return [(4, 4)], tempo, tempo * p / q
    raise ConfigError(f"unknown groove form '{form}', expected one of {list(FORMS)}")


def compose_take(take_id: str, *, style: str, form: str, cfg: GrooveConfig, rng: np.random.Generator,
                 available: Iterable[int] | None = None, curve: OpennessCurve) -> Take:
    """Compose one take: whole bars until ``cfg.take_s`` seconds, phrase-end fills and crashes.

    Parameters
    ----------
    take_id : str
        Name of the take (its file names).
    style, form : str
        One of :data:`STYLES` and :data:`FORMS`.
    cfg : GrooveConfig
        Composition parameters.
    rng : numpy.random.Generator
        All random choices (tempo, variations, humanising).
    available : iterable of int, optional
        GM notes the kit can play; other notes are left out.
    curve : OpennessCurve
        Hi-hat openness is written as the CC4 value this curve maps to it.

    Returns
    -------
    Take
    """
    meters_cycle, tempo, second_tempo = _plan(form, rng, cfg)
    ride = rng.random() < (0.7 if style == "shuffle" else cfg.ride_prob)
    snare = {"half_time": SIDESTICK if rng.random() < 0.4 else SNARE,
             "shuffle": SIDESTICK if rng.random() < 0.3 else SNARE,
             "four_on_the_floor": CLAP if rng.random() < 0.6 else SNARE}.get(style, SNARE)
    fill_every = 2 if style == "fills" else cfg.phrase_bars
    raw: list[tuple[int, int, int]] = []  # (tick, note, velocity), before availability
    tempos: list[tuple[int, float]] = [(0, tempo)]
    meters: list[tuple[int, int, int]] = []
    tick, seconds, bar_index, bpm = TPQ, 60.0 / tempo, 0, tempo  # one beat of count-in
    while seconds < cfg.take_s + 60.0 / tempo:
        if second_tempo is not None and bpm == tempo and seconds >= (cfg.take_s + 60.0 / tempo) / 2 \
                and bar_index % 2 == 0:
            bpm = second_tempo
            tempos.append((tick, bpm))
        meter = meters_cycle[bar_index % len(meters_cycle)]
        if not meters or meters[-1][1:] != meter:
            meters.append((tick, *meter))
        bar = _bar(meter)
        notes = _pattern(style, bar, rng, cfg, ride=ride, snare=snare)
        if bar_index % fill_every == fill_every - 1:
            placed = _fill(bar, rng, cfg, notes)
        else:
            placed = [(*n, 0.0) for n in notes]
        if bar_index % fill_every == 0:
            placed.append((0.0, CRASH, 112, 0.0))
            if rng.random() < cfg.layer_prob:
                placed.append((0.0, CRASH_2, 105, float(rng.uniform(0.0, 0.005))))
            if not any(n[0] == 0 and n[1] == KICK for n in placed):
                placed.append((0.0, KICK, 105, 0.0))
        ticks_per_s = bpm / 60.0 * TPQ
        for pos, note, velocity, offset_s in placed:
            jitter = float(np.clip(rng.normal(0.0, cfg.humanize_ms / 1000), -0.02, 0.02))
            t = tick + pos * SIXTEENTH + (offset_s + jitter) * ticks_per_s
            v = int(np.clip(round(velocity + rng.normal(0.0, cfg.velocity_sd)), 1, 127))
            raw.append((max(0, int(round(t))), note, v))
        tick += bar.length * SIXTEENTH
        seconds += bar.length / 4 * 60.0 / bpm
        bar_index += 1
    keep = set(available) if available is not None else None
    notes = _thin(sorted(n for n in raw if keep is None or n[1] in keep), tempos)
    cc4 = _pedal(notes, curve, rng, open_min=cfg.open_min)
    return Take(take_id, style, form, tuple(notes), tuple(cc4), tuple(tempos), tuple(meters))


def _seconds_per_tick(tick: int, tempos: Sequence[tuple[int, float]]) -> float:
    bpm = [b for t, b in tempos if t <= tick][-1]
    return 60.0 / (bpm * TPQ)


def _thin(notes: list[tuple[int, int, int]], tempos: Sequence[tuple[int, float]]) -> list[tuple[int, int, int]]:
    """Drop a note repeating the same GM note within 2 x NOTE_S (e.g. a pedal after a bar-end pedal)."""
    last: dict[int, int] = {}
    out = []
    for tick, note, velocity in notes:
        if note in last and (tick - last[note]) * _seconds_per_tick(tick, tempos) < 2 * NOTE_S:
            continue
        last[note] = tick
        out.append((tick, note, velocity))
    return out


def _pedal(notes: Sequence[tuple[int, int, int]], curve: OpennessCurve, rng: np.random.Generator, *,
           open_min: float) -> list[tuple[int, int]]:
    """CC4 before each hi-hat stroke: closed for closed/pedal, a drawn openness for open strokes."""
    out: list[tuple[int, int]] = []
    for tick, note, _ in notes:
        if note not in (HH_CLOSED, HH_PEDAL, HH_OPEN):
            continue
        value = curve.inverse(float(rng.uniform(open_min, 1.0)) if note == HH_OPEN else 0.0)
        if not out or out[-1][1] != value:
            out.append((tick, value))
    return out


def write_midi(take: Take, path: str | Path) -> None:
    """Write ``take`` as a type-1 MIDI file: tempo/meter map, then the drums on channel 10."""
    import mido

    meta = [(t, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(b), time=0)) for t, b in take.tempos]
    meta += [(t, 1, mido.MetaMessage("time_signature", numerator=n, denominator=d, time=0)) for t, n, d in take.meters]
    drums: list[tuple[int, int, mido.Message]] = [
        (t, 1, mido.Message("control_change", channel=9, control=CC_HIHAT_PEDAL, value=v, time=0))
        for t, v in take.cc4]
    for tick, note, velocity in take.notes:
        length = max(1, int(round(NOTE_S / _seconds_per_tick(tick, take.tempos))))
        drums.append((tick, 2, mido.Message("note_on", channel=9, note=note, velocity=velocity, time=0)))
        drums.append((tick + length, 0, mido.Message("note_off", channel=9, note=note, velocity=0, time=0)))
    midi = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    for events, name in ((meta, "tempo"), (drums, "drums")):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        now = 0
        # At one tick: note-offs first, then the pedal, then note-ons (the CC4 applies to them).
        for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(message.copy(time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi.tracks.append(track)
    with atomic_path(path) as tmp:
        midi.save(str(tmp))


# ------------------------------------------------------------------ playing


@dataclass(frozen=True)
class OneShot:
    """One sample of a kit: its audio from the onset, and the velocity it was played at (None: unknown)."""

    audio: np.ndarray
    velocity: int | None


def kit_one_shots(events: pd.DataFrame, *, sr: int, max_s: float = 1.5) -> dict[str, list[OneShot]]:
    """Cut a kit's one-shots out of its source audio, per label.

    Only plain hits are used: known labels, no technique, no extra label. A
    clip runs from the hit's onset to the next onset in the same file (a
    synthetic or SoundFont session holds many hits) or ``max_s``, and fades out
    over its last 10 ms.
    """
    shots: dict[str, list[OneShot]] = {}
    fade = int(FADE_S * sr)
    for path, group in events.groupby("audio_path", sort=True):
        audio = load_audio(str(path), sr=sr)
        onsets = np.sort(group["onset_s"].to_numpy(dtype=np.float64))
        plain = group[(group["techniques"].map(len) == 0) & (group["extra_labels"].map(len) == 0)]
        for onset, label, velocity in zip(plain["onset_s"], plain["label"], plain["velocity"]):
            start = int(round(onset * sr))
            later = onsets[onsets > onset + 1e-6]
            end = min(audio.size, start + int(max_s * sr), int(round(later[0] * sr)) if later.size else audio.size)
            if end - start <= 2 * fade:
                continue
            clip = audio[start:end].astype(np.float32)
            clip[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            shots.setdefault(str(label), []).append(
                OneShot(clip, None if pd.isna(velocity) else int(velocity)))
    for label in shots:
        shots[label].sort(key=lambda s: (s.velocity or 0, s.audio.size))
    return shots


def _choose(shots: Sequence[OneShot], velocity: int, rng: np.random.Generator, *, rank: int = 0) -> OneShot:
    """Among the three samples nearest in velocity, a random one (round robin); ``rank`` skips ahead."""
    order = sorted(range(len(shots)), key=lambda i: (abs((shots[i].velocity or 100) - velocity), i))
    near = order[:3]
    return shots[near[(int(rng.integers(len(near))) + rank) % len(near)]]


def render_midi(midi_path: str | Path, shots: Mapping[str, Sequence[OneShot]], gm_map: Mapping[int, str], *,
                curve: OpennessCurve, sr: int, rng: np.random.Generator, tail_s: float = 1.5) -> np.ndarray:
    """Play a drum MIDI file through one-shots; returns mono float32 audio peaking at 0.9.

    Velocity picks the nearest-velocity samples and scales the level by the
    velocity ratio; a new hi-hat stroke chokes the ringing one (10 ms fade), as
    closing hi-hat cymbals stop the ring; an open stroke rings for
    ``max(0.1, openness)`` of its sample; a second cymbal note of one class
    (Crash 2) plays a different sample than the first.
    """
    midi = read_drum_midi(midi_path)
    end = max(n.time for n in midi.notes) + tail_s
    out = np.zeros(int(math.ceil(end * sr)), np.float32)
    fade = int(FADE_S * sr)
    hat: tuple[int, np.ndarray] | None = None  # the ringing hi-hat stroke: start, clip

    def mix(start: int, clip: np.ndarray) -> None:
        stop = min(out.size, start + clip.size)
        out[start:stop] += clip[:stop - start]

    cc_times = [t for t, _ in midi.cc4]
    for note in midi.notes:
        label = gm_map.get(note.pitch)
        if label not in shots:
            continue
        shot = _choose(shots[label], note.velocity, rng, rank=1 if note.pitch == CRASH_2 else 0)
        gain = float(np.clip(note.velocity / shot.velocity, 0.2, 3.0)) if shot.velocity else note.velocity / 100
        clip = shot.audio * np.float32(gain)
        start = int(round(note.time * sr))
        if label in HIHATS:
            if hat is not None:
                h_start, h_clip = hat
                keep = max(fade, start - h_start)
                h_clip = h_clip[:keep + fade].copy()
                h_clip[-min(fade, h_clip.size):] *= np.linspace(1.0, 0.0, min(fade, h_clip.size), dtype=np.float32)
                mix(h_start, h_clip)
            if label == "hihat_open":
                i = int(np.searchsorted(cc_times, note.time + 1e-6, side="right")) - 1
                openness = curve(midi.cc4[i][1]) if i >= 0 else 1.0
                ring = max(2 * fade, int(clip.size * max(0.1, openness)))
                clip = clip[:ring].copy()
                clip[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            hat = (start, clip)
            continue
        mix(start, clip)
    if hat is not None:
        mix(*hat)
    peak = float(np.abs(out).max())
    return out * np.float32(PEAK / peak) if peak > 0 else out


def take_name(session_id: str, index: int) -> str:
    """A file-name-safe take id: the session id with odd characters replaced, plus the take number."""
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', session_id).strip('_')}-{index:02d}"


def _write_wav(path: Path, audio: np.ndarray, sr: int) -> None:
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    sf.write(path, pcm, sr, subtype="PCM_16", format="WAV")


def render_grooves(
    kits: pd.DataFrame,
    out_dir: str | Path,
    *,
    cfg: GrooveConfig,
    rules: MidiRules,
    takes_per_kit: int,
    sr: int,
    seed: int,
    progress: bool = False,
) -> pd.DataFrame:
    """Compose, write and play ``takes_per_kit`` takes on every kit of ``kits``; return their events.

    Parameters
    ----------
    kits : DataFrame
        Events manifests of the kit sources (synth, hydrogen, soundfont): the
        one-shots come from their audio, the session id and kit name from their rows.
    out_dir : path
        Folder for ``<take_id>.wav`` + ``<take_id>.mid`` (written as a whole, atomically).
        ``audio_path`` of the events is ``out_dir/<take_id>.wav`` as given.
    cfg : GrooveConfig
        Composition parameters.
    rules : MidiRules
        GM map, openness curve and labelling rules (the audio_midi importer's).
    takes_per_kit : int
        Takes per kit (>= 1).
    sr : int
        Sample rate of the takes.
    seed : int
        Take ``k`` (in kit order) draws from ``[seed, k]``; style and form cycle
        through :data:`STYLES` and :data:`FORMS` so every one is covered.
    progress : bool
        One line per kit on stderr.

    Returns
    -------
    DataFrame
        The events manifest, source ``grooves``.
    """
    if takes_per_kit < 1:
        raise ConfigError(f"grooves takes_per_kit must be >= 1, got {takes_per_kit}")
    out_dir = Path(out_dir)
    notes_of = {label: [n for n, lab in rules.gm_map.items() if lab == label] for label in set(rules.gm_map.values())}
    rows: list[dict] = []
    k = 0
    with atomic_path(out_dir, is_dir=True) as tmp:
        sessions = kits[["source", "session_id", "kit"]].drop_duplicates(["source", "session_id"])
        for source, session_id, kit in sessions.sort_values(["source", "session_id"]).itertuples(index=False):
            events = kits[(kits["source"] == source) & (kits["session_id"] == session_id)]
            shots = kit_one_shots(events, sr=sr)
            missing = [lab for lab in ("kick", "snare", "hihat_closed") if lab not in shots]
            if missing:
                if progress:
                    print(f"grooves: {session_id} skipped, no plain {', '.join(missing)} sample", file=sys.stderr)
                continue
            available = [n for label in shots for n in notes_of.get(label, [])]
            for t in range(takes_per_kit):
                rng = np.random.default_rng([seed, k])
                take = compose_take(take_name(session_id, t), style=STYLES[k % len(STYLES)],
                                    form=FORMS[k % len(FORMS)], cfg=cfg, rng=rng, available=available,
                                    curve=rules.curve)
                k += 1
                midi_path, wav_path = tmp / f"{take.take_id}.mid", tmp / f"{take.take_id}.wav"
                write_midi(take, midi_path)
                # Played from the file as written, so audio and labels share the MIDI's tick-rounded times.
                _write_wav(wav_path, render_midi(midi_path, shots, rules.gm_map, curve=rules.curve, sr=sr,
                                                 rng=rng), sr)
                rows += pair_events(AudioMidiPair(take.take_id, wav_path, midi_path), rules, source=SOURCE,
                                    session_id=str(session_id), kit=str(kit),
                                    audio_path=(out_dir / wav_path.name).as_posix())
                if progress:
                    print(f"grooves: {take.take_id} {take.style} {take.form} "
                          f"{take.tempos[0][1]:.0f} BPM, {len(take.notes)} notes", file=sys.stderr)
    if not rows:
        return empty_events()
    return events_frame(rows, origin=str(out_dir))
