"""A throw-away copy of the repository for the timing benchmarks (imported by them, not run).

Only the files git tracks are copied, without dvc.lock, and committed in a new
git repository, so a `dvc repro` there starts from scratch and leaves the
working copy's outputs untouched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).parent / "dvc")


def scratch_env(scratch: Path) -> dict[str, str]:
    """The environment for commands run in ``scratch``.

    The stages call `python stages/...`, so the venv running the benchmark comes first on PATH.
    The venv installs musicml in editable mode from this working copy. Without the copy's
    ``src`` first on PYTHONPATH, the copy's stages would import the working copy's code, and an
    ``edit`` of the copy's src/ would silently not run, while DVC recorded the copy's file hashes.
    """
    python_path = os.pathsep.join(p for p in (str(Path(scratch) / "src"), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": python_path}


def make_scratch(prefix: str, edit: Callable[[Path], None] | None = None) -> Path:
    """Copy the tracked files to a new temp folder, apply ``edit(folder)``, commit; return the folder."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        for rel in files:
            if rel == "dvc.lock" or not (ROOT / rel).is_file():
                continue
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, scratch / rel)
        if edit:
            edit(scratch)
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.email=b@m", "-c", "user.name=b", "commit", "-qm", "bench"]):
            subprocess.run(cmd, cwd=scratch, check=True, capture_output=True)
    except BaseException:  # a failed edit or copy must not leave a half-made copy behind
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return scratch


def finish(scratch: Path, keep: bool) -> None:
    """Print the copy's path when kept, else delete it."""
    if keep:
        print(f"scratch copy: {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)
