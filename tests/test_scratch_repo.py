"""benchmarks/scratch_repo.py: commands in a scratch copy run the copy's code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import scratch_repo  # noqa: E402


def test_a_scratch_copy_imports_its_own_musicml(tmp_path):
    # The venv's musicml is an editable install of the working copy; a copy whose src/ was edited
    # must run that edit, or a benchmark times (and DVC hashes) code that did not run.
    package = tmp_path / "src" / "musicml"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("EDITED = True\n")
    out = subprocess.run(["python", "-c", "import musicml; print(musicml.__file__, musicml.EDITED)"], cwd=tmp_path,
                         env=scratch_repo.scratch_env(tmp_path), capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(package / "__init__.py"), "True"]


def test_the_scratch_environment_puts_the_venv_first():
    env = scratch_repo.scratch_env(ROOT)
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT / "src")
