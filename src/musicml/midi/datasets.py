"""The five datasets: their declaration, manifests, splits and summary counts.

A dataset is a manifest (``manifest.json`` in the seed's format: one entry per
sample with ``sample_id``, ``file_path`` and ``annotations``), its
``config.json`` and its splits (``train.txt``, ``val.txt``, ``test.txt`` of
sample ids). Inside the pipeline a manifest is also handled as a flat
DataFrame (:func:`manifest_frame`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from musicml.atomic import atomic_path
from musicml.errors import ConfigError, InputError
from musicml.midi.synth import DATASETS

TARGET_MODELS = {"emotion": "emotionrecognizer", "melody": "melodytransformer", "harmony": "harmonypredictor",
                 "dynamics": "dynamicsengine", "groove": "groovepredictor"}
# The seed's annotation fields, in its order; every manifest entry carries all of them.
SEED_FIELDS = ("emotion", "valence", "arousal", "key", "mode", "tempo_bpm", "groove_type", "swing_ratio",
               "articulation", "chord_progression", "quality_score", "is_verified", "notes")
# Labels beyond the seed's that our generators and annotator also give.
EXTRA_FIELDS = ("contour", "range", "dynamics", "roman")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetSpec:
    """One entry of ``midi.datasets`` in params.

    Attributes
    ----------
    name : str
        emotion, melody, harmony, dynamics or groove.
    target_model : str
        The model it trains (the seed's names, e.g. ``emotionrecognizer``).
    category : str
        The label the dataset is balanced over and whose classes count as categories.
    labels : list of str
        Labels every sample needs (quality score).
    diversity : list of str
        Dimensions of the diversity score: any of ``key``, ``mode``, ``tempo``.
    test_family : str
        Generator family held out as the test split.
    audio : bool
        Whether samples carry rendered audio (emotion).
    """

    name: str
    target_model: str
    category: str
    labels: tuple[str, ...]
    diversity: tuple[str, ...]
    test_family: str
    audio: bool = False
    categories: tuple[str, ...] = field(default=())

    @classmethod
    def from_params(cls, name: str, spec: Mapping[str, Any], *, categories: Sequence[str]) -> "DatasetSpec":
        if name not in DATASETS:
            raise ConfigError(f"midi.datasets: unknown dataset '{name}'; expected one of {list(DATASETS)}")
        model = spec.get("target_model")
        if model != TARGET_MODELS[name]:
            raise ConfigError(f"midi.datasets.{name}.target_model: unknown target model '{model}'; "
                              f"expected '{TARGET_MODELS[name]}'")
        labels = tuple(spec.get("labels") or ())
        unknown = set(labels) - set(SEED_FIELDS) - set(EXTRA_FIELDS)
        if unknown:
            raise ConfigError(f"midi.datasets.{name}.labels: unknown label(s) {sorted(unknown)}")
        dims = tuple(spec.get("diversity") or ())
        if set(dims) - {"key", "mode", "tempo"}:
            raise ConfigError(f"midi.datasets.{name}.diversity: expected key, mode and/or tempo, got {list(dims)}")
        if spec.get("category") not in labels:
            raise ConfigError(f"midi.datasets.{name}.category: must be one of its labels {list(labels)}")
        return cls(name=name, target_model=model, category=spec["category"], labels=labels, diversity=dims,
                   test_family=str(spec["test_family"]), audio=bool(spec.get("audio", False)),
                   categories=tuple(categories))


def dataset_specs(midi: Mapping[str, Any], categories: Mapping[str, Sequence[str]]) -> dict[str, DatasetSpec]:
    """All ``midi.datasets`` entries, validated."""
    declared = midi.get("datasets") or {}
    if not isinstance(declared, Mapping) or not declared:
        raise ConfigError("params: midi.datasets must map dataset names to their declaration")
    return {name: DatasetSpec.from_params(name, spec, categories=categories.get(name, ()))
            for name, spec in declared.items()}


# ----------------------------------------------------------------- manifests


def manifest_document(spec: DatasetSpec, rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The seed's manifest.json: dataset id, target model and one entry per sample."""
    samples = []
    for row in rows:
        entry = {k: row[k] for k in ("sample_id", "file_path", "audio_path", "source", "family", "origin")}
        entry["annotations"] = {k: row["annotations"].get(k) for k in (*SEED_FIELDS, *EXTRA_FIELDS)}
        entry["measured"] = row.get("measured", {})
        samples.append(entry)
    samples.sort(key=lambda s: s["sample_id"])
    return {"dataset_id": f"{spec.name}_dataset_v1", "target_model": spec.target_model, "samples": samples}


def config_document(spec: DatasetSpec, **extra: Any) -> dict[str, Any]:
    return {"dataset_id": f"{spec.name}_dataset_v1", "target_model": spec.target_model, "category": spec.category,
            "categories": list(spec.categories), "labels": list(spec.labels), "test_family": spec.test_family,
            "audio": spec.audio, **extra}


def write_dataset(folder: str | os.PathLike, manifest: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """Write ``manifest.json`` and ``config.json`` of one dataset into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, doc in (("manifest.json", manifest), ("config.json", config)):
        with atomic_path(folder / name) as tmp:
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n")


def load_manifest(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(path, f"cannot read manifest: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("samples"), list):
        raise InputError(path, "expected a manifest with a 'samples' list", field="samples")
    return doc


def manifest_frame(doc: Mapping[str, Any]) -> pd.DataFrame:
    """One row per sample: identity columns plus every annotation as a column."""
    rows = []
    for entry in doc["samples"]:
        row = {k: entry.get(k) for k in ("sample_id", "file_path", "audio_path", "source", "family", "origin")}
        row.update(entry.get("annotations", {}))
        row.update({f"measured_{k}": v for k, v in (entry.get("measured") or {}).items()})
        rows.append(row)
    return pd.DataFrame(rows)


# -------------------------------------------------------------------- splits


def _rank(seed: int, origin: str) -> float:
    """A seeded position in [0, 1) that depends only on the origin itself."""
    return int(hashlib.sha256(f"{seed}|{origin}".encode()).hexdigest()[:12], 16) / 16 ** 12


def assign_splits(frame: pd.DataFrame, *, test_family: str, val_fraction: float, seed: int,
                  test_sources: Iterable[str] = ()) -> pd.Series:
    """train / val / test per sample, by origin (never by sample).

    Parameters
    ----------
    frame : DataFrame
        Needs ``origin``, ``family`` and ``source`` columns.
    test_family : str
        Generator family whose origins all go to test (held-out family).
    val_fraction : float
        Share of the remaining origins held out for validation (seeded by origin).
    test_sources : iterable of str
        Imported sources that form their own test set.

    Returns
    -------
    Series
        The split of each row; every row of an origin gets the same split, so a
        piece and its transpositions or segments never straddle two splits.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"midi.split.val_fraction must be in [0, 1), got {val_fraction}")
    test_sources = set(test_sources)
    by_origin: dict[str, str] = {}
    for origin, group in frame.groupby("origin", sort=True):
        if (group["family"] == test_family).any() or group["source"].isin(test_sources).any():
            by_origin[origin] = "test"
        elif _rank(seed, str(origin)) < val_fraction:
            by_origin[origin] = "val"
        else:
            by_origin[origin] = "train"
    return frame["origin"].map(by_origin).rename("split")


def write_splits(folder: str | os.PathLike, ids: pd.Series, splits: pd.Series) -> dict[str, int]:
    """``train.txt``, ``val.txt`` and ``test.txt`` of sample ids (sorted); returns counts."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name in SPLITS:
        chosen = sorted(ids[splits == name].astype(str))
        counts[name] = len(chosen)
        with atomic_path(folder / f"{name}.txt") as tmp:
            tmp.write_text("".join(f"{i}\n" for i in chosen))
    return counts


def read_splits(folder: str | os.PathLike) -> dict[str, str]:
    """``{sample_id: split}`` from a splits folder; a sample in two files is an error."""
    out: dict[str, str] = {}
    for name in SPLITS:
        path = Path(folder) / f"{name}.txt"
        if not path.exists():
            raise InputError(path, "split file missing")
        for line_no, line in enumerate(path.read_text().splitlines(), 1):
            sid = line.strip()
            if not sid:
                continue
            if sid in out:
                raise InputError(path, f"sample {sid} is already in {out[sid]}.txt", line=line_no)
            out[sid] = name
    return out


# ------------------------------------------------------------------- summary


def tempo_bin(tempo: float | None, edges: Sequence[float]) -> str | None:
    """A label such as ``"90-120"`` (``"<60"``, ``">=150"`` at the ends) for a tempo in BPM."""
    if tempo is None or (isinstance(tempo, float) and np.isnan(tempo)):
        return None
    edges = list(edges)
    if tempo < edges[0]:
        return f"<{edges[0]:g}"
    for lo, hi in zip(edges, edges[1:]):
        if lo <= tempo < hi:
            return f"{lo:g}-{hi:g}"
    return f">={edges[-1]:g}"


def stats_tables(frame: pd.DataFrame, *, category: str, tempo_edges: Sequence[float]) -> dict[str, dict[str, int]]:
    """Counts per label, key, mode, tempo bin, source and split (``musicml midi stats``)."""
    frame = frame.copy()
    frame["tempo_bin"] = [tempo_bin(t, tempo_edges) for t in frame.get("tempo_bpm", pd.Series(dtype=float))]
    tables = {}
    for name, column in ((category, category), ("key", "key"), ("mode", "mode"), ("tempo_bin", "tempo_bin"),
                         ("source", "source"), ("split", "split")):
        if column in frame:
            values = frame[column].map(lambda v: "(none)" if v is None or (isinstance(v, float) and np.isnan(v))
                                       else str(v))
            tables[name] = {k: int(v) for k, v in values.value_counts().sort_index().items()}
    return tables


# --------------------------------------------------------------------- index


def write_index(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike) -> None:
    """Rows (one sample each) as sorted, key-sorted JSONL: the hand-over between stages."""
    lines = sorted(json.dumps(dict(r), sort_keys=True, allow_nan=False) for r in rows)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def read_index(path: str | os.PathLike) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "index missing: run the stage that writes it first")
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise InputError(path, f"not valid JSON: {exc.msg}", line=line_no) from exc
    return rows
