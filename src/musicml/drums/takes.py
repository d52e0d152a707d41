"""Synthetic takes for the QA stages: a backbeat performance and its multi-microphone recording.

The streaming transcriber and the boundary evaluation need long recordings
with exact onsets; the alignment check needs the same take seen by several
microphones with known delays. Both are rendered from the synthesizer's kits
(:mod:`musicml.drums.synth`), so they are exact and reproducible from a seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from musicml.drums.synth import Hit, KitSpec, render_stems
from musicml.errors import ConfigError

# Fill and colour instruments rotate through the bars, so every class appears in a minute of playing.
_COLOUR = ("sidestick", "clap", "hihat_pedal", "ride", "hihat_open")
_FILL = ("tom_high", "tom_mid", "tom_low")


def backbeat_hits(duration_s: float, *, bpm: float = 120.0, seed: int = 0, start_s: float = 0.25) -> list[Hit]:
    """A four-bar-phrased backbeat that plays all 12 classes, with humanised timing and velocity.

    Kick on 1 and 3, snare on 2 and 4, closed hi-hat eighths; every bar swaps
    one eighth for a colour instrument (sidestick, clap, pedal hi-hat, ride,
    open hi-hat), every fourth bar ends with a tom fill and the next phrase
    starts with a crash over the kick. Simultaneous strikes (kick + hi-hat)
    are kept: they are what a transcriber meets in real music.

    Parameters
    ----------
    duration_s : float
        Hits start before this time (> 0).
    bpm : float
        Tempo in quarter notes per minute (30-300).
    seed : int
        Seed of the timing (+-8 ms) and velocity jitter.
    start_s : float
        Onset of the first beat.

    Returns
    -------
    list of Hit, sorted by onset
    """
    if not np.isfinite(duration_s) or duration_s <= 0:
        raise ConfigError(f"duration_s must be > 0, got {duration_s!r}")
    if not 30 <= bpm <= 300:
        raise ConfigError(f"bpm must be in 30-300, got {bpm!r}")
    rng = np.random.default_rng([seed, 7])
    eighth = 30.0 / bpm
    hits: list[Hit] = []
    bar = 0
    while True:
        bar_start = start_s + bar * 8 * eighth
        if bar_start >= duration_s:
            break
        fill = bar % 4 == 3
        colour = _COLOUR[bar % len(_COLOUR)]
        colour_slot = int(rng.integers(1, 7))
        for slot in range(8):
            t = bar_start + slot * eighth
            plan = []
            if slot in (0, 4):
                plan.append("kick")
            if slot in (2, 6):
                plan.append("snare")
            if fill and slot >= 5:
                plan = [_FILL[slot - 5]] + (["kick"] if slot == 7 else [])
            elif slot == colour_slot:
                plan.append(colour)
            else:
                plan.append("hihat_closed")
            if slot == 0 and bar % 4 == 0 and bar > 0:
                plan = ["kick", "crash"]
            for label in plan:
                onset = t + float(rng.uniform(-0.008, 0.008))
                if 0 <= onset < duration_s:
                    hits.append(Hit(round(onset, 5), label, int(rng.integers(60, 128))))
        bar += 1
    return sorted(hits, key=lambda h: (h.onset_s, h.label))


@dataclass(frozen=True)
class Mic:
    """A microphone of a multi-mic take: what it hears loudest, its colouring, its known delay."""

    name: str
    close_to: tuple[str, ...]   # labels this mic is placed at (heard at full level; the rest is bleed)
    band_hz: tuple[float | None, float | None]  # high-pass, low-pass corners (None: no filter)
    delay_ms: float


_MICS = (
    ("kick", ("kick",), (None, 4000.0)),
    ("snare", ("snare", "sidestick", "clap"), (80.0, 12000.0)),
    ("hihat", ("hihat_closed", "hihat_open", "hihat_pedal"), (400.0, None)),
    ("toms", ("tom_high", "tom_mid", "tom_low"), (60.0, None)),
    ("overhead_l", (), (150.0, None)),
    ("overhead_r", (), (150.0, None)),
)
REFERENCE_MIC = "overhead_l"


def _fractional_delay(x: np.ndarray, delay_samples: float) -> np.ndarray:
    """``x`` delayed by a (fractional, possibly negative) number of samples, same length.

    A linear phase in the frequency domain; the signal is zero-padded so the
    shift does not wrap around.
    """
    pad = int(abs(delay_samples)) + 64
    n = x.size + 2 * pad
    spec = np.fft.rfft(np.concatenate([np.zeros(pad, np.float32), x, np.zeros(pad, np.float32)]))
    spec *= np.exp(-2j * np.pi * np.fft.rfftfreq(n) * delay_samples)
    return np.fft.irfft(spec, n)[pad:pad + x.size].astype(np.float32)


def _colour(x: np.ndarray, band: tuple[float | None, float | None], sr: int) -> np.ndarray:
    """Zero-phase band limiting: it colours the mic without moving its timing."""
    lo, hi = band
    if lo is not None:
        x = signal.sosfiltfilt(signal.butter(2, lo, "highpass", fs=sr, output="sos"), x)
    if hi is not None and hi < sr / 2:
        x = signal.sosfiltfilt(signal.butter(2, hi, "lowpass", fs=sr, output="sos"), x)
    return np.asarray(x, dtype=np.float32)


def render_multimic(kit: KitSpec, hits: list[Hit], *, sr: int, seed: int,
                    max_delay_ms: float) -> tuple[dict[str, np.ndarray], list[Mic]]:
    """One take as six microphones hear it: close mics (kick, snare, hi-hat, toms) and two overheads.

    Each mic mixes every instrument's stem - its own at full level, the others
    as bleed at -14 to -26 dB (overheads hear everything at -10 to 0 dB) -
    band-limits it in its own way, adds its own noise and is delayed by a
    known amount drawn in ``+-max_delay_ms`` (the reference ``overhead_l``
    has delay 0). Offsets estimated against the reference should recover
    exactly these delays.

    Returns
    -------
    mics : dict of str to ndarray
        Mono float32 audio per mic, peak-normalised to 0.9, all the same length.
    specs : list of Mic
        Each mic's settings, including ``delay_ms``.
    """
    if not np.isfinite(max_delay_ms) or max_delay_ms < 0:
        raise ConfigError(f"max_delay_ms must be >= 0, got {max_delay_ms!r}")
    stems = render_stems(kit, hits, sr=sr, seed=seed)
    rng = np.random.default_rng([seed, kit.kit_index, 11])
    audio: dict[str, np.ndarray] = {}
    specs = []
    for name, close_to, band in _MICS:
        delay = 0.0 if name == REFERENCE_MIC else round(float(rng.uniform(-max_delay_ms, max_delay_ms)), 3)
        mix = np.zeros(next(iter(stems.values())).size, np.float32)
        for label, stem in stems.items():
            if close_to:
                gain = 1.0 if label in close_to else 10 ** (rng.uniform(-26, -14) / 20)
            else:
                gain = 10 ** (rng.uniform(-10, 0) / 20)
            mix += np.float32(gain) * stem
        mix = _colour(mix, band, sr)
        mix += rng.standard_normal(mix.size).astype(np.float32) * np.float32(10 ** (-70 / 20) * np.abs(mix).max())
        mix = _fractional_delay(mix, delay * sr / 1000)
        audio[name] = mix * np.float32(0.9 / max(float(np.abs(mix).max()), 1e-9))
        specs.append(Mic(name, close_to, band, delay))
    return audio, specs


def write_multimic_session(out_dir: str | Path, *, seconds: float, bpm: float, sr: int, seed: int, kit_index: int,
                           max_delay_ms: float) -> Path:
    """Render a multi-mic take into ``out_dir`` (one wav per mic + ``session.json``); returns the manifest path.

    The manifest names ``overhead_l`` as the reference and records each mic's
    ``known_offset_ms``. The folder appears atomically.
    """
    from musicml.atomic import atomic_path
    from musicml.drums.synth import make_kit, write_wav

    out_dir = Path(out_dir)
    kit = make_kit(kit_index, seed=seed)
    audio, specs = render_multimic(kit, backbeat_hits(seconds, bpm=bpm, seed=seed), sr=sr, seed=seed,
                                   max_delay_ms=max_delay_ms)
    with atomic_path(out_dir, is_dir=True) as tmp:
        for name, x in audio.items():
            write_wav(tmp / f"{name}.wav", x, sr)
        manifest = {"session_id": f"synth_multimic_{kit.kit_id}", "reference": f"{REFERENCE_MIC}.wav",
                    "files": [{"path": f"{m.name}.wav", "mic": m.name, "known_offset_ms": m.delay_ms}
                              for m in specs if m.name != REFERENCE_MIC]}
        (tmp / "session.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return out_dir / "session.json"
