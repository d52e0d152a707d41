"""The quality formula (pinned), its params, and the feedback merge."""

from __future__ import annotations

import pytest

from musicml.errors import ConfigError
from musicml.genmeta.feedback import merge_feedback
from musicml.genmeta.quality import QualityWeights, quality_score


def analysed(rc=0.8, ts=0.9, clip=0.0, dr=6.0, **fields):
    return {"analysisMetadata": {"rhythmCharacteristics": {"rhythmConfidence": rc, "tempoStability": ts},
                                 "dynamics": {"clippingRatio": clip, "rmsDynamicRangeDb": dr}}, **fields}


def test_formula_analysis_terms():
    # 0.2*0.8 + 0.1*0.9 + 0.1*(1 - 0) + 0.1*(6/12) = 0.16 + 0.09 + 0.1 + 0.05
    assert quality_score(analysed()) == pytest.approx(0.40)
    # Half the clipping tolerance costs half the no-clipping term; range saturates at 12 dB.
    assert quality_score(analysed(clip=0.0005, dr=30.0)) == pytest.approx(0.16 + 0.09 + 0.05 + 0.1)


def test_formula_feedback_terms_and_rating():
    assert quality_score(analysed(userFeedback={"liked": True})) == pytest.approx(0.60)
    assert quality_score(analysed(userFeedback={"liked": True, "used": True})) == pytest.approx(0.90)
    # (0.40 + 4/5) / 2
    assert quality_score(analysed(userFeedback={"rating": 4})) == pytest.approx(0.60)
    # liked + used + rating 5: (0.9 + 1) / 2
    assert quality_score(analysed(userFeedback={"liked": True, "used": True, "rating": 5})) == pytest.approx(0.95)
    assert quality_score(analysed(userFeedback={"liked": False, "rating": 1})) == pytest.approx((0.4 + 0.2) / 2)


def test_clamped_and_unanalysed():
    heavy = QualityWeights(liked=1.0, used=1.0)
    assert quality_score(analysed(userFeedback={"liked": True, "used": True}), heavy) == 1.0
    failed = {"analysisMetadata": {"analysisError": "unreadable", "rhythmCharacteristics": {"rhythmConfidence": 1}}}
    assert quality_score(failed) == 0.0
    assert quality_score({}) == 0.0
    assert quality_score({"userFeedback": {"liked": True, "rating": 5}}) == pytest.approx(0.6)


def test_weights_from_params():
    w = QualityWeights.from_params({"rhythm_confidence": 0.5, "liked": 0})
    assert w.rhythm_confidence == 0.5 and w.liked == 0 and w.used == 0.3
    with pytest.raises(ConfigError, match="unknown key"):
        QualityWeights.from_params({"rhythm": 0.2})
    with pytest.raises(ConfigError):
        QualityWeights.from_params({"liked": -1})


def test_feedback_last_write_wins_and_unknown_ids_counted():
    records = [{"generationId": "a"}, {"generationId": "b", "userFeedback": {"liked": True}}, {"generationId": "c"}]
    events = [
        {"generationId": "a", "rating": 5, "liked": True, "at": "2026-01-02T00:00:00Z"},
        {"generationId": "a", "rating": 2, "at": "2026-01-01T00:00:00Z"},  # older, arrives later: loses
        {"generationId": "b", "rating": 3, "used": True, "at": "2026-01-01T00:00:00Z"},
        {"generationId": "zzz", "rating": 1},
        {"generationId": "zzz", "rating": 2},
    ]
    merged, summary = merge_feedback(records, events)
    assert merged[0]["userFeedback"] == {"rating": 5, "liked": True}
    assert merged[1]["userFeedback"] == {"rating": 3, "used": True}  # replaced whole
    assert "userFeedback" not in merged[2] and "userFeedback" not in records[0]  # inputs untouched
    assert summary == {"events": 5, "applied": 2, "superseded": 1, "unknown_events": 2, "unknown_ids": 1}
