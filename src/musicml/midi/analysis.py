"""Measuring a MIDI file: the automatic labels and the feature vector.

:func:`analyse` turns a :class:`pretty_midi.PrettyMIDI` into plain numbers
(key, mode, tempo, chords per bar, swing ratio measured from off-beat onsets,
onset deviation from the grid, articulation, dynamics curve, contour, range)
and :func:`feature_vector` flattens them into one fixed-length row. The same
functions label imported files and check the synthetic corpus's labels, so a
generator bug shows up as a label the annotator does not recover.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pretty_midi

from musicml.errors import InputError
from musicml.midi.theory import Chord, estimate_key, key_name, parse_chord, recognise_chord

CONTOURS = ("ascending", "descending", "arch", "valley", "wave")
RANGES = {"narrow": (0, 8), "medium": (9, 13), "wide": (14, 127)}  # the generator draws inside these  # ambitus in semitones, inclusive
INTERVAL_CLIP = 12
IOI_EDGES = np.array([0.0, 0.2, 0.3, 0.4, 0.6, 0.8, 1.1, 1.6, 2.1, np.inf])  # in beats
CURVE_POINTS = 16
# Off-beat onsets: beat fractions between these bounds count towards the swing
# ratio (0.5 straight .. 0.75 dotted); near-beat ones measure the grid offset.
OFFBEAT_WINDOW = (0.35, 0.88)
ONBEAT_WINDOW = 0.15


def load_midi(data: bytes, *, path: str = "<bytes>") -> pretty_midi.PrettyMIDI:
    """Parse MIDI bytes; a corrupt or truncated file is an :class:`InputError` naming ``path``."""
    try:
        return pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as exc:  # mido/pretty_midi raise many types on bad bytes
        if isinstance(exc, ZeroDivisionError) and _has_zero_tempo(data):
            # pretty_midi divides by the microseconds per beat: 0 is an infinite tempo, not a broken file.
            raise InputError(path, "a set_tempo of 0 microseconds per beat (infinite BPM) is outside (0, 400]",
                             field="tempo_bpm") from exc
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(path, f"not a readable MIDI file ({detail[:120]})") from exc


def _has_zero_tempo(data: bytes) -> bool:
    import mido

    try:
        tracks = mido.MidiFile(file=io.BytesIO(data)).tracks
    except Exception:  # unreadable for mido too: the caller's generic message applies
        return False
    return any(msg.type == "set_tempo" and msg.tempo == 0 for track in tracks for msg in track)


def midi_bytes(pm: pretty_midi.PrettyMIDI) -> bytes:
    buffer = io.BytesIO()
    pm.write(buffer)
    return buffer.getvalue()


def file_tempo(pm: pretty_midi.PrettyMIDI) -> float:
    """The first tempo of the file (120 when the file sets none, as MIDI defines)."""
    _, tempi = pm.get_tempo_changes()
    return float(tempi[0]) if len(tempi) else 120.0


@dataclass
class Analysis:
    """What :func:`analyse` measured; arrays have fixed lengths so rows stack."""

    n_notes: int
    duration_s: float
    tempo_bpm: float
    key: str
    tonic: int
    mode: str
    key_correlation: float
    chords: list[str]
    swing_ratio: float | None
    onset_deviation_ms: float
    onset_jitter_ms: float
    duration_ratio: float
    accent_contrast: float
    velocity_slope: float
    articulation: str
    dynamics: str
    contour: str
    ambitus: int
    range: str
    drum_only: bool
    pc_profile: np.ndarray = field(repr=False)
    interval_hist: np.ndarray = field(repr=False)
    ioi_hist: np.ndarray = field(repr=False)
    velocity_curve: np.ndarray = field(repr=False)
    pitch_curve: np.ndarray = field(repr=False)
    contour_scores: np.ndarray = field(repr=False)
    stats: dict[str, float] = field(repr=False, default_factory=dict)

    def labels(self) -> dict[str, Any]:
        """The automatic labels, in manifest field names."""
        return {"key": self.key, "mode": self.mode, "tempo_bpm": round(self.tempo_bpm, 2),
                "chord_progression": self.chords, "swing_ratio": None if self.swing_ratio is None else
                round(self.swing_ratio, 4), "groove_type": groove_type(self.swing_ratio, self.onset_deviation_ms),
                "articulation": self.articulation, "dynamics": self.dynamics, "contour": self.contour,
                "range": self.range}


def _resample(values: np.ndarray, n: int) -> np.ndarray:
    if len(values) == 0:
        return np.zeros(n)
    if len(values) == 1:
        return np.full(n, float(values[0]))
    return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(values)), values.astype(float))


def _thirds(values: np.ndarray) -> tuple[float, float, float]:
    parts = np.array_split(np.asarray(values, dtype=float), 3)
    return tuple(float(p.mean()) if len(p) else 0.0 for p in parts)  # type: ignore[return-value]


def contour_templates(n: int) -> dict[str, np.ndarray]:
    """Shapes of the contour labels on ``n`` points (0..1 time)."""
    t = np.linspace(0.0, 1.0, n)
    return {"ascending": t, "descending": 1 - t, "arch": np.sin(np.pi * t), "valley": -np.sin(np.pi * t),
            "wave": np.sin(2 * np.pi * t)}


def classify_contour(pitches: np.ndarray) -> tuple[str, np.ndarray]:
    """The contour whose template correlates best with the pitch line, and all scores."""
    curve = _resample(np.asarray(pitches, dtype=float), CURVE_POINTS * 2)
    scores = []
    for template in contour_templates(len(curve)).values():
        if np.std(curve) < 1e-9:
            scores.append(0.0)
        else:
            scores.append(float(np.corrcoef(curve, template)[0, 1]))
    scores_arr = np.array(scores)
    return CONTOURS[int(np.argmax(scores_arr))], scores_arr


def classify_range(ambitus: int) -> str:
    for name, (lo, hi) in RANGES.items():
        if lo <= ambitus <= hi:
            return name
    return "wide"


def classify_dynamics(velocities: np.ndarray, *, change: float = 12.0) -> str:
    """crescendo / decrescendo / swell / steady from the thirds of a velocity curve."""
    if len(velocities) < 3:
        return "steady"
    a, b, c = _thirds(velocities)
    if c - a >= change and b <= c:
        return "crescendo"
    if a - c >= change and b >= c:
        return "decrescendo"
    if b - max(a, c) >= change * 0.6:
        return "swell"
    return "steady"


def classify_articulation(duration_ratio: float, accent_contrast: float, *, accent: float = 12.0,
                          staccato: float = 0.6, legato: float = 0.9) -> str:
    """accented when on-beat notes stand out; else staccato/legato by sounding share of the IOI."""
    if accent_contrast >= accent:
        return "accented"
    if duration_ratio < staccato:
        return "staccato"
    if duration_ratio >= legato:
        return "legato"
    return "detached"


def groove_type(swing: float | None, deviation_ms: float, *, straight_max: float = 0.58,
                shuffle_min: float = 0.71, late_ms: float = 12.0) -> str | None:
    """The groove label the timing implies (None without off-beat onsets)."""
    if swing is None:
        return None
    if swing >= shuffle_min:
        return "shuffle"
    if swing > straight_max:
        return "swing"
    if deviation_ms >= late_ms:
        return "laid_back"
    if deviation_ms <= -late_ms:
        return "rushed"
    return "straight"


def _timing(onsets: np.ndarray, beat: float) -> tuple[float | None, float, float]:
    """Swing ratio, median grid offset (ms) and jitter (ms) of unique onsets.

    The offset is the median deviation of near-beat onsets from the beat grid
    (positive = behind the beat); the swing ratio is the median beat fraction
    of off-beat onsets after removing that offset, so a laid-back straight
    groove still measures 0.5.
    """
    if len(onsets) == 0:
        return None, 0.0, 0.0
    pos = onsets / beat
    frac = pos - np.floor(pos)
    dev = np.where(frac > 0.5, frac - 1.0, frac)  # signed distance to nearest beat, in beats
    near = np.abs(dev) <= ONBEAT_WINDOW
    offset = float(np.median(dev[near])) if near.any() else 0.0
    jitter = float(np.std(dev[near])) if near.sum() > 1 else 0.0
    shifted = (frac - offset) % 1.0
    off = shifted[(shifted > OFFBEAT_WINDOW[0]) & (shifted < OFFBEAT_WINDOW[1])]
    swing = float(np.median(off)) if len(off) else None
    return swing, offset * beat * 1000.0, jitter * beat * 1000.0


def analyse(pm: pretty_midi.PrettyMIDI, *, path: str = "<midi>") -> Analysis:
    """Measure one MIDI file.

    Raises
    ------
    InputError
        The file holds no notes, or its tempo is not in (0, 400] BPM.
    """
    notes_all = [(n, inst.is_drum) for inst in pm.instruments for n in inst.notes]
    if not notes_all:
        raise InputError(path, "the file holds no notes", field="notes")
    tempo = file_tempo(pm)
    if not 0 < tempo <= 400:
        raise InputError(path, f"tempo {tempo:g} BPM outside (0, 400]", field="tempo_bpm")
    beat = 60.0 / tempo
    pitched = sorted((n for n, drum in notes_all if not drum), key=lambda n: (n.start, -n.pitch))
    drum_only = not pitched
    all_notes = sorted((n for n, _ in notes_all), key=lambda n: n.start)
    onsets = np.unique(np.round([n.start for n in all_notes], 4))
    swing, deviation, jitter = _timing(onsets, beat)

    velocities = np.array([n.velocity for n in all_notes], dtype=float)
    starts = np.array([n.start for n in all_notes])
    slope = float(np.polyfit(starts, velocities, 1)[0]) * pm.get_end_time() if len(set(starts)) > 1 else 0.0
    beat_frac = (starts / beat) % 1.0
    on = (beat_frac < 0.1) | (beat_frac > 0.9)
    # Accents are measured against the local level, so a crescendo is not an accent.
    local = np.convolve(velocities, np.ones(5) / 5, mode="same") if len(velocities) >= 5 else velocities
    residual = velocities - local
    accent = float(residual[on].mean() - residual[~on].mean()) if on.any() and (~on).any() else 0.0

    profile = np.zeros(12)
    line = _skyline(pitched)
    for n in pitched:
        profile[n.pitch % 12] += n.end - n.start
    # The bass (lowest note of each onset) counts twice: roots carry the key.
    for n in _skyline(sorted(pitched, key=lambda n: (n.start, n.pitch))):
        profile[n.pitch % 12] += n.end - n.start
    end = pm.get_end_time()
    chords = _bar_chords(pitched, bar=4 * beat, end=end)
    final = parse_chord(chords[-1]) if chords else None
    tonic, mode, corr = estimate_key(profile, final_chord=final) if pitched else (0, "major", 0.0)
    ratios = _duration_ratios(line)
    duration_ratio = float(np.median(ratios)) if len(ratios) else 1.0
    line_pitches = np.array([n.pitch for n in line], dtype=float)
    intervals = np.clip(np.diff(line_pitches), -INTERVAL_CLIP, INTERVAL_CLIP).astype(int)
    interval_hist = np.bincount(intervals + INTERVAL_CLIP, minlength=2 * INTERVAL_CLIP + 1).astype(float)
    iois = np.diff(onsets) / beat
    ioi_hist = np.histogram(iois, bins=IOI_EDGES)[0].astype(float)
    contour, scores = classify_contour(line_pitches) if len(line) > 2 else ("ascending", np.zeros(len(CONTOURS)))
    ambitus = int(line_pitches.max() - line_pitches.min()) if len(line) else 0
    polyphony = float(sum(n.end - n.start for n in pitched) / max(end, 1e-9)) if pitched else 0.0
    stats = {
        "note_density": len(all_notes) / max(end, 1e-9),
        "pitch_mean": float(line_pitches.mean()) if len(line) else 0.0,
        "pitch_std": float(line_pitches.std()) if len(line) else 0.0,
        "pitch_min": float(line_pitches.min()) if len(line) else 0.0,
        "pitch_max": float(line_pitches.max()) if len(line) else 0.0,
        "velocity_mean": float(velocities.mean()), "velocity_std": float(velocities.std()),
        "velocity_min": float(velocities.min()), "velocity_max": float(velocities.max()),
        "polyphony": polyphony,
    }
    return Analysis(
        n_notes=len(all_notes), duration_s=float(end), tempo_bpm=tempo, key=key_name(tonic), tonic=tonic, mode=mode,
        key_correlation=corr, chords=chords, swing_ratio=swing, onset_deviation_ms=deviation, onset_jitter_ms=jitter,
        duration_ratio=duration_ratio, accent_contrast=accent, velocity_slope=slope,
        articulation=classify_articulation(duration_ratio, accent), dynamics=classify_dynamics(velocities),
        contour=contour, ambitus=ambitus, range=classify_range(ambitus), drum_only=drum_only,
        pc_profile=profile / profile.sum() if profile.sum() > 0 else profile,
        interval_hist=interval_hist / max(interval_hist.sum(), 1.0), ioi_hist=ioi_hist / max(ioi_hist.sum(), 1.0),
        velocity_curve=_resample(velocities, CURVE_POINTS) / 127.0,
        pitch_curve=_resample(line_pitches - (line_pitches.mean() if len(line) else 0.0), CURVE_POINTS),
        contour_scores=scores, stats=stats)


def _skyline(notes: list[pretty_midi.Note]) -> list[pretty_midi.Note]:
    """The first note of each onset in ``notes``' order: sorted by pitch descending, the melody
    line (top voice); sorted ascending, the bass."""
    line: list[pretty_midi.Note] = []
    for n in notes:  # sorted by start, then pitch descending
        if line and abs(line[-1].start - n.start) < 1e-3:
            continue
        line.append(n)
    return line


def _duration_ratios(line: list[pretty_midi.Note]) -> np.ndarray:
    """Sounding duration over the time to the next onset, per note of a line."""
    out = []
    for a, b in zip(line, line[1:]):
        ioi = b.start - a.start
        if ioi > 1e-3:
            out.append(min((a.end - a.start) / ioi, 1.5))
    return np.array(out)


def _bar_chords(notes: list[pretty_midi.Note], *, bar: float, end: float) -> list[str]:
    """One recognised triad per bar, from the pitch classes sounding in it (duration-weighted)."""
    chords: list[str] = []
    n_bars = int(np.ceil(end / bar - 1e-6)) if end > 0 else 0
    for i in range(n_bars):
        lo, hi = i * bar, (i + 1) * bar
        weights = np.zeros(12)
        for n in notes:
            overlap = min(n.end, hi) - max(n.start, lo)
            if overlap > 0:
                weights[n.pitch % 12] += overlap
        chord: Chord | None = recognise_chord(weights)
        if chord is not None:
            chords.append(chord.name)
    return chords


FEATURE_BLOCKS = (
    ("pc", 12), ("pc_rel", 12), ("interval", 2 * INTERVAL_CLIP + 1), ("ioi", len(IOI_EDGES) - 1),
    ("velocity_curve", CURVE_POINTS), ("pitch_curve", CURVE_POINTS), ("contour_score", len(CONTOURS)),
)
SCALARS = ("n_notes", "duration_s", "tempo_bpm", "is_minor", "key_correlation", "swing_ratio", "has_offbeats",
           "onset_deviation_ms", "onset_jitter_ms", "duration_ratio", "accent_contrast", "velocity_slope",
           "ambitus", "note_density", "pitch_mean", "pitch_std", "pitch_min", "pitch_max", "velocity_mean",
           "velocity_std", "velocity_min", "velocity_max", "polyphony")


def feature_names() -> list[str]:
    names = [f"{block}_{i}" for block, size in FEATURE_BLOCKS for i in range(size)]
    return names + list(SCALARS)


def feature_vector(a: Analysis) -> np.ndarray:
    """One row of :func:`feature_names` (float32)."""
    scalars = {"n_notes": a.n_notes, "duration_s": a.duration_s, "tempo_bpm": a.tempo_bpm,
               "is_minor": float(a.mode == "minor"), "key_correlation": a.key_correlation,
               "swing_ratio": a.swing_ratio if a.swing_ratio is not None else 0.5,
               "has_offbeats": float(a.swing_ratio is not None), "onset_deviation_ms": a.onset_deviation_ms,
               "onset_jitter_ms": a.onset_jitter_ms, "duration_ratio": a.duration_ratio,
               "accent_contrast": a.accent_contrast, "velocity_slope": a.velocity_slope, "ambitus": a.ambitus,
               **a.stats}
    parts = [a.pc_profile, np.roll(a.pc_profile, -a.tonic), a.interval_hist, a.ioi_hist, a.velocity_curve,
             a.pitch_curve, a.contour_scores, np.array([scalars[s] for s in SCALARS], dtype=float)]
    return np.concatenate(parts).astype(np.float32)
