"""Baselines that show each dataset is usable (``midi_train`` fits, ``midi_eval`` scores).

Each task trains a scikit-learn model on the train split (augmented copies
included; :func:`train_dataset`, saved by :func:`save_fits`) and scores it on
the test split (:func:`score_dataset`), which holds a generator family
no training sample comes from (and, reported separately, imported real
MIDI), beside a trivial baseline:

* classification (emotion, contour, range, articulation, dynamics, groove
  type): random forest vs the majority class; macro-F1 and accuracy with
  bootstrap CIs;
* regression (swing ratio, valence, arousal): random forest vs a trivial
  predictor (the rule-measured swing ratio, or the training mean); MAE, RMSE,
  R2, and a 90 % split-conformal interval (:func:`conformal_interval`)
  calibrated on generator families left out of the training side, never
  narrower than the label's measurement resolution (``midi.eval.interval_floor``),
  with its coverage and mean width on the test split;
* next chord (harmony): multinomial logistic regression on the previous two
  chords (as degrees of the key), the mode and the emotion vs a bigram table;
  top-1 and top-3 accuracy.
"""

from __future__ import annotations

import json
import os
import pickle
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from musicml.atomic import atomic_path
from musicml.errors import ConfigError, InputError
from musicml.evaluation import bootstrap_ci
from musicml.midi.theory import degree_token, parse_chord, pitch_class
from musicml.parallel import one_blas_thread


def _round(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


@dataclass(frozen=True)
class ClassifierFit:
    """A random forest on one label, and the majority class of its training side."""

    label: str
    model: Any
    classes: tuple[str, ...]
    majority: str
    n_train: int

    def score(self, X_te: np.ndarray, y_te: Sequence[str], *, seed: int, iterations: int,
              confidence: float) -> dict[str, Any]:
        """Macro-F1 and accuracy (bootstrap CIs) of the forest and of the majority class on ``(X_te, y_te)``."""
        y_te = np.asarray(y_te, dtype=str)
        classes = sorted(set(self.classes) | set(y_te))
        pred = self.model.predict(X_te)
        lookup = {c: i for i, c in enumerate(classes)}
        t = np.array([lookup[v] for v in y_te])
        out: dict[str, Any] = {"n_train": self.n_train, "n_test": int(len(y_te)), "classes": classes,
                               "majority_class": self.majority}
        for name, p in (("model", pred), ("majority", np.full(len(y_te), self.majority))):
            ci = bootstrap_ci(t, np.array([lookup[v] for v in p]), classes=classes, iterations=iterations,
                              confidence=confidence, seed=seed)
            out[f"{name}_macro_f1"] = _round(ci["macro_f1"]["point"])
            out[f"{name}_macro_f1_ci"] = [_round(ci["macro_f1"]["low"]), _round(ci["macro_f1"]["high"])]
            out[f"{name}_accuracy"] = _round(ci["accuracy"]["point"])
        out["beats_baseline"] = bool(out["model_macro_f1_ci"][0] is not None and
                                     out["model_macro_f1_ci"][0] > out["majority_macro_f1"])
        return out


def fit_classifier(X_tr: np.ndarray, y_tr: Sequence[str], *, label: str, seed: int, trees: int) -> ClassifierFit:
    """Fit :class:`ClassifierFit` on the training side."""
    from sklearn.ensemble import RandomForestClassifier

    y_tr = np.asarray(y_tr, dtype=str)
    model = RandomForestClassifier(n_estimators=trees, random_state=seed, n_jobs=1).fit(X_tr, y_tr)
    return ClassifierFit(label=label, model=model, classes=tuple(sorted(set(y_tr))),
                         majority=str(Counter(y_tr).most_common(1)[0][0]), n_train=int(len(y_tr)))


def classify(X_tr: np.ndarray, y_tr: Sequence[str], X_te: np.ndarray, y_te: Sequence[str], *, seed: int, trees: int,
             iterations: int, confidence: float) -> dict[str, Any]:
    """Random forest vs majority class on one label: :func:`fit_classifier`, then its score."""
    return fit_classifier(X_tr, y_tr, label="label", seed=seed, trees=trees).score(
        X_te, y_te, seed=seed, iterations=iterations, confidence=confidence)


def _regression_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    err = p - y
    var = float(np.var(y))
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))),
            "r2": float(1 - np.mean(err ** 2) / var) if var > 0 else 0.0}


INTERVAL_METHODS = {"residual": "split-conformal on the random forest's absolute residuals",
                    "quantile": "conformalised quantile regression"}


def _forest(*, trees: int, seed: int) -> Any:
    from sklearn.ensemble import RandomForestRegressor

    return RandomForestRegressor(n_estimators=trees, random_state=seed, n_jobs=1)


@dataclass(frozen=True)
class BandModel:
    """A fitted uncalibrated band: the forest's prediction (``residual``, width 0) or two quantile models."""

    models: tuple[Any, ...]

    def __call__(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self.models) == 1:
            pred = self.models[0].predict(X)
            return pred, pred
        low, high = (m.predict(X) for m in self.models)
        return np.minimum(low, high), np.maximum(low, high)  # independent quantile models can cross


def _fit_band(X_fit: np.ndarray, y_fit: np.ndarray, *, method: str, interval: float, trees: int,
              seed: int) -> BandModel:
    """The uncalibrated band model fitted on ``(X_fit, y_fit)``.

    ``residual``: the random forest's point prediction (a band of width 0, which
    calibration widens by the residual quantile); ``quantile``: gradient-boosting
    models of the ``(1 - interval) / 2`` and ``(1 + interval) / 2`` quantiles.
    """
    if method == "residual":
        return BandModel((_forest(trees=trees, seed=seed).fit(X_fit, y_fit),))
    from sklearn.ensemble import HistGradientBoostingRegressor

    alpha = (1 - interval) / 2
    # Histogram boosting: a few times faster than GradientBoostingRegressor on the emotion features, with
    # narrower bands; no early stopping, so no random validation split.
    return BandModel(tuple(HistGradientBoostingRegressor(loss="quantile", quantile=a, max_iter=100,
                                                         early_stopping=False, random_state=seed).fit(X_fit, y_fit)
                           for a in (alpha, 1 - alpha)))


@dataclass(frozen=True)
class ConformalBand:
    """A calibrated interval: ``base`` band widened by ``q``, never narrower than ``floor`` each side."""

    q: float
    floor: float
    folds: int
    n_calibration: int
    base: BandModel | None  # None: the caller's point prediction is the base (``residual``)

    def __call__(self, X: np.ndarray, pred: np.ndarray | None = None) -> dict[str, Any]:
        """``low``, ``high`` and ``floored`` (share of bands the floor widened) at ``X``."""
        if pred is not None and self.base is None:
            base_low = base_high = np.asarray(pred, dtype=float)
        elif self.base is not None:
            with one_blas_thread():
                base_low, base_high = self.base(X)
        else:
            raise ValueError("ConformalBand: a band calibrated without its own base model needs `pred`")
        low, high = base_low - self.q, base_high + self.q
        # A negative q (quantile bands wider than needed) narrows the band; where it would turn inside out
        # it shrinks to its centre.
        centre = (base_low + base_high) / 2
        crossed = low > high
        low[crossed], high[crossed] = centre[crossed], centre[crossed]
        floored = (high - low) < 2 * self.floor
        low[floored], high[floored] = centre[floored] - self.floor, centre[floored] + self.floor
        return {"low": low, "high": high, "floored": float(np.mean(floored)) if len(floored) else 0.0}


def conformal_interval(X_tr: np.ndarray, y_tr: np.ndarray, groups: Sequence[str], X_te: np.ndarray, *,
                       interval: float, seed: int, method: str = "residual", trees: int = 100, max_folds: int = 5,
                       pred_te: np.ndarray | None = None, floor: float = 0.0) -> dict[str, Any]:
    """A split-conformal ``interval`` prediction interval, calibrated by group on the training side.

    A base band ``[low(x), high(x)]`` comes from a model (``method``:
    ``residual`` = the random forest's point prediction, ``quantile`` =
    quantile histogram gradient boosting, i.e. conformalised quantile regression, Romano
    et al. 2019). Calibration measures how far outside the band the truth
    falls (score ``max(low - y, y - high)``: the absolute residual for
    ``residual``, negative inside the band for ``quantile``) and widens the
    band by the ``ceil((n + 1) * interval) / n`` empirical quantile ``q`` of
    the scores. The calibration is cross-conformal over *groups*: each fold
    leaves whole groups out (generator families, or origins), fits on the rest
    and scores the left-out groups, so every training sample is scored by a
    model that never saw its group. The test split is a family no training
    sample comes from; scores on unseen families are what is exchangeable
    with it (held-out samples of seen families would under-cover).

    ``floor`` is a lower bound on the half-width. Labels that sit on a few
    grid values (swing ratio 0.5, 0.67, 0.75) are often predicted exactly, so
    more than ``interval`` of the scores can be exactly 0 and ``q`` is 0: a
    zero-width band that claims a precision no measurement of the label has,
    and that misses every test sample off by any amount at all. A floor equal
    to the label's measurement resolution keeps the band honest; it is set
    from that resolution, never tuned on the test split.

    Parameters
    ----------
    X_tr : ndarray, shape (n_train, n_features)
    y_tr : ndarray, shape (n_train,)
    groups : sequence of str, length n_train
        The unit of calibration folds (augmented copies share their parent's group).
    X_te : ndarray, shape (n_test, n_features)
    interval : float
        Nominal coverage, e.g. 0.9.
    seed : int
    method : {"residual", "quantile"}
    trees : int
        Trees of the random forest (``residual``).
    max_folds : int
        At most this many folds (groups are spread over them by GroupKFold).
    pred_te : ndarray, optional
        The forest's prediction on ``X_te`` when the caller already fitted it on all of ``X_tr`` (``residual``).
    floor : float
        Smallest half-width of the band, in label units (0 = none).

    Returns
    -------
    dict
        ``low``, ``high`` (shape (n_test,)), ``q`` (the conformal widening, in
        label units, before the floor), ``floored`` (share of test bands the
        floor widened), ``folds`` and ``n_calibration``.
    """
    band = calibrate(X_tr, y_tr, groups, interval=interval, seed=seed, method=method, trees=trees,
                     max_folds=max_folds, floor=floor, own_base=not (method == "residual" and pred_te is not None))
    return {**band(np.asarray(X_te), pred_te), "q": band.q, "folds": band.folds, "n_calibration": band.n_calibration}


def calibrate(X_tr: np.ndarray, y_tr: np.ndarray, groups: Sequence[str], *, interval: float, seed: int,
              method: str = "residual", trees: int = 100, max_folds: int = 5, floor: float = 0.0,
              own_base: bool = True) -> ConformalBand:
    """Calibrate a :class:`ConformalBand` on the training side (see :func:`conformal_interval`).

    ``own_base=False`` (``residual`` only) leaves the base out: the band is then
    applied around the caller's own forest prediction, saving a second fit.
    """
    from sklearn.model_selection import GroupKFold

    if method not in INTERVAL_METHODS:
        raise ValueError(f"conformal_interval: unknown method {method!r}; expected one of {list(INTERVAL_METHODS)}")
    if not (np.isfinite(floor) and floor >= 0):
        raise ValueError(f"conformal_interval: floor must be a finite number >= 0, got {floor!r}")
    if not own_base and method != "residual":
        raise ValueError("conformal_interval: only a `residual` band can use the caller's prediction as its base")
    X_tr, y_tr = np.asarray(X_tr), np.asarray(y_tr, dtype=float)
    groups = np.asarray(groups, dtype=str)
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError("conformal_interval: calibration needs at least two groups on the training side")
    folds = min(max_folds, n_groups)
    kwargs = {"method": method, "interval": interval, "trees": trees, "seed": seed}
    scores = np.empty(len(y_tr))
    with one_blas_thread():  # OpenMP threads of histogram boosting crawl on a busy machine
        for fit, cal in GroupKFold(n_splits=folds).split(X_tr, y_tr, groups):
            low, high = _fit_band(X_tr[fit], y_tr[fit], **kwargs)(X_tr[cal])
            scores[cal] = np.maximum(low - y_tr[cal], y_tr[cal] - high)
        base = _fit_band(X_tr, y_tr, **kwargs) if own_base else None
    n = len(scores)
    rank = int(np.ceil((n + 1) * interval))
    # With too few calibration samples for the level, the finite-sample bound is an unbounded interval.
    q = float(np.sort(scores)[rank - 1]) if rank <= n else float("inf")
    return ConformalBand(q=q, floor=float(floor), folds=folds, n_calibration=n, base=base)


def calibration_groups(index: pd.DataFrame) -> tuple[np.ndarray, str]:
    """The calibration unit of training rows: generator family when there are two or more, else origin."""
    if "family" in index and index["family"].nunique() >= 2:
        return index["family"].astype(str).to_numpy(), "family"
    return index["origin"].astype(str).to_numpy(), "origin"


@dataclass(frozen=True)
class RegressorFit:
    """A random forest on one numeric label with its calibrated :class:`ConformalBand`."""

    label: str
    model: Any
    band: ConformalBand
    method: str
    interval: float
    group_kind: str
    train_mean: float
    n_train: int

    def score(self, X_te: np.ndarray, y_te: np.ndarray, *, trivial: np.ndarray, trivial_name: str, seed: int,
              iterations: int, confidence: float) -> dict[str, Any]:
        """MAE (bootstrap CI), RMSE, R2 of the forest and of ``trivial``; the band's coverage and width."""
        y_te = np.asarray(y_te, dtype=float)
        pred = self.model.predict(X_te)
        band = self.band(X_te, pred)
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(y_te), size=(iterations, len(y_te)))
        mae_boot = np.abs(pred[idx] - y_te[idx]).mean(axis=1)
        q = (1 - confidence) / 2
        model = _regression_metrics(y_te, pred)
        base = _regression_metrics(y_te, np.asarray(trivial, dtype=float))
        return {
            "n_train": self.n_train, "n_test": int(len(y_te)), "trivial": trivial_name,
            **{f"model_{k}": _round(v) for k, v in model.items()},
            "model_mae_ci": [_round(np.quantile(mae_boot, q)), _round(np.quantile(mae_boot, 1 - q))],
            **{f"trivial_{k}": _round(v) for k, v in base.items()},
            "interval": self.interval, "interval_method": INTERVAL_METHODS[self.method],
            "interval_calibration": f"cross-conformal by {self.group_kind} ({self.band.folds} folds, "
                                    f"{self.band.n_calibration} training samples)",
            "interval_q": _round(self.band.q),
            "interval_floor": _round(self.band.floor), "interval_floored_share": _round(band["floored"]),
            "interval_coverage": _round(np.mean((y_te >= band["low"]) & (y_te <= band["high"]))),
            "interval_mean_width": _round(np.mean(band["high"] - band["low"])),
            "beats_baseline": bool(model["mae"] < base["mae"]),
        }


def fit_regressor(X_tr: np.ndarray, y_tr: np.ndarray, *, label: str, seed: int, trees: int, interval: float = 0.9,
                  interval_method: str = "residual", groups: Sequence[str] | None = None,
                  group_kind: str = "origin", max_folds: int = 5, interval_floor: float = 0.0) -> RegressorFit:
    """Fit :class:`RegressorFit`: the forest on all of the training side, the band by :func:`calibrate`.

    ``groups`` (one per training row) are the calibration folds; without them
    every training row is its own group. ``interval_floor`` is the band's
    smallest half-width (the label's measurement resolution; 0 = none).
    """
    y_tr = np.asarray(y_tr, dtype=float)
    model = _forest(trees=trees, seed=seed).fit(X_tr, y_tr)
    if groups is None:
        groups, group_kind = np.arange(len(y_tr)).astype(str), "sample"
    # The residual band sits around this forest's own prediction: no second fit of the same forest.
    band = calibrate(X_tr, y_tr, groups, interval=interval, seed=seed, method=interval_method, trees=trees,
                     max_folds=max_folds, floor=interval_floor, own_base=interval_method != "residual")
    return RegressorFit(label=label, model=model, band=band, method=interval_method, interval=interval,
                        group_kind=group_kind, train_mean=float(y_tr.mean()), n_train=int(len(y_tr)))


def regress(X_tr: np.ndarray, y_tr: np.ndarray, X_te: np.ndarray, y_te: np.ndarray, *, trivial: np.ndarray,
            trivial_name: str, seed: int, trees: int, iterations: int, confidence: float,
            interval: float = 0.9, interval_method: str = "residual", groups: Sequence[str] | None = None,
            group_kind: str = "origin", max_folds: int = 5, interval_floor: float = 0.0) -> dict[str, Any]:
    """Random forest vs a trivial prediction; a conformal interval (:func:`conformal_interval`) with its coverage:
    :func:`fit_regressor`, then its score."""
    fit = fit_regressor(X_tr, y_tr, label="label", seed=seed, trees=trees, interval=interval,
                        interval_method=interval_method, groups=groups, group_kind=group_kind, max_folds=max_folds,
                        interval_floor=interval_floor)
    return fit.score(X_te, y_te, trivial=trivial, trivial_name=trivial_name, seed=seed, iterations=iterations,
                     confidence=confidence)


def chord_tokens(row: pd.Series) -> list[str]:
    """The chords of an index row as key-relative degree tokens."""
    chords = row["chord_progression"]
    chords = json.loads(chords) if isinstance(chords, str) else list(chords or [])
    tonic = pitch_class(row["key"])
    return [degree_token(parse_chord(c), tonic) for c in chords]


def _contexts(frame: pd.DataFrame) -> tuple[list[list[str]], list[str]]:
    X, y = [], []
    for _, row in frame.iterrows():
        tokens = chord_tokens(row)
        for t in range(1, len(tokens)):
            X.append([tokens[t - 1], tokens[t - 2] if t >= 2 else "<s>", str(row["mode"]), str(row["emotion"])])
            y.append(tokens[t])
    return X, y


@dataclass(frozen=True)
class ChordFit:
    """Next chord from the previous two, the mode and the emotion (logistic regression) and a bigram table."""

    encoder: Any
    model: Any
    bigram: dict[str, dict[str, int]]
    unigram: dict[str, int]
    n_train: int

    def _bigram_top3(self, ctx: list[str], by_frequency: list[str]) -> list[str]:
        """The context's three likeliest next chords, topped up from ``by_frequency`` (the unigram ranking)."""
        counts = self.bigram.get(ctx[0]) or self.unigram
        ranked = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        ranked += [c for c in by_frequency if c not in ranked]
        return ranked[:3]

    def score(self, test: pd.DataFrame, *, seed: int, iterations: int, confidence: float) -> dict[str, Any]:
        """Top-1 and top-3 accuracy (bootstrap CIs) of the model and of the bigram table on ``test``."""
        X_te, y_te = _contexts(test)
        proba = self.model.predict_proba(self.encoder.transform(X_te))
        order = np.argsort(-proba, axis=1)
        classes = self.model.classes_
        model_top = [[classes[j] for j in order[i, :3]] for i in range(len(y_te))]
        by_frequency = [c for c, _ in sorted(self.unigram.items(), key=lambda kv: -kv[1])]  # once, not per context
        bigram_top = [self._bigram_top3(ctx, by_frequency) for ctx in X_te]
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(y_te), size=(iterations, len(y_te)))
        q = (1 - confidence) / 2
        out: dict[str, Any] = {"n_train": self.n_train, "n_test": len(y_te), "vocabulary": len(self.unigram)}
        for name, top in (("model", model_top), ("bigram", bigram_top)):
            for k in (1, 3):
                hits = np.array([truth in guess[:k] for truth, guess in zip(y_te, top)], dtype=float)
                out[f"{name}_top{k}"] = _round(hits.mean())
                boot = hits[idx].mean(axis=1)
                out[f"{name}_top{k}_ci"] = [_round(np.quantile(boot, q)), _round(np.quantile(boot, 1 - q))]
        out["beats_baseline"] = bool(out["model_top1"] > out["bigram_top1"])
        return out


def fit_next_chord(train: pd.DataFrame, *, seed: int) -> ChordFit:
    """Fit :class:`ChordFit` on the training rows' chord progressions."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder

    X_tr, y_tr = _contexts(train)
    encoder = OneHotEncoder(handle_unknown="ignore").fit(X_tr)
    model = LogisticRegression(max_iter=2000, C=1.0, random_state=seed).fit(encoder.transform(X_tr), y_tr)
    bigram: dict[str, Counter] = defaultdict(Counter)
    for ctx, nxt in zip(X_tr, y_tr):
        bigram[ctx[0]][nxt] += 1
    # Plain dicts in first-seen order: the unigram's ties break as Counter.most_common broke them.
    return ChordFit(encoder=encoder, model=model, bigram={k: dict(v) for k, v in bigram.items()},
                    unigram=dict(Counter(y_tr)), n_train=len(y_tr))


def next_chord(train: pd.DataFrame, test: pd.DataFrame, *, seed: int, iterations: int, confidence: float
               ) -> dict[str, Any]:
    """Next chord given the previous two, the mode and the emotion: model vs bigram."""
    return fit_next_chord(train, seed=seed).score(test, seed=seed, iterations=iterations, confidence=confidence)


# What each dataset's baselines predict: (kind, label, trivial baseline for regressions).
TASKS = {
    "emotion": (("classify", "emotion", None), ("regress", "valence", "train_mean"),
                ("regress", "arousal", "train_mean")),
    "melody": (("classify", "contour", None), ("classify", "range", None)),
    "harmony": (("next_chord", "chord_progression", None),),
    "dynamics": (("classify", "articulation", None), ("classify", "dynamics", None)),
    "groove": (("classify", "groove_type", None), ("regress", "swing_ratio", "measured_swing")),
}


REGRESSION_TARGETS = sorted({label for tasks in TASKS.values() for kind, label, _ in tasks if kind == "regress"})


def interval_floors(raw: Mapping[str, Any] | None) -> dict[str, float]:
    """Check ``midi.eval.interval_floor`` (regression target -> smallest half-width); one ConfigError line."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"midi.eval.interval_floor must be a mapping of regression target to half-width, got {raw!r}")
    floors = {}
    for target, value in raw.items():
        if target not in REGRESSION_TARGETS:
            raise ConfigError(f"midi.eval.interval_floor.{target}: not a regression target; "
                              f"expected one of {REGRESSION_TARGETS}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise ConfigError(f"midi.eval.interval_floor.{target}: expected a number >= 0, got {value!r}")
        floors[str(target)] = float(value)
    return floors


Fit = ClassifierFit | RegressorFit | ChordFit


def _task_name(kind: str, label: str) -> str:
    return "next_chord" if kind == "next_chord" else label


def _subsets(index: pd.DataFrame) -> dict[str, np.ndarray]:
    """Test rows per reported subset: the held-out generator family, and imported real data."""
    test = (index["split"] == "test").to_numpy()
    synthetic = (index["source"] == "synth").to_numpy()
    return {"heldout_family": test & synthetic, "real": test & ~synthetic}


def train_dataset(dataset: str, X: np.ndarray, names: Sequence[str], index: pd.DataFrame, *, seed: int,
                  trees: int, interval: float = 0.9, interval_method: str = "residual", calibration_folds: int = 5,
                  interval_floor: Mapping[str, float] | None = None) -> dict[str, Fit]:
    """Fit every task of :data:`TASKS` on the train split (augmented copies included): ``{task: fit}``.

    Regression intervals (``interval_method``, see :func:`conformal_interval`)
    are calibrated on the training rows by family (by origin when they hold one
    family only), in at most ``calibration_folds`` folds, and are at least
    ``interval_floor[target]`` wide on each side (targets not named: no floor).
    A task whose label the training side lacks (or, for a classifier, holds one
    class of) is left out.
    """
    floors = dict(interval_floor or {})
    train = (index["split"] == "train").to_numpy()
    fits: dict[str, Fit] = {}
    with one_blas_thread():
        for kind, label, _ in TASKS[dataset]:
            tr = train & index[label].notna().to_numpy()
            if tr.sum() < 2:
                continue
            task = _task_name(kind, label)
            if kind == "classify":
                if index.loc[tr, label].nunique() >= 2:
                    fits[task] = fit_classifier(X[tr], index.loc[tr, label], label=label, seed=seed, trees=trees)
            elif kind == "regress":
                groups, group_kind = calibration_groups(index[tr])
                fits[task] = fit_regressor(X[tr], index.loc[tr, label].astype(float).to_numpy(), label=label,
                                           seed=seed, trees=trees, interval=interval,
                                           interval_method=interval_method, groups=groups, group_kind=group_kind,
                                           max_folds=calibration_folds, interval_floor=floors.get(label, 0.0))
            else:
                fits[task] = fit_next_chord(index[tr], seed=seed)
    return fits


def score_dataset(dataset: str, fits: Mapping[str, Fit], X: np.ndarray, names: Sequence[str],
                  index: pd.DataFrame, *, seed: int, iterations: int, confidence: float) -> dict[str, Any]:
    """Score the fitted tasks on the held-out family and, when present, on imported real test data.

    Returns ``{subset: {task: metrics}}`` with subsets ``heldout_family`` and ``real``
    (a subset with fewer than two labelled test rows for a task leaves it out).
    """
    report: dict[str, Any] = {}
    with one_blas_thread():
        for subset, mask in _subsets(index).items():
            results: dict[str, Any] = {}
            for kind, label, trivial in TASKS[dataset]:
                task = _task_name(kind, label)
                te = mask & index[label].notna().to_numpy()
                if task not in fits or te.sum() < 2:
                    continue
                fit = fits[task]
                common = {"seed": seed, "iterations": iterations, "confidence": confidence}
                if isinstance(fit, ClassifierFit):
                    results[task] = fit.score(X[te], index.loc[te, label], **common)
                elif isinstance(fit, RegressorFit):
                    if trivial == "measured_swing":
                        base = X[te, list(names).index("swing_ratio")]
                        trivial_name = "rule-measured swing ratio (median off-beat position)"
                    else:
                        base = np.full(int(te.sum()), fit.train_mean)
                        trivial_name = "training mean"
                    results[task] = fit.score(X[te], index.loc[te, label].astype(float).to_numpy(), trivial=base,
                                              trivial_name=trivial_name, **common)
                else:
                    results[task] = fit.score(index[te], **common)
            if results:
                report[subset] = results
    return report


def evaluate_dataset(dataset: str, X: np.ndarray, names: Sequence[str], index: pd.DataFrame, *, seed: int,
                     trees: int, iterations: int, confidence: float, interval: float = 0.9,
                     interval_method: str = "residual", calibration_folds: int = 5,
                     interval_floor: Mapping[str, float] | None = None) -> dict[str, Any]:
    """:func:`train_dataset`, then :func:`score_dataset` (the two stages in one call)."""
    fits = train_dataset(dataset, X, names, index, seed=seed, trees=trees, interval=interval,
                         interval_method=interval_method, calibration_folds=calibration_folds,
                         interval_floor=interval_floor)
    return score_dataset(dataset, fits, X, names, index, seed=seed, iterations=iterations, confidence=confidence)


def save_fits(fits: Mapping[str, Mapping[str, Fit]], folder: str | os.PathLike) -> None:
    """Write ``{dataset: {task: fit}}`` as one pickle per dataset in ``folder`` (replaced as a whole)."""
    with atomic_path(folder, is_dir=True) as tmp:
        for dataset, tasks in fits.items():
            with open(tmp / f"{dataset}.pkl", "wb") as handle:
                pickle.dump({"dataset": dataset, "tasks": dict(tasks)}, handle, protocol=5)


def load_fits(folder: str | os.PathLike, dataset: str) -> dict[str, Fit]:
    """The ``{task: fit}`` of ``dataset`` that :func:`save_fits` wrote; a clear error when missing or corrupt."""
    path = Path(folder) / f"{dataset}.pkl"
    try:
        with open(path, "rb") as handle:
            saved = pickle.load(handle)
        if saved["dataset"] != dataset:
            raise ValueError(f"holds dataset {saved['dataset']!r}")
        return dict(saved["tasks"])
    except FileNotFoundError as exc:
        raise InputError(path, "no trained baselines for this dataset: run `dvc repro midi_train`") from exc
    except (OSError, pickle.UnpicklingError, KeyError, TypeError, ValueError, EOFError, AttributeError) as exc:
        raise InputError(path, f"not a saved midi_train model file: {exc}") from exc
