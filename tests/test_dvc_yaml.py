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


def test_only_the_features_stage_depends_on_how_the_store_is_made():
    # features.workers and .dtype (features.RUN_KEYS) change the speed and the store's encoding,
    # not the mel images; a stage listing the whole `features` section would re-run (train: minutes)
    # when someone only changes the number of worker processes.
    from musicml.features import RUN_KEYS, MelConfig

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        keys = [path for path, _ in _entries(stage, "params")]
        if name == "features":
            assert "features" in keys
            continue
        assert "features" not in keys, f"{name} lists all of `features`; list the mel keys it reads"
        assert not {f"features.{k}" for k in RUN_KEYS} & set(keys), name
    train = {path for path, _ in _entries(stages["train"], "params")}
    assert {f"features.{field}" for field in MelConfig.__dataclass_fields__} <= train
