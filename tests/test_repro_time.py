"""benchmarks/repro_time.py: per-stage times come from DVC's "Running stage" lines, in run order."""

from __future__ import annotations

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import repro_time  # noqa: E402


def test_run_splits_the_wall_time_between_the_stages_dvc_announces(tmp_path):
    script = ("print('Verifying data sources'); print(\"Running stage 'ingest':\"); print('> python x.py'); "
              "print(\"Running stage 'train':\"); print('Updating lock file')")
    total, stages = repro_time.run([sys.executable, "-c", script], tmp_path)
    assert [name for name, _ in stages] == ["ingest", "train"]
    assert all(seconds >= 0 for _, seconds in stages)
    assert sum(seconds for _, seconds in stages) <= total


def test_run_exits_with_the_output_tail_when_the_command_fails(tmp_path):
    script = "print(\"Running stage 'train':\"); print('ERROR: failed to reproduce'); raise SystemExit(1)"
    with pytest.raises(SystemExit, match="failed to reproduce"):
        repro_time.run([sys.executable, "-c", script], tmp_path)


def test_named_stages_are_what_both_runs_reproduce(tmp_path, monkeypatch, capsys):
    commands = []
    monkeypatch.setattr(repro_time, "make_scratch", lambda prefix: tmp_path)
    monkeypatch.setattr(repro_time, "finish", lambda scratch, keep: None)
    monkeypatch.setattr(repro_time, "run", lambda cmd, cwd: (commands.append(cmd), (2.0, [("train", 2.0)]))[1])
    monkeypatch.setattr(sys, "argv", ["repro_time.py", "--top", "1", "export", "bootstrap_eval"])
    repro_time.main()
    assert [cmd[1:] for cmd in commands] == [["repro", "export", "bootstrap_eval"]] * 2
    assert "repro from scratch (export bootstrap_eval): 2 s (1 stages)" in capsys.readouterr().out
