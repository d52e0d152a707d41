"""Shared builders for the gen_ tests: a tiny synthetic snapshot and small records."""

from __future__ import annotations

from pathlib import Path

from musicml.genmeta.synth import make_default_snapshot

TINY_SYNTH = dict(n_generations=10, seconds=2.0, sr=22050, n_users=3, flac_share=0.2, clipped_share=0.1,
                  n_unreadable=1, n_silent=1, feedback_rate=0.6, resubmit_rate=0.3, n_unknown_feedback=2)


def tiny_snapshot(folder: Path, **overrides) -> Path:
    """A 10-clip default snapshot (one unreadable, one silent) under ``folder``."""
    make_default_snapshot(folder, seed=7, **{**TINY_SYNTH, **overrides})
    return folder


def record(gid: str = "gen_1", **fields) -> dict:
    """A minimal valid record; ``fields`` override or add."""
    base = {"userId": "u1", "generationId": gid, "userPrompt": "dark trap beat 140 bpm",
            "aiEnhancedPrompt": "dark, trap, 140 BPM - dark trap beat", "audioUrl": "https://x/a.wav",
            "provider": "suno", "generationParams": {"genre": "trap", "bpm": 140}}
    base.update(fields)
    return base
