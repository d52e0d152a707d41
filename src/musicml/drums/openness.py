"""Hi-hat openness from e-drum CC4 (the hi-hat pedal controller), through per-vendor curves.

E-drum modules send the pedal position as MIDI CC4, but every vendor maps it
differently (range, direction, a dead zone near closed). A calibration file
holds one piecewise-linear curve per vendor, CC4 value -> openness 0-1
(0 = closed, 1 = fully open), and grows as devices are profiled::

    {
      "default_vendor": "generic",
      "vendors": {
        "generic": {"points": [[0, 1.0], [127, 0.0]], "description": "..."}
      }
    }

``points`` are ``[cc4, openness]`` pairs with strictly increasing CC4 values in
0-127; between points the curve is linear, outside them it is flat.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from musicml.atomic import atomic_path
from musicml.config import load_json
from musicml.errors import ConfigError, InputError
from musicml.manifest import iter_jsonl, normalize_row

CC_HIHAT_PEDAL = 4
CC_MAX = 127


@dataclass(frozen=True)
class OpennessCurve:
    """One vendor's CC4 -> openness curve: piecewise-linear through ``points``."""

    vendor: str
    cc: tuple[float, ...]
    openness: tuple[float, ...]

    def __call__(self, value: float | np.ndarray) -> float | np.ndarray:
        """Openness 0-1 of a CC4 value (or array of values)."""
        out = np.interp(value, self.cc, self.openness)
        return float(out) if np.ndim(out) == 0 else out

    def inverse(self, openness: float) -> int:
        """The CC4 value 0-127 whose openness is nearest ``openness`` (for writing MIDI)."""
        grid = np.arange(CC_MAX + 1)
        return int(grid[np.argmin(np.abs(self(grid) - openness))])


@dataclass(frozen=True)
class Calibration:
    """Every vendor curve of a calibration file, and the vendor used when none is named."""

    curves: Mapping[str, OpennessCurve]
    default_vendor: str
    path: str = "<calibration>"

    def curve(self, vendor: str | None = None) -> OpennessCurve:
        """The curve of ``vendor`` (the default vendor when None)."""
        name = vendor or self.default_vendor
        if name not in self.curves:
            raise ConfigError(f"{self.path}: no openness curve for vendor '{name}', "
                              f"expected one of {sorted(self.curves)}")
        return self.curves[name]


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _parse_curve(path: str, vendor: str, spec: Any) -> OpennessCurve:
    field = f"vendors.{vendor}.points"
    points = spec.get("points") if isinstance(spec, Mapping) else None
    if not isinstance(points, list) or len(points) < 2:
        raise InputError(path, "expected a list of at least two [cc4, openness] points", field=field)
    cc, op = [], []
    for i, point in enumerate(points):
        if not (isinstance(point, list) and len(point) == 2 and all(_number(v) for v in point)
                and 0 <= point[0] <= CC_MAX and 0.0 <= point[1] <= 1.0):
            raise InputError(path, f"point {i} must be [cc4 0-127, openness 0-1], got {point!r}", field=field)
        if cc and point[0] <= cc[-1]:
            raise InputError(path, f"point {i}: cc4 values must increase strictly, got {point[0]} after {cc[-1]}",
                             field=field)
        cc.append(float(point[0]))
        op.append(float(point[1]))
    return OpennessCurve(vendor=vendor, cc=tuple(cc), openness=tuple(op))


def load_calibration(path: str | os.PathLike) -> Calibration:
    """Read and check a calibration JSON file; every error names the file and field."""
    path = str(path)
    doc = load_json(path)
    vendors = doc.get("vendors") if isinstance(doc, dict) else None
    if not isinstance(vendors, dict) or not vendors:
        raise InputError(path, "expected a non-empty mapping of vendor -> {points}", field="vendors")
    curves = {name: _parse_curve(path, name, spec) for name, spec in vendors.items()}
    default = doc.get("default_vendor", next(iter(curves)))
    if default not in curves:
        raise InputError(path, f"'{default}' is not one of the vendors {sorted(curves)}", field="default_vendor")
    return Calibration(curves=curves, default_vendor=default, path=path)


@dataclass(frozen=True)
class OpennessChange:
    """One manifest row whose openness the calibration sets."""

    line: int
    event_id: str | None
    vendor: str
    cc4: float
    old: float | None
    new: float


def _cc4(row: Mapping[str, Any], *, path: str, line: int) -> float | None:
    value = row.get("cc4")
    if value is None:
        return None
    if not _number(value) or not 0 <= value <= CC_MAX:
        raise InputError(path, f"expected a number 0-127 or null, got {value!r}", line=line, field="cc4")
    return float(value)


def normalize_openness(
    manifest: str | os.PathLike,
    calibration: Calibration,
    *,
    vendor: str | None = None,
    out: str | os.PathLike | None = None,
    dry_run: bool = False,
    decimals: int = 4,
) -> list[OpennessChange]:
    """Set ``openness`` of every row of an events JSONL that carries a raw ``cc4`` value.

    Each row is validated like any manifest row (file:line, field). The curve is
    the row's own ``vendor`` field, else ``vendor``, else the calibration's
    default vendor. Rows without ``cc4`` are left alone; every field of every row
    (including ``cc4`` and ``vendor``) is kept.

    Parameters
    ----------
    manifest : path
        Events JSONL (the ``musicml manifest`` format plus ``cc4`` / ``vendor``).
    calibration : Calibration
        From :func:`load_calibration`.
    vendor : str, optional
        Vendor of rows that do not name one.
    out : path, optional
        Where to write (atomically); default: ``manifest`` itself.
    dry_run : bool
        Compute the changes, write nothing.
    decimals : int
        Openness is rounded to this many decimals (stable bytes).

    Returns
    -------
    list of OpennessChange
        Rows whose openness is set to a *different* value.
    """
    path = str(manifest)
    rows: list[dict] = []
    changes: list[OpennessChange] = []
    for lineno, raw in iter_jsonl(path):
        checked = normalize_row(raw, path=path, line=lineno)
        cc4 = _cc4(raw, path=path, line=lineno)
        if cc4 is not None:
            row_vendor = raw.get("vendor") or vendor
            if row_vendor is not None and not isinstance(row_vendor, str):
                raise InputError(path, f"expected a vendor name, got {row_vendor!r}", line=lineno, field="vendor")
            curve = calibration.curve(row_vendor)
            new = round(curve(cc4), decimals)
            if checked["openness"] is None or abs(checked["openness"] - new) > 10 ** -decimals / 2:
                changes.append(OpennessChange(lineno, raw.get("event_id"), curve.vendor, cc4,
                                              checked["openness"], new))
            raw = {**raw, "openness": new}
        rows.append(raw)
    if not dry_run and (changes or out is not None):
        _write_rows(rows, out or path)
    return changes


def _write_rows(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
