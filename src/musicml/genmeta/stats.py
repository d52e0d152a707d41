"""Statistics of a set of records: the API's overview, the stage's breakdowns, analyzer accuracy."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from musicml.genmeta.analysis import is_analysed
from musicml.genmeta.export import has_feedback
from musicml.genmeta.keys import parse_key, relative_key

# Tempo factors that count as "octave errors" (half/double time, and the triple-meter cousins).
OCTAVE_FACTORS = (2.0, 0.5, 3.0, 1.0 / 3.0)


def overview(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The seed's statistics shape: totalGenerations, byProvider, withFeedback, averageQualityScore, usedForTraining."""
    total = with_feedback = used = 0
    providers: Counter = Counter()
    scores = []
    for r in records:
        total += 1
        providers[r.get("provider")] += 1
        with_feedback += has_feedback(r)
        used += bool(r.get("usedForTraining"))
        if r.get("qualityScore") is not None:
            scores.append(float(r["qualityScore"]))
    return {"totalGenerations": total, "byProvider": dict(sorted(providers.items())), "withFeedback": with_feedback,
            "averageQualityScore": round(float(np.mean(scores)), 4) if scores else None, "usedForTraining": used}


def tempo_matches(estimate: float, truth: float, tolerance: float) -> tuple[bool, bool]:
    """``(exact, octave)``: within ``tolerance`` (relative) of the truth, or of a half/double/third/triple of it."""
    if truth <= 0 or estimate <= 0:
        return False, False
    exact = abs(estimate - truth) <= tolerance * truth
    octave = exact or any(abs(estimate - f * truth) <= tolerance * f * truth for f in OCTAVE_FACTORS)
    return exact, octave


def key_relation(estimate: str, truth: str) -> str:
    """``exact``, ``relative``, ``fifth``, ``parallel`` or ``other`` (MIREX key-evaluation classes)."""
    if not estimate:
        return "other"
    if estimate == truth:
        return "exact"
    if estimate == relative_key(truth):
        return "relative"
    (et, em), (tt, tm) = parse_key(estimate), parse_key(truth)
    if em == tm and (et - tt) % 12 in (5, 7):
        return "fifth"
    if et == tt:
        return "parallel"
    return "other"


# MIREX weighted key score: credit for near misses.
_MIREX = {"exact": 1.0, "fifth": 0.5, "relative": 0.3, "parallel": 0.2, "other": 0.0}


def analyzer_accuracy(records: Sequence[Mapping[str, Any]], truth: Sequence[Mapping[str, Any]], *,
                      tempo_tolerance: float) -> dict[str, Any]:
    """Tempo and key accuracy of the analysis against known truth (records without analysis are skipped).

    Returns flat keys: ``evaluated``, ``tempo_accuracy`` (within tolerance),
    ``tempo_accuracy_octave`` (octave errors allowed), ``tempo_octave_errors``
    (count right only up to an octave), ``key_accuracy`` (exact),
    ``key_accuracy_with_relative`` (exact or relative major/minor),
    ``key_relative_errors``, ``key_mirex_score``.
    """
    by_id = {t["generationId"]: t for t in truth}
    exact = octave = key_exact = key_rel = 0
    mirex = 0.0
    n = 0
    for r in records:
        t = by_id.get(r["generationId"])
        if t is None or not is_analysed(r):
            continue
        meta = r["analysisMetadata"]
        n += 1
        e, o = tempo_matches(float(meta["rhythmCharacteristics"]["tempo"]), float(t["bpm"]), tempo_tolerance)
        exact += e
        octave += o
        relation = key_relation(meta.get("keyDetection", {}).get("key", ""), t["key"])
        key_exact += relation == "exact"
        key_rel += relation == "relative"
        mirex += _MIREX[relation]
    if n == 0:
        return {"evaluated": 0}
    return {"evaluated": n, "tempo_tolerance": tempo_tolerance,
            "tempo_accuracy": round(exact / n, 4), "tempo_accuracy_octave": round(octave / n, 4),
            "tempo_octave_errors": octave - exact, "key_accuracy": round(key_exact / n, 4),
            "key_accuracy_with_relative": round((key_exact + key_rel) / n, 4), "key_relative_errors": key_rel,
            "key_mirex_score": round(mirex / n, 4)}


def breakdown(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-genre counts and mean quality, feedback rate, records missing analysis."""
    by_genre: dict[str, list[float]] = defaultdict(list)
    for r in records:
        genre = (r.get("generationParams") or {}).get("genre") or "unknown"
        by_genre[genre].append(r.get("qualityScore") or 0.0)
    n = len(records)
    return {
        "byGenre": {g: {"count": len(v), "averageQualityScore": round(float(np.mean(v)), 4)}
                    for g, v in sorted(by_genre.items())},
        "feedbackRate": round(sum(has_feedback(r) for r in records) / n, 4) if n else 0.0,
        "missingAnalysis": sum(not is_analysed(r) for r in records),
    }


def histogram(scores: Sequence[float], *, bins: int) -> list[dict[str, float]]:
    """Rows ``{bin_start, bin_end, count}`` over [0, 1] for a DVC bar plot."""
    counts, edges = np.histogram(np.asarray(scores, dtype=float), bins=bins, range=(0.0, 1.0))
    return [{"bin_start": round(float(edges[i]), 4), "bin_end": round(float(edges[i + 1]), 4), "count": int(c)}
            for i, c in enumerate(counts)]
