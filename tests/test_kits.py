"""``make kits``: copying kits, DVC tracking, test-kit choice and the params.yaml edit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from ruamel.yaml import YAML

from musicml.drums.kits import add_kits, choose_test_kits, copy_kits, dvc_add, enable_hydrogen
from musicml.errors import ConfigError, InputError, MusicmlError
from musicml.taxonomy import Taxonomy

REPO = Path(__file__).resolve().parents[1]
FULL_KIT = ["Kick", "Snare", "Side Stick", "Hand Clap", "Closed HH", "Pedal HH", "Open HH", "Crash", "Ride",
            "Tom Hi", "Tom Mid", "Tom Low"]

PARAMS = """\
# Pipeline parameters.
seed: 0  # the global seed

sources:
  synth:
    enabled: true   # rendered hits
  hydrogen:
    # Real kits, switched on by `make kits`.
    enabled: false
    path: null

split:
  test_kits: []   # held-out real kits
  val_fraction: 0.15
"""


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    params = YAML(typ="safe").load((REPO / "configs" / "taxonomy.yaml").read_text())["taxonomy"]
    return Taxonomy.from_params(params["classes"], params["rules"])


def make_kit(root: Path, folder: str, names: list[str]) -> Path:
    """A tiny old-layout kit: one 10 ms click per instrument."""
    kit = root / folder
    kit.mkdir(parents=True)
    body = []
    for i, name in enumerate(names):
        sf.write(kit / f"s{i}.wav", np.r_[0.5, np.zeros(79)].astype("float32"), 8000)
        body.append(f"<instrument><id>{i}</id><filename>s{i}.wav</filename><name>{name}</name></instrument>")
    (kit / "drumkit.xml").write_text(
        f"<drumkit_info><name>{folder}</name><instrumentList>{''.join(body)}</instrumentList></drumkit_info>"
    )
    return kit


@pytest.fixture
def src(tmp_path) -> Path:
    root = tmp_path / "src"
    make_kit(root, "Full Kit", FULL_KIT)
    make_kit(root, "Rock Kit", FULL_KIT[:9])
    make_kit(root, "Hands", ["Djembe1 Bass", "Cajon Thump", "Hand Clap"])
    (root / "notes").mkdir()  # no drumkit.xml: not a kit
    return root


# --------------------------------------------------------------------- copy


def test_copy_kits_is_idempotent(src, tmp_path):
    dest = tmp_path / "dest"
    assert copy_kits(src, dest) == ["Full Kit", "Hands", "Rock Kit"]
    assert (dest / "Hands" / "drumkit.xml").read_bytes() == (src / "Hands" / "drumkit.xml").read_bytes()
    assert not (dest / "notes").exists()
    assert copy_kits(src, dest) == []
    # A changed kit is copied again, and only that one.
    sf.write(src / "Hands" / "s0.wav", np.r_[0.9, np.zeros(79)].astype("float32"), 8000)
    assert copy_kits(src, dest) == ["Hands"]
    assert copy_kits(src, dest) == []


def test_copy_kits_needs_a_kit(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no Hydrogen kit found"):
        copy_kits(tmp_path / "empty", tmp_path / "dest")
    with pytest.raises(InputError, match="kit folder not found"):
        copy_kits(tmp_path / "absent", tmp_path / "dest")


# ------------------------------------------------------------------- params


def test_enable_hydrogen_keeps_comments_and_reports_once(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    changes = enable_hydrogen(params, kits_root="data/raw/hydrogen", test_kits=["hydrogen-a", "hydrogen-b"])
    assert changes == [
        "sources.hydrogen.enabled: false -> true",
        "sources.hydrogen.path: null -> data/raw/hydrogen",
        "split.test_kits: [] -> [hydrogen-a, hydrogen-b]",
    ]
    text = params.read_text()
    for comment in ("# Pipeline parameters.", "# the global seed", "# rendered hits",
                    "# Real kits, switched on by `make kits`.", "# held-out real kits"):
        assert comment in text
    # ruamel keeps an end-of-line comment's column unless the new value runs past it.
    assert re.search(r"\n  test_kits: \[hydrogen-a, hydrogen-b\] +# held-out real kits\n", text)
    assert [line.split(":")[0] for line in text.splitlines() if line and not line.startswith((" ", "#"))] == [
        "seed", "sources", "split"
    ]
    before = params.stat().st_mtime_ns
    assert enable_hydrogen(params, kits_root="data/raw/hydrogen", test_kits=["hydrogen-a", "hydrogen-b"]) == []
    assert params.stat().st_mtime_ns == before  # untouched, not rewritten
    assert enable_hydrogen(params, kits_root="data/raw/hydrogen", test_kits=["hydrogen-c"]) == [
        "split.test_kits: [hydrogen-a, hydrogen-b] -> [hydrogen-c]"
    ]


def test_enable_hydrogen_creates_missing_keys(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("# just a seed\nseed: 1\n")
    changes = enable_hydrogen(params, kits_root="kits", test_kits=["hydrogen-x"])
    assert changes[0] == "sources.hydrogen.enabled: (unset) -> true"
    data = YAML(typ="safe").load(params.read_text())
    assert data == {"seed": 1, "sources": {"hydrogen": {"enabled": True, "path": "kits"}},
                    "split": {"test_kits": ["hydrogen-x"]}}
    assert params.read_text().startswith("# just a seed\n")


def test_enable_hydrogen_keeps_a_block_list_block(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("split:\n  test_kits:\n  - a\n  - b\n  # the validation share\n  val_fraction: 0.1\n")
    assert enable_hydrogen(params, kits_root="k", test_kits=["c"])[-1] == "split.test_kits: [a, b] -> [c]"
    text = params.read_text()
    assert "  test_kits:\n  - c\n  # the validation share\n  val_fraction: 0.1\n" in text


def test_enable_hydrogen_errors(tmp_path):
    with pytest.raises(InputError, match="cannot read params"):
        enable_hydrogen(tmp_path / "nope.yaml", kits_root="k", test_kits=["a"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [1, 2]\n")
    with pytest.raises(InputError, match="expected a mapping at 'sources'"):
        enable_hydrogen(bad, kits_root="k", test_kits=["a"])


# ---------------------------------------------------------------- test kits


def test_choose_test_kits_is_deterministic_and_prefers_coverage():
    full = {f"hydrogen-kit-{i}": set(f"c{j}" for j in range(10)) for i in range(8)}
    thin = {f"hydrogen-thin-{i}": {"c0", "c1"} for i in range(4)}
    coverage = {**full, **thin}
    ids = list(coverage)
    chosen = choose_test_kits(ids, seed=3, classes=coverage)
    assert len(chosen) == round(0.3 * 12) and chosen == sorted(chosen)
    assert set(chosen) <= set(full)  # thin kits would make macro-F1 meaningless
    assert choose_test_kits(list(reversed(ids)), seed=3, classes=coverage) == chosen
    assert any(choose_test_kits(ids, seed=s, classes=coverage) != chosen for s in range(1, 6))


def test_choose_test_kits_edge_cases():
    assert len(choose_test_kits(["hydrogen-only"], seed=0)) == 1
    # No kit is well covered: the best-covered one still gives a test set.
    assert choose_test_kits(["a", "b"], seed=0, classes={"a": {"kick"}, "b": {"kick", "snare"}}) == ["b"]
    # Greedy coverage: the second pick adds the classes the first lacks.
    coverage = {"a": set("abcdefgh"), "b": set("abcdefgh"), "c": set("abcdefghij")}
    assert "c" in choose_test_kits(coverage, fraction=0.34, seed=0, classes=coverage)
    with pytest.raises(ConfigError):
        choose_test_kits([], seed=0)
    with pytest.raises(ConfigError):
        choose_test_kits(["a"], seed=0, fraction=0.0)


# ---------------------------------------------------------------- end to end


def test_add_kits_without_dvc(src, tmp_path, taxonomy, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(PARAMS)
    changes = add_kits(src, taxonomy=taxonomy, track=False)
    assert changes[:3] == [f"copied kit {src / n} -> data/raw/hydrogen/{n}" for n in ("Full Kit", "Hands", "Rock Kit")]
    assert changes[3:] == [
        "sources.hydrogen.enabled: false -> true",
        "sources.hydrogen.path: null -> data/raw/hydrogen",
        "split.test_kits: [] -> [hydrogen-full-kit]",
    ]
    assert "# Real kits, switched on by `make kits`." in Path("params.yaml").read_text()
    assert add_kits(src, taxonomy=taxonomy, track=False) == []


# ---------------------------------------------------------------------- dvc


DVC = Path(sys.executable).parent / "dvc"
needs_dvc = pytest.mark.skipif(not DVC.exists(), reason="dvc is not installed in this environment")


@needs_dvc
def test_dvc_add_outside_a_dvc_repo_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kit").mkdir()
    with pytest.raises(MusicmlError, match=r"dvc add kit failed \(exit \d+\)") as info:
        dvc_add(["kit"])
    assert "\n" not in str(info.value)


@needs_dvc
def test_add_kits_tracks_each_kit(src, tmp_path, taxonomy, monkeypatch):
    monkeypatch.chdir(tmp_path)
    subprocess.run([str(DVC), "init", "--no-scm", "-q"], check=True)
    Path("params.yaml").write_text(PARAMS)
    add_kits(src, taxonomy=taxonomy)
    assert sorted(p.name for p in Path("data/raw/hydrogen").glob("*.dvc")) == [
        "Full Kit.dvc", "Hands.dvc", "Rock Kit.dvc"
    ]
