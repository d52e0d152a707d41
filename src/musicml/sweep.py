"""Hyper-parameter grids as DVC experiments: one ``dvc exp run --queue -S ...`` per grid point."""

from __future__ import annotations

import itertools
import re
from typing import Any, Mapping

from musicml.errors import ConfigError


def expand_grid(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the first key varying slowest.

    ``{"train.lr": [1e-3, 5e-4], "train.dropout": [0.3]}`` gives two points.
    """
    if not grid:
        raise ConfigError("params sweep.grid is empty: list at least one param with its values")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"params sweep.grid.{key}: expected a non-empty list of values, got {values!r}")
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def _yaml_value(value: Any) -> str:
    """A value as ``-S key=value`` expects it (YAML syntax: true, 0.001, [a, b])."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def experiment_name(prefix: str, point: Mapping[str, Any]) -> str:
    """A git-ref-safe, readable name: ``sweep-lr-0.001-dropout-0.3``."""
    parts = [prefix] + [f"{key.split('.')[-1]}-{_yaml_value(v)}" for key, v in point.items()]
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts)).strip("._-")


def queue_commands(grid: Mapping[str, list[Any]], *, prefix: str = "sweep", dvc: str = "dvc") -> list[list[str]]:
    """The ``dvc exp run --queue`` command line of every grid point."""
    commands = []
    for point in expand_grid(grid):
        cmd = [dvc, "exp", "run", "--queue", "-n", experiment_name(prefix, point)]
        for key, value in point.items():
            cmd += ["-S", f"{key}={_yaml_value(value)}"]
        commands.append(cmd)
    return commands


def start_command(jobs: int, *, dvc: str = "dvc") -> list[str]:
    """``dvc queue start -j N``: run the queued experiments, N at a time."""
    if jobs < 1:
        raise ConfigError(f"SWEEP_JOBS must be >= 1, got {jobs}")
    return [dvc, "queue", "start", "-j", str(jobs)]


def rank_command(metric: str, *, dvc: str = "dvc") -> list[str]:
    """``dvc exp show`` sorted by ``metric`` (``file:key``), best first."""
    return [dvc, "exp", "show", "--sort-by", metric, "--sort-order", "desc"]
