"""The pipeline file itself: metrics and plots are small files kept in git, never in the DVC cache."""

from __future__ import annotations

import yaml

from conftest import ROOT


def _entries(stage: dict, kind: str):
    for entry in stage.get(kind) or []:
        if isinstance(entry, str):
            yield entry, {}
        else:
            (path, options), = entry.items()
            yield path, options or {}


def test_metrics_and_plots_are_git_tracked_not_cached():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        for kind in ("metrics", "plots"):
            for path, options in _entries(stage, kind):
                if path.startswith("metrics/"):
                    assert options.get("cache") is False, f"{name}: {kind} {path} needs cache: false"


def test_every_stage_script_exists():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        script = stage["cmd"].split()[1]
        assert (ROOT / script).is_file(), f"{name}: {script}"
