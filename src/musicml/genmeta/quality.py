"""The quality score of a generation: analysis confidence, clean audio and user feedback, in [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from musicml.errors import ConfigError


@dataclass(frozen=True)
class QualityWeights:
    """Weights of the score's terms (defaults: the seed's formula plus its named-but-omitted terms).

    The analysis terms add up to at most ``rhythm_confidence + tempo_stability +
    no_clipping + dynamic_range``; feedback adds ``liked`` and ``used``; a
    rating then averages the score with ``rating / 5``.
    """

    rhythm_confidence: float = 0.2
    tempo_stability: float = 0.1
    no_clipping: float = 0.1
    dynamic_range: float = 0.1
    liked: float = 0.2
    used: float = 0.3
    # The no-clipping term falls linearly from full weight (no clipped sample)
    # to 0 at this share of clipped samples.
    clipping_tolerance: float = 0.001
    # The dynamic-range term grows linearly up to this RMS range (dB) and saturates.
    dynamic_range_target_db: float = 12.0

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "QualityWeights":
        """From the ``gen.quality`` params mapping; unknown or negative entries are a ConfigError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(f"gen.quality: unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
        values = {k: float(v) for k, v in params.items()}
        bad = [k for k, v in values.items() if v < 0]
        if bad or values.get("clipping_tolerance", 1) == 0 or values.get("dynamic_range_target_db", 1) == 0:
            raise ConfigError(f"gen.quality: weights must be >= 0 and tolerances > 0 ({', '.join(bad) or 'tolerance'})")
        return cls(**values)


def quality_score(record: Mapping[str, Any], weights: QualityWeights = QualityWeights()) -> float:
    """Score one record in [0, 1].

    ``score = w_rc * rhythmConfidence + w_ts * tempoStability
    + w_nc * (1 - min(1, clippingRatio / clipping_tolerance))
    + w_dr * min(1, rmsDynamicRangeDb / dynamic_range_target_db)``
    (analysis terms are 0 for a record without analysis), ``+ w_liked`` if
    liked, ``+ w_used`` if used (feedback ``used``), then with a rating
    ``score = (score + rating / 5) / 2``, clamped to [0, 1] and rounded to 6
    decimals.
    """
    w = weights
    meta = record.get("analysisMetadata") or {}
    rhythm = meta.get("rhythmCharacteristics") or {}
    dyn = meta.get("dynamics") or {}
    score = 0.0
    if "analysisError" not in meta:
        score += w.rhythm_confidence * float(rhythm.get("rhythmConfidence", 0.0))
        score += w.tempo_stability * float(rhythm.get("tempoStability", 0.0))
        if "clippingRatio" in dyn:
            score += w.no_clipping * (1.0 - min(1.0, float(dyn["clippingRatio"]) / w.clipping_tolerance))
        if "rmsDynamicRangeDb" in dyn:
            score += w.dynamic_range * min(1.0, max(0.0, float(dyn["rmsDynamicRangeDb"])) / w.dynamic_range_target_db)
    fb = record.get("userFeedback") or {}
    if fb.get("liked"):
        score += w.liked
    if fb.get("used"):
        score += w.used
    if fb.get("rating") is not None:
        score = (score + float(fb["rating"]) / 5.0) / 2.0
    return round(min(1.0, max(0.0, score)), 6)
