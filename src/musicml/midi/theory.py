"""Music theory the MIDI datasets are generated from and annotated with.

Keys, scales, Roman-numeral chords, voice leading, the circle of fifths,
Krumhansl-Schmuckler key estimation and template chord recognition. Pitch
classes are integers 0-11 (C = 0); pitches are MIDI note numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import permutations
from typing import Iterable, Sequence

import numpy as np

from musicml.errors import ConfigError

# Sharps for C# and F#, flats elsewhere: the spelling most pop lead sheets use.
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),  # natural minor; V and vii° borrow the leading tone
}
TRIADS = {"maj": (0, 4, 7), "min": (0, 3, 7), "dim": (0, 3, 6)}
_SUFFIX = {"maj": "", "min": "m", "dim": "dim"}
# Krumhansl & Kessler (1982) probe-tone profiles.
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6, "VII": 7}
_ROMAN_RE = re.compile(r"^(b|#)?(VII|VI|IV|V|III|II|I|vii|vi|iv|v|iii|ii|i)(°|o|dim)?$")
_CHORD_RE = re.compile(r"^([A-G])(#|b)?(m|dim)?$")


def pitch_class(name: str) -> int:
    """Pitch class of a note name such as ``"C"``, ``"F#"`` or ``"Bb"``.

    Raises
    ------
    ConfigError
        Not a note name.
    """
    match = re.fullmatch(r"([A-Ga-g])(#|b)?", str(name).strip())
    if not match:
        raise ConfigError(f"unknown key name '{name}': expected a note name such as C, F#, Bb")
    pc = _LETTER[match.group(1).upper()]
    return (pc + {"#": 1, "b": -1, None: 0}[match.group(2)]) % 12


def key_name(tonic: int) -> str:
    """The spelling of pitch class ``tonic`` used in every label."""
    return PITCH_NAMES[tonic % 12]


def check_mode(mode: str) -> str:
    if mode not in SCALES:
        raise ConfigError(f"unknown mode '{mode}': expected one of {sorted(SCALES)}")
    return mode


def scale_pitches(tonic: int, mode: str, low: int, high: int) -> list[int]:
    """Every pitch of the scale of ``tonic``/``mode`` in ``[low, high]``, ascending."""
    pcs = {(tonic + step) % 12 for step in SCALES[check_mode(mode)]}
    return [p for p in range(low, high + 1) if p % 12 in pcs]


@dataclass(frozen=True)
class Chord:
    """A triad: root pitch class and quality (``maj``, ``min`` or ``dim``)."""

    root: int
    quality: str

    @property
    def name(self) -> str:
        return key_name(self.root) + _SUFFIX[self.quality]

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in TRIADS[self.quality])

    def transpose(self, semitones: int) -> "Chord":
        return Chord((self.root + semitones) % 12, self.quality)


def parse_chord(name: str) -> Chord:
    """A chord symbol (``"C"``, ``"F#m"``, ``"Bdim"``) as a :class:`Chord`."""
    match = _CHORD_RE.match(str(name).strip())
    if not match:
        raise ConfigError(f"unknown chord '{name}': expected e.g. C, F#m, Bdim")
    root = pitch_class(match.group(1) + (match.group(2) or ""))
    return Chord(root, {"m": "min", "dim": "dim", None: "maj"}[match.group(3)])


def transpose_chord_name(name: str, semitones: int) -> str:
    return parse_chord(name).transpose(semitones).name


def roman_chord(numeral: str, tonic: int, mode: str) -> Chord:
    """The chord a Roman numeral stands for in a key.

    Degrees count along the key's own scale (natural minor in minor), so ``III``
    in A minor is C. Upper case is major, lower case minor, ``°`` diminished; a
    ``b``/``#`` prefix alters the root (``bVII``).
    """
    match = _ROMAN_RE.match(str(numeral).strip())
    if not match:
        raise ConfigError(f"unknown Roman numeral '{numeral}': expected e.g. I, vi, ii°, bVII")
    accidental, roman, dim = match.groups()
    degree = _ROMAN[roman.upper()]
    root = (tonic + SCALES[check_mode(mode)][degree - 1] + {"b": -1, "#": 1, None: 0}[accidental]) % 12
    quality = "dim" if dim else ("maj" if roman.isupper() else "min")
    return Chord(root, quality)


def progression(numerals: Sequence[str], tonic: int, mode: str) -> list[Chord]:
    return [roman_chord(n, tonic, mode) for n in numerals]


def circle_of_fifths(start: int, steps: int) -> list[int]:
    """Pitch classes ``start``, a fifth above, ... (negative ``steps`` go down in fifths)."""
    sign = 1 if steps >= 0 else -1
    return [(start + sign * 7 * i) % 12 for i in range(abs(steps) + 1)]


def degree_token(chord: Chord, tonic: int) -> str:
    """A key-independent chord token: semitones above the tonic and quality (``"7:maj"``)."""
    return f"{(chord.root - tonic) % 12}:{chord.quality}"


# --------------------------------------------------------------- voice leading


def voice_lead(previous: Sequence[int] | None, chord: Chord, *, low: int = 52, high: int = 79,
               voices: int = 3) -> list[int]:
    """Upper voices for ``chord`` moving as little as possible from ``previous``.

    Each voice takes the nearest pitch of its chord tone; of all assignments of
    chord tones to voices the one with the smallest total motion wins (no
    voice crossing is possible because the result is sorted by voice order of
    ``previous``). Without ``previous`` the chord is voiced in close position
    around the middle of the range.

    Returns
    -------
    list of int
        ``voices`` MIDI pitches, ascending, within ``[low, high]``, covering every
        chord tone when ``voices >= 3``.
    """
    pcs = chord.pitch_classes
    if previous is None:
        centre = (low + high) // 2
        root = max(p for p in range(low, centre + 1) if p % 12 == chord.root) if any(
            p % 12 == chord.root for p in range(low, centre + 1)) else low + (chord.root - low) % 12
        pitches = [root + i for i in TRIADS[chord.quality]]
        while len(pitches) < voices:
            pitches.append(pitches[len(pitches) - 3] + 12)
        return sorted(pitches[:voices])
    prev = sorted(previous)
    tones = list(pcs) + [pcs[0]] * max(0, voices - len(pcs))  # doubled root for a 4th voice
    best: tuple[int, list[int]] | None = None
    for order in set(permutations(tones, voices)):
        candidate = []
        for voice, pc in zip(prev, order):
            options = [p for p in range(low, high + 1) if p % 12 == pc]
            candidate.append(min(options, key=lambda p: (abs(p - voice), p)))
        if len(set(candidate)) < voices:
            continue
        cost = sum(abs(a - b) for a, b in zip(candidate, prev))
        if best is None or (cost, candidate) < best:
            best = (cost, candidate)
    assert best is not None  # three distinct chord tones always give a distinct assignment
    return sorted(best[1])


def bass_note(chord: Chord, *, low: int = 36) -> int:
    """The chord root in the octave starting at ``low``."""
    return low + (chord.root - low) % 12


# -------------------------------------------------------------- key estimation


def estimate_key(pc_profile: Sequence[float], *, final_chord: Chord | None = None,
                 final_weight: float = 0.1) -> tuple[int, str, float]:
    """Krumhansl-Schmuckler key of a (duration-weighted) pitch-class profile.

    Pieces end on their tonic far more often than not, so a key whose tonic
    triad is ``final_chord`` gains ``final_weight`` on its correlation; this
    separates relative major and minor, which share a scale and nearly tie.

    Returns
    -------
    tonic : int
    mode : str
        ``major`` or ``minor``.
    correlation : float
        Pearson correlation with the winning key profile (plus the final-chord
        bonus); 0 for a silent profile.
    """
    profile = np.asarray(pc_profile, dtype=float)
    if profile.shape != (12,) or not np.any(profile > 0):
        return 0, "major", 0.0
    best = (-2.0, 0, "major")
    for mode, template in (("major", _KK_MAJOR), ("minor", _KK_MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(profile, np.roll(template, tonic))[0, 1])
            if final_chord is not None and final_chord.root == tonic and \
                    final_chord.quality == ("maj" if mode == "major" else "min"):
                r += final_weight
            if r > best[0] + 1e-12:
                best = (r, tonic, mode)
    return best[1], best[2], best[0]


def recognise_chord(pc_weights: Sequence[float], *, min_weight: float = 1e-9) -> Chord | None:
    """The triad whose tones hold the most weight of ``pc_weights`` (12 values).

    Score = weight on chord tones minus weight outside them; ties prefer the
    root with most weight. ``None`` when there is no weight at all.
    """
    w = np.asarray(pc_weights, dtype=float)
    if w.sum() <= min_weight:
        return None
    best: tuple[float, float, Chord] | None = None
    for quality, intervals in TRIADS.items():
        for root in range(12):
            tones = [(root + i) % 12 for i in intervals]
            inside = w[tones].sum()
            score = inside - (w.sum() - inside)
            key = (score, w[root])
            if best is None or key > best[:2]:
                best = (score, w[root], Chord(root, quality))
    return best[2]


def chord_names(chords: Iterable[Chord]) -> list[str]:
    return [c.name for c in chords]
