"""`musicml manifest add`: copy, validate, enable a user's events manifest; idempotent."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import yaml

from conftest import ROOT
from musicml.errors import InputError
from musicml.sources import add_manifest


@pytest.fixture
def repo(tmp_path, monkeypatch):
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _user_folder(root, rows):
    folder = root / "incoming" / "my_hits"
    folder.mkdir(parents=True)
    sf.write(folder / "take.wav", np.full(22050, 0.1, dtype=np.float32), 22050)
    (folder / "events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


ROW = {"source": "mine", "session_id": "s1", "kit": "k", "audio_path": "take.wav", "onset_s": 0.2, "label": "snare"}


def test_add_manifest_copies_enables_and_is_idempotent(repo):
    folder = _user_folder(repo, [ROW, {**ROW, "onset_s": 0.6}])
    changes = add_manifest(folder, params_path="params.yaml", track=False)
    assert changes[0].startswith("copied") and "sources.manifest.enabled: false -> true" in changes
    assert (repo / "data/raw/manifest/my_hits/take.wav").exists()
    params_text = (repo / "params.yaml").read_text()
    assert yaml.safe_load(params_text)["sources"]["manifest"]["enabled"] is True
    assert "# Real kits" in params_text  # comments survive
    assert add_manifest(folder, params_path="params.yaml", track=False) == []


def test_bad_manifest_does_not_enable_the_source(repo):
    folder = _user_folder(repo, [ROW, {**ROW, "onset_s": 5.0}])
    with pytest.raises(InputError, match=r"events.jsonl:2.*onset_s"):
        add_manifest(folder, params_path="params.yaml", track=False)
    assert yaml.safe_load((repo / "params.yaml").read_text())["sources"]["manifest"]["enabled"] is False
    assert not (repo / "data/raw/manifest/my_hits").exists()
