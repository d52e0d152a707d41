"""Validation scores of a dataset (the seed's four checks, plus label consistency).

All scores lie in 0..1:

* balance - smallest category count over the largest, over the dataset's
  declared categories (a missing category gives 0);
* diversity - mean over the dataset's diversity dimensions of the share of
  possible values seen: keys (of 12), modes (of 2), tempo bins;
* quality - share of samples whose file parsed with notes and whose required
  labels are present and valid (valence/arousal in 0..1, known key, ...);
* structure - share of layout checks passed (manifest and config present,
  every seed field on every sample, every sample in exactly one split, no
  origin in two splits, every category in train and test);
* consistency - share of label-vs-measurement checks passed over all samples
  (swing ratio measured vs label, key/mode vs emotion, contour and range ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from musicml.errors import ConfigError
from musicml.midi.annotate import check_label
from musicml.midi.datasets import SEED_FIELDS, SPLITS, DatasetSpec, tempo_bin

DIVERSITY_SIZE = {"key": 12, "mode": 2}


@dataclass(frozen=True)
class Gates:
    min_balance: float = 0.9
    min_diversity: float = 0.7
    min_quality: float = 0.99
    min_structure: float = 1.0
    min_consistency: float = 0.9

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(f"midi.validate.{name} must be in 0..1, got {value!r}")


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and value != []


def balance_score(labels: Sequence[Any], categories: Sequence[str]) -> float:
    """min/max of the counts of ``categories`` among ``labels`` (0 when one is missing)."""
    if not categories:
        return 1.0
    counts = pd.Series(list(labels)).value_counts()
    values = [int(counts.get(c, 0)) for c in categories]
    return float(min(values) / max(values)) if max(values) > 0 else 0.0


def diversity_score(frame: pd.DataFrame, dims: Sequence[str], *, tempo_edges: Sequence[float]
                    ) -> tuple[float, dict[str, float]]:
    """Mean coverage over ``dims`` and the coverage of each."""
    detail = {}
    for dim in dims:
        if dim == "tempo":
            seen = {tempo_bin(t, tempo_edges) for t in frame.get("tempo_bpm", []) if _present(t)}
            detail[dim] = len(seen) / (len(tempo_edges) + 1)
        else:
            seen = {v for v in frame.get(dim, []) if _present(v)}
            detail[dim] = min(len(seen) / DIVERSITY_SIZE[dim], 1.0)
    return (float(np.mean(list(detail.values()))) if detail else 1.0), detail


def sample_quality(row: Mapping[str, Any], spec: DatasetSpec, categories: Mapping[str, Sequence[str]]) -> str | None:
    """Why a sample fails quality (``None`` when it passes)."""
    if not _present(row.get("measured_n_notes")) or row["measured_n_notes"] <= 0:
        return "file did not parse or holds no notes"
    for name in spec.labels:
        value = row.get(name)
        if not _present(value):
            return f"{name} missing"
        try:
            check_label(name, value, categories=categories)
        except ConfigError as exc:
            return str(exc)
    return None


def structure_checks(folder: Path, frame: pd.DataFrame, splits: Mapping[str, str], spec: DatasetSpec
                     ) -> dict[str, bool]:
    ids = set(frame["sample_id"])
    split_of = frame["sample_id"].map(splits)
    origin_splits = pd.DataFrame({"origin": frame["origin"], "split": split_of}).groupby("origin")["split"].nunique()
    checks = {
        "manifest_present": (folder / "manifest.json").exists(),
        "config_present": (folder / "config.json").exists(),
        "seed_fields_present": all(f in frame.columns for f in SEED_FIELDS),
        "every_sample_split": ids == set(splits),
        "no_origin_in_two_splits": bool((origin_splits <= 1).all()),
    }
    for split in ("train", "test"):
        have = set(frame.loc[split_of == split, spec.category].dropna())
        checks[f"categories_in_{split}"] = set(spec.categories) <= have if spec.categories else bool(have)
    return checks


def consistency_checks(frame: pd.DataFrame) -> dict[str, float]:
    """Pass rate per check name over the samples that have it."""
    results: dict[str, list[bool]] = {}
    for checks in frame.get("measured_checks", []):
        for name, ok in (checks or {}).items():
            results.setdefault(name, []).append(bool(ok))
    return {name: float(np.mean(v)) for name, v in sorted(results.items())}


def validate_dataset(frame: pd.DataFrame, *, folder: str | Path, splits: Mapping[str, str], spec: DatasetSpec,
                     categories: Mapping[str, Sequence[str]], gates: Gates, tempo_edges: Sequence[float]
                     ) -> dict[str, Any]:
    """Scores, their details and the verdict of one dataset (original samples only)."""
    folder = Path(folder)
    diversity, diversity_detail = diversity_score(frame, spec.diversity, tempo_edges=tempo_edges)
    reasons = [r for r in (sample_quality(row, spec, categories) for row in frame.to_dict("records")) if r]
    structure = structure_checks(folder, frame, splits, spec)
    consistency = consistency_checks(frame)
    all_checks = [ok for checks in frame.get("measured_checks", []) for ok in (checks or {}).values()]
    scores = {
        "balance": balance_score(frame[spec.category].dropna() if spec.category in frame else [], spec.categories),
        "diversity": diversity,
        "quality": 1.0 - len(reasons) / len(frame) if len(frame) else 0.0,
        "structure": float(np.mean(list(structure.values()))),
        "consistency": float(np.mean(all_checks)) if all_checks else 1.0,
    }
    failed = [f"{name} {scores[name]:.3f} < {getattr(gates, 'min_' + name)}" for name in scores
              if scores[name] < getattr(gates, "min_" + name)]
    counts = frame[spec.category].value_counts().sort_index() if spec.category in frame else pd.Series(dtype=int)
    split_of = frame["sample_id"].map(splits)
    return {
        "valid": not failed, "failed": failed, "samples": int(len(frame)),
        **{f"{k}_score": round(v, 4) for k, v in scores.items()},
        "diversity_detail": {k: round(v, 4) for k, v in diversity_detail.items()},
        "structure_checks": structure, "consistency_checks": {k: round(v, 4) for k, v in consistency.items()},
        "quality_failures": len(reasons), "quality_failure_examples": sorted(set(reasons))[:5],
        "category_counts": {str(k): int(v) for k, v in counts.items()},
        "split_counts": {s: int((split_of == s).sum()) for s in SPLITS},
    }
