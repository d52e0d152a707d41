"""The embedded theory corpus: seeded MIDI for the five datasets.

Each generator turns a NumPy generator and the params of its dataset into one
:class:`Sample` (a :class:`pretty_midi.PrettyMIDI` plus the labels the rules
put into it). *Families* are the generators' textures (block chords,
arpeggios, drum patterns ...); every family produces every label, so a family
held out for testing measures whether a model learned the music rather than
the texture.

Rules (from the seed):

* emotion - progressions per emotion (major -> happy, minor -> sad ...), tempo and
  velocity ranges per emotion, valence and arousal around the emotion's centre;
* melody - scale notes following a labelled contour inside a labelled range,
  moving mostly by step;
* harmony - an emotion's progression followed by a circle-of-fifths cadence,
  voice-led;
* dynamics - velocity curves (crescendo, decrescendo, swell, steady) and
  articulation (staccato, legato, accented);
* groove - eighth-note patterns whose off-beats sit at the groove's swing ratio
  (straight 0.5, swing 0.67, shuffle 0.75) and whose grid offset is the groove's
  (laid-back behind, rushed ahead).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pretty_midi

from musicml.errors import ConfigError
from musicml.midi.analysis import RANGES, contour_templates, midi_bytes
from musicml.midi.theory import (
    Chord, bass_note, check_mode, chord_names, key_name, pitch_class, progression, scale_pitches, voice_lead,
)

DATASETS = ("emotion", "melody", "harmony", "dynamics", "groove")
FAMILIES = {
    "emotion": ("block", "arpeggio", "alberti", "pad_melody"),
    "melody": ("even", "dotted", "syncopated", "mixed"),
    "harmony": ("close", "open", "arpeggiated", "keyboard"),
    "dynamics": ("scale", "repeated", "arpeggio", "melodic"),
    "groove": ("rock", "funk", "ride", "bass"),
}
# Circle-of-fifths cadences (each chord a fifth above the next) that close a harmony sample.
# Every cadence resolves to the tonic: a piece states its key.
CADENCES = {
    "major": (("vi", "ii", "V", "I"), ("iii", "vi", "ii", "V", "I"), ("ii", "V", "I"),
              ("IV", "vii°", "iii", "vi", "ii", "V", "I")),
    "minor": (("iv", "VII", "III", "VI", "ii°", "V", "i"), ("VI", "ii°", "V", "i"), ("iv", "V", "i"),
              ("ii°", "V", "i")),
}
GM_DRUMS = {"kick": 36, "snare": 38, "hat": 42, "ride": 51}


@dataclass
class Sample:
    """One generated piece and its labels (manifest annotation fields)."""

    dataset: str
    family: str
    midi: pretty_midi.PrettyMIDI
    labels: dict[str, Any]
    data: bytes = field(init=False, repr=False)
    sample_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.data = midi_bytes(self.midi)
        self.sample_id = hashlib.sha1(self.data).hexdigest()[:12]


@dataclass(frozen=True)
class SynthConfig:
    """What the generators read from ``midi.synth`` and the label tables of ``midi``."""

    emotions: Mapping[str, Mapping[str, Any]]
    grooves: Mapping[str, Mapping[str, Any]]
    articulations: Mapping[str, Mapping[str, Any]]
    dynamics_curves: Sequence[str]
    contours: Sequence[str]
    ranges: Mapping[str, Sequence[int]]
    keys: Sequence[str]
    bars: int = 4
    melody_notes: int = 16
    jitter_ms: float = 4.0
    groove_tempo: Sequence[float] = (70, 150)

    def __post_init__(self) -> None:
        for name, spec in self.emotions.items():
            check_mode(spec.get("mode", ""))
            for field_name in ("valence", "arousal"):
                value = spec.get(field_name)
                if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                    raise ConfigError(f"midi.emotions.{name}.{field_name}: expected a number in 0..1, got {value!r}")
            lo, hi = spec["tempo"]
            if not 0 < lo <= hi <= 400:
                raise ConfigError(f"midi.emotions.{name}.tempo: expected 0 < low <= high <= 400 BPM, got {[lo, hi]}")
            if not spec.get("progressions"):
                raise ConfigError(f"midi.emotions.{name}.progressions: expected at least one progression")
            for numerals in spec["progressions"]:
                progression(numerals, 0, spec["mode"])  # unknown numerals fail here, not mid-run
        for key in self.keys:
            pitch_class(key)
        for name, spec in self.grooves.items():
            if not 0.5 <= spec["swing_ratio"] < 0.9:
                raise ConfigError(f"midi.grooves.{name}.swing_ratio: expected 0.5..0.9, got {spec['swing_ratio']}")
        unknown = set(self.contours) - set(contour_templates(2))
        if unknown:
            raise ConfigError(f"midi.melody.contours: unknown {sorted(unknown)}; known {sorted(contour_templates(2))}")
        unknown = set(self.ranges) - set(RANGES)
        if unknown:
            raise ConfigError(f"midi.melody.ranges: unknown {sorted(unknown)}; known {sorted(RANGES)}")
        for name, (lo, hi) in self.ranges.items():
            if not RANGES[name][0] <= lo <= hi <= RANGES[name][1]:
                raise ConfigError(f"midi.melody.ranges.{name}: expected {RANGES[name][0]}..{RANGES[name][1]} "
                                  f"semitones (what the annotator calls {name}), got {[lo, hi]}")
        unknown = set(self.dynamics_curves) - {"crescendo", "decrescendo", "swell", "steady"}
        if unknown:
            raise ConfigError(f"midi.dynamics.curves: unknown {sorted(unknown)}")

    def categories(self, dataset: str) -> list[str]:
        """The labels a dataset is balanced over (``per_category`` samples each)."""
        return {"emotion": list(self.emotions), "melody": list(self.contours), "harmony": list(self.emotions),
                "dynamics": list(self.articulations), "groove": list(self.grooves)}[dataset]


def _pm(tempo: float) -> pretty_midi.PrettyMIDI:
    return pretty_midi.PrettyMIDI(initial_tempo=float(tempo))


def _note(inst: pretty_midi.Instrument, pitch: int, start: float, end: float, velocity: float) -> None:
    inst.notes.append(pretty_midi.Note(velocity=int(np.clip(round(velocity), 1, 127)), pitch=int(pitch),
                                       start=float(max(start, 0.0)), end=float(max(end, start + 0.01))))


def _key(rng: np.random.Generator, config: SynthConfig) -> int:
    return pitch_class(config.keys[int(rng.integers(len(config.keys)))])


def _emotion_common(rng: np.random.Generator, config: SynthConfig, emotion: str) -> dict[str, Any]:
    spec = config.emotions[emotion]
    lo, hi = spec["tempo"]
    tempo = float(rng.integers(int(lo), int(hi) + 1))
    position = (tempo - lo) / max(hi - lo, 1)  # faster within the emotion's range -> a little more arousal
    jitter = float(spec.get("jitter", 0.05))
    return {
        "emotion": emotion, "mode": spec["mode"], "tempo_bpm": tempo,
        "valence": round(float(np.clip(spec["valence"] + rng.normal(0, jitter), 0, 1)), 3),
        "arousal": round(float(np.clip(spec["arousal"] + 0.1 * (position - 0.5) + rng.normal(0, jitter), 0, 1)), 3),
    }


def _voicings(chords: Sequence[Chord], *, low: int = 55, high: int = 79, voices: int = 3) -> list[list[int]]:
    out: list[list[int]] = []
    for chord in chords:
        out.append(voice_lead(out[-1] if out else None, chord, low=low, high=high, voices=voices))
    return out


def _accompany(inst: pretty_midi.Instrument, family: str, chords: Sequence[Chord], voicings: Sequence[list[int]],
               *, beat: float, vel: tuple[float, float], rng: np.random.Generator) -> None:
    """Render one chord per bar in a texture (the family)."""
    bar = 4 * beat
    for i, (chord, voicing) in enumerate(zip(chords, voicings)):
        t0 = i * bar
        bass = bass_note(chord)
        v = lambda: rng.uniform(*vel)  # noqa: E731 - one fresh velocity per note
        if family in ("block", "close"):
            for p in [bass, *voicing]:
                _note(inst, p, t0, t0 + bar * 0.98, v())
        elif family == "open":
            spread = [voicing[0], voicing[1] + 12 if voicing[1] + 12 <= 88 else voicing[1], voicing[2]]
            for p in [bass - 12 if bass - 12 >= 28 else bass, *sorted(spread)]:
                _note(inst, p, t0, t0 + bar * 0.98, v())
        elif family in ("arpeggio", "arpeggiated"):
            seq = [bass, *voicing, voicing[-1] + 12 - 12 * (voicing[-1] + 12 > 96), *voicing[::-1], bass + 12]
            for j, p in enumerate(seq[:8]):
                _note(inst, p, t0 + j * beat / 2, t0 + (j + 1) * beat / 2, v())
        elif family == "alberti":
            lowv, mid, top = voicing
            _note(inst, bass, t0, t0 + bar * 0.98, v())
            for j, p in enumerate([lowv, top, mid, top] * 2):
                _note(inst, p, t0 + j * beat / 2, t0 + (j + 1) * beat / 2 * 0.98, v())
        elif family == "keyboard":
            _note(inst, bass, t0, t0 + bar * 0.98, v())
            for beat_i in (0, 1.5, 2, 3.5):
                for p in voicing:
                    _note(inst, p, t0 + beat_i * beat, t0 + (beat_i + 0.45) * beat, v())
        elif family == "pad_melody":
            for p in [bass, *voicing]:
                _note(inst, p, t0, t0 + bar * 0.98, v() * 0.8)
            tones = sorted({p + 12 for p in voicing})
            for j in range(4):
                _note(inst, tones[int(rng.integers(len(tones)))], t0 + j * beat, t0 + (j + 0.9) * beat, v())
        else:
            raise ConfigError(f"unknown texture family '{family}'")


def gen_emotion(rng: np.random.Generator, config: SynthConfig, emotion: str, family: str) -> Sample:
    labels = _emotion_common(rng, config, emotion)
    spec = config.emotions[emotion]
    tonic = _key(rng, config)
    numerals = spec["progressions"][int(rng.integers(len(spec["progressions"])))]
    # The progression fills ``bars`` bars, then a closing tonic bar states the key.
    numerals = [numerals[i % len(numerals)] for i in range(config.bars)] + ["I" if spec["mode"] == "major" else "i"]
    chords = progression(numerals, tonic, spec["mode"])
    pm = _pm(labels["tempo_bpm"])
    inst = pretty_midi.Instrument(program=0, name=family)
    _accompany(inst, family, chords, _voicings(chords), beat=60.0 / labels["tempo_bpm"],
               vel=tuple(spec["velocity"]), rng=rng)
    pm.instruments.append(inst)
    labels.update(key=key_name(tonic), chord_progression=chord_names(chords), roman=list(numerals))
    return Sample("emotion", family, pm, labels)


def gen_harmony(rng: np.random.Generator, config: SynthConfig, emotion: str, family: str) -> Sample:
    labels = _emotion_common(rng, config, emotion)
    spec = config.emotions[emotion]
    tonic = _key(rng, config)
    numerals = list(spec["progressions"][int(rng.integers(len(spec["progressions"])))])
    cadences = CADENCES[spec["mode"]]
    numerals += list(cadences[int(rng.integers(len(cadences)))])
    chords = progression(numerals, tonic, spec["mode"])
    pm = _pm(labels["tempo_bpm"])
    inst = pretty_midi.Instrument(program=0, name=family)
    lo, hi = spec["velocity"]
    _accompany(inst, family, chords, _voicings(chords, voices=3), beat=60.0 / labels["tempo_bpm"],
               vel=(lo, hi), rng=rng)
    pm.instruments.append(inst)
    labels.update(key=key_name(tonic), chord_progression=chord_names(chords), roman=numerals)
    return Sample("harmony", family, pm, labels)


def _rhythm(rng: np.random.Generator, family: str, n: int) -> list[float]:
    """Durations in beats of ``n`` notes in a rhythm family."""
    cells = {"even": [[1.0]], "dotted": [[1.5, 0.5]], "syncopated": [[0.5, 1.0, 0.5]],
             "mixed": [[1.0], [0.5, 0.5], [2.0], [1.5, 0.5]]}[family]
    out: list[float] = []
    while len(out) < n:
        out.extend(cells[int(rng.integers(len(cells)))])
    return out[:n]


def gen_melody(rng: np.random.Generator, config: SynthConfig, contour: str, family: str, *,
               range_name: str, emotion: str) -> Sample:
    labels = _emotion_common(rng, config, emotion)
    mode = labels["mode"]
    tonic = _key(rng, config)
    span_lo, span_hi = config.ranges[range_name]
    # Lowest and highest notes are scale tones exactly ``span`` apart, so the
    # melody's ambitus is the range label's by construction.
    candidates = scale_pitches(tonic, mode, 57, 67)
    low = candidates[int(rng.integers(len(candidates)))]
    tops = [p for p in scale_pitches(tonic, mode, low + span_lo, low + span_hi)]
    top = tops[int(rng.integers(len(tops)))]
    scale = scale_pitches(tonic, mode, low, top)
    n = config.melody_notes
    template = contour_templates(n)[contour]
    target = low + (template - template.min()) / (template.max() - template.min()) * (top - low)
    pitches: list[int] = []
    for i, goal in enumerate(target):
        p = min(scale, key=lambda s: (abs(s - goal), s))
        # Neighbour-note ornaments move by one scale step and never replace a range extreme.
        if 0 < i < n - 1 and low < p < top and rng.random() < 0.2:
            idx = scale.index(p) + int(rng.choice([-1, 1]))
            p = scale[idx]
        pitches.append(p)
    pitches = _smooth_leaps(pitches, scale)
    beat = 60.0 / labels["tempo_bpm"]
    pm = _pm(labels["tempo_bpm"])
    inst = pretty_midi.Instrument(program=73, name=family)  # flute
    t = 0.0
    vel_lo, vel_hi = config.emotions[emotion]["velocity"]
    for p, d in zip(pitches, _rhythm(rng, family, n)):
        _note(inst, p, t, t + d * beat * 0.92, rng.uniform(vel_lo, vel_hi))
        t += d * beat
    pm.instruments.append(inst)
    labels.update(key=key_name(tonic), contour=contour, range=range_name, ambitus=max(pitches) - min(pitches))
    return Sample("melody", family, pm, labels)


def _smooth_leaps(pitches: list[int], scale: list[int], *, max_leap: int = 7) -> list[int]:
    """Voice leading: a leap wider than a fifth is filled with a passing scale tone midway."""
    out = list(pitches)
    for i in range(1, len(out) - 1):
        if abs(out[i] - out[i - 1]) > max_leap:
            mid = (out[i - 1] + out[i + 1]) / 2
            out[i] = min(scale, key=lambda s: (abs(s - mid), s))
    return out


def _curve(rng: np.random.Generator, curve: str, n: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)
    lo, hi = rng.uniform(35, 50), rng.uniform(95, 115)
    shape = {"crescendo": t, "decrescendo": 1 - t, "swell": np.sin(np.pi * t), "steady": np.full(n, 0.5)}[curve]
    if curve == "steady":
        level = rng.uniform(60, 95)
        return level + rng.normal(0, 3, n)
    return lo + (hi - lo) * shape + rng.normal(0, 3, n)


def gen_dynamics(rng: np.random.Generator, config: SynthConfig, articulation: str, family: str, *,
                 curve: str) -> Sample:
    spec = config.articulations[articulation]
    tempo = float(rng.integers(80, 141))
    beat = 60.0 / tempo
    n = 32
    tonic = _key(rng, config)
    scale = scale_pitches(tonic, "major", 55, 84)
    start = int(rng.integers(0, max(1, len(scale) - 9)))
    if family == "scale":
        pitches = [scale[start + (i % 16 if i % 16 < 8 else 16 - i % 16)] for i in range(n)]
    elif family == "repeated":
        pitches = [scale[start + 2 * (i // 8)] for i in range(n)]
    elif family == "arpeggio":
        pitches = [scale[start + [0, 2, 4, 7, 4, 2][i % 6]] for i in range(n)]
    else:  # melodic: a seeded random walk by steps
        idx, pitches = start + 3, []
        for _ in range(n):
            idx = int(np.clip(idx + rng.choice([-1, 1, 1, -2, 2]), 0, len(scale) - 1))
            pitches.append(scale[idx])
    velocities = _curve(rng, curve, n)
    accent = float(spec.get("accent", 0))
    ratio_lo, ratio_hi = spec["duration_ratio"]
    pm = _pm(tempo)
    inst = pretty_midi.Instrument(program=0, name=family)
    for i, p in enumerate(pitches):
        t0 = i * beat / 2
        v = velocities[i] + (accent if i % 2 == 0 else 0.0)
        _note(inst, p, t0, t0 + beat / 2 * rng.uniform(ratio_lo, ratio_hi), v)
    pm.instruments.append(inst)
    labels = {"articulation": articulation, "dynamics": curve, "tempo_bpm": tempo, "key": key_name(tonic),
              "mode": "major"}
    return Sample("dynamics", family, pm, labels)


def gen_groove(rng: np.random.Generator, config: SynthConfig, groove: str, family: str) -> Sample:
    spec = config.grooves[groove]
    tempo = float(rng.integers(int(config.groove_tempo[0]), int(config.groove_tempo[1]) + 1))
    beat = 60.0 / tempo
    swing = float(spec["swing_ratio"])
    offset = float(spec.get("offset_ms", 0.0)) / 1000.0
    sigma = config.jitter_ms / 1000.0
    pm = _pm(tempo)
    drums = pretty_midi.Instrument(program=0, is_drum=True, name=family)
    bass = pretty_midi.Instrument(program=33, name="bass")
    tonic = _key(rng, config)

    def at(beat_pos: float) -> float:
        """Time of a position in beats: off-beat eighths move to the swing ratio."""
        whole, frac = divmod(beat_pos, 1.0)
        frac = swing if abs(frac - 0.5) < 1e-9 else frac
        # One beat of lead-in keeps rushed notes at t >= 0 on the same grid.
        return (1 + whole + frac) * beat + offset + rng.normal(0, sigma)

    for bar in range(config.bars):
        b0 = bar * 4
        for e in range(8):
            pos = b0 + e / 2
            accent = 95 if e % 2 == 0 else 70
            if family == "rock":
                _note(drums, GM_DRUMS["hat"], at(pos), at(pos) + 0.05, accent + rng.normal(0, 4))
                if e in (0, 4):
                    _note(drums, GM_DRUMS["kick"], at(pos), at(pos) + 0.1, 105)
                if e in (2, 6):
                    _note(drums, GM_DRUMS["snare"], at(pos), at(pos) + 0.1, 100)
            elif family == "funk":
                _note(drums, GM_DRUMS["hat"], at(pos), at(pos) + 0.04, accent + rng.normal(0, 6))
                if e in (0, 3, 5):
                    _note(drums, GM_DRUMS["kick"], at(pos), at(pos) + 0.1, 110)
                if e in (2, 6):
                    _note(drums, GM_DRUMS["snare"], at(pos), at(pos) + 0.1, 105)
            elif family == "ride":
                if e in (0, 2, 3, 4, 6, 7):  # the jazz "ding, ding-a" ride figure
                    _note(drums, GM_DRUMS["ride"], at(pos), at(pos) + 0.2, accent + rng.normal(0, 4))
                if e in (2, 6):
                    _note(drums, 44, at(pos), at(pos) + 0.05, 70)  # pedal hi-hat on 2 and 4
            elif family == "bass":
                root = 36 + tonic
                pitch = root + [0, 0, 7, 7, 12, 12, 7, 5][e]
                start = at(pos)
                _note(bass, pitch, start, start + beat * 0.4, accent + rng.normal(0, 4))
            else:
                raise ConfigError(f"unknown groove family '{family}'")
    for inst in (drums, bass):
        if inst.notes:
            pm.instruments.append(inst)
    labels = {"groove_type": groove, "swing_ratio": swing, "tempo_bpm": tempo, "key": key_name(tonic),
              "offset_ms": spec.get("offset_ms", 0.0)}
    return Sample("groove", family, pm, labels)


def generate(dataset: str, *, per_category: int, config: SynthConfig, seed: int,
             families: Sequence[str] | None = None) -> list[Sample]:
    """``per_category`` samples of every category of ``dataset``, families in rotation.

    Every sample draws from its own generator seeded by ``(seed, dataset, index)``,
    so one sample can be re-created alone and the output does not depend on
    the order datasets are generated in.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset '{dataset}': expected one of {list(DATASETS)}")
    if per_category < 1:
        raise ConfigError(f"midi.synth.per_category must be >= 1, got {per_category}")
    families = list(families or FAMILIES[dataset])
    unknown = set(families) - set(FAMILIES[dataset])
    if unknown:
        raise ConfigError(f"midi.synth.families.{dataset}: unknown {sorted(unknown)}; known {list(FAMILIES[dataset])}")
    ds_index = DATASETS.index(dataset)
    categories = config.categories(dataset)
    emotions = list(config.emotions)
    samples: list[Sample] = []
    index = 0
    for c, category in enumerate(categories):
        for i in range(per_category):
            rng = np.random.default_rng([seed, ds_index, index])
            family = families[i % len(families)]
            if dataset == "emotion":
                sample = gen_emotion(rng, config, category, family)
            elif dataset == "harmony":
                sample = gen_harmony(rng, config, category, family)
            elif dataset == "melody":
                ranges = list(config.ranges)
                sample = gen_melody(rng, config, category, family, range_name=ranges[(i // len(families)) % len(ranges)],
                                    emotion=emotions[(i + c) % len(emotions)])
            elif dataset == "dynamics":
                curves = list(config.dynamics_curves)
                sample = gen_dynamics(rng, config, category, family, curve=curves[(i // len(families)) % len(curves)])
            else:
                sample = gen_groove(rng, config, category, family)
            samples.append(sample)
            index += 1
    return samples


RENDERERS = ("sine", "soundfont")


def render_audio(pm: pretty_midi.PrettyMIDI, *, sr: int, headroom: float = 4.0, soundfont: str | None = None,
                 gain: float = 0.8) -> np.ndarray:
    """Audio of ``pm`` at ``sr``; float32 in [-1, 1].

    Without ``soundfont``: pretty_midi's sine-tone synthesizer; a fixed
    headroom divisor instead of per-file normalisation keeps velocity
    differences audible as level differences, which the emotion labels rely on.
    With ``soundfont`` (a ``.sf2``/``.sf3`` path): the FluidSynth command plays
    the General MIDI programs of ``pm`` on it at output ``gain``, as the drum
    pipeline's soundfont source does (and through the same function); levels
    follow velocity there too.
    """
    if soundfont:
        from musicml.drums.soundfont import render_midi

        audio = render_midi(soundfont, pm, sr=sr, gain=gain, what="emotion audio")
    else:
        audio = pm.synthesize(fs=sr) / headroom
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def audio_renderer(synth: Mapping[str, Any]) -> dict[str, Any]:
    """``sr``, ``soundfont`` (None for the sine synthesizer) and ``gain`` from ``midi.synth``; the keyword
    arguments of :func:`render_audio`.

    ``renderer: soundfont`` needs the ``fluidsynth`` command and the
    ``soundfont`` file; a missing one is a one-line error, never a silent
    fall-back (the same params must give the same audio on every machine).
    """
    renderer = synth.get("renderer", "sine")
    if renderer not in RENDERERS:
        raise ConfigError(f"midi.synth.renderer: unknown renderer {renderer!r}; expected one of {list(RENDERERS)}")
    out = {"sr": int(synth["sr"]), "soundfont": None, "gain": float(synth.get("soundfont_gain", 0.8))}
    if renderer == "soundfont":
        from musicml.drums.soundfont import FONT_SUFFIXES, fluidsynth_binary

        fluidsynth_binary()
        font = synth.get("soundfont")
        if not font or not Path(font).is_file() or Path(font).suffix.lower() not in FONT_SUFFIXES:
            raise ConfigError(f"midi.synth.soundfont: {font!r} is not a SoundFont file (.sf2/.sf3); "
                              "renderer 'soundfont' needs one (Debian: apt-get install timgm6mb-soundfont)")
        out["soundfont"] = str(font)
    return out


GENERATORS: dict[str, Callable[..., Sample]] = {"emotion": gen_emotion, "melody": gen_melody, "harmony": gen_harmony,
                                                "dynamics": gen_dynamics, "groove": gen_groove}


def synth_config(midi: Mapping[str, Any]) -> SynthConfig:
    """A :class:`SynthConfig` from the ``midi`` params section (bad values: one-line ConfigError)."""
    try:
        synth = midi["synth"]
        return SynthConfig(
            emotions=midi["emotions"], grooves=midi["grooves"], articulations=midi["dynamics"]["articulations"],
            dynamics_curves=midi["dynamics"]["curves"], contours=midi["melody"]["contours"],
            ranges=midi["melody"]["ranges"], keys=midi["keys"], bars=int(synth["bars"]),
            melody_notes=int(synth["melody_notes"]), jitter_ms=float(synth["jitter_ms"]),
            groove_tempo=tuple(synth["groove_tempo"]))
    except KeyError as exc:
        raise ConfigError(f"params: missing key 'midi...{exc.args[0]}'") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"params midi: {exc}") from exc


def write_corpus(out_dir: str | os.PathLike, *, datasets: Sequence[str], per_category: int, config: SynthConfig,
                 seed: int, families: Mapping[str, Sequence[str]], sr: int, audio_datasets: Sequence[str] = ("emotion",),
                 soundfont: str | None = None, soundfont_gain: float = 0.8) -> dict[str, int]:
    """Generate every dataset into ``out_dir`` (atomically, as one folder).

    Layout: ``<dataset>/<family>/<sample_id>.mid``, ``<dataset>/audio/<sample_id>.wav``
    for audio datasets (rendered by :func:`render_audio`, on ``soundfont`` when
    given), and ``index.jsonl`` (one row per sample; paths are
    ``out_dir``-prefixed, i.e. relative to the working directory when ``out_dir`` is). Returns the sample count per dataset.
    """
    import soundfile as sf

    from musicml.atomic import atomic_path
    from musicml.midi.datasets import write_index

    from musicml.parallel import one_blas_thread

    out_dir = Path(out_dir)
    counts: dict[str, int] = {}
    with atomic_path(out_dir, is_dir=True) as tmp, one_blas_thread():
        rows = []
        for dataset in datasets:
            samples = generate(dataset, per_category=per_category, config=config, seed=seed,
                               families=families.get(dataset))
            counts[dataset] = len(samples)
            for s in samples:
                rel = Path(dataset) / s.family / f"{s.sample_id}.mid"
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_bytes(s.data)
                audio_rel = None
                if dataset in audio_datasets:
                    audio_rel = Path(dataset) / "audio" / f"{s.sample_id}.wav"
                    (tmp / audio_rel).parent.mkdir(parents=True, exist_ok=True)
                    audio = render_audio(s.midi, sr=sr, soundfont=soundfont, gain=soundfont_gain)
                    sf.write(tmp / audio_rel, audio, sr, subtype="PCM_16")
                final = lambda r: (out_dir / r).as_posix() if r is not None else None  # noqa: E731
                rows.append({"dataset": dataset, "sample_id": s.sample_id, "file_path": final(rel),
                             "audio_path": final(audio_rel), "source": "synth", "family": s.family,
                             "origin": f"synth:{dataset}:{s.sample_id}", "labels": s.labels})
        write_index(rows, tmp / "index.jsonl")
    return counts
