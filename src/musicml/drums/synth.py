"""Seeded procedural drum synthesizer: the embedded default training data.

The classifier trained on this data must recognise *real* kits it never saw,
so no class may have a single recipe. Every virtual kit (:class:`KitSpec`)
draws its own tuning, decays, noise colours, body/noise balances, velocity
layers, saturation, room and EQ from a generator seeded by
``(seed, kit_index)``; about half the kits are acoustic-like, half
electronic-like (808/909-style square-wave metals, long pitch sweeps, drive).

Each drum voice is a sum of three primitives that cover both worlds:

* :class:`Modes` - damped sinusoids sharing a pitch glide (membranes, bells, wood);
* :class:`Noise` - band-limited noise with an envelope, optionally in bursts
  (snare wires, claps, stick clicks, shakers);
* :class:`Metal` - an inharmonic square or sine oscillator bank, optionally
  ring-modulated into a dense spectrum, mixed with noise and band-limited
  (hi-hats, cymbals, cowbells).

A hit's *dry* sound depends on velocity (level and brightness), the kit's
velocity layer and small per-hit jitter (round robin). The kit's channel -
room impulse response and EQ - is linear and time-invariant, so both are
folded into one impulse response, and a session renders all dry hits into one
buffer and convolves once.

All "decay" parameters are T60 times: the time a component takes to fall 60 dB.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import signal

from musicml.atomic import atomic_path
from musicml.errors import ConfigError
from musicml.manifest import events_frame
from musicml.parallel import check_workers, process_map
from musicml.taxonomy import UNKNOWN

SOURCE = "synth"
CLASSES: tuple[str, ...] = (
    "kick", "snare", "sidestick", "clap", "hihat_closed", "hihat_pedal", "hihat_open",
    "crash", "ride", "tom_high", "tom_mid", "tom_low",
)
# Open-set percussion: rendered with the label ``unknown``.
UNKNOWN_INSTRUMENTS: tuple[str, ...] = (
    "cowbell", "shaker", "tambourine", "conga", "woodblock", "claves", "triangle", "bongo",
)
# Hit-level techniques and the labels each applies to.
TECHNIQUES: Mapping[str, tuple[str, ...]] = {
    "hihat_bark": ("hihat_open",),
    "rimshot": ("snare",),
    "flam": ("snare", "tom_high", "tom_mid", "tom_low"),
    "ghost": ("snare",),
    "multi_cymbal_same_class": ("crash",),
}
GHOST_MAX_VELOCITY = 40
FIRST_ONSET_S = 0.2
GAP_RANGE_S = (0.8, 1.2)
PEAK = 0.9
MIN_SR = 16000

# A -3 dB/octave filter (J. O. Smith's pink-noise IIR): recorded cymbals carry as much
# energy per octave low as high, so they look flat on a mel scale, where white noise rises.
_PINK_B = np.array([0.049922035, -0.095993537, 0.050612699, -0.004408786])
_PINK_A = np.array([1.0, -2.494956002, 2.017265875, -0.522189400])
_T60 = math.log(1000.0)  # exp(-_T60 * t / T) is 60 dB down at t = T
_MODE_TILT = 0.4  # how strongly brightness favours upper modes (exponent per mode index)
_SESSION_STREAM = 1  # third seed word: a session's hit draws never reuse the kit's stream
_TAIL_S = 1.5  # silence left after the last onset for its decay and room tail
_BANK_S = 2  # seconds of each metal oscillator bank (longer than any hit)
_NOISE_BLOCK_S = 7  # seconds of background noise, repeated over a session
_MEMBRANE = (1.0, 1.59, 2.14, 2.30, 2.65, 2.92)  # ideal circular membrane mode ratios
_METAL_808 = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)  # TR-808 cymbal oscillators, Hz


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Modes:
    """Damped sinusoids (T60 ``decays``) whose pitch glides from ``glide`` x down to ``freqs``."""

    freqs: tuple[float, ...]
    amps: tuple[float, ...]
    decays: tuple[float, ...]
    glide: float = 1.0
    glide_s: float = 0.02
    level: float = 1.0


@dataclass(frozen=True)
class Noise:
    """Band-limited noise (``lo_hz``-``hi_hz``, 0 / inf for none) under an attack-decay envelope.

    With ``bursts`` (onsets in s) the envelope is a train of short bursts
    (T60 ``burst_decay_s``) and the latest one also rings out with ``decay_s``
    at relative level ``tail``: a hand clap.
    """

    lo_hz: float
    hi_hz: float
    decay_s: float
    attack_s: float = 0.0
    level: float = 1.0
    bursts: tuple[float, ...] = ()
    burst_decay_s: float = 0.02
    tail: float = 1.0


@dataclass(frozen=True)
class Metal:
    """Inharmonic oscillator bank mixed with noise, band-limited, under an envelope.

    ``ring_split`` > 0 multiplies the sum of the first ``ring_split`` oscillators
    by the sum of the rest: the sidebands make a dense cymbal-like spectrum.
    ``wobble`` is the depth of a slow amplitude modulation (a swaying cymbal).
    """

    freqs: tuple[float, ...]
    square: bool
    ring_split: int
    noise_mix: float
    lo_hz: float
    hi_hz: float
    decay_s: float
    attack_s: float = 0.0
    wobble_hz: float = 0.0
    wobble: float = 0.0
    level: float = 1.0
    pink: float = 0.0  # share of the source tilted -3 dB/octave: acoustic metal is dark, not white


Component = Modes | Noise | Metal


@dataclass(frozen=True)
class Voice:
    """One instrument of a kit: its components, rendered length, mix gain and saturation."""

    components: tuple[Component, ...]
    length_s: float
    gain: float
    drive: float = 0.0


@dataclass(frozen=True)
class VelocityLayer:
    """Velocities up to ``top`` play this layer: a slightly different sample of the drum."""

    top: int
    brightness: float
    decay_scale: float
    detune: float


@dataclass(frozen=True)
class Room:
    """Synthetic room: direct sound, early reflections and a decaying noise tail.

    ``wet`` is the tail's root energy relative to the direct sound's; 0 is a dry
    (close-miked or direct-out) kit. High frequencies decay ``hf_ratio`` times
    faster above ``damping_hz`` (air and wall absorption).
    """

    rt60_s: float
    wet: float
    predelay_s: float
    damping_hz: float
    hf_ratio: float
    reflections: tuple[tuple[float, float], ...]
    seed: int


@dataclass(frozen=True)
class Channel:
    """The kit's recording chain: EQ tilt around ``pivot_hz``, high/low-pass, noise floor and hum."""

    tilt_db: float
    pivot_hz: float
    highpass_hz: float
    lowpass_hz: float | None
    noise_db: float
    hum_hz: float | None
    hum_db: float


@dataclass(frozen=True)
class KitSpec:
    """Every randomised parameter of one virtual kit.

    ``voices`` holds one :class:`Voice` per class in :data:`CLASSES`, per
    instrument in :data:`UNKNOWN_INSTRUMENTS`, plus ``crash_2`` (a second
    crash cymbal) and ``rim`` (the rim crack a rimshot adds to the snare).
    """

    kit_index: int
    kit_id: str
    name: str
    style: str
    voices: tuple[tuple[str, Voice], ...]
    layers: tuple[VelocityLayer, ...]
    velocity_curve: float
    rim_level: float
    bits: int | None
    room: Room
    channel: Channel

    def voice(self, name: str) -> Voice:
        """The voice called ``name``."""
        for key, voice in self.voices:
            if key == name:
                return voice
        raise ConfigError(f"kit {self.kit_id} has no voice '{name}'")


# --------------------------------------------------------------------------- kit design


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _lu(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Log-uniform: equal odds per octave, the natural spread of frequencies and times."""
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _lus(rng: np.random.Generator, lo: float, hi: float, k: int) -> tuple[float, ...]:
    return tuple(sorted(_lu(rng, lo, hi) for _ in range(k)))


def _click(rng: np.random.Generator, level: tuple[float, float]) -> Noise:
    """Stick or beater contact: a few milliseconds of bright noise."""
    return Noise(lo_hz=_lu(rng, 1200, 3500), hi_hz=_u(rng, 6000, 12000), decay_s=_u(rng, 0.004, 0.02),
                 level=_u(rng, *level))


def _thud(rng: np.random.Generator) -> Noise:
    """A stick's dull impact on a cymbal: short low-passed noise."""
    return Noise(lo_hz=0, hi_hz=_lu(rng, 200, 700), decay_s=_lu(rng, 0.01, 0.06), level=_lu(rng, 0.4, 2.0))


def _membrane(rng: np.random.Generator, f0: float, decay: float, *, glide: float, glide_s: float,
              n_modes: int = 6) -> Modes:
    """A tuned drum head: membrane modes, each detuned a little, upper ones shorter."""
    ratios = [r * _u(rng, 0.97, 1.03) if r > 1 else r for r in _MEMBRANE[:n_modes]]
    amps = [1.0] + [_u(rng, 0.05, 0.8) / (1 + 0.3 * k) for k in range(1, n_modes)]
    return Modes(freqs=tuple(f0 * r for r in ratios), amps=tuple(amps),
                 decays=tuple(decay / (1 + 0.5 * k) for k in range(n_modes)), glide=glide, glide_s=glide_s)


def _kick(rng: np.random.Generator, electronic: bool, buzz: tuple[Noise, ...]) -> Voice:
    if electronic:
        # 808/909 style: one sine with a long downward sweep, sometimes a long boom.
        body = Modes(freqs=(_u(rng, 38, 65),), amps=(1.0,), decays=(_lu(rng, 0.25, 1.2),),
                     glide=_lu(rng, 1.8, 6.0), glide_s=_lu(rng, 0.006, 0.05))
        return Voice((body, _click(rng, (0.0, 0.6))), length_s=0.8, gain=_u(rng, 0.85, 1.0))
    f0, decay = _u(rng, 48, 85), _lu(rng, 0.12, 0.4)
    body = Modes(freqs=(f0, f0 * _u(rng, 1.45, 1.8), f0 * _u(rng, 2.1, 2.7)),
                 amps=(1.0, _u(rng, 0.1, 0.4), _u(rng, 0.05, 0.25)),
                 decays=(decay, decay * _u(rng, 0.3, 0.6), decay * _u(rng, 0.15, 0.35)),
                 glide=_u(rng, 1.15, 2.0), glide_s=_lu(rng, 0.006, 0.03))
    thump = Noise(lo_hz=0, hi_hz=_u(rng, 150, 450), decay_s=_u(rng, 0.04, 0.15), level=_u(rng, 0.1, 0.5))
    # Felt beaters barely click; plastic or wood beaters (metal kits) click hard.
    return Voice((body, _click(rng, (0.02, 0.5)), thump) + buzz, length_s=0.6, gain=_u(rng, 0.85, 1.0))


def _snare(rng: np.random.Generator, electronic: bool, f0: float, wires: Noise) -> Voice:
    if electronic:
        body = Modes(freqs=(f0, f0 * _u(rng, 1.4, 2.1)), amps=(1.0, _u(rng, 0.3, 1.0)),
                     decays=(_lu(rng, 0.06, 0.25), _lu(rng, 0.04, 0.15)),
                     glide=_u(rng, 1.0, 1.5), glide_s=_lu(rng, 0.008, 0.03))
    else:
        body = _membrane(rng, f0, _lu(rng, 0.2, 0.8), glide=_u(rng, 1.0, 1.08), glide_s=0.02)
    return Voice((body, wires, _click(rng, (0.05, 0.4))), length_s=0.6, gain=_u(rng, 0.7, 1.0))


def _snare_wires(rng: np.random.Generator, electronic: bool) -> Noise:
    """Snare wire rattle; electronic kits range from hissy (808) to dark noise (909)."""
    lo = _lu(rng, 300, 5000) if electronic else _lu(rng, 800, 3500)
    return Noise(lo_hz=lo, hi_hz=max(_u(rng, 5000, 12000), 2.5 * lo), decay_s=_lu(rng, 0.2, 0.9),
                 attack_s=_u(rng, 0.0005, 0.004), level=_lu(rng, 0.15, 1.5))


def _rim(rng: np.random.Generator) -> Voice:
    """The crack of a rimshot: high, short partials of stick on rim."""
    crack = Modes(freqs=_lus(rng, 900, 5000, 3), amps=(1.0, _u(rng, 0.4, 1.0), _u(rng, 0.3, 1.0)),
                  decays=tuple(_u(rng, 0.015, 0.06) for _ in range(3)))
    return Voice((crack, _click(rng, (0.5, 1.0))), length_s=0.15, gain=1.0)


def _sidestick(rng: np.random.Generator, electronic: bool, snare_f0: float, wires: Noise) -> Voice:
    if electronic:
        # 808 "rim shot": two short sines, high-passed in the original circuit.
        f = _u(rng, 420, 520)
        wood = Modes(freqs=(f, f * _u(rng, 3.3, 4.0)), amps=(1.0, _u(rng, 0.3, 0.9)),
                     decays=(_u(rng, 0.01, 0.04), _u(rng, 0.01, 0.03)))
        return Voice((wood, _click(rng, (0.0, 0.4))), length_s=0.25, gain=_u(rng, 0.4, 0.7))
    f, decay = _u(rng, 350, 1000), _lu(rng, 0.1, 0.4)
    wood = Modes(freqs=(f, f * _u(rng, 1.9, 2.7), f * _u(rng, 3.4, 5.0)),
                 amps=(1.0, _u(rng, 0.3, 0.8), _u(rng, 0.1, 0.5)), decays=(decay, decay * 0.6, decay * 0.35))
    shell = Modes(freqs=(snare_f0,), amps=(1.0,), decays=(_lu(rng, 0.15, 0.5),), level=_u(rng, 0.2, 0.6))
    buzz = replace(wires, level=_u(rng, 0.03, 0.15), decay_s=_u(rng, 0.05, 0.12))
    # The stick's crack on the rim is brighter and longer than a plain click.
    crack = Noise(lo_hz=_lu(rng, 1500, 4000), hi_hz=_u(rng, 10000, 14000), decay_s=_lu(rng, 0.01, 0.05),
                  level=_lu(rng, 2.0, 10.0))
    return Voice((wood, shell, crack, buzz), length_s=0.4, gain=_u(rng, 0.4, 0.7))


def _clap(rng: np.random.Generator) -> Voice:
    gaps = rng.uniform(0.005, 0.015, size=int(rng.integers(2, 5)))
    lo = _lu(rng, 500, 1400)
    noise = Noise(lo_hz=lo, hi_hz=lo * _u(rng, 1.8, 4.5), decay_s=_lu(rng, 0.08, 0.4),
                  bursts=(0.0,) + tuple(float(g) for g in np.cumsum(gaps)),
                  burst_decay_s=_u(rng, 0.01, 0.03), tail=_u(rng, 0.3, 0.9))
    return Voice((noise,), length_s=0.5, gain=_u(rng, 0.5, 0.9))


def _metal_source(rng: np.random.Generator, square: bool, lo_hz: float, n: int) -> tuple[float, ...]:
    """Oscillator frequencies: detuned 808 squares, or sine partials above the band's low edge."""
    if square:
        scale = _u(rng, 0.75, 1.5)
        return tuple(f * scale * _u(rng, 0.97, 1.03) for f in _METAL_808)
    return _lus(rng, lo_hz * 0.8, 15000, n)


def _hihats(rng: np.random.Generator, electronic: bool) -> dict[str, Voice]:
    """Closed, pedal and open hi-hat: the same pair of cymbals, played three ways."""
    square = electronic and rng.random() < 0.7
    # Acoustic hats keep real energy down to a few hundred Hz (the stick on the bow).
    lo = _u(rng, 5000, 9000) if square else _lu(rng, 250, 3000)
    metal = Metal(freqs=_metal_source(rng, square, lo, 10), square=square, ring_split=0,
                  noise_mix=_u(rng, 0.0, 0.4) if square else _u(rng, 0.5, 0.9),
                  lo_hz=lo, hi_hz=_u(rng, 9000, 16000), decay_s=1.0, attack_s=0.0005,
                  pink=0.0 if square else _u(rng, 0.5, 1.0))
    tip = _click(rng, (0.05, 0.3))
    # Stick on the bow of acoustic hats: a dull low thud under the metal (recorded hats keep
    # energy below 400 Hz only ~25 dB under their peak; band-limited metal alone falls ~50 dB).
    thud = () if electronic else (_thud(rng),)
    closed_gain = _u(rng, 0.35, 0.7)
    closed = replace(metal, decay_s=_lu(rng, 0.12, 0.6))
    # Pedal: softer, slower "chick" of the cymbals meeting, with a low-mid clap of metal on metal.
    pedal = replace(metal, lo_hz=lo * _u(rng, 0.5, 0.8), decay_s=_lu(rng, 0.1, 0.5), attack_s=_u(rng, 0.004, 0.012))
    chick_lo = _u(rng, 300, 800)
    chick = Noise(lo_hz=chick_lo, hi_hz=chick_lo * _u(rng, 2, 5), decay_s=_u(rng, 0.02, 0.08), attack_s=0.003,
                  level=_u(rng, 0.2, 0.6))
    wobble = 0.0 if electronic else _u(rng, 0.05, 0.3)
    # Recorded open hats ring like a ride (median 340 / 700 ms to fall 20 / 40 dB over the 1,476
    # hits of benchmarks/real_kits.py; 0.5-2.5 s gave 240 / 470 ms and the model called them ride).
    opened = replace(metal, decay_s=_lu(rng, 0.75, 3.0), attack_s=0.001, wobble_hz=_u(rng, 4, 12), wobble=wobble)
    return {
        "hihat_closed": Voice((closed, tip) + thud, length_s=0.5, gain=closed_gain),
        "hihat_pedal": Voice((pedal, chick) + thud, length_s=0.5, gain=closed_gain * _u(rng, 0.35, 0.7)),
        "hihat_open": Voice((opened, tip) + thud, length_s=1.0, gain=_u(rng, 0.4, 0.75)),
    }


def _cymbal_metal(rng: np.random.Generator, square: bool, *, lo_hz: float, carriers: int,
                  noise_mix: float, decay: float, electronic: bool) -> Metal:
    """Ring-modulated oscillator bank: squares x squares (808) or high sines x low sines."""
    if square:
        freqs = _lus(rng, 150, 900, 2 * carriers)
    else:
        freqs = _lus(rng, 1500, 11000, carriers) + _lus(rng, 80, 600, 4)
    # A struck cymbal speaks at once: its attack is a few milliseconds at most.
    return Metal(freqs=freqs, square=square, ring_split=carriers, noise_mix=noise_mix, lo_hz=lo_hz,
                 hi_hz=_u(rng, 9000, 16000), decay_s=decay, attack_s=_lu(rng, 0.0005, 0.006),
                 wobble_hz=_u(rng, 2, 8), wobble=0.0 if electronic else _u(rng, 0.05, 0.25),
                 pink=0.0 if square else _u(rng, 0.5, 1.0))


def _crash(rng: np.random.Generator, electronic: bool) -> Voice:
    square = electronic and rng.random() < 0.6
    # Recorded crashes show their partials through the wash: mostly oscillators, some noise.
    wash = _cymbal_metal(rng, square, lo_hz=_lu(rng, 150, 900), carriers=6 if square else 10,
                         noise_mix=_u(rng, 0.05, 0.4), decay=_lu(rng, 1.2, 4.0), electronic=electronic)
    stick = Noise(lo_hz=1000, hi_hz=12000, decay_s=_u(rng, 0.01, 0.04), level=_u(rng, 0.3, 0.8))
    return Voice((wash, stick), length_s=1.0, gain=_u(rng, 0.5, 0.85))


def _ride(rng: np.random.Generator, electronic: bool) -> Voice:
    square = electronic and rng.random() < 0.6
    f0, decay = _u(rng, 200, 600), _lu(rng, 1.0, 3.5)
    ratios = (1.0, _u(rng, 1.9, 2.3), _u(rng, 2.7, 3.2), _u(rng, 3.9, 4.6), _u(rng, 5.2, 6.1), _u(rng, 7.0, 8.5))
    bell = Modes(freqs=tuple(f0 * r for r in ratios) + _lus(rng, 2500, 6000, 2),
                 amps=tuple(_u(rng, 0.3, 1.0) for _ in range(8)),
                 decays=tuple(decay * (0.6 if k >= 4 else 1.0) for k in range(8)),
                 level=_u(rng, 0.0, 0.3) if electronic else _u(rng, 0.5, 1.0))
    # Less wash than a crash: fewer oscillators, less noise, higher band.
    shimmer = _cymbal_metal(rng, square, lo_hz=_lu(rng, 600, 3000), carriers=3 if square else 6,
                            noise_mix=_u(rng, 0.1, 0.45), decay=_lu(rng, 1.0, 3.0), electronic=electronic)
    ping = Noise(lo_hz=2500, hi_hz=10000, decay_s=_u(rng, 0.01, 0.04), level=_u(rng, 0.2, 0.5))
    thud = () if electronic else (_thud(rng),)
    return Voice((bell, replace(shimmer, level=_u(rng, 0.3, 0.8)), ping) + thud, length_s=1.0, gain=_u(rng, 0.4, 0.7))


def _toms(rng: np.random.Generator, electronic: bool, buzz: tuple[Noise, ...]) -> dict[str, Voice]:
    """Three toms tuned high > mid > low within the kit; ranges overlap across kits."""
    # Floor toms sit around 50-100 Hz and rack toms a third to a fourth apart
    # above; electronic toms are often tuned higher. (The exact-labelled GM
    # kits of FluidR3/TimGM6mb put their strongest partials near 86 / 108 /
    # 147 Hz for low / mid / high; a floor range of 55-110 Hz made real toms
    # sound one step low to the model: tom F1 on held-out Hydrogen kits went
    # from 0.17 / 0.22 / 0.41 to 0.53 / 0.55 / 0.69 high / mid / low.)
    low = _u(rng, 50, 95) if not electronic else _u(rng, 60, 130)
    mid = low * _u(rng, 1.12, 1.5)
    pitches = {"tom_low": low, "tom_mid": mid, "tom_high": mid * _u(rng, 1.12, 1.45)}
    glide = (1.15, 2.0) if electronic else (1.02, 1.15)
    glide_s, decay = _lu(rng, 0.03, 0.15), _lu(rng, 0.7, 2.0)
    toms = {}
    for label, f0 in pitches.items():
        head = _membrane(rng, f0, decay * (low / f0) ** 0.5, glide=_u(rng, *glide), glide_s=glide_s,
                         n_modes=2 if electronic else 4)
        skin = Noise(lo_hz=0, hi_hz=f0 * _u(rng, 4, 10), decay_s=_u(rng, 0.02, 0.06), level=_u(rng, 0.1, 0.3))
        toms[label] = Voice((head, _click(rng, (0.5, 2.0)), skin) + buzz, length_s=0.8, gain=_u(rng, 0.6, 0.9))
    return toms


def _cowbell(rng: np.random.Generator, electronic: bool) -> tuple[Component, ...]:
    if electronic:
        f = _u(rng, 500, 600)
        return (Metal(freqs=(f, f * _u(rng, 1.45, 1.52)), square=True, ring_split=0, noise_mix=0.0,
                      lo_hz=_u(rng, 400, 900), hi_hz=_u(rng, 2500, 5000), decay_s=_lu(rng, 0.15, 0.6)),)
    f, decay = _u(rng, 500, 950), _lu(rng, 0.1, 0.4)
    return (Modes(freqs=(f, f * _u(rng, 1.45, 1.6), f * _u(rng, 2.1, 2.5), f * _u(rng, 2.9, 3.4)),
                  amps=(1.0, _u(rng, 0.4, 1.0), _u(rng, 0.2, 0.6), _u(rng, 0.1, 0.4)),
                  decays=(decay, decay * 0.8, decay * 0.6, decay * 0.5)), _click(rng, (0.1, 0.4)))


def _shaker(rng: np.random.Generator, electronic: bool) -> tuple[Component, ...]:
    lo = _u(rng, 2500, 6000)
    return (Noise(lo_hz=lo, hi_hz=lo * _u(rng, 1.8, 3.0), attack_s=_u(rng, 0.01, 0.05), decay_s=_u(rng, 0.06, 0.2)),)


def _tambourine(rng: np.random.Generator, electronic: bool) -> tuple[Component, ...]:
    jingles = Metal(freqs=_lus(rng, 3500, 11000, 8), square=False, ring_split=0, noise_mix=_u(rng, 0.3, 0.6),
                    lo_hz=_u(rng, 3000, 6000), hi_hz=14000, decay_s=_u(rng, 0.15, 0.45))
    rattle = Noise(lo_hz=4000, hi_hz=12000, decay_s=_u(rng, 0.1, 0.3),
                   bursts=(0.0, _u(rng, 0.02, 0.05), _u(rng, 0.06, 0.1)), burst_decay_s=0.02, tail=0.5)
    head = Modes(freqs=(_u(rng, 200, 350),), amps=(1.0,), decays=(_u(rng, 0.05, 0.15),), level=_u(rng, 0.0, 0.5))
    return jingles, rattle, head


def _hand_drum(rng: np.random.Generator, f_range: tuple[float, float],
               d_range: tuple[float, float]) -> tuple[Component, ...]:
    """Conga or bongo: a small, tightly tuned head with a slap."""
    f, decay = _u(rng, *f_range), _u(rng, *d_range)
    head = Modes(freqs=(f, f * 1.48, f * 1.97, f * 2.42),
                 amps=(1.0, _u(rng, 0.2, 0.6), _u(rng, 0.1, 0.4), _u(rng, 0.05, 0.3)),
                 decays=(decay, decay * 0.7, decay * 0.5, decay * 0.4), glide=_u(rng, 1.0, 1.06), glide_s=0.03)
    slap = Noise(lo_hz=800, hi_hz=5000, decay_s=_u(rng, 0.01, 0.04), level=_u(rng, 0.1, 0.6))
    return head, slap


def _conga(rng: np.random.Generator, electronic: bool) -> tuple[Component, ...]:
    return _hand_drum(rng, (170, 340), (0.15, 0.45))


def _bongo(rng: np.random.Generator, electronic: bool) -> tuple[Component, ...]:
    return _hand_drum(rng, (330, 620), (0.07, 0.2))


def _woodblock(rng: np.random.Generator, electronic: bool) -> tuple[Component, ...]:
    f, decay = _u(rng, 600, 1500), _u(rng, 0.03, 0.1)
    return (Modes(freqs=(f, f * _u(rng, 2.4, 3.1), f * _u(rng, 4.5, 5.5)), amps=(1.0, 0.4, 0.2),
                  decays=(decay, decay * 0.6, decay * 0.4)), _click(rng, (0.05, 0.3)))


def _claves(rng: np.random.Generator, electronic: bool) -> tuple[Component, ...]:
    f, decay = _u(rng, 1900, 2900), _u(rng, 0.05, 0.15)
    return (Modes(freqs=(f, f * _u(rng, 2.6, 2.9)), amps=(1.0, 0.15), decays=(decay, decay * 0.5)),)


def _triangle(rng: np.random.Generator, electronic: bool) -> tuple[Component, ...]:
    f, decay = _u(rng, 800, 1600), _u(rng, 0.6, 2.0)
    ks = range(1, 9)
    # A bent steel bar: near-harmonic partials, stretched upwards by stiffness.
    return (Modes(freqs=tuple(f * k * (1 + 0.0015 * k * k) for k in ks),
                  amps=tuple(_u(rng, 0.3, 1.0) / k ** 0.3 for k in ks),
                  decays=tuple(decay / k ** 0.3 for k in ks)), _click(rng, (0.05, 0.3)))


_PERCUSSION: Mapping[str, tuple[Callable[[np.random.Generator, bool], tuple[Component, ...]], float]] = {
    "cowbell": (_cowbell, 0.6), "shaker": (_shaker, 0.3), "tambourine": (_tambourine, 0.6),
    "conga": (_conga, 0.6), "woodblock": (_woodblock, 0.25), "claves": (_claves, 0.3),
    "triangle": (_triangle, 1.0), "bongo": (_bongo, 0.35),
}


def _layers(rng: np.random.Generator) -> tuple[VelocityLayer, ...]:
    n = int(rng.integers(3, 5))
    tops = [int(round(127 * (i + 1) / n + rng.uniform(-8, 8))) for i in range(n - 1)] + [127]
    return tuple(
        VelocityLayer(top=top, brightness=_u(rng, 0.92, 1.08), decay_scale=_u(rng, 0.9, 1.1),
                      detune=2 ** (rng.normal(0, 8) / 1200))
        for top in tops
    )


def _room(rng: np.random.Generator) -> Room:
    # Sample libraries are mostly close-miked: many kits dry, the rest with some room.
    dry = rng.random() < 0.5
    return Room(
        rt60_s=_lu(rng, 0.1, 1.2), wet=0.0 if dry else 10 ** (_u(rng, -36, -10) / 20),
        predelay_s=_u(rng, 0.001, 0.02), damping_hz=_lu(rng, 1500, 8000), hf_ratio=_u(rng, 0.3, 0.8),
        reflections=() if dry else tuple(
            (_u(rng, 0.002, 0.035), _u(rng, -0.4, 0.4)) for _ in range(int(rng.integers(2, 8)))),
        seed=int(rng.integers(2 ** 32)),
    )


def _channel(rng: np.random.Generator) -> Channel:
    return Channel(
        tilt_db=_u(rng, -6, 6), pivot_hz=_lu(rng, 500, 4000), highpass_hz=_lu(rng, 20, 150),
        lowpass_hz=_lu(rng, 6000, 10500) if rng.random() < 0.5 else None,
        noise_db=_u(rng, -110, -75),
        hum_hz=float(rng.choice([50.0, 60.0])) if rng.random() < 0.2 else None, hum_db=_u(rng, -100, -70),
    )


def make_kit(kit_index: int, *, seed: int) -> KitSpec:
    """Draw one virtual kit.

    Parameters
    ----------
    kit_index : int
        Index of the kit (>= 0); names it ``synth-kit-<index:03d>``.
    seed : int
        Non-negative base seed. The kit's generator is seeded by
        ``[seed, kit_index]``, so each kit is independent of the others.

    Returns
    -------
    KitSpec
        The same ``(kit_index, seed)`` always gives an equal kit.
    """
    _check_int("kit_index", kit_index, 0)
    _check_int("seed", seed, 0)
    rng = np.random.default_rng([seed, kit_index])
    style = "acoustic" if rng.random() < 0.55 else "electronic"
    electronic = style == "electronic"
    snare_f0 = _u(rng, 150, 280)
    wires = _snare_wires(rng, electronic)
    # Acoustic snares buzz in sympathy when the kick or toms sound.
    buzz = () if electronic or rng.random() < 0.4 else (
        replace(wires, level=_u(rng, 0.02, 0.1), decay_s=_u(rng, 0.08, 0.2), attack_s=0.005),)
    voices: dict[str, Voice] = {
        "kick": _kick(rng, electronic, buzz),
        "snare": _snare(rng, electronic, snare_f0, wires),
        "sidestick": _sidestick(rng, electronic, snare_f0, wires),
        "clap": _clap(rng),
        **_hihats(rng, electronic),
        "crash": _crash(rng, electronic),
        "crash_2": _crash(rng, electronic),
        "ride": _ride(rng, electronic),
        **_toms(rng, electronic, buzz),
        "rim": _rim(rng),
    }
    for name, (build, length_s) in _PERCUSSION.items():
        voices[name] = Voice(build(rng, electronic), length_s=length_s, gain=_u(rng, 0.3, 0.8))
    # Electronic kits are often driven hard; acoustic ones get at most gentle tape saturation.
    drive = (_u(rng, 1.5, 6.0) if rng.random() < 0.5 else 0.0) if electronic else \
        (_u(rng, 0.3, 1.0) if rng.random() < 0.2 else 0.0)
    if drive:
        voices = {name: replace(v, drive=drive * _u(rng, 0.5, 1.5)) for name, v in voices.items()}
    return KitSpec(
        kit_index=kit_index, kit_id=f"synth-kit-{kit_index:03d}", name=f"synth-{style}-{kit_index:03d}",
        style=style, voices=tuple(voices.items()), layers=_layers(rng), velocity_curve=_u(rng, 1.0, 2.0),
        rim_level=_u(rng, 0.5, 1.0), bits=int(rng.integers(8, 13)) if electronic and rng.random() < 0.2 else None,
        room=_room(rng), channel=_channel(rng),
    )


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _Strike:
    """How one hit excites a voice: velocity, its layer and per-hit jitter."""

    vel: float  # velocity / 127
    amp: float
    bright: float
    decay_scale: float
    pitch: float


def _strike(kit: KitSpec, velocity: int, rng: np.random.Generator) -> _Strike:
    layer = next(layer for layer in kit.layers if velocity <= layer.top)
    vel = velocity / 127
    return _Strike(
        vel=vel,
        amp=vel ** kit.velocity_curve,
        bright=layer.brightness * (0.35 + 0.65 * vel),
        decay_scale=layer.decay_scale * _u(rng, 0.95, 1.05),
        # Hard hits stretch a head and raise its pitch a little; the rest is round-robin jitter.
        pitch=layer.detune * (1 + 0.01 * vel) * (1 + 0.003 * float(rng.standard_normal())),
    )


def _active(n: int, sr: int, seconds: float) -> int:
    """Samples worth rendering: a component is silent (-60 dB) after its T60."""
    return max(1, min(n, int(seconds * sr) + 1))


def _times(n: int, sr: int) -> np.ndarray:
    return np.arange(n, dtype=np.float32) / np.float32(sr)


def _envelope(t: np.ndarray, attack_s: float, decay_s: float) -> np.ndarray:
    env = np.exp(t * np.float32(-_T60 / decay_s))
    if attack_s > 0:
        env *= np.minimum(t / np.float32(attack_s), 1.0)
    return env


def _biquad(kind: str, freq: float, sr: int) -> list[float]:
    """Second-order Butterworth low- or high-pass section (RBJ cookbook, Q = 1/sqrt 2).

    Written out because ``scipy.signal.butter`` costs about a millisecond per
    design, and every hit designs filters of its own (cutoffs follow velocity).
    """
    w0 = 2 * math.pi * freq / sr
    cos, alpha = math.cos(w0), math.sin(w0) / math.sqrt(2)
    a0 = 1 + alpha
    if kind == "low":
        b = ((1 - cos) / 2, 1 - cos, (1 - cos) / 2)
    else:
        b = ((1 + cos) / 2, -(1 + cos), (1 + cos) / 2)
    return [b[0] / a0, b[1] / a0, b[2] / a0, 1.0, -2 * cos / a0, (1 - alpha) / a0]


def _bandlimit(x: np.ndarray, sr: int, lo_hz: float, hi_hz: float) -> np.ndarray:
    """High-pass at ``lo_hz`` and low-pass at ``hi_hz``; an edge out of range is dropped."""
    lo = min(lo_hz, 0.4 * sr)
    sections = []
    if lo > 20:
        sections.append(_biquad("high", lo, sr))
    if 1.2 * lo < hi_hz < 0.45 * sr:
        sections.append(_biquad("low", hi_hz, sr))
    if not sections:
        return x
    return signal.sosfilt(np.array(sections), x).astype(np.float32)


def _render_modes(m: Modes, n: int, sr: int, s: _Strike, rng: np.random.Generator) -> np.ndarray:
    freqs = np.asarray(m.freqs) * s.pitch
    keep = freqs < 0.45 * sr
    if not keep.any():
        return np.zeros(1, np.float32)
    freqs, decays = freqs[keep], np.asarray(m.decays)[keep] * s.decay_scale
    t = _times(_active(n, sr, decays.max()), sr)
    glide = 1 + (m.glide - 1) * s.vel  # harder hits bend further
    rate = 1 + (glide - 1) * np.exp(-t / np.float32(m.glide_s))
    cycles = (np.cumsum(rate) - rate[0]) / np.float32(sr)
    k = np.arange(freqs.size)
    # The strike position varies from hit to hit; hard hits excite the upper modes more.
    amps = np.asarray(m.amps)[keep] * s.bright ** (_MODE_TILT * k) * rng.uniform(0.8, 1.2, freqs.size)
    phase = np.outer(freqs.astype(np.float32), cycles)
    env = np.exp(np.outer((-_T60 / decays).astype(np.float32), t))
    return (m.level * amps).astype(np.float32) @ (env * np.sin(np.float32(2 * np.pi) * phase))


def _render_noise(c: Noise, n: int, sr: int, s: _Strike, rng: np.random.Generator) -> np.ndarray:
    bursts = np.asarray(c.bursts) * rng.uniform(0.85, 1.15, len(c.bursts))  # no two claps alike
    last = float(bursts.max()) if bursts.size else 0.0  # jitter may reorder neighbours
    t = _times(_active(n, sr, last + c.attack_s + c.decay_s * s.decay_scale), sr)
    hi = max(c.hi_hz * (0.5 + 0.5 * s.bright), 1.5 * c.lo_hz)  # soft hits are duller
    x = _bandlimit(rng.standard_normal(t.size, dtype=np.float32), sr, c.lo_hz, hi)
    # Filtered white noise has power proportional to its bandwidth: undo that.
    band = min(hi, sr / 2) - min(c.lo_hz, sr / 2)
    x *= np.float32(math.sqrt(sr / 2 / max(band, 50.0)))
    if bursts.size:
        env = np.zeros_like(t)
        for b in bursts:
            on = t >= b
            env[on] += np.exp((t[on] - np.float32(b)) * np.float32(-_T60 / c.burst_decay_s))
        on = t >= last
        env[on] += c.tail * _envelope(t[on] - np.float32(last), 0.0, c.decay_s * s.decay_scale)
    else:
        env = _envelope(t, c.attack_s, c.decay_s * s.decay_scale)
    # Hard hits put relatively more energy into noise (wires, stick) than into the tone.
    return np.float32(c.level * s.bright ** 0.5) * env * x


@lru_cache(maxsize=32)
def _oscillator_bank(freqs: tuple[float, ...], square: bool, ring_split: int, sr: int) -> np.ndarray:
    """A few seconds of a metal's oscillators, unit RMS; hits read it from random offsets.

    The oscillators of a metal run freely, so a hit meets them at arbitrary
    phases: a random window of one long rendering is that, and saves
    rebuilding a dense oscillator bank for every hit.
    """
    t = _times(_BANK_S * sr, sr)
    frac = np.outer(np.asarray(freqs, dtype=np.float32), t) % np.float32(1.0)
    osc = (frac < 0.5).astype(np.float32) * 2 - 1 if square else np.sin(np.float32(2 * np.pi) * frac)
    if ring_split:
        bank = osc[:ring_split].sum(axis=0) * osc[ring_split:].sum(axis=0)
    else:
        bank = osc.sum(axis=0)
    bank /= bank.std() + 1e-9
    bank.setflags(write=False)
    return bank


def _render_metal(c: Metal, n: int, sr: int, s: _Strike, rng: np.random.Generator) -> np.ndarray:
    t = _times(_active(n, sr, c.attack_s + c.decay_s * s.decay_scale), sr)
    bank = _oscillator_bank(c.freqs, c.square, c.ring_split, sr)
    start = int(rng.integers(bank.size - t.size + 1))
    src = (1 - c.noise_mix) * bank[start:start + t.size] + c.noise_mix * rng.standard_normal(t.size, dtype=np.float32)
    if c.pink:
        dark = signal.lfilter(_PINK_B, _PINK_A, src).astype(np.float32)
        src = (1 - c.pink) * src + c.pink * dark * np.float32(src.std() / (dark.std() + 1e-9))
    hi = max(c.hi_hz * (0.6 + 0.4 * s.bright), 1.3 * c.lo_hz)
    x = _bandlimit(src, sr, c.lo_hz, hi)
    x *= np.float32(1 / (x.std() + 1e-9))
    env = _envelope(t, c.attack_s, c.decay_s * s.decay_scale)
    if c.wobble:
        env *= 1 - np.float32(c.wobble / 2) * (1 + np.sin(np.float32(2 * np.pi * c.wobble_hz) * t))
    return np.float32(c.level) * env * x


_RENDERERS: Mapping[type, Callable[..., np.ndarray]] = {
    Modes: _render_modes, Noise: _render_noise, Metal: _render_metal,
}


def _play(voice: Voice, kit: KitSpec, velocity: int, sr: int, rng: np.random.Generator,
          *, bright: float = 1.0) -> np.ndarray:
    """One dry hit of ``voice``: sum of components, peak-normalised, then velocity, drive, gain."""
    s = _strike(kit, velocity, rng)
    if bright != 1.0:
        s = replace(s, bright=s.bright * bright)
    n = int(voice.length_s * sr)
    x = np.zeros(n, np.float32)
    for component in voice.components:
        part = _RENDERERS[type(component)](component, n, sr, s, rng)
        x[:part.size] += part
    fade = int(0.1 * n)  # the voice is cut at length_s: fade out instead of clicking
    x[n - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    y = x * np.float32(s.amp / (np.abs(x).max() + 1e-9))
    if voice.drive:
        y = np.tanh(np.float32(voice.drive) * y) / np.float32(math.tanh(voice.drive))
    if kit.bits:
        q = np.float32(2 ** (kit.bits - 1))
        y = np.round(y * q) / q
    return y * np.float32(voice.gain)


def _mix_at(a: np.ndarray, b: np.ndarray, offset: int) -> np.ndarray:
    """``a`` plus ``b`` starting ``offset`` samples later."""
    out = np.zeros(max(a.size, offset + b.size), np.float32)
    out[:a.size] += a
    out[offset:offset + b.size] += b
    return out


def _render_dry(name: str, kit: KitSpec, velocity: int, sr: int, rng: np.random.Generator,
                technique: str | None) -> np.ndarray:
    voice = kit.voice(name)
    if technique == "flam":
        # The grace note comes first, so the event onset is the grace note's onset.
        grace = _play(voice, kit, max(1, round(velocity * _u(rng, 0.3, 0.6))), sr, rng)
        return _mix_at(grace, _play(voice, kit, velocity, sr, rng), int(_u(rng, 0.015, 0.04) * sr))
    if technique == "rimshot":
        crack = _play(kit.voice("rim"), kit, velocity, sr, rng) * np.float32(kit.rim_level)
        return 1.3 * _mix_at(_play(voice, kit, velocity, sr, rng, bright=1.2), crack, 0)
    if technique == "hihat_bark":
        # The foot closes an open hi-hat: its ring is cut short with a pedal "chick".
        hit = _play(voice, kit, velocity, sr, rng)
        cut, fade = int(_u(rng, 0.08, 0.2) * sr), int(_u(rng, 0.008, 0.02) * sr)
        hit[cut:cut + fade] *= np.linspace(1, 0, fade, dtype=np.float32)
        hit[cut + fade:] = 0
        chick = _play(kit.voice("hihat_pedal"), kit, max(1, round(velocity * _u(rng, 0.5, 0.9))), sr, rng)
        return _mix_at(hit, chick, cut)
    if technique == "multi_cymbal_same_class":
        second = _play(kit.voice("crash_2"), kit, int(np.clip(velocity + rng.integers(-10, 11), 1, 127)), sr, rng)
        return _mix_at(_play(voice, kit, velocity, sr, rng), second, int(_u(rng, 0.0, 0.005) * sr))
    return _play(voice, kit, velocity, sr, rng)


def _room_ir(room: Room, sr: int) -> np.ndarray:
    ir = np.zeros(int((room.predelay_s + room.rt60_s) * sr) + 1)
    ir[0] = 1.0  # the direct sound
    if room.wet == 0:
        return ir[:1]
    rng = np.random.default_rng(room.seed)
    pre = int(room.predelay_s * sr)
    t = np.arange(ir.size - pre) / sr
    noise = rng.standard_normal(t.size)
    low = signal.sosfilt(signal.butter(2, room.damping_hz, fs=sr, output="sos"), noise)
    tail = low * np.exp(-_T60 * t / room.rt60_s) + (noise - low) * np.exp(-_T60 * t / (room.rt60_s * room.hf_ratio))
    ir[pre:] += tail * (room.wet / np.sqrt(np.sum(tail ** 2)))
    for delay, gain in room.reflections:
        ir[1 + int(delay * sr)] += gain
    return ir


def _equalise(x: np.ndarray, channel: Channel, sr: int) -> np.ndarray:
    """High-pass, optional low-pass and a spectral tilt around the pivot frequency."""
    x = signal.sosfilt(signal.butter(2, channel.highpass_hz, btype="highpass", fs=sr, output="sos"), x)
    if channel.lowpass_hz is not None and channel.lowpass_hz < 0.45 * sr:
        x = signal.sosfilt(signal.butter(4, channel.lowpass_hz, fs=sr, output="sos"), x)
    # First-order low- and high-pass at one frequency sum to unity, so weighting them tilts the spectrum.
    b, a = signal.butter(1, channel.pivot_hz, fs=sr)
    low = signal.lfilter(b, a, x)
    gain = 10 ** (channel.tilt_db / 40)
    return low / gain + (x - low) * gain


@lru_cache(maxsize=64)
def _channel_ir(room: Room, channel: Channel, sr: int) -> np.ndarray:
    """Room and EQ folded into one impulse response (both are linear and time-invariant)."""
    ir = np.concatenate([_room_ir(room, sr), np.zeros(int(0.1 * sr))])  # room for the EQ's own ringing
    out = _equalise(ir, channel, sr).astype(np.float32)
    out.setflags(write=False)
    return out


def _through_channel(dry: np.ndarray, kit: KitSpec, sr: int, *, full: bool) -> np.ndarray:
    wet = signal.oaconvolve(dry, _channel_ir(kit.room, kit.channel, sr))
    return (wet if full else wet[:dry.size]).astype(np.float32)


def _noise_floor(n: int, channel: Channel, sr: int, rng: np.random.Generator) -> np.ndarray:
    """White noise and optional mains hum; added before the channel, whose EQ colours it.

    The noise is a few seconds repeated: drawing a fresh value for each of
    millions of samples would cost more than all the hits of a session, and
    no analysis window is long enough to notice the repetition.
    """
    block = rng.standard_normal(min(n, _NOISE_BLOCK_S * sr), dtype=np.float32)
    x = np.resize(block * np.float32(10 ** (channel.noise_db / 20)), n)
    if channel.hum_hz is not None:
        t = np.arange(sr) / sr  # one second holds a whole number of 50 or 60 Hz periods
        hum = sum(np.sin(2 * np.pi * k * channel.hum_hz * t) / k for k in (1, 2, 3))
        x += np.resize((10 ** (channel.hum_db / 20) * hum).astype(np.float32), n)
    return x


# --------------------------------------------------------------------------- public API


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo \
            or (hi is not None and value > hi):
        bound = f">= {lo}" if hi is None else f"in {lo}-{hi}"
        raise ConfigError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def _check_sr(sr: object) -> int:
    return _check_int("sr", sr, MIN_SR, 192000)


def _check_technique(label: str, technique: str | None, velocity: int) -> None:
    if technique is None:
        return
    if technique not in TECHNIQUES:
        raise ConfigError(f"unknown technique '{technique}', expected one of {sorted(TECHNIQUES)}")
    if label not in TECHNIQUES[technique]:
        raise ConfigError(f"technique '{technique}' applies to {list(TECHNIQUES[technique])}, not '{label}'")
    if technique == "ghost" and velocity > GHOST_MAX_VELOCITY:
        raise ConfigError(f"a ghost note has velocity <= {GHOST_MAX_VELOCITY}, got {velocity}")


def render_hit(label: str, kit: KitSpec, *, velocity: int, sr: int, rng: np.random.Generator,
               technique: str | None = None) -> np.ndarray:
    """Render one hit of ``kit`` through its room and EQ.

    Parameters
    ----------
    label : str
        A class of :data:`CLASSES` or an instrument of :data:`UNKNOWN_INSTRUMENTS`.
    kit : KitSpec
        The kit, from :func:`make_kit`.
    velocity : int
        MIDI velocity 1-127: scales level and brightness and picks the velocity layer.
    sr : int
        Sample rate, >= 16000.
    rng : numpy.random.Generator
        Source of the per-hit variation (noise, jitter, technique timings).
    technique : str, optional
        One of :data:`TECHNIQUES` that applies to ``label``; ``ghost`` needs
        ``velocity <= 40``.

    Returns
    -------
    ndarray, float32
        Mono one-shot starting at the onset; its length is the voice's length
        plus the room's tail. Not normalised (velocity sets the level).

    Raises
    ------
    ConfigError
        For an unknown label or technique, or a bad velocity or sample rate.
    """
    if label not in CLASSES and label not in UNKNOWN_INSTRUMENTS:
        raise ConfigError(f"unknown label '{label}', expected one of {list(CLASSES + UNKNOWN_INSTRUMENTS)}")
    velocity = _check_int("velocity", velocity, 1, 127)
    sr = _check_sr(sr)
    _check_technique(label, technique, velocity)
    return _through_channel(_render_dry(label, kit, velocity, sr, rng, technique), kit, sr, full=True)


def _draw_technique(label: str, prob: float, rng: np.random.Generator) -> str | None:
    options = [t for t, labels in TECHNIQUES.items() if label in labels]
    if options and rng.random() < prob:
        return options[int(rng.integers(len(options)))]
    return None


def _draw_velocity(label: str, technique: str | None, rng: np.random.Generator) -> int:
    if technique == "ghost":
        return int(rng.integers(8, GHOST_MAX_VELOCITY + 1))
    if technique == "rimshot":
        return int(rng.integers(90, 128))
    # An untagged snare is never that soft: quiet snares are tagged ``ghost``.
    low = GHOST_MAX_VELOCITY + 1 if label == "snare" else 20
    return int(rng.integers(low, 128))


def _openness(label: str) -> float | None:
    return {"hihat_open": 1.0, "hihat_closed": 0.0, "hihat_pedal": 0.0}.get(label)


def _check_classes(classes: Sequence[str]) -> tuple[str, ...]:
    classes = tuple(classes)
    bad = [c for c in classes if c not in CLASSES]
    if bad:
        raise ConfigError(f"unknown classes {bad}, expected a subset of {list(CLASSES)}")
    if len(set(classes)) != len(classes):
        raise ConfigError(f"classes has duplicates: {list(classes)}")
    return classes


def _check_prob(technique_prob: object) -> float:
    if isinstance(technique_prob, bool) or not isinstance(technique_prob, (int, float)) \
            or not 0.0 <= technique_prob <= 1.0:
        raise ConfigError(f"technique_prob must be a number in 0-1, got {technique_prob!r}")
    return float(technique_prob)


def render_session(kit: KitSpec, *, classes: Sequence[str], hits_per_class: int, unknown_hits: int,
                   sr: int, seed: int, technique_prob: float) -> tuple[np.ndarray, list[dict]]:
    """Render every hit of one kit into one recording, in shuffled order.

    Hits start at 0.2 s and follow each other 0.8-1.2 s apart; tails and the
    room's reverb run on under the next hit, as in a real recording. Each hit
    takes a technique of :data:`TECHNIQUES` with probability ``technique_prob``
    where one applies to its label.

    Parameters
    ----------
    kit : KitSpec
        The kit, from :func:`make_kit`.
    classes : sequence of str
        Classes to render, a subset of :data:`CLASSES`.
    hits_per_class : int
        Hits of each class (>= 0).
    unknown_hits : int
        Hits of random :data:`UNKNOWN_INSTRUMENTS`, labelled ``unknown`` (>= 0).
    sr : int
        Sample rate, >= 16000.
    seed : int
        Non-negative seed; the hits are drawn from ``[seed, kit.kit_index, 1]``.
    technique_prob : float
        Probability 0-1 that an eligible hit is played with a technique.

    Returns
    -------
    audio : ndarray, float32
        The mono recording, peak-normalised to 0.9.
    events : list of dict
        One per hit, in time order: ``onset_s``, ``label``, ``extra_labels``,
        ``techniques``, ``velocity`` and ``openness``.

    Raises
    ------
    ConfigError
        For bad arguments, or when there is no hit to render.
    """
    classes = _check_classes(classes)
    hits_per_class = _check_int("hits_per_class", hits_per_class, 0)
    unknown_hits = _check_int("unknown_hits", unknown_hits, 0)
    sr, seed = _check_sr(sr), _check_int("seed", seed, 0)
    technique_prob = _check_prob(technique_prob)
    plan = [c for c in classes for _ in range(hits_per_class)] + [UNKNOWN] * unknown_hits
    if not plan:
        raise ConfigError("a session needs at least one hit: raise hits_per_class or unknown_hits")

    rng = np.random.default_rng([seed, kit.kit_index, _SESSION_STREAM])
    labels = [plan[i] for i in rng.permutation(len(plan))]
    gaps = rng.uniform(*GAP_RANGE_S, size=len(labels) - 1)
    starts = np.round((FIRST_ONSET_S + np.concatenate([[0.0], np.cumsum(gaps)])) * sr).astype(int)
    dry = np.zeros(int(starts[-1] + _TAIL_S * sr), np.float32)
    events = []
    for label, start in zip(labels, starts):
        name = UNKNOWN_INSTRUMENTS[int(rng.integers(len(UNKNOWN_INSTRUMENTS)))] if label == UNKNOWN else label
        technique = _draw_technique(label, technique_prob, rng)
        velocity = _draw_velocity(label, technique, rng)
        hit = _render_dry(name, kit, velocity, sr, rng, technique)
        end = min(dry.size, start + hit.size)
        dry[start:end] += hit[:end - start]
        events.append({
            "onset_s": start / sr, "label": label,
            "extra_labels": ["crash"] if technique == "multi_cymbal_same_class" else [],
            "techniques": [technique] if technique else [], "velocity": velocity, "openness": _openness(label),
        })
    audio = _through_channel(dry + _noise_floor(dry.size, kit.channel, sr, rng), kit, sr, full=False)
    audio *= np.float32(PEAK / np.abs(audio).max())
    return audio, events


def _write_wav(path: Path, audio: np.ndarray, sr: int) -> None:
    # Converting to int16 here is several times faster than libsndfile's float conversion.
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    with atomic_path(path) as tmp:
        # The temporary name ends in .tmp, so soundfile cannot infer the format.
        sf.write(tmp, pcm, sr, subtype="PCM_16", format="WAV")


def synthesize(out_dir: str | Path, *, n_kits: int, hits_per_class: int, unknown_hits: int, sr: int = 22050,
               seed: int, technique_prob: float = 0.1, classes: Sequence[str] = CLASSES,
               progress: bool = False, keep_session: Callable[[str], bool] | None = None,
               workers: int = 1) -> pd.DataFrame:
    """Render ``n_kits`` kits as ``out_dir/<kit_id>.wav`` and return their events manifest.

    Parameters
    ----------
    out_dir : str or Path
        Folder for the wav files (16-bit PCM, mono); ``audio_path`` in the
        manifest is ``str(Path(out_dir) / f"{kit_id}.wav")``, so pass a path
        relative to the repository root.
    n_kits : int
        Number of kits (>= 1), indexes 0 to ``n_kits - 1``.
    hits_per_class, unknown_hits, sr, technique_prob, classes
        As in :func:`render_session`.
    seed : int
        Non-negative seed; the same arguments give byte-identical files and
        an identical manifest.
    progress : bool
        Print one line per kit to stderr.
    keep_session : callable, optional
        Render only the kits whose id (the session id) it accepts, e.g. one
        shard's (:mod:`musicml.shards`); each kit renders the same either way.
    workers : int
        Processes rendering kits side by side (:func:`musicml.parallel.process_map`).
        Each kit draws from its own seed, so the files are the same for any number.

    Returns
    -------
    pandas.DataFrame
        The events manifest (see :mod:`musicml.manifest`), source ``synth``,
        one session per kit.

    Raises
    ------
    ConfigError
        For bad arguments.
    """
    n_kits = _check_int("n_kits", n_kits, 1)
    check_workers(workers, "sources.synth.workers")
    out_dir = Path(out_dir)
    kits = [make_kit(kit_index, seed=seed) for kit_index in range(n_kits)]
    kits = [kit for kit in kits if keep_session is None or keep_session(kit.kit_id)]
    render = partial(_render_kit_file, out_dir=out_dir, classes=classes, hits_per_class=hits_per_class,
                     unknown_hits=unknown_hits, sr=sr, seed=seed, technique_prob=technique_prob)
    rows = []
    # process_map first in zip: it is then run to its end, which closes its pool (or BLAS limit).
    for done, (kit_rows, kit) in enumerate(zip(process_map(render, kits, workers=workers), kits), start=1):
        rows.extend(kit_rows)
        if progress:
            print(f"synth: {kit.kit_id} ({kit.style}) {len(kit_rows)} hits [{done}/{len(kits)}]", file=sys.stderr)
    return events_frame(rows, origin=str(out_dir))


def _render_kit_file(kit: KitSpec, *, out_dir: Path, sr: int, **session) -> list[dict]:
    """Render one kit's session to ``out_dir/<kit_id>.wav``; its manifest rows."""
    audio, events = render_session(kit, sr=sr, **session)
    path = out_dir / f"{kit.kit_id}.wav"
    _write_wav(path, audio, sr)
    return [{"source": SOURCE, "session_id": kit.kit_id, "kit": kit.name, "audio_path": str(path), **e}
            for e in events]


# --------------------------------------------------------------------------- performances (takes)


@dataclass(frozen=True)
class Hit:
    """One strike of a performance: onset (s), class or unknown instrument, MIDI velocity."""

    onset_s: float
    label: str
    velocity: int


def render_stems(kit: KitSpec, hits: Sequence[Hit], *, sr: int, seed: int,
                 tail_s: float = _TAIL_S) -> dict[str, np.ndarray]:
    """Dry (pre-room) stems of a performance: one buffer per label, all the same length.

    Hits may overlap freely (a kick under a hi-hat); each is a fresh strike, so
    repeated hits differ slightly, as on a real kit.

    Parameters
    ----------
    kit : KitSpec
        The kit, from :func:`make_kit`.
    hits : sequence of Hit
        The strikes; labels from :data:`CLASSES` or :data:`UNKNOWN_INSTRUMENTS`.
    sr : int
        Sample rate, >= 16000.
    seed : int
        Non-negative seed of the per-hit variation.
    tail_s : float
        Seconds kept after the last onset for its decay.

    Returns
    -------
    dict of str to ndarray, float32, shape (n_samples,)
        ``n_samples = round((last onset + tail_s) * sr)``.
    """
    sr, seed = _check_sr(sr), _check_int("seed", seed, 0)
    if not hits:
        raise ConfigError("a take needs at least one hit")
    for hit in hits:
        if hit.label not in CLASSES and hit.label not in UNKNOWN_INSTRUMENTS:
            raise ConfigError(f"unknown label '{hit.label}', expected one of {list(CLASSES + UNKNOWN_INSTRUMENTS)}")
        if not math.isfinite(hit.onset_s) or hit.onset_s < 0:
            raise ConfigError(f"hit onset must be a finite number >= 0, got {hit.onset_s!r}")
        _check_int("velocity", hit.velocity, 1, 127)
    rng = np.random.default_rng([seed, kit.kit_index, _SESSION_STREAM + 1])
    n = int(round((max(h.onset_s for h in hits) + tail_s) * sr))
    stems: dict[str, np.ndarray] = {}
    for hit in sorted(hits, key=lambda h: (h.onset_s, h.label)):
        stem = stems.setdefault(hit.label, np.zeros(n, np.float32))
        dry = _render_dry(hit.label, kit, hit.velocity, sr, rng, None)
        start = int(round(hit.onset_s * sr))
        end = min(n, start + dry.size)
        stem[start:end] += dry[:end - start]
    return stems


def render_take(kit: KitSpec, hits: Sequence[Hit], *, sr: int, seed: int) -> np.ndarray:
    """A performance of ``kit`` as one mono recording, like :func:`render_session` renders one.

    The stems are summed with the kit's noise floor and convolved once with
    its room and EQ; the result is peak-normalised to 0.9.

    Returns
    -------
    ndarray, float32
        Mono audio; hit ``h`` starts at sample ``round(h.onset_s * sr)``.
    """
    stems = render_stems(kit, hits, sr=sr, seed=seed)
    dry = np.sum(list(stems.values()), axis=0, dtype=np.float32)
    rng = np.random.default_rng([seed, kit.kit_index, _SESSION_STREAM + 2])
    audio = _through_channel(dry + _noise_floor(dry.size, kit.channel, sr, rng), kit, sr, full=False)
    return audio * np.float32(PEAK / max(float(np.abs(audio).max()), 1e-9))


def write_wav(path: str | Path, audio: np.ndarray, sr: int) -> None:
    """Write mono or ``(n, channels)`` float audio as 16-bit PCM WAV, atomically."""
    _write_wav(Path(path), audio, sr)
