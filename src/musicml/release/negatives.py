"""Hard-negative mining: confident wrong predictions, as an events manifest to label.

A hard negative is a hit the model assigns to class X with high confidence
although it is not an X: a known-class test hit predicted as another class
(extra labels already credited by evaluate), or an unknown (open-set) hit
predicted as any class. Relabelled and fed back, these are the examples that
move the decision boundary most.
"""

from __future__ import annotations

import pandas as pd

from musicml.errors import ConfigError, InputError
from musicml.manifest import COLUMNS

PREDICTION_COLUMNS: tuple[str, ...] = ("event_id", "split", "label", "true_index", "pred_index", "predicted",
                                       "max_softmax")


def mine_hard_negatives(predictions: pd.DataFrame, events: pd.DataFrame, *, min_confidence: float,
                        max_per_label: int, splits: list[str], origin: str = "<predictions>"
                        ) -> tuple[pd.DataFrame, int]:
    """The most confident false positives, at most ``max_per_label`` per predicted label.

    Parameters
    ----------
    predictions : DataFrame
        The evaluate stage's per-hit table (``PREDICTION_COLUMNS``).
    events : DataFrame
        The events manifest the predictions were made on (``event_id`` joins).
    min_confidence : float
        Keep hits whose max softmax probability is at least this.
    max_per_label : int
        Cap per predicted label; the most confident are kept.
    splits : list of str
        Which prediction splits to mine (``test``, ``openset``).

    Returns
    -------
    negatives : DataFrame
        Manifest columns (``musicml.manifest.COLUMNS``) plus ``predicted_label``,
        ``confidence`` and ``split``, sorted by predicted label, then confidence
        (descending), then event id: deterministic bytes for DVC.
    candidates : int
        Confident false positives before the per-label cap.
    """
    if not 0 <= min_confidence <= 1 or max_per_label < 0:
        raise ConfigError(f"hard_negatives: need 0 <= min_confidence <= 1 and max_per_label >= 0, "
                          f"got {min_confidence}, {max_per_label}")
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise InputError(origin, f"missing columns {missing}", field=missing[0])
    rows = predictions[predictions["split"].isin(splits)]
    wrong = (rows["split"] == "openset") | (rows["true_index"] != rows["pred_index"])
    rows = rows[wrong & (rows["max_softmax"] >= min_confidence)]
    candidates = len(rows)
    rows = rows.sort_values(["predicted", "max_softmax", "event_id"], ascending=[True, False, True],
                            kind="mergesort")
    rows = rows.groupby("predicted", sort=True).head(max_per_label)
    known_ids = set(events["event_id"].astype(str))
    unmatched = [e for e in rows["event_id"].astype(str) if e not in known_ids]
    if unmatched:
        raise InputError(origin, f"{len(unmatched)} predicted event ids are not in the events manifest "
                                 f"(first: {unmatched[0]}); predictions and manifest are out of step",
                         field="event_id")
    manifest = events[list(COLUMNS)].drop_duplicates("event_id").set_index("event_id")
    out = manifest.loc[rows["event_id"].astype(str)].reset_index()
    out["predicted_label"] = rows["predicted"].astype(str).to_numpy()
    out["confidence"] = rows["max_softmax"].astype(float).round(6).to_numpy()
    out["split"] = rows["split"].astype(str).to_numpy()
    return out.reset_index(drop=True), candidates


def negatives_summary(negatives: pd.DataFrame, *, candidates: int) -> dict:
    """Counts for the metrics file: total, per predicted label, per true label."""
    return {"negatives": int(len(negatives)), "candidates_above_confidence": int(candidates),
            "by_predicted_label": {k: int(v) for k, v in negatives["predicted_label"].value_counts().sort_index().items()},
            "by_true_label": {k: int(v) for k, v in negatives["label"].astype(str).value_counts().sort_index().items()}}
