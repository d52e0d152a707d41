"""Regression guards between two states of the metrics: a baseline (a git ref) and the workspace.

The inputs are two plain dicts ``{metrics file: parsed JSON}``; where they come
from (``git show REF:file`` and the working tree) is the caller's business, so
every rule here is unit-testable on literals. Rules (all tolerances are params):

* a guarded figure drops (or, for lower-is-better figures, rises) by more than its tolerance;
* a per-class count drops by more than ``max_drop`` (labels in ``ignore_labels`` are skipped);
* a gate that passed on the baseline fails now;
* more unknown (out-of-taxonomy) labels than on the baseline.

A rule whose figure is missing on either side is reported as skipped, not as a
failure: a baseline from before a metric existed cannot regress on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from musicml.config import load_json, parse_json
from musicml.errors import ConfigError, InputError
from musicml.release.gates import lookup

MetricsSet = Mapping[str, Any]  # metrics file -> parsed JSON


@dataclass(frozen=True)
class Guard:
    """A figure that must not get worse by more than ``tolerance``.

    ``higher_is_better`` false turns the check around (e.g. an FPR must not rise).
    """

    name: str
    source: str
    key: str
    tolerance: float
    higher_is_better: bool = True


@dataclass(frozen=True)
class CompareConfig:
    """The ``compare`` section of params.

    Attributes
    ----------
    guards : list of Guard
    counts_source, counts_key : str
        Where the per-class counts live (health.json ``class_counts``).
    max_drop : int
        Largest allowed drop of one class's count.
    ignore_labels : list of str
        Labels whose counts are not guarded.
    gate_sources : list of str
        Metrics files holding gates: a readiness-style ``gates`` mapping or a
        health-style ``gating_results`` list.
    unknown_source, unknown_key : str
        The count of unknown (out-of-taxonomy) labels.
    """

    guards: list[Guard] = field(default_factory=list)
    counts_source: str = "metrics/health.json"
    counts_key: str = "class_counts"
    max_drop: int = 25
    ignore_labels: list[str] = field(default_factory=list)
    gate_sources: list[str] = field(default_factory=list)
    unknown_source: str = "metrics/health.json"
    unknown_key: str = "taxonomy_drift"

    @classmethod
    def from_params(cls, cfg: Mapping[str, Any]) -> "CompareConfig":
        try:
            guards = [Guard(g["name"], g["source"], g["key"], float(g["tolerance"]),
                            bool(g.get("higher_is_better", True))) for g in cfg.get("guards", [])]
        except KeyError as exc:
            raise ConfigError(f"params compare.guards: an entry lacks {exc.args[0]!r} "
                              f"(name, source, key, tolerance[, higher_is_better])") from exc
        if int(cfg.get("max_drop", 25)) < 0:
            raise ConfigError(f"params compare.max_drop must be >= 0, got {cfg['max_drop']}")
        return cls(guards=guards, counts_source=cfg.get("counts_source", cls.counts_source),
                   counts_key=cfg.get("counts_key", cls.counts_key), max_drop=int(cfg.get("max_drop", 25)),
                   ignore_labels=list(cfg.get("ignore_labels") or []), gate_sources=list(cfg.get("gate_sources") or []),
                   unknown_source=cfg.get("unknown_source", cls.unknown_source),
                   unknown_key=cfg.get("unknown_key", cls.unknown_key))


def _get(metrics: MetricsSet, source: str, key: str) -> Any:
    """The figure, or None when the file or the key is absent."""
    if source not in metrics or metrics[source] is None:
        return None
    try:
        return lookup(metrics[source], key, source=source)
    except InputError:
        return None


def _gates(data: Any) -> dict[str, bool]:
    """``{gate: passed}`` from a readiness report (``gates`` mapping) or a health report (``gating_results``)."""
    if not isinstance(data, Mapping):
        return {}
    if isinstance(data.get("gates"), Mapping):
        return {name: bool(g.get("passed")) for name, g in data["gates"].items() if isinstance(g, Mapping)}
    if isinstance(data.get("gating_results"), list):
        return {str(g.get("gate")): bool(g.get("passed")) for g in data["gating_results"] if isinstance(g, Mapping)}
    return {}


def _check(kind: str, name: str, *, ref: Any, current: Any, tolerance: Any, passed: bool | None,
           note: str = "") -> dict:
    delta = current - ref if isinstance(ref, (int, float)) and isinstance(current, (int, float)) \
        and not isinstance(ref, bool) and not isinstance(current, bool) else None
    return {"kind": kind, "name": name, "ref": ref, "current": current, "delta": delta, "tolerance": tolerance,
            "status": "skipped" if passed is None else ("pass" if passed else "fail"), "note": note}


def compare_metrics(ref: MetricsSet, current: MetricsSet, config: CompareConfig) -> dict:
    """Apply every rule; returns ``{"passed": bool, "checks": [...], "failures": [...]}``.

    Each check has ``kind`` (guard, count, gate, unknown), ``name``, ``ref``,
    ``current``, ``delta``, ``tolerance``, ``status`` (pass, fail, skipped) and
    ``note``; ``failures`` holds one line per failed check.
    """
    checks: list[dict] = []
    for g in config.guards:
        r, c = _get(ref, g.source, g.key), _get(current, g.source, g.key)
        if not isinstance(r, (int, float)) or not isinstance(c, (int, float)):
            checks.append(_check("guard", g.name, ref=r, current=c, tolerance=g.tolerance, passed=None,
                                 note=f"{g.source}:{g.key} missing on {'ref' if r is None else 'current'}"))
            continue
        worse = (r - c) if g.higher_is_better else (c - r)
        checks.append(_check("guard", g.name, ref=r, current=c, tolerance=g.tolerance, passed=worse <= g.tolerance,
                             note=f"{g.source}:{g.key} {'drop' if g.higher_is_better else 'rise'} {worse:.4g}"))

    ref_counts = _get(ref, config.counts_source, config.counts_key)
    cur_counts = _get(current, config.counts_source, config.counts_key)
    if isinstance(ref_counts, Mapping) and isinstance(cur_counts, Mapping):
        for label in sorted(ref_counts):
            if label in config.ignore_labels:
                continue
            r, c = int(ref_counts[label]), int(cur_counts.get(label, 0))
            checks.append(_check("count", label, ref=r, current=c, tolerance=config.max_drop,
                                 passed=r - c <= config.max_drop, note=f"count drop {r - c}"))
    else:
        checks.append(_check("count", config.counts_key, ref=None, current=None, tolerance=config.max_drop,
                             passed=None, note=f"{config.counts_source}:{config.counts_key} missing"))

    for source in config.gate_sources:
        ref_gates, cur_gates = _gates(ref.get(source)), _gates(current.get(source))
        for name in sorted(ref_gates):
            if not ref_gates[name]:
                continue  # already failing on the baseline: not a regression of this change
            if name not in cur_gates:
                checks.append(_check("gate", f"{source}:{name}", ref=True, current=None, tolerance=None,
                                     passed=None, note="gate absent now"))
                continue
            checks.append(_check("gate", f"{source}:{name}", ref=True, current=cur_gates[name], tolerance=None,
                                 passed=cur_gates[name], note="" if cur_gates[name] else "passed on ref, fails now"))

    r, c = _get(ref, config.unknown_source, config.unknown_key), _get(current, config.unknown_source,
                                                                      config.unknown_key)
    if isinstance(r, (int, float)) and isinstance(c, (int, float)):
        checks.append(_check("unknown", config.unknown_key, ref=r, current=c, tolerance=0, passed=c <= r,
                             note="unknown labels must not increase"))
    else:
        checks.append(_check("unknown", config.unknown_key, ref=r, current=c, tolerance=0, passed=None,
                             note=f"{config.unknown_source}:{config.unknown_key} missing"))

    failures = [f"{ch['kind']} {ch['name']}: {ch['ref']!r} -> {ch['current']!r} ({ch['note']})"
                for ch in checks if ch["status"] == "fail"]
    return {"passed": not failures, "checks": checks, "failures": failures}


def format_checks(result: Mapping[str, Any], *, ref_name: str) -> str:
    """A plain-text table of the checks (the printout beside the JSON)."""
    def show(v: Any) -> str:
        return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))

    lines = [f"regression guards vs {ref_name}: {'PASS' if result['passed'] else 'FAIL'}",
             f"{'status':8} {'kind':8} {'name':50} {'ref':>10} {'current':>10} {'delta':>10}  note"]
    for ch in result["checks"]:
        lines.append(f"{ch['status']:8} {ch['kind']:8} {ch['name'][:50]:50} {show(ch['ref']):>10} "
                     f"{show(ch['current']):>10} {show(ch['delta']):>10}  {ch['note']}")
    return "\n".join(lines) + "\n"


def metrics_sources(config: CompareConfig) -> Sequence[str]:
    """Every metrics file the rules read (what the caller must load on both sides)."""
    files = [g.source for g in config.guards] + [config.counts_source, config.unknown_source, *config.gate_sources]
    return list(dict.fromkeys(files))


def read_metrics_at(ref: str | None, files: Sequence[str], *, cwd: str = ".") -> dict[str, Any]:
    """``{file: parsed JSON}`` from git ``ref`` (``git show ref:file``), or the working tree when ref is None.

    A file absent at ``ref`` maps to None (the baseline predates it); an
    unknown ref is an :class:`InputError`.
    """
    import os
    import subprocess

    if ref is not None:
        probe = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], cwd=cwd,
                               capture_output=True, text=True)
        if probe.returncode != 0:
            raise InputError(ref, "not a git commit, branch or tag here (fetch it first, e.g. git fetch origin main)")
    out: dict[str, Any] = {}
    for name in files:
        if ref is None:
            path = os.path.normpath(os.path.join(cwd, name))
            out[name] = load_json(path) if os.path.exists(path) else None
        else:
            shown = subprocess.run(["git", "show", f"{ref}:{name}"], cwd=cwd, capture_output=True, text=True)
            out[name] = parse_json(shown.stdout, f"{ref}:{name}") if shown.returncode == 0 else None
    return out
