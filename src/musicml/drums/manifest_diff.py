"""Comparing two events manifests, and counting one (``musicml compare-manifests``, ``musicml stats``).

Before a new manifest replaces the one a model was trained on, the diff shows
what changed: sessions added and removed, events per label, source and
technique, and which classes lost more than ``max_drop`` events (the seed's
tolerance, 25). Labels listed in ``ignore_labels`` are reported but never fail.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import pandas as pd

from musicml.taxonomy import UNKNOWN


def _counts(values: Iterable) -> Counter:
    return Counter(str(v) for v in values)


def _technique_counts(df: pd.DataFrame) -> Counter:
    return Counter(str(t) for techniques in df["techniques"] for t in techniques)


def _delta_table(a: Counter, b: Counter) -> dict:
    return {key: {"a": int(a.get(key, 0)), "b": int(b.get(key, 0)), "delta": int(b.get(key, 0) - a.get(key, 0))}
            for key in sorted(set(a) | set(b))}


def compare_manifests(a: pd.DataFrame, b: pd.DataFrame, *, max_drop: int = 25,
                      ignore_labels: Iterable[str] = ()) -> dict:
    """The diff of manifest ``b`` (candidate) against ``a`` (baseline).

    Returns
    -------
    dict
        ``events`` {a, b, delta}; ``sessions`` {added, removed, common, changed:
        {session: {a, b, delta}} for common sessions whose event count moved};
        ``labels``, ``sources``, ``techniques``: {key: {a, b, delta}};
        ``label_drops``: labels (not ignored) that lost more than ``max_drop``
        events; ``unknown`` {a, b, delta} (open-set events); ``passed``.
    """
    ignored = set(ignore_labels)
    sess_a, sess_b = _counts(a["session_id"]), _counts(b["session_id"])
    common = sorted(set(sess_a) & set(sess_b))
    labels = _delta_table(_counts(a["label"]), _counts(b["label"]))
    drops = {label: row for label, row in labels.items() if label not in ignored and -row["delta"] > max_drop}
    return {
        "events": {"a": int(len(a)), "b": int(len(b)), "delta": int(len(b) - len(a))},
        "sessions": {
            "added": sorted(set(sess_b) - set(sess_a)), "removed": sorted(set(sess_a) - set(sess_b)),
            "common": len(common),
            "changed": {s: {"a": sess_a[s], "b": sess_b[s], "delta": sess_b[s] - sess_a[s]}
                        for s in common if sess_a[s] != sess_b[s]},
        },
        "labels": labels,
        "sources": _delta_table(_counts(a["source"]), _counts(b["source"])),
        "techniques": _delta_table(_technique_counts(a), _technique_counts(b)),
        "unknown": labels.get(UNKNOWN, {"a": 0, "b": 0, "delta": 0}),
        "max_drop": int(max_drop),
        "ignored_labels": sorted(ignored),
        "label_drops": drops,
        "passed": not drops,
    }


def format_diff(diff: dict) -> list[str]:
    """The console summary of :func:`compare_manifests`, one line per fact."""
    e, s = diff["events"], diff["sessions"]
    lines = [f"events: {e['a']} -> {e['b']} ({e['delta']:+d})",
             f"sessions: {s['common']} common, {len(s['added'])} added, {len(s['removed'])} removed, "
             f"{len(s['changed'])} changed"]
    for name in ("labels", "sources", "techniques"):
        moved = [f"{k} {v['delta']:+d}" for k, v in diff[name].items() if v["delta"]]
        lines.append(f"{name}: " + (", ".join(moved) if moved else "unchanged"))
    for label, row in diff["label_drops"].items():
        lines.append(f"DROP {label}: {row['a']} -> {row['b']} ({row['delta']:+d}, tolerance {diff['max_drop']})")
    return lines


def manifest_stats(df: pd.DataFrame) -> dict:
    """Counts per label, source, split (when the manifest has one), session and technique."""
    out = {
        "events": int(len(df)),
        "sessions": int(df["session_id"].nunique()),
        "labels": dict(sorted(_counts(df["label"]).items())),
        "sources": dict(sorted(_counts(df["source"]).items())),
        "techniques": dict(sorted(_technique_counts(df).items())),
    }
    if "split" in df.columns:
        out["splits"] = dict(sorted(_counts(df["split"]).items()))
        out["label_by_split"] = {split: dict(sorted(_counts(part["label"]).items()))
                                 for split, part in df.groupby(df["split"].astype(str), sort=True)}
    return out
