"""Release gates as data: a metrics file, a JSON key path, a comparison and a threshold.

A gate reads one figure from one metrics JSON file, so adding a gate is a
params entry (plus the file as a dependency of the stage that reads it), never
code. The readiness report has the shape::

    {"passed": bool,
     "gates": {name: {"passed": bool, "value": ..., "threshold": ..., "op": ">=", "source": file, "key": path}}}
"""

from __future__ import annotations

import json
import operator
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from musicml.errors import ConfigError, InputError

OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}


@dataclass(frozen=True)
class Gate:
    """One gate: ``value(source[key]) <op> threshold`` must hold.

    Attributes
    ----------
    name : str
        Key of the gate in the report.
    source : str
        Metrics JSON file holding the figure.
    key : str
        Dotted path into that JSON (``all.model.macro_f1.low``); a purely numeric
        part indexes a list.
    op : str
        One of ``>= > <= < == !=``.
    threshold : Any
        A number, or a bool for ``==`` gates such as ``passed == true``.
    threshold_key : str, optional
        Instead of ``threshold``: a dotted path into the same file that holds it
        (a stage that records its own threshold keeps it in one place).
    """

    name: str
    source: str
    key: str
    op: str
    threshold: Any = None
    threshold_key: str | None = None

    @classmethod
    def from_params(cls, entry: Mapping[str, Any], *, where: str = "readiness.gates") -> "Gate":
        missing = [f for f in ("name", "source", "key", "op") if f not in entry]
        if missing:
            raise ConfigError(f"params {where}: gate {entry.get('name', '?')!r} lacks {', '.join(missing)}")
        if ("threshold" in entry) == ("threshold_key" in entry):
            raise ConfigError(f"params {where}: gate {entry['name']!r} needs exactly one of threshold, threshold_key")
        if entry["op"] not in OPS:
            raise ConfigError(f"params {where}: gate {entry['name']!r} has op {entry['op']!r}; "
                              f"expected one of {list(OPS)}")
        return cls(str(entry["name"]), str(entry["source"]), str(entry["key"]), str(entry["op"]),
                   entry.get("threshold"), entry.get("threshold_key"))

    def check(self, value: Any, threshold: Any) -> bool:
        if value is None or threshold is None:
            return False  # a figure that could not be computed never passes
        return bool(OPS[self.op](value, threshold))


def lookup(data: Any, key: str, *, source: str) -> Any:
    """``data[a][b][c]`` for ``key='a.b.c'``; a missing part is an :class:`InputError` naming the file and key."""
    value = data
    for part in key.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise InputError(source, f"no value at key path '{key}' (missing '{part}')", field=key)
    return value


def read_metrics(path: str | os.PathLike) -> Any:
    """A metrics JSON file; missing or invalid files are :class:`InputError`."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError as exc:
        raise InputError(path, "metrics file not found (has its stage run?)") from exc
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from exc


def evaluate_gates(gates: Sequence[Gate], *, read: Callable[[str], Any] = read_metrics) -> dict:
    """Check every gate; returns the readiness report (see the module docstring).

    ``read`` maps a source path to its parsed JSON (tests and ``compare`` pass a
    dict lookup instead of the file system).
    """
    names = [g.name for g in gates]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"gates: duplicate gate names {duplicates}")
    cache: dict[str, Any] = {}
    report: dict[str, Any] = {"gates": {}}
    for gate in gates:
        if gate.source not in cache:
            cache[gate.source] = read(gate.source)
        value = lookup(cache[gate.source], gate.key, source=gate.source)
        threshold = gate.threshold if gate.threshold_key is None else \
            lookup(cache[gate.source], gate.threshold_key, source=gate.source)
        for key, figure in ((gate.key, value), (gate.threshold_key, threshold)):
            if not (figure is None or isinstance(figure, (bool, int, float))):
                raise InputError(gate.source, f"expected a number or a bool, got {type(figure).__name__}", field=key)
        report["gates"][gate.name] = {"passed": gate.check(value, threshold), "value": value, "threshold": threshold,
                                      "op": gate.op, "source": gate.source, "key": gate.key}
    report["passed"] = all(g["passed"] for g in report["gates"].values())
    return report


def failed_summary(report: Mapping[str, Any]) -> str:
    """One line naming each failed gate with its figure, for a GateError message."""
    return "; ".join(f"{name}: {g['value']!r} not {g['op']} {g['threshold']!r} ({g['source']})"
                     for name, g in report["gates"].items() if not g["passed"])
