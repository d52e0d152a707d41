"""benchmarks/midi_repro_time.py: a wrong override fails with one line and leaves no scratch copy behind."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT

BENCH = ROOT / "benchmarks" / "midi_repro_time.py"


def _run(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    # The scratch copy goes under TMPDIR: point it at an empty folder and look there afterwards.
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    args = [a for o in overrides for a in ("--set", o)]
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize(("override", "message"), [
    ("midi.augment.multipler=10", "no key 'midi.augment.multipler' in params.yaml"),
    ("midi.nothing.multiplier=10", "no key 'midi.nothing' in params.yaml"),
    ("midi.augment.multiplier.x=10", "no key 'midi.augment.multiplier.x' in params.yaml"),
    ("midi.augment.multiplier", "expected KEY=VALUE"),
])
def test_bad_override_is_one_line_and_copies_nothing(tmp_path, override, message):
    proc = _run(tmp_path, "midi.augment.multiplier=3", override)
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_failed_stage_removes_the_scratch_copy(tmp_path):
    # A seed that is not an integer passes the key check but fails midi_synth: the copy existed, then goes.
    proc = _run(tmp_path, "midi.seed=abc")
    assert proc.returncode != 0
    assert "dvc repro midi_synth failed" in proc.stderr and "midi.seed must be an integer" in proc.stderr
    assert list(tmp_path.iterdir()) == []
