"""Validation of the router data: consistency, balance, ambiguity, spot check, gates.

The seed's automated checks: similar questions must have the same labels
(exact and near-duplicate conflicts), the category balance must match the
target shares, ambiguous examples are flagged for review, and a stratified
sample is exported for a manual spot check. An optional LLM label check
flags disagreements. Exact conflicts are resolved before training (the
confidence-weighted majority label wins; a tie drops the group).
"""

from __future__ import annotations

import json
import math
import random
import re
from typing import Any

import numpy as np
import pandas as pd

from musicml.errors import GateError
from musicml.router.examples import CATEGORIES, LABELS
from musicml.router.library import category_counts
from musicml.router.paraphrase import LlmClient

LABEL_PROMPT = (
    "A music-production assistant routes each request to agents. needsDAW: the request operates the DAW "
    "(tracks, clips, effects, mixing, selection, colours/names, transport, tempo). needsArranger: the request "
    "asks for musical content (chord progressions, melodies, scales, arpeggios, basslines, riffs, hooks, drum "
    "patterns). Questions, explanations, thanks and chit-chat need neither. Answer only with JSON "
    '{{"needsDAW": true|false, "needsArranger": true|false}}.\n\nRequest: {text}'
)


def normalise(text: str) -> str:
    """Lower case, punctuation removed (musical symbols # and / kept), whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w#/+\-. ]", " ", text.lower())).strip(" .")


def _label_key(row: pd.Series) -> str:
    return f"{int(row['needsDAW'])}{int(row['needsArranger'])}"


def exact_conflicts(df: pd.DataFrame) -> tuple[list[dict[str, Any]], np.ndarray]:
    """Groups of identical (normalised) texts with different labels, and a keep-mask resolving them.

    Within a conflicting group the label pair with the larger total confidence
    wins and the other rows are dropped; a tie drops the whole group.
    """
    keys = df["question"].map(normalise)
    labels = df.apply(_label_key, axis=1)
    keep = np.ones(len(df), dtype=bool)
    conflicts = []
    for text, index in df.groupby(keys).groups.items():
        pairs = labels.loc[index]
        if pairs.nunique() < 2:
            continue
        weight = df.loc[index, "confidence"].groupby(pairs).sum().sort_values(ascending=False)
        winner = weight.index[0] if weight.iloc[0] > weight.iloc[1] else None
        for i in index:
            if winner is None or labels.loc[i] != winner:
                keep[df.index.get_loc(i)] = False
        conflicts.append({"text": text, "labels": sorted(pairs.unique().tolist()), "rows": len(index),
                          "kept": winner})
    return conflicts, keep


def near_conflicts(df: pd.DataFrame, *, threshold: float, chunk: int = 512) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, cosine)`` of near-identical texts (char n-gram TF-IDF cosine >= threshold) with
    different labels; positions are row positions in ``df``. Exact duplicates are left to
    :func:`exact_conflicts`."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = df["question"].map(normalise).tolist()
    if len(texts) < 2:
        return []
    matrix = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit_transform(texts)
    labels = (df["needsDAW"].astype(int) * 2 + df["needsArranger"].astype(int)).to_numpy()
    pairs = []
    for start in range(0, len(texts), chunk):
        sims = (matrix[start:start + chunk] @ matrix.T).toarray()
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows, cols):
            i = start + r
            if c > i and labels[i] != labels[c] and texts[i] != texts[c]:
                pairs.append((int(i), int(c), round(float(sims[r, c]), 4)))
    return pairs


def spot_check_sample(df: pd.DataFrame, *, count: int, share: float, seed: int) -> pd.DataFrame:
    """A stratified sample for people: ``max(count, share * len(df))`` rows, categories in proportion,
    every category at least once; flagged rows first within a category."""
    n = min(len(df), max(count, math.ceil(share * len(df))))
    sizes = df["category"].value_counts()
    # Largest remainders keep the total at n exactly; a present category gets at least one row.
    quota = {c: max(1, k) for c, k in category_counts(n, {c: int(sizes.get(c, 0)) for c in CATEGORIES}).items()
             if sizes.get(c, 0)}
    rng = random.Random(seed)
    parts = []
    for category, k in quota.items():
        rows = df[df["category"] == category]
        flagged = rows[rows["flags"] != ""]
        others = rows[rows["flags"] == ""]
        picks = flagged.iloc[sorted(rng.sample(range(len(flagged)), min(k // 2, len(flagged))))]
        rest = others.iloc[sorted(rng.sample(range(len(others)), min(k - len(picks), len(others))))]
        parts.append(pd.concat([picks, rest]))
    sample = pd.concat(parts)
    columns = ["question", "needsDAW", "needsArranger", "confidence", "category", "operation", "template_id",
               "source", "flags"]
    return sample[columns].assign(reviewer_agrees="", reviewer_note="").reset_index(drop=True)


def llm_label_check(df: pd.DataFrame, client: LlmClient, *, max_examples: int, seed: int) -> dict[str, Any]:
    """Ask the LLM for the labels of up to ``max_examples`` rows; disagreeing positions and counts.

    Unusable answers count as failures, never as disagreements.
    """
    rng = random.Random(seed)
    positions = sorted(rng.sample(range(len(df)), min(max_examples, len(df))))
    disagree, failures = [], 0
    for pos in positions:
        answer = client.chat(LABEL_PROMPT.format(text=df.iloc[pos]["question"]))
        try:
            match = re.search(r"\{.*\}", answer or "", re.DOTALL)
            got = json.loads(match.group(0)) if match else None
            pair = (bool(got["needsDAW"]), bool(got["needsArranger"]))
        except (ValueError, KeyError, TypeError):
            failures += 1
            continue
        row = df.iloc[pos]
        if pair != (bool(row["needsDAW"]), bool(row["needsArranger"])):
            disagree.append(pos)
    checked = len(positions) - failures
    return {"checked": checked, "failures": failures, "disagreements": len(disagree),
            "disagreement_rate": len(disagree) / checked if checked else 0.0, "positions": disagree}


def _gate(name: str, passed: bool, value: Any, threshold: Any, message: str) -> dict[str, Any]:
    return {"gate": name, "passed": bool(passed), "value": value, "threshold": threshold, "message": message}


def validate(df: pd.DataFrame, *, shares: dict[str, float], near_threshold: float, ambiguous_below: float,
             gates: dict[str, Any], llm: dict[str, Any] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Check and clean the example table.

    Parameters
    ----------
    df : DataFrame
        Examples (generated, real, paraphrased).
    shares : dict
        Target category shares.
    near_threshold : float
        Cosine similarity from which two texts count as near-identical.
    ambiguous_below : float
        Examples with a lower confidence are flagged ``ambiguous``.
    gates : dict
        ``min_examples``, ``max_conflict_share`` (exact conflicts, share of rows),
        ``max_near_conflict_share`` and ``max_share_deviation`` (absolute, any category).
    llm : dict, optional
        ``{"client": LlmClient, "max_examples": int, "seed": int, "max_disagreement": float}``
        for the optional LLM label check.

    Returns
    -------
    (clean, report): rows kept with a ``flags`` column (``ambiguous``,
    ``near_conflict``, ``llm_disagrees``; comma-separated), and the JSON report
    whose ``gating_results`` lists every gate.
    """
    df = df.reset_index(drop=True)
    conflicts, keep = exact_conflicts(df)
    near = near_conflicts(df, threshold=near_threshold)
    flags: list[set[str]] = [set() for _ in range(len(df))]
    for i, j, _ in near:
        flags[i].add("near_conflict")
        flags[j].add("near_conflict")
    for i, confidence in enumerate(df["confidence"]):
        if confidence < ambiguous_below:
            flags[i].add("ambiguous")
    report: dict[str, Any] = {}
    if llm is not None:
        check = llm_label_check(df, llm["client"], max_examples=llm["max_examples"], seed=llm["seed"])
        for pos in check.pop("positions"):
            flags[pos].add("llm_disagrees")
        report["llm_label_check"] = {**check, "client": dict(llm["client"].stats)}
    clean = df.assign(flags=[",".join(sorted(f)) for f in flags])[keep].reset_index(drop=True)

    n = len(clean)
    targets = category_counts(max(n, 1), shares)
    actual = {c: int((clean["category"] == c).sum()) for c in CATEGORIES}
    deviation = {c: round(abs(actual[c] / max(n, 1) - targets[c] / max(n, 1)), 4) for c in CATEGORIES}
    label_counts = {label: int(clean[label].sum()) for label in LABELS}
    report.update({
        "examples_in": len(df), "examples": n, "dropped_conflicting": int((~keep).sum()),
        "exact_conflict_groups": len(conflicts), "exact_conflicts": conflicts[:50],
        "exact_conflict_share": round(float((~keep).sum()) / max(len(df), 1), 5),
        "near_conflict_pairs": len(near),
        "near_conflicts": [{"a": df.iloc[i]["question"], "b": df.iloc[j]["question"], "cosine": s,
                            "labels": [_label_key(df.iloc[i]), _label_key(df.iloc[j])]} for i, j, s in near[:50]],
        "near_conflict_share": round(sum(1 for f in flags if "near_conflict" in f) / max(len(df), 1), 5),
        "ambiguous": int(sum(1 for f in flags if "ambiguous" in f)),
        "categories": actual, "category_shares": {c: round(actual[c] / max(n, 1), 4) for c in CATEGORIES},
        "target_shares": {c: shares[c] for c in CATEGORIES}, "share_deviation": deviation,
        "label_counts": label_counts, "sources": clean["source"].value_counts().sort_index().to_dict(),
        "templates": int(clean["template_id"].nunique()),
    })
    max_dev = max(deviation.values())
    results = [
        _gate("min_examples", n >= gates["min_examples"], n, gates["min_examples"],
              f"min_examples: {n} {'>=' if n >= gates['min_examples'] else '<'} {gates['min_examples']}"),
        _gate("max_conflict_share", report["exact_conflict_share"] <= gates["max_conflict_share"],
              report["exact_conflict_share"], gates["max_conflict_share"],
              f"exact conflict share {report['exact_conflict_share']:.4f} vs max {gates['max_conflict_share']}"),
        _gate("max_near_conflict_share", report["near_conflict_share"] <= gates["max_near_conflict_share"],
              report["near_conflict_share"], gates["max_near_conflict_share"],
              f"near conflict share {report['near_conflict_share']:.4f} vs max {gates['max_near_conflict_share']}"),
        _gate("max_share_deviation", max_dev <= gates["max_share_deviation"], max_dev, gates["max_share_deviation"],
              f"category share deviation {max_dev:.4f} vs max {gates['max_share_deviation']}"),
    ]
    if llm is not None:
        rate = report["llm_label_check"]["disagreement_rate"]
        results.append(_gate("max_llm_disagreement", rate <= llm["max_disagreement"], rate, llm["max_disagreement"],
                             f"LLM label disagreement {rate:.4f} vs max {llm['max_disagreement']}"))
    report["gating_results"] = results
    report["passed"] = all(g["passed"] for g in results)
    return clean, report


def check_gates(report: dict[str, Any], what: str = "router validation") -> None:
    """Raise :class:`GateError` naming every failed gate of ``report``."""
    failed = [g["message"] for g in report["gating_results"] if not g["passed"]]
    if failed:
        raise GateError(f"{what} gate failed: " + "; ".join(failed))
