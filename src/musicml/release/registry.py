"""Registering a released model version with GTO (git tags), only when readiness passed."""

from __future__ import annotations

import os
import re
from pathlib import Path
import subprocess
from typing import Sequence

from musicml.errors import GateError, InputError
from musicml.release.gates import failed_summary, read_metrics
from musicml.release.tools import tool

#: GTO versions are semantic versions with a leading v.
VERSION_RE = re.compile(r"^v\d+\.\d+\.\d+$")


def check_ready(readiness_path: str | os.PathLike) -> dict:
    """The readiness report; a :class:`GateError` naming the failed gates unless it passed."""
    report = read_metrics(readiness_path)
    if not isinstance(report, dict) or "passed" not in report or "gates" not in report:
        raise InputError(readiness_path, "not a readiness report (expected keys passed, gates)", field="passed")
    if report["passed"] is not True:
        raise GateError(f"release refused: {readiness_path} did not pass: {failed_summary(report)}")
    return report


def register_command(artifact: str, version: str, *, ref: str = "HEAD", gto: str | None = None) -> list[str]:
    """The ``gto register`` command line for ``artifact`` at ``version`` on commit ``ref``."""
    if not VERSION_RE.match(version):
        raise InputError("VERSION", f"expected a semantic version like v0.1.0, got {version!r}")
    return [gto or tool("gto"), "register", artifact, ref, "--version", version]


def register(artifact: str, version: str, *, readiness_path: str | os.PathLike = "metrics/readiness.json",
             ref: str = "HEAD", cwd: str | os.PathLike = ".", gto: str | None = None,
             extra_args: Sequence[str] = ()) -> str:
    """Refuse unless readiness passed, then ``gto register``; returns GTO's output.

    The readiness file is read from the working tree: run ``dvc repro readiness``
    and commit first, so the tag points at the commit whose metrics passed.
    """
    check_ready(Path(cwd) / readiness_path)  # Path('.') / p is p: errors name the path as given
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", str(readiness_path),
                            "dvc.lock"], cwd=cwd, capture_output=True, text=True)
    if dirty.returncode != 0:
        raise InputError(cwd, f"not a git repository: {dirty.stderr.strip()}")
    if dirty.stdout.strip():
        raise GateError(f"release refused: uncommitted changes in {readiness_path} or dvc.lock; commit them so the "
                        f"version tag points at the state that passed")
    proc = subprocess.run([*register_command(artifact, version, ref=ref, gto=gto), *extra_args], cwd=cwd,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise InputError("gto", f"gto register failed: {(proc.stderr or proc.stdout).strip()}")
    return (proc.stdout + proc.stderr).strip()
