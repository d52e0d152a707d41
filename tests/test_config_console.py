"""Unit tests of config loading, the taxonomy, one-line CLI errors and atomic writes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from musicml.atomic import atomic_path, save_torch, write_json, write_text
from musicml.config import checked_keys, load_taxonomy, load_yaml, scalar_config, section
from musicml.errors import ConfigError, InputError
from musicml.taxonomy import UNKNOWN, Taxonomy

REPO = Path(__file__).resolve().parents[1]

# --- config -----------------------------------------------------------------------------------


def test_load_yaml_mapping(tmp_path):
    (tmp_path / "p.yaml").write_text("seed: 3\ntrain:\n  epochs: 2\n")
    assert load_yaml(tmp_path / "p.yaml") == {"seed": 3, "train": {"epochs": 2}}


def test_load_yaml_syntax_error_names_line(tmp_path):
    (tmp_path / "p.yaml").write_text("seed: 3\ntrain:\n  epochs: [1, 2\n  lr: 0.1\n")
    with pytest.raises(InputError) as info:
        load_yaml(tmp_path / "p.yaml")
    assert info.value.path == str(tmp_path / "p.yaml")
    assert info.value.line == 4  # where the parser noticed the unclosed list
    assert "not valid YAML" in info.value.message


def test_load_yaml_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(InputError, match="cannot open"):
        load_yaml(tmp_path / "none.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(InputError, match="mapping"):
        load_yaml(tmp_path / "list.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(InputError, match="mapping"):
        load_yaml(tmp_path / "empty.yaml")


def test_section():
    params = {"train": {"finetune": {"lr": 0.1}, "epochs": 0}, "seed": 1}
    assert section(params, "train.finetune.lr") == 0.1
    assert section(params, "train.epochs") == 0
    assert section(params, "seed") == 1
    with pytest.raises(ConfigError, match="'train.finetune.freeze'"):
        section(params, "train.finetune.freeze")
    with pytest.raises(ConfigError, match="'seed.x'"):
        section(params, "seed.x")  # descending into a scalar
    with pytest.raises(ConfigError, match="'evaluate'"):
        section(params, "evaluate")


@dataclass(frozen=True)
class _Knobs:
    epochs: int = 3
    lr: float = 0.001
    seed: int = 0


def test_checked_keys_names_the_section_and_the_known_keys():
    assert checked_keys(_Knobs, {"epochs": 2}, "train") == {"epochs": 2}
    with pytest.raises(ConfigError, match=r"train: unknown keys \['epoch'\], expected some of \['epochs', 'lr'\]"):
        checked_keys(_Knobs, {"epoch": 2}, "train", exclude={"seed"})


def test_scalar_config_casts_yaml_values_to_the_defaults_types():
    values = load_yaml_text("epochs: 5\nlr: 3e-5\n")
    assert values["lr"] == "3e-5"  # PyYAML: no decimal point, so a string
    assert scalar_config(_Knobs, values, "head") == _Knobs(epochs=5, lr=3e-5)
    with pytest.raises(ConfigError, match=r"head.epochs: expected int, got 'many'"):
        scalar_config(_Knobs, {"epochs": "many"}, "head")
    with pytest.raises(ConfigError, match="head: unknown keys"):
        scalar_config(_Knobs, {"lr_max": 1}, "head")


def load_yaml_text(text: str) -> dict:
    import yaml

    return yaml.safe_load(text)


def test_load_taxonomy(tmp_path):
    (tmp_path / "t.yaml").write_text(textwrap.dedent("""
        taxonomy:
          classes: [kick, snare]
          rules:
            - {pattern: 'kick|bd', label: kick}
            - {pattern: cowbell, label: unknown}
    """))
    tax = load_taxonomy(tmp_path / "t.yaml")
    assert tax.classes == ("kick", "snare") and len(tax.rules) == 2
    assert tax.map_name("BD 1") == "kick"


def test_load_taxonomy_without_rules_and_missing_classes(tmp_path):
    (tmp_path / "t.yaml").write_text("taxonomy:\n  classes: [kick]\n  rules:\n")
    assert load_taxonomy(tmp_path / "t.yaml").rules == ()
    (tmp_path / "bad.yaml").write_text("taxonomy:\n  rules: []\n")
    with pytest.raises(ConfigError, match="taxonomy.classes"):
        load_taxonomy(tmp_path / "bad.yaml")


def test_repository_taxonomy_loads():
    tax = load_taxonomy(REPO / "configs" / "taxonomy.yaml")
    assert tax.n_classes == 12 and "kick" in tax.classes
    assert tax.map_name("Kick Drum") == "kick"
    assert tax.map_name("Cowbell") == UNKNOWN


# --- taxonomy ---------------------------------------------------------------------------------


def taxonomy(rules, classes=("kick", "snare", "hihat_closed", "hihat_open")):
    return Taxonomy.from_params(classes, [{"pattern": p, "label": l} for p, l in rules])


def test_first_matching_rule_wins():
    tax = taxonomy([("open", "hihat_open"), ("hat", "hihat_closed")])
    assert tax.map_name("Hat Open") == "hihat_open"
    assert tax.map_name("Closed Hat") == "hihat_closed"
    reversed_order = taxonomy([("hat", "hihat_closed"), ("open", "hihat_open")])
    assert reversed_order.map_name("Hat Open") == "hihat_closed"


def test_rules_are_case_insensitive_searches():
    tax = taxonomy([(r"\bkick\b", "kick")])
    assert tax.map_name("ACOUSTIC KICK 2") == "kick"
    assert tax.map_name("kickback") == UNKNOWN


def test_unmapped_names_are_unknown_and_rules_may_map_to_unknown():
    tax = taxonomy([("cowbell", UNKNOWN), ("bell|kick", "kick")])
    assert tax.map_name("Triangle") == UNKNOWN
    assert tax.map_name("Cowbell") == UNKNOWN  # the earlier unknown rule claims it
    assert tax.map_name("Kick") == "kick"
    assert not tax.is_known(UNKNOWN) and tax.is_known("kick")


def test_index_and_n_classes():
    tax = taxonomy([])
    assert tax.n_classes == 4 and tax.index("hihat_closed") == 2
    with pytest.raises(ValueError):
        tax.index("ride")


def test_rule_with_label_outside_taxonomy_is_config_error():
    with pytest.raises(ConfigError, match="'ride'"):
        taxonomy([("kick", "kick"), ("ride", "ride")])


def test_duplicate_classes_and_unknown_class_are_config_errors():
    with pytest.raises(ConfigError, match="duplicates"):
        taxonomy([], classes=("kick", "snare", "kick"))
    with pytest.raises(ConfigError, match="unknown"):
        taxonomy([], classes=("kick", UNKNOWN))


@pytest.mark.parametrize("rule", [{"pattern": "kick"}, "kick", {"label": "kick"}, {"pattern": "(", "label": "kick"}])
def test_malformed_rules_are_config_errors(rule):
    with pytest.raises(ConfigError, match=r"taxonomy.rules\[1\]"):
        Taxonomy.from_params(["kick"], [{"pattern": "bd", "label": "kick"}, rule])


# --- console ----------------------------------------------------------------------------------


SCRIPT = textwrap.dedent("""
    import sys
    from musicml.console import new_app, run, stage
    from musicml.errors import InputError

    def main(fail: str = "input") -> None:
        '''A stage that fails on request.'''
        if fail == "input":
            raise InputError("data/events.jsonl", "expected a string", line=3, field="label")
        if fail == "bug":
            raise ValueError("a programming error")
        print("ok")

    if sys.argv[1] == "stage":
        del sys.argv[1]
        stage(main)
    else:
        del sys.argv[1]
        app = new_app("test app")
        app.command()(main)
        run(app)
""")


def run_script(tmp_path, *args):
    (tmp_path / "script.py").write_text(SCRIPT)
    return subprocess.run([sys.executable, str(tmp_path / "script.py"), *args], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)


@pytest.mark.parametrize("mode", ["app", "stage"])
def test_user_error_prints_one_line_and_exits_1(tmp_path, mode):
    done = run_script(tmp_path, mode)
    assert done.returncode == 1
    assert done.stderr == "error: data/events.jsonl:3: field 'label': expected a string\n"
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_success_exits_0(tmp_path):
    done = run_script(tmp_path, "stage", "--fail", "no")
    assert done.returncode == 0 and done.stdout == "ok\n" and done.stderr == ""


def test_stage_help(tmp_path):
    done = run_script(tmp_path, "stage", "--help")
    assert done.returncode == 0 and "A stage that fails on request." in done.stdout and "--fail" in done.stdout


def test_programming_errors_keep_their_traceback(tmp_path):
    done = run_script(tmp_path, "app", "--fail", "bug")
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "ValueError: a programming error" in done.stderr
    assert not done.stderr.startswith("error:")


# --- atomic -----------------------------------------------------------------------------------


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("new")
        assert not target.exists()  # nothing visible before the block ends
    assert target.read_text() == "new"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644
    assert leftovers(target.parent) == []


def test_atomic_path_failure_keeps_previous_content(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-written")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_atomic_path_failure_leaves_nothing_when_absent(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_replaces_whole_directory(tmp_path):
    target = tmp_path / "store"
    target.mkdir()
    (target / "stale.npy").write_text("old")
    with atomic_path(target, is_dir=True) as tmp:
        assert tmp.is_dir() and tmp != target
        (tmp / "fresh.npy").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["fresh.npy"]
    assert leftovers(tmp_path) == []  # neither the temporary nor the .old directory remains


def test_atomic_dir_failure_keeps_previous_directory(tmp_path):
    target = tmp_path / "store"
    target.mkdir()
    (target / "keep.npy").write_text("old")
    with pytest.raises(InputError):
        with atomic_path(target, is_dir=True) as tmp:
            (tmp / "partial.npy").write_text("new")
            raise InputError("x", "bad input")
    assert sorted(p.name for p in target.iterdir()) == ["keep.npy"]
    assert leftovers(tmp_path) == []


def test_atomic_dir_created_when_absent(tmp_path):
    with atomic_path(tmp_path / "a" / "b", is_dir=True) as tmp:
        (tmp / "f").write_text("1")
    assert (tmp_path / "a" / "b" / "f").read_text() == "1"


def test_write_json_is_sorted_stable_and_strict(tmp_path):
    write_json(tmp_path / "m.json", {"b": 1, "a": [1.5, None]})
    text = (tmp_path / "m.json").read_text()
    assert text == '{\n  "a": [\n    1.5,\n    null\n  ],\n  "b": 1\n}\n'
    write_json(tmp_path / "m2.json", {"a": [1.5, None], "b": 1})
    assert (tmp_path / "m2.json").read_text() == text
    with pytest.raises(ValueError):
        write_json(tmp_path / "m.json", {"a": float("nan")})  # NaN is not JSON
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": [1.5, None], "b": 1}
    assert leftovers(tmp_path) == []


def test_write_text(tmp_path):
    write_text(tmp_path / "r.html", "<p>hi</p>")
    assert (tmp_path / "r.html").read_text() == "<p>hi</p>"


def test_atomic_path_removes_temporaries_of_a_killed_writer(tmp_path):
    from musicml.atomic import atomic_path

    stale_dir = tmp_path / ".out.abc123.tmp"
    stale_dir.mkdir()
    (stale_dir / "half.wav").write_bytes(b"partial")
    (tmp_path / ".out.def456.tmp").write_bytes(b"partial")
    with atomic_path(tmp_path / "out", is_dir=True) as tmp:
        (tmp / "done.txt").write_text("ok")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_save_torch_writes_the_same_bytes_whatever_the_name(tmp_path):
    """Same object, same bytes: torch.save given a path would name the archive after the
    (random) temporary file, and DVC would see a new model after every identical run."""
    torch = pytest.importorskip("torch")
    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "classes": ["kick", "snare"]}
    save_torch(state, tmp_path / "a.pt")
    save_torch(state, tmp_path / "b" / "model.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()
    loaded = torch.load(tmp_path / "a.pt", weights_only=True)
    assert torch.equal(loaded["w"], state["w"]) and loaded["classes"] == ["kick", "snare"]
    assert [p.name for p in tmp_path.iterdir()] and not list(tmp_path.glob(".a.pt.*"))  # no temporaries left
