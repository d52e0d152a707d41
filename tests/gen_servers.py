"""Servers for the API tests: `musicml serve` as a subprocess, and a throwaway PostgreSQL."""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
_PG: dict = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db_url: str, folder: Path, *, params: Path, token: str | None,
                 timeout: float = 90.0) -> tuple[subprocess.Popen, str]:
    """Start ``musicml serve`` on a free port; returns the process and its base URL once /health answers."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("MUSICML_API_TOKEN", None)
    if token:
        env["MUSICML_API_TOKEN"] = token
    log = open(folder / f"serve_{port}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "musicml.cli", "serve", "--db", db_url, "--port", str(port),
                             "--params", str(params), "--audio-dir", str(folder / "audio")],
                            cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"musicml serve exited {proc.returncode}: {(folder / log.name).read_text()}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_server(proc)
    raise AssertionError(f"musicml serve did not answer within {timeout} s")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _pg_bin() -> Path | None:
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if versions:  # Debian's real binaries (what is on PATH may be a wrapper)
        return Path(versions[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def postgres_url() -> str | None:
    """A PostgreSQL URL: ``MUSICML_TEST_PG_URL``, or a throwaway server (one per test session), or None."""
    if os.environ.get("MUSICML_TEST_PG_URL"):
        return os.environ["MUSICML_TEST_PG_URL"]
    if "url" in _PG:
        return _PG["url"]
    bindir = _pg_bin()
    if bindir is None:
        return None
    # Outside pytest's private (0700) temp root, so the postgres account can reach it.
    data = Path(tempfile.mkdtemp(prefix="musicml-pg-"))
    atexit.register(shutil.rmtree, data, True)
    # PostgreSQL refuses to run as root: use the postgres account Debian's package creates.
    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            return None
        try:
            import pwd

            pw = pwd.getpwnam("postgres")
        except KeyError:
            return None
        os.chown(data, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    init = subprocess.run(prefix + [str(bindir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres"],
                          capture_output=True, text=True)
    if init.returncode != 0:
        return None
    start = subprocess.run(prefix + [str(bindir / "pg_ctl"), "-D", str(data / "db"), "-w", "-l", str(data / "log"),
                                     "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"],
                           capture_output=True, text=True)
    if start.returncode != 0:
        return None
    atexit.register(subprocess.run, prefix + [str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate",
                                              "stop"], capture_output=True)
    _PG["url"] = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    return _PG["url"]
