"""The embedded default snapshot: seeded "generations" with known tempo and key.

Each generation is a short loop - a drum pattern from the repository's drum
synthesizer (:mod:`musicml.drums.synth`), a bass line on the chord roots and a
chord pad - at a known bpm and key, with a prompt and parameters filled in from
templates the way a user and a prompt enhancer would write them. Simulated
user feedback (likes, ratings, usage, free text) goes to a separate feedback
log with occasional re-submissions and ids that match no generation, as a real
feedback stream has. The true bpm and key of every clip go to ``truth.jsonl``,
so the analyzer can be scored against them.

The snapshot folder has the layout that ``musicml gen snapshot`` writes for a
live database (:mod:`musicml.genmeta.records`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import soundfile as sf

from musicml.atomic import atomic_path
from musicml.drums.synth import make_kit, render_hit
from musicml.errors import ConfigError
from musicml.genmeta.keys import MODES, key_name



@dataclass(frozen=True)
class Genre:
    """A genre's tempo range and its one-bar, 16-step drum pattern (step indices)."""

    name: str
    bpm: tuple[int, int]
    kick: tuple[int, ...]
    snare: tuple[int, ...]
    hats: tuple[int, ...]
    moods: tuple[str, ...]


GENRES: tuple[Genre, ...] = (
    Genre("house", (118, 128), (0, 4, 8, 12), (4, 12), (2, 6, 10, 14), ("uplifting", "groovy", "warm")),
    Genre("techno", (124, 134), (0, 4, 8, 12), (4, 12), tuple(range(0, 16, 2)), ("dark", "hypnotic", "driving")),
    Genre("hiphop", (86, 98), (0, 7, 10), (4, 12), tuple(range(0, 16, 2)), ("laid-back", "gritty", "confident")),
    Genre("lofi", (72, 88), (0, 6, 10), (4, 12), tuple(range(0, 16, 2)), ("chill", "nostalgic", "dreamy")),
    Genre("pop", (100, 120), (0, 8, 10), (4, 12), tuple(range(0, 16, 2)), ("happy", "bright", "romantic")),
    Genre("trap", (130, 150), (0, 3, 10), (8,), tuple(range(16)), ("dark", "aggressive", "moody")),
    Genre("dnb", (165, 175), (0, 10), (4, 12), tuple(range(0, 16, 2)), ("energetic", "dark", "rolling")),
)

PROVIDERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("suno", ("sonic-v5", "sonic-v4")),
    ("musicgen", ("musicgen-small", "musicgen-medium")),
    ("udio", ("udio-1.5",)),
)
PROMPT_TEMPLATES: tuple[str, ...] = (
    "{mood} {genre} beat {bpm} bpm",
    "{genre} track in {key}, {mood}",
    "make me a {mood} {genre} loop",
    "{bpm} bpm {genre} instrumental, {mood} vibe",
    "{mood} {genre}",
)
FEEDBACK_TEXTS: dict[bool, tuple[str, ...]] = {
    True: ("Perfect beat!", "love the groove", "great bass line", "exactly what I wanted", "nice chords"),
    False: ("too busy", "wrong vibe", "drums are off", "boring", "not my key"),
}
# Chord progressions as scale degrees (0-based semitone offsets of chord roots and qualities).
_PROGRESSIONS = {
    "major": ((0, "maj"), (7, "maj"), (9, "min"), (5, "maj")),   # I V vi IV
    "minor": ((0, "min"), (8, "maj"), (3, "maj"), (10, "maj")),  # i VI III VII
}
_TRIAD = {"maj": (0, 4, 7), "min": (0, 3, 7)}
_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _midi_hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def _tone(freq: float, n: int, sr: int, *, harmonics: int, decay_s: float, phase: float = 0.0) -> np.ndarray:
    """A plucked, band-limited sawtooth-like tone of ``n`` samples that decays over ``decay_s``."""
    t = np.arange(n, dtype=np.float32) / np.float32(sr)
    out = np.zeros(n, np.float32)
    for k in range(1, harmonics + 1):
        if k * freq >= 0.45 * sr:
            break
        out += np.sin(np.float32(2 * np.pi * k * freq) * t + np.float32(phase * k)) / np.float32(k)
    attack = np.minimum(t / np.float32(0.01), 1.0)
    return out * attack * np.exp(-t / np.float32(decay_s))


def render_loop(*, bpm: float, tonic: int, mode: str, genre: Genre, seconds: float, sr: int,
                rng: np.random.Generator, kit_index: int, seed: int) -> np.ndarray:
    """Render one generation: drums + bass + chord pad, ``seconds`` long, peak about 0.9.

    Parameters
    ----------
    bpm : float
        Tempo in beats (quarter notes) per minute; the 16-step grid is sixteenth notes.
    tonic, mode : int, str
        Key: pitch class 0-11 (0 = C) and ``"major"`` or ``"minor"``.
    genre : Genre
        Drum pattern.
    seconds, sr : float, int
        Length and sample rate.
    rng : numpy.random.Generator
        Per-clip variation (velocities, voicing, levels).
    kit_index, seed : int
        Which virtual drum kit of :func:`musicml.drums.synth.make_kit` plays.

    Returns
    -------
    ndarray, float32, shape (round(seconds * sr),)
    """
    n = int(round(seconds * sr))
    out = np.zeros(n + sr, np.float32)  # one second of headroom for ringing tails
    step = 60.0 / bpm / 4
    kit = make_kit(kit_index, seed=seed)
    # One rendering per voice and velocity band keeps synthesis cheap; hits reuse them.
    voices = {label: [render_hit(label, kit, velocity=v, sr=sr, rng=rng) for v in (70, 100, 124)]
              for label in ("kick", "snare", "hihat_closed")}
    gains = {"kick": 1.0, "snare": 0.8, "hihat_closed": 0.35}
    steps = int(seconds / step) + 1
    for i in range(steps):
        pos = i % 16
        start = int(round(i * step * sr))
        for label, pattern in (("kick", genre.kick), ("snare", genre.snare), ("hihat_closed", genre.hats)):
            if pos in pattern:
                hit = voices[label][0 if label == "hihat_closed" and pos % 4 else int(rng.integers(1, 3))]
                seg = hit[: out.size - start]
                out[start:start + seg.size] += gains[label] * seg / (np.abs(hit).max() + 1e-9)
    # Harmony: one chord every two beats, bass on each chord's root, pad on the triad.
    chord_s = 2 * 60.0 / bpm
    progression = _PROGRESSIONS[mode]
    base = 48 + tonic  # C3..B3
    for c in range(int(seconds / chord_s) + 1):
        degree, quality = progression[c % len(progression)]
        start = int(round(c * chord_s * sr))
        length = min(int(chord_s * sr), out.size - start)
        if length <= 0:
            break
        root = base + degree
        bass = _tone(_midi_hz(root - 12), length, sr, harmonics=6, decay_s=0.6 * chord_s)
        pad = sum(_tone(_midi_hz(root + iv + 12 * octave), length, sr, harmonics=4, decay_s=2 * chord_s,
                        phase=float(rng.uniform(0, 2 * np.pi)))
                  for iv in _TRIAD[quality] for octave in (0, 1))
        out[start:start + length] += 0.5 * bass + 0.12 * pad
    out = out[:n]
    return (0.9 * out / (np.abs(out).max() + 1e-9)).astype(np.float32)


def _generation_id(seed: int, index: int) -> str:
    return "gen_" + hashlib.sha1(f"{seed}:{index}".encode()).hexdigest()[:12]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def make_default_snapshot(out: str | Path, *, n_generations: int, seconds: float, sr: int, seed: int,
                          n_users: int, flac_share: float, clipped_share: float, n_unreadable: int,
                          n_silent: int, feedback_rate: float, resubmit_rate: float,
                          n_unknown_feedback: int) -> dict:
    """Write the embedded default snapshot folder ``out`` atomically.

    ``out`` gets ``records.jsonl`` (one generation per line, the record
    contract of :mod:`musicml.genmeta.records`), ``feedback.jsonl`` (the
    feedback log, in arrival order), ``truth.jsonl`` (generationId, bpm, key
    of each clip) and ``audio/`` (WAV, or FLAC for ``flac_share`` of clips).

    ``clipped_share`` of clips are driven into hard clipping, ``n_unreadable``
    files hold bytes no decoder reads and ``n_silent`` are digital silence:
    the analyzer must mark the first and survive the second.

    Returns
    -------
    dict
        Counts for the stage's summary.
    """
    if n_generations < 1 or seconds <= 0 or sr < 8000:
        raise ConfigError("gen.synth: n_generations >= 1, seconds > 0 and sr >= 8000 expected")
    if n_unreadable + n_silent > n_generations:
        raise ConfigError("gen.synth: n_unreadable + n_silent exceeds n_generations")
    rng = np.random.default_rng(seed)
    # Which clips are broken on purpose: fixed positions drawn once from the seed.
    broken = rng.permutation(n_generations)
    unreadable = set(broken[:n_unreadable].tolist())
    silent = set(broken[n_unreadable:n_unreadable + n_silent].tolist())
    records, truth, feedback = [], [], []
    with atomic_path(out, is_dir=True) as tmp:
        (tmp / "audio").mkdir()
        for i in range(n_generations):
            clip_rng = np.random.default_rng([seed, i])
            genre = GENRES[int(clip_rng.integers(len(GENRES)))]
            bpm = int(clip_rng.integers(genre.bpm[0], genre.bpm[1] + 1))
            tonic, mode = int(clip_rng.integers(12)), MODES[int(clip_rng.integers(2))]
            key = key_name(tonic, mode)
            mood = genre.moods[int(clip_rng.integers(len(genre.moods)))]
            provider, models = PROVIDERS[int(clip_rng.integers(len(PROVIDERS)))]
            model = models[int(clip_rng.integers(len(models)))]
            gid = _generation_id(seed, i)
            ext = "flac" if clip_rng.random() < flac_share else "wav"
            rel = f"audio/{gid}.{ext}"
            if i in unreadable:
                (tmp / rel).write_bytes(b"not audio: the upload was truncated\n" * 8)
            else:
                audio = np.zeros(int(round(seconds * sr)), np.float32) if i in silent else render_loop(
                    bpm=bpm, tonic=tonic, mode=mode, genre=genre, seconds=seconds, sr=sr, rng=clip_rng,
                    kit_index=int(clip_rng.integers(1000)), seed=seed)
                if i not in silent and clip_rng.random() < clipped_share:
                    audio = np.clip(audio * float(clip_rng.uniform(2.0, 4.0)), -1.0, 1.0)
                sf.write(tmp / rel, audio, sr, subtype="PCM_16", format=ext.upper())
            template = PROMPT_TEMPLATES[int(clip_rng.integers(len(PROMPT_TEMPLATES)))]
            prompt = template.format(mood=mood, genre=genre.name, bpm=bpm, key=key)
            created = _EPOCH + timedelta(minutes=17 * i)
            records.append({
                "userId": f"user_{int(clip_rng.integers(n_users)):03d}",
                "generationId": gid,
                "userPrompt": prompt,
                "aiEnhancedPrompt": f"{mood}, {genre.name}, {bpm} BPM, {key} - {prompt}",
                "generationParams": {"genre": genre.name, "bpm": bpm, "key": key, "mood": mood,
                                     "duration": seconds, "model": model, "provider": provider,
                                     "instrumental": True},
                "audioUrl": f"https://cdn.example.invalid/generations/{gid}.{ext}",
                "audioPath": rel,
                "provider": provider,
                "modelUsed": model,
                "generationCost": round(float(clip_rng.uniform(0.002, 0.05)), 4),
                "generationDuration": round(float(clip_rng.uniform(4.0, 40.0)), 2),
                "createdAt": _iso(created),
            })
            if i not in unreadable and i not in silent:  # silence has no tempo or key to find
                truth.append({"generationId": gid, "bpm": bpm, "key": key})
            if clip_rng.random() < feedback_rate:
                liked = bool(clip_rng.random() < 0.6)
                rating = int(clip_rng.choice([3, 4, 5], p=[0.2, 0.4, 0.4]) if liked
                             else clip_rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))
                event = {"generationId": gid, "liked": liked, "rating": rating,
                         "used": bool(liked and clip_rng.random() < 0.4),
                         "feedback": FEEDBACK_TEXTS[liked][int(clip_rng.integers(5))],
                         "at": _iso(created + timedelta(minutes=int(clip_rng.integers(1, 600))))}
                feedback.append(event)
                if clip_rng.random() < resubmit_rate:  # the user changed their mind later
                    later = dict(event, rating=int(clip_rng.integers(1, 6)),
                                 at=_iso(created + timedelta(days=1, minutes=int(clip_rng.integers(600)))))
                    feedback.append(later)
        for j in range(n_unknown_feedback):
            feedback.append({"generationId": f"gen_deleted_{j:03d}", "liked": True, "rating": 4,
                             "at": _iso(_EPOCH + timedelta(days=j))})
        feedback.sort(key=lambda e: (e["at"], e["generationId"]))
        for name, rows in (("records.jsonl", records), ("feedback.jsonl", feedback), ("truth.jsonl", truth)):
            with open(tmp / name, "w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, sort_keys=True) + "\n")
    return {"generations": n_generations, "feedback_events": len(feedback), "unreadable": len(unreadable),
            "silent": len(silent), "audio_seconds": round(n_generations * seconds, 3)}
