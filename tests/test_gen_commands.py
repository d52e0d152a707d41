"""`musicml gen snapshot | mark-used | prune`, and the snapshot -> dvc repro -> export round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, commit_all, copy_repo
from gen_helpers import tiny_snapshot
from musicml.genmeta.api import ServiceSettings, analyse_and_store
from musicml.genmeta.db import Store
from musicml.genmeta.records import parse_record, read_records


def musicml(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    return subprocess.run([sys.executable, "-m", "musicml.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def filled_db(folder: Path) -> tuple[str, Store]:
    """A SQLite database holding the tiny snapshot's generations, analysed, with some feedback."""
    snap = tiny_snapshot(folder / "source")
    url = f"sqlite:///{folder / 'live.db'}"
    store = Store(url)
    settings = ServiceSettings(audio_dir=str(folder / "audio"))
    for i, rec in enumerate(read_records(snap / "records.jsonl")):
        rec = dict(rec, audioUrl=str(snap / rec.pop("audioPath")))
        store.create(parse_record(rec, path="-", line=i + 1))
        analyse_and_store(store, settings, rec["generationId"])
        if i % 2 == 0:
            store.update(rec["generationId"], userFeedback={"liked": True, "used": True, "rating": 5})
    return url, store


def test_snapshot_mark_used_prune(tmp_path):
    url, store = filled_db(tmp_path)
    proc = musicml("gen", "snapshot", "--db", url, "--out", "snap", "--no-track", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "10 records, 10 audio files (0 missing), 5 feedback events" in proc.stdout
    records = read_records(tmp_path / "snap/records.jsonl")  # the snapshot obeys the record contract
    assert len(records) == 10 and all((tmp_path / "snap" / r["audioPath"]).is_file() for r in records)
    assert all("status" not in (r.get("analysisMetadata") or {}) for r in records)
    events = [json.loads(x) for x in (tmp_path / "snap/feedback.jsonl").read_text().splitlines()]
    assert len(events) == 5 and all(e["rating"] == 5 for e in events)

    ids = tmp_path / "ids.txt"
    chosen = [r["generationId"] for r in records[:3]]
    ids.write_text("\n".join(chosen + ["gen_not_there"]) + "\n")
    proc = musicml("gen", "mark-used", "--epoch", "4", "--ids", str(ids), "--db", url, cwd=tmp_path)
    assert proc.returncode == 0 and "3 records marked with epoch 4; 1 unknown ids" in proc.stdout
    for gid in chosen:
        row = store.get(gid)
        assert row["usedForTraining"] is True and row["trainingEpoch"] == 4
    assert store.overview()["usedForTraining"] == 3

    user = records[0]["userId"]
    owned = sum(r["userId"] == user for r in records)
    proc = musicml("gen", "prune", "--user", user, "--db", url, cwd=tmp_path)
    assert proc.returncode == 0 and f"prune: {owned} records" in proc.stdout
    assert store.overview()["totalGenerations"] == 10 - owned
    assert musicml("gen", "prune", "--older-than", "36500", "--db", url, cwd=tmp_path).stdout.startswith(
        "prune: 0 records")
    # Zero days of retention: everything created before now goes.
    assert "prune: " in musicml("gen", "prune", "--older-than", "0", "--db", url, cwd=tmp_path).stdout
    assert store.overview()["totalGenerations"] == 0


def test_ids_formats_and_errors(tmp_path):
    from musicml.errors import InputError
    from musicml.genmeta.maintenance import read_ids

    (tmp_path / "e.json").write_text(json.dumps({"finetune": ["a", "b"], "analysis": ["c"]}))
    (tmp_path / "t.jsonl").write_text('{"metadata": {"generationId": "x"}}\n{"generationId": "y"}\n')
    (tmp_path / "i.txt").write_text("# ids\na\n\nb\n")
    assert read_ids(tmp_path / "e.json") == ["a", "b"]
    assert read_ids(tmp_path / "t.jsonl") == ["x", "y"]
    assert read_ids(tmp_path / "i.txt") == ["a", "b"]
    (tmp_path / "bad.jsonl").write_text('{"generationId": 3}\n')
    with pytest.raises(InputError, match=r"bad.jsonl:1: field 'generationId'"):
        read_ids(tmp_path / "bad.jsonl")
    proc = musicml("gen", "mark-used", "--epoch", "1", "--ids", "missing.txt", "--db",
                   f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr == "error: missing.txt: ids file not found\n"
    proc = musicml("gen", "prune", "--db", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path)
    assert proc.returncode == 1 and "give --older-than DAYS and/or --user ID" in proc.stderr
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = musicml("gen", "snapshot", "--db", f"postgresql+psycopg://u:pw@127.0.0.1:{port}/x", "--out", "snap",
                   "--no-track", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.startswith("error: database postgresql+psycopg://u:***@")
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "snap").exists()


@pytest.mark.slow
def test_snapshot_repro_export_round_trip(tmp_path):
    """A live database -> `musicml gen snapshot` (dvc add) -> `dvc repro` of the gen_ stages -> export."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["gen"]["snapshot"] = "data/raw/genmeta/live"
    repo = copy_repo(tmp_path / "repo", params, message=None)
    url, store = filled_db(tmp_path)
    proc = musicml("gen", "snapshot", "--db", url, "--out", "data/raw/genmeta/live", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert (repo / "data/raw/genmeta/live.dvc").exists()  # tracked by hash
    commit_all(repo, "snapshot")

    dvc = [str(Path(sys.executable).parent / "dvc")]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    first = subprocess.run(dvc + ["repro", "gen_export", "gen_stats"], cwd=repo, env=env, capture_output=True,
                           text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "gen_synth" not in first.stdout  # the live snapshot replaces the embedded default
    stats = json.loads((repo / "metrics/gen_stats.json").read_text())
    assert stats["totalGenerations"] == 10 and stats["withFeedback"] == 5 and stats["missingAnalysis"] == 1
    lines = (repo / "data/processed/genmeta/export/train.jsonl").read_text().splitlines()
    exported = [json.loads(x)["metadata"]["generationId"] for x in lines]
    # Feedback (liked, used, rated 5) lifts every readable clip with feedback over 0.7; the rest stay below.
    live = {r["generationId"]: r for r in store.iter_records()}
    expected = {g for g, r in live.items() if r["userFeedback"] and "analysisError" not in r["analysisMetadata"]}
    assert set(exported) == expected
    second = subprocess.run(dvc + ["repro", "gen_export", "gen_stats"], cwd=repo, env=env, capture_output=True,
                            text=True, timeout=300)
    assert second.returncode == 0 and "didn't change" in second.stdout and "Running stage" not in second.stdout

    # The export's ids mark the records used for training, closing the loop.
    ids = repo / "data/processed/genmeta/export/exported_ids.json"
    proc = musicml("gen", "mark-used", "--epoch", "1", "--ids", str(ids), "--db", url, cwd=repo)
    assert proc.returncode == 0 and f"{len(exported)} records marked" in proc.stdout
