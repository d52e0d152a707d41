"""Dataset health: counts, duplication, taxonomy drift and coverage gates of an events manifest.

The stage computes a report with :func:`health_report`, writes it with
:func:`write_reports` (JSON for ``dvc metrics diff``, HTML for people) and only
then, in strict mode, fails through :func:`check_gates`, so a failing run still
leaves the report that explains why.

The report is plain JSON (no NaN: a figure that cannot be computed is ``None``)
with stable keys: every taxonomy class and ``unknown`` appear in every count
table, zeros included, so two reports always diff key by key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import jinja2
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from musicml.atomic import write_json, write_text
from musicml.errors import ConfigError, GateError
from musicml.manifest import flatten_lists, id_keys, list_lengths, repeated
from musicml.taxonomy import UNKNOWN

#: Canonical split names, listed first (in this order) in per-split tables.
SPLIT_ORDER: tuple[str, ...] = ("train", "val", "test", "openset")
#: Hi-hat classes are recognised by this name prefix (hihat_closed, hihat_pedal, hihat_open).
HIHAT_PREFIX = "hihat"
#: Velocity histogram: 8 bins of 16 values over 1-127 (the last one holds 113-127).
VELOCITY_EDGES: tuple[int, ...] = (1, 17, 33, 49, 65, 81, 97, 113, 128)
#: Openness histogram: 5 equal bins over 0-1 (the last one includes 1.0).
OPENNESS_EDGES: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
# Onsets are floats read back from files: absorb rounding noise at the tolerance boundary.
_ONSET_EPS_S = 1e-9


@dataclass
class HealthThresholds:
    """Thresholds of the dataset health gates (``params.yaml`` → ``health``).

    Parameters
    ----------
    max_duplication_rate : float
        Highest allowed share of events that duplicate another event.
    min_class_count : int
        Every taxonomy class needs at least this many events.
    max_taxonomy_drift : int
        Highest allowed number of events whose label is neither a taxonomy class
        nor ``unknown`` (``unknown`` is deliberate open-set material, not drift).
    required_labels : list of str
        Labels that need at least one event.
    required_techniques : list of str
        Playing techniques that need at least one event.
    min_counts : dict of str to int
        Per-label floors, each checked as its own gate ``min_counts:<label>``.
    strict : bool
        Whether the stage fails when a gate fails (read by the stage, not here).
    duplicate_tolerance_s : float
        Two events in the same audio file whose onsets differ by at most this
        many seconds are the same hit.
    """

    max_duplication_rate: float = 0.005
    min_class_count: int = 200
    max_taxonomy_drift: int = 0
    required_labels: list[str] = field(default_factory=list)
    required_techniques: list[str] = field(default_factory=list)
    min_counts: dict[str, int] = field(default_factory=dict)
    strict: bool = False
    duplicate_tolerance_s: float = 0.001


# --------------------------------------------------------------------------- report


def health_report(
    events: pd.DataFrame,
    *,
    classes: Sequence[str],
    thresholds: HealthThresholds,
    durations: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Summarise an events manifest and evaluate the health gates.

    Parameters
    ----------
    events : pandas.DataFrame
        An events manifest (:mod:`musicml.manifest` columns), optionally with a
        ``split`` column (train/val/test/openset) and a ``duration_s`` column
        (length of the row's audio file, seconds).
    classes : sequence of str
        The taxonomy classes, in model-output order.
    thresholds : HealthThresholds
        Gate thresholds.
    durations : pandas.DataFrame, optional
        Columns ``audio_path`` and ``duration_s``: audio file lengths in
        seconds. Takes precedence over a ``duration_s`` column of ``events``.

    Returns
    -------
    dict
        JSON-serialisable report; ``gating_results`` lists every gate as
        ``{gate, passed, value, threshold, message}`` and ``passed`` is true
        when all of them pass.

    Raises
    ------
    ConfigError
        When a required label or a ``min_counts`` label is not a taxonomy
        class or ``unknown`` (a typo would otherwise fail the gate forever).
    """
    classes = list(classes)
    _check_threshold_labels(thresholds, classes)
    labels = events["label"].astype("string")
    count_labels = classes + [UNKNOWN]
    class_counts = _label_counts(labels, count_labels)
    drift = labels[~labels.isin(count_labels)]
    report: dict[str, Any] = {
        "events": len(events),
        "sessions": _distinct(events, ["source", "session_id"]),
        "kits": int(events["kit"].nunique()),
        "sources": int(events["source"].nunique()),
        "class_counts": class_counts,
        "class_counts_by_source": _counts_by(events, "source", count_labels),
        "events_by_source": _sizes(events["source"]),
        "duplicate_events": _duplicate_count(events, thresholds.duplicate_tolerance_s),
        "taxonomy_drift": len(drift),
        "drift_labels": sorted(drift.unique().tolist()),
        "unknown_events": class_counts[UNKNOWN],
        "extra_label_events": int((list_lengths(events["extra_labels"]) > 0).sum()),
        "extra_label_counts": _list_counts(events["extra_labels"]),
        "technique_counts": _technique_counts(events["techniques"], thresholds.required_techniques),
        "velocity": _velocity_stats(events["velocity"]),
        "openness": _openness_stats(events, [c for c in classes if c.startswith(HIHAT_PREFIX)]),
        "durations": _duration_stats(events, durations),
    }
    report["duplication_rate"] = report["duplicate_events"] / len(events) if len(events) else 0.0
    if "split" in events.columns:
        splits = _split_column(events)
        report["class_counts_by_split"] = _counts_by(events.assign(split=splits), "split", count_labels)
        report["events_by_split"] = _sizes(splits)
    gates = _gates(report, classes, thresholds)
    report["gating_results"] = gates
    report["passed"] = all(g["passed"] for g in gates)
    return report


def _codes(events: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One int64 code per row, equal exactly where the rows agree on every column of ``columns``.

    Integer codes instead of strings: grouping millions of rows by a code is
    a fraction of grouping them by several string columns.
    """
    key = np.zeros(len(events), dtype=np.int64)
    for name in columns:
        codes, uniques = pd.factorize(events[name], use_na_sentinel=True)
        key = key * (len(uniques) + 1) + (codes + 1)
        key = pd.factorize(key)[0].astype(np.int64)  # re-densify: the product never overflows
    return key


def _distinct(events: pd.DataFrame, columns: Sequence[str]) -> int:
    """Number of distinct value combinations of ``columns`` (missing values count as one value)."""
    return int(_codes(events, columns).max()) + 1 if len(events) else 0


def _first_rows(events: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The first row of each distinct combination of ``columns``, in row order (``drop_duplicates``)."""
    return events[~pd.Series(_codes(events, columns)).duplicated().to_numpy()]


def _check_threshold_labels(thresholds: HealthThresholds, classes: list[str]) -> None:
    allowed = set(classes) | {UNKNOWN}
    for where, names in (("required_labels", thresholds.required_labels), ("min_counts", thresholds.min_counts)):
        bad = sorted(set(names) - allowed)
        if bad:
            raise ConfigError(f"health.{where}: {bad} are not taxonomy classes or '{UNKNOWN}'")


def _label_counts(labels: pd.Series, names: Sequence[str]) -> dict[str, int]:
    """Events per label in ``names`` (zeros included), in ``names`` order."""
    counts = labels.value_counts()
    return {name: int(counts.get(name, 0)) for name in names}


def _sizes(column: pd.Series) -> dict[str, int]:
    """Events per value of ``column``, in :func:`_ordered_groups` order."""
    sizes = {str(k): int(v) for k, v in column.value_counts().items()}
    return {key: sizes[key] for key in _ordered_groups(sizes)}


def _counts_by(events: pd.DataFrame, by: str, names: Sequence[str]) -> dict[str, dict[str, int]]:
    """``{group: {label: n}}`` over ``names`` for each value of column ``by``.

    A cross-tabulation of integer codes (one ``bincount``), not a Python loop over groups.
    """
    groups, keys = pd.factorize(events[by].astype("string"))
    # Each distinct label is looked up once, then spread to the rows by its code.
    codes, distinct = pd.factorize(events["label"].astype("string"))
    labels = np.r_[pd.Index(list(names), dtype="string").get_indexer(distinct), -1][codes]
    keep = (groups >= 0) & (labels >= 0)
    table = np.bincount(groups[keep].astype(np.int64) * len(names) + labels[keep],
                        minlength=len(keys) * len(names)).reshape(len(keys), len(names))
    counts = {str(key): {name: int(n) for name, n in zip(names, row)} for key, row in zip(keys, table)}
    return {key: counts[key] for key in _ordered_groups(counts)}


def _ordered_groups(keys: Sequence[str] | Mapping[str, Any]) -> list[str]:
    """Canonical splits first in pipeline order, then any other group alphabetically."""
    keys = list(keys)
    return [s for s in SPLIT_ORDER if s in keys] + sorted(k for k in keys if k not in SPLIT_ORDER)


def _split_column(events: pd.DataFrame) -> pd.Series:
    # A row the split stage left unassigned still has to be counted somewhere visible.
    return events["split"].astype("string").fillna("unassigned")


def _list_counts(column: pd.Series) -> dict[str, int]:
    """Events carrying each item of a list column (an item listed twice in one event counts once)."""
    rows, items = flatten_lists(column)
    items = pd.DataFrame({"row": rows, "item": items}).drop_duplicates()["item"]
    return {str(k): int(v) for k, v in items.value_counts().sort_index().items()}


def _technique_counts(column: pd.Series, required: Sequence[str]) -> dict[str, int]:
    """Events per technique; required techniques are listed even at zero (stable keys)."""
    counts = _list_counts(column)
    return {name: counts.get(name, 0) for name in sorted(set(counts) | set(required))}


def _duplicate_count(events: pd.DataFrame, tolerance_s: float) -> int:
    """Number of events that duplicate another one: rows minus distinct hits.

    Two rows are the same hit when they share an ``event_id``, or the same
    ``audio_path`` with onsets at most ``tolerance_s`` apart (chains of close
    onsets form one hit). Counting ``rows - hits`` gives the rows a
    de-duplication would drop, independent of row order.
    """
    if events.empty:
        return 0
    # Integer codes stand for the strings: the grouping is the same, at a fraction of the cost.
    paths = pd.factorize(events["audio_path"])[0]
    onsets = events["onset_s"].to_numpy(dtype=float)
    # Stable sort by file, then onset (Arrow's sort is several times faster than np.lexsort).
    order = pc.sort_indices(pa.table({"path": paths, "onset": onsets}),
                            sort_keys=[("path", "ascending"), ("onset", "ascending")]).to_numpy()
    sorted_paths, sorted_onsets = paths[order], onsets[order]
    starts_new = np.r_[True, (sorted_paths[1:] != sorted_paths[:-1])
                       | (np.diff(sorted_onsets) > tolerance_s + _ONSET_EPS_S)]
    near = np.empty(len(events), dtype=np.int64)
    near[order] = np.cumsum(starts_new)
    ids = id_keys(events["event_id"])
    if not repeated(ids).any():  # no id repeats: the near-onset groups are the hits
        return len(events) - int(near.max())
    # Connected components of "same id" + "same near-onset group": propagate the
    # smallest group number across both relations until nothing changes.
    component = near
    while True:
        merged = pd.Series(component).groupby(ids).transform("min")
        merged = merged.groupby(near).transform("min").to_numpy()
        if np.array_equal(merged, component):
            return len(events) - len(np.unique(component))
        component = merged


def _histogram(values: np.ndarray, edges: Sequence[float], labels: Sequence[str]) -> dict[str, int]:
    counts, _ = np.histogram(values, bins=np.asarray(edges, dtype=float))
    return {label: int(n) for label, n in zip(labels, counts)}


def _numeric(column: pd.Series) -> np.ndarray:
    """Non-missing values of a nullable numeric column as floats."""
    return pd.to_numeric(column, errors="coerce").dropna().to_numpy(dtype=float)


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def _velocity_stats(column: pd.Series) -> dict[str, Any]:
    values = _numeric(column)
    # Zero-padded bin names sort in numeric order, also after write_json sorts keys.
    names = [f"{lo:03d}-{hi - 1:03d}" for lo, hi in zip(VELOCITY_EDGES[:-1], VELOCITY_EDGES[1:])]
    return {
        "count": int(values.size),
        "missing": int(len(column) - values.size),
        "min": int(values.min()) if values.size else None,
        "max": int(values.max()) if values.size else None,
        "mean": _mean(values),
        "histogram": _histogram(values, VELOCITY_EDGES, names),
    }


def _openness_stats(events: pd.DataFrame, hihat_labels: list[str]) -> dict[str, Any]:
    """Openness over hi-hat events; other classes carry no openness worth checking."""
    hihat = events.loc[events["label"].isin(hihat_labels).to_numpy(), ["label", "openness"]]
    values = _numeric(hihat["openness"])
    names = [f"{lo:.1f}-{hi:.1f}" for lo, hi in zip(OPENNESS_EDGES[:-1], OPENNESS_EDGES[1:])]
    by_label = {}
    for label in hihat_labels:
        label_values = _numeric(hihat.loc[hihat["label"] == label, "openness"])
        by_label[label] = {"count": int(label_values.size), "mean": _mean(label_values)}
    return {
        "labels": hihat_labels,
        "count": int(values.size),
        "missing": int(len(hihat) - values.size),
        "mean": _mean(values),
        "histogram": _histogram(values, OPENNESS_EDGES, names),
        "by_label": by_label,
    }


def _duration_stats(events: pd.DataFrame, durations: pd.DataFrame | None) -> dict[str, Any] | None:
    """Seconds of audio in total, per split and per source; ``None`` when no durations are known.

    A duration belongs to an audio *file*, not to an event: many one-shots
    (all hits of a synthetic kit session) share one file. So the duration of a
    group is the sum over the **unique audio files** its events use, each file
    counted once. A file used by two groups counts in both of them, once in
    ``total_s``. Files without a known duration are counted in ``missing_files``
    and add nothing.
    """
    # Every figure below depends only on the first row of each (file, source, split):
    # reduce to those first, in row order, and work on thousands of rows, not millions.
    keys = ["audio_path", "source"] + (["split"] if "split" in events.columns else [])
    if durations is not None:
        files = _first_rows(events[keys], keys)
        lengths = durations.drop_duplicates("audio_path").set_index("audio_path")["duration_s"]
        per_file = files["audio_path"].map(lengths)
    elif "duration_s" in events.columns:
        files = _first_rows(events[keys + ["duration_s"]], keys)
        per_file = files["duration_s"]
    else:
        return None
    files = files[keys].assign(duration_s=pd.to_numeric(per_file, errors="coerce").astype(float))
    if "split" in files.columns:
        files = files.assign(split=_split_column(files))
    unique = files.drop_duplicates("audio_path")
    stats: dict[str, Any] = {
        "total_s": float(unique["duration_s"].sum()),
        "files": len(unique),
        "missing_files": int(unique["duration_s"].isna().sum()),
        "by_source": _seconds_by(files, "source"),
    }
    if "split" in files.columns:
        stats["by_split"] = _seconds_by(files, "split")
    return stats


def _seconds_by(files: pd.DataFrame, by: str) -> dict[str, float]:
    unique = files.drop_duplicates([by, "audio_path"])
    seconds = {str(k): float(v) for k, v in unique.groupby(unique[by].astype("string"))["duration_s"].sum().items()}
    return {key: seconds[key] for key in _ordered_groups(seconds)}


# --------------------------------------------------------------------------- gates


def _gate(name: str, passed: bool, value: Any, threshold: Any, message: str) -> dict[str, Any]:
    return {"gate": name, "passed": bool(passed), "value": value, "threshold": threshold, "message": message}


def _gates(report: Mapping[str, Any], classes: list[str], t: HealthThresholds) -> list[dict[str, Any]]:
    counts = report["class_counts"]
    gates = [
        _duplication_gate(report["duplication_rate"], t.max_duplication_rate),
        _min_class_gate({c: counts[c] for c in classes}, t.min_class_count),
        _drift_gate(report["taxonomy_drift"], report["drift_labels"], t.max_taxonomy_drift),
        _coverage_gate("required_labels", counts, t.required_labels),
        _coverage_gate("required_techniques", report["technique_counts"], t.required_techniques),
    ]
    for label, floor in sorted(t.min_counts.items()):
        gates.append(_floor_gate(f"min_counts:{label}", label, counts[label], floor))
    return gates


def _duplication_gate(rate: float, limit: float) -> dict[str, Any]:
    passed = rate <= limit
    return _gate("duplication_rate", passed, rate, limit,
                 f"duplication_rate {rate:.4g} {'<=' if passed else '>'} {limit:.4g}")


def _min_class_gate(counts: Mapping[str, int], floor: int) -> dict[str, Any]:
    short = [f"{label} has {n} < {floor}" for label, n in counts.items() if n < floor]
    smallest = min(counts.values()) if counts else None
    message = "min_class_count: " + (", ".join(short) if short else f"every class has >= {floor}")
    return _gate("min_class_count", not short, smallest, floor, message)


def _drift_gate(drift: int, drift_labels: list[str], limit: int) -> dict[str, Any]:
    passed = drift <= limit
    message = f"taxonomy_drift {drift} {'<=' if passed else '>'} {limit}"
    if drift_labels:
        message += f" (labels: {', '.join(drift_labels)})"
    return _gate("taxonomy_drift", passed, drift, limit, message)


def _coverage_gate(name: str, counts: Mapping[str, int], required: Sequence[str]) -> dict[str, Any]:
    required = sorted(set(required))
    missing = [r for r in required if counts.get(r, 0) == 0]
    if missing:
        message = f"{name}: missing {', '.join(missing)}"
    else:
        message = f"{name}: all {len(required)} present" if required else f"{name}: none required"
    return _gate(name, not missing, missing, required, message)


def _floor_gate(name: str, label: str, count: int, floor: int) -> dict[str, Any]:
    passed = count >= floor
    return _gate(name, passed, count, floor, f"{name}: {label} has {count} {'>=' if passed else '<'} {floor}")


def check_gates(report: Mapping[str, Any]) -> None:
    """Raise when any gate of ``report`` failed.

    Raises
    ------
    GateError
        One line naming every failing gate and its figure against the
        threshold, e.g. ``health gate failed: min_class_count: ride has 150 <
        200; duplication_rate 0.012 > 0.005``.
    """
    failed = [g["message"] for g in report["gating_results"] if not g["passed"]]
    if failed:
        raise GateError("health gate failed: " + "; ".join(failed))


# --------------------------------------------------------------------------- output


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("musicml", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _bars(counts: Mapping[str, int | float]) -> list[dict[str, Any]]:
    """Rows of a CSS bar chart: name, value and bar width in percent of the largest value."""
    top = max(counts.values(), default=0)
    return [{"name": k, "value": v, "pct": 100.0 * v / top if top else 0.0} for k, v in counts.items()]


def _duration_tables(durations: Mapping[str, Any] | None) -> list[tuple[str, list[tuple[str, float]]]]:
    """``(group kind, [(group, seconds)])`` for the per-split and per-source duration tables."""
    if not durations:
        return []
    return [
        (kind, [(name, durations[key][name]) for name in _ordered_groups(durations[key])])
        for kind, key in (("split", "by_split"), ("source", "by_source"))
        if key in durations
    ]


def render_html(report: Mapping[str, Any]) -> str:
    """Render ``report`` as one self-contained HTML page (inline CSS, no script, no external asset).

    Works on a report read back from JSON as well: histogram bins are shown in
    key order, which is numeric order by construction.
    """
    view = {
        "class_bars": _bars(report["class_counts"]),
        "velocity_bars": _bars(dict(sorted(report["velocity"]["histogram"].items()))),
        "openness_bars": _bars(dict(sorted(report["openness"]["histogram"].items()))),
        "splits": _ordered_groups(report.get("class_counts_by_split", {})),
        "sources": sorted(report["class_counts_by_source"]),
        "duration_tables": _duration_tables(report["durations"]),
    }
    return _environment().get_template("health.html.j2").render(report=report, view=view)


def write_reports(report: Mapping[str, Any], json_path: str | os.PathLike, html_path: str | os.PathLike) -> None:
    """Write ``report`` as JSON and as HTML, each atomically."""
    write_json(json_path, report)
    write_text(html_path, render_html(report))
