"""dvc.yaml lists, for every stage, the library modules its script runs (musicml.stagedeps)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conftest import ROOT
from musicml.cli import app
from musicml.stagedeps import add_deps, import_closure, missing_deps, required_deps, stage_scripts


def test_every_stage_lists_the_library_modules_its_script_imports():
    # The guard itself: a stage that imports a module its deps lack would keep a stale output
    # when that module changes. Fix with `musicml deps sync`.
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert missing_deps(stages, root=ROOT) == {}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def project(tmp_path):
    _write(tmp_path, {
        "src/musicml/__init__.py": '"""Docs only."""\n__version__ = "1"\n',
        "src/musicml/console.py": "import musicml.errors\n",
        "src/musicml/errors.py": "class E(Exception):\n    pass\n",
        "src/musicml/a.py": "from .b import helper\nfrom musicml import console\n",
        "src/musicml/b.py": """\
            def helper():
                import musicml.pkg.c  # imported only when called: still a dependency
                return musicml.pkg.c.VALUE
            """,
        "src/musicml/pkg/__init__.py": "from . import d\n",
        "src/musicml/pkg/c.py": "VALUE = 1\n",
        "src/musicml/pkg/d.py": "from ..a import helper\n",
        "src/musicml/unused.py": "X = 2\n",
        "stages/s.py": "import numpy\nfrom musicml.a import helper\n",
    })
    return tmp_path


def test_the_closure_follows_relative_lazy_and_package_imports(project):
    src = project / "src"
    found = {p.relative_to(src).as_posix() for p in import_closure(project / "stages/s.py", src_root=src)}
    assert found == {"musicml/__init__.py", "musicml/a.py", "musicml/b.py", "musicml/console.py",
                     "musicml/errors.py", "musicml/pkg/__init__.py", "musicml/pkg/c.py", "musicml/pkg/d.py"}


def test_required_deps_skip_bare_packages_and_output_neutral_modules(project):
    required = required_deps({"cmd": "python stages/s.py --flag"}, root=project)
    # musicml/__init__.py holds only a docstring and a constant; console and errors only print and raise.
    assert required == ["stages/s.py", "src/musicml/a.py", "src/musicml/b.py", "src/musicml/pkg/__init__.py",
                        "src/musicml/pkg/c.py", "src/musicml/pkg/d.py"]


def test_missing_deps_names_what_a_stage_lacks_and_accepts_a_listed_folder(project):
    stages = {
        "short": {"cmd": "python stages/s.py", "deps": ["stages/s.py", "src/musicml/a.py", "data/x"]},
        "folder": {"cmd": "python stages/s.py", "deps": ["stages/s.py", "src/musicml"]},
    }
    assert missing_deps(stages, root=project) == {
        "short": ["src/musicml/b.py", "src/musicml/pkg/__init__.py", "src/musicml/pkg/c.py", "src/musicml/pkg/d.py"]}


def test_stage_scripts_reads_one_or_several_commands():
    assert stage_scripts("python stages/a.py --x 1") == ["stages/a.py"]
    assert stage_scripts(["python stages/a.py", "python stages/b.py"]) == ["stages/a.py", "stages/b.py"]
    assert stage_scripts("dvc exp show") == []


DVC_YAML = """\
# a comment that must stay
stages:
  one:
    cmd: python stages/s.py
    deps:
      - stages/s.py
      - src/musicml/a.py   # the entry point
      - data/x
    outs:
      - out/one
  two:
    cmd: python stages/s.py
    deps:
      - data/y
    params:
      - seed
"""


def test_add_deps_inserts_after_the_last_code_dep_and_keeps_every_other_line():
    text = add_deps(DVC_YAML, {"one": ["src/musicml/b.py"], "two": ["stages/s.py", "src/musicml/a.py"]})
    assert text.splitlines() == [
        "# a comment that must stay", "stages:", "  one:", "    cmd: python stages/s.py", "    deps:",
        "      - stages/s.py", "      - src/musicml/a.py   # the entry point", "      - src/musicml/b.py",
        "      - data/x", "    outs:", "      - out/one", "  two:", "    cmd: python stages/s.py", "    deps:",
        "      - data/y", "      - stages/s.py", "      - src/musicml/a.py", "    params:", "      - seed"]
    assert yaml.safe_load(text)["stages"]["two"]["deps"] == ["data/y", "stages/s.py", "src/musicml/a.py"]


def test_add_deps_refuses_a_stage_without_a_deps_list():
    with pytest.raises(ValueError, match="stage 'three' has no `deps:` list"):
        add_deps(DVC_YAML, {"three": ["src/musicml/a.py"]})


def test_deps_check_fails_then_sync_fixes_the_file(project):
    dvc_yaml = project / "dvc.yaml"
    dvc_yaml.write_text(DVC_YAML.replace("stages/s.py\n      - src/musicml/a.py   # the entry point\n",
                                         "stages/s.py\n"))
    runner = CliRunner()
    check = runner.invoke(app, ["deps", "check", "--dvc-yaml", str(dvc_yaml)])
    assert check.exit_code == 1
    assert f"{dvc_yaml}: stage one: deps lack src/musicml/a.py, src/musicml/b.py," in check.output
    assert "stage two: deps lack stages/s.py, src/musicml/a.py" in check.output

    sync = runner.invoke(app, ["deps", "sync", "--dvc-yaml", str(dvc_yaml)])
    assert sync.exit_code == 0, sync.output
    assert dvc_yaml.read_text().startswith("# a comment that must stay\n")
    again = runner.invoke(app, ["deps", "check", "--dvc-yaml", str(dvc_yaml)])
    assert again.exit_code == 0, again.output
    assert "every stage lists the modules it imports" in again.output
    assert "nothing to add" in runner.invoke(app, ["deps", "sync", "--dvc-yaml", str(dvc_yaml)]).output


def test_a_missing_script_or_a_module_that_does_not_parse_is_a_one_line_error(project):
    from musicml.errors import InputError

    with pytest.raises(InputError, match=r"stages/gone\.py: cannot read: No such file or directory"):
        missing_deps({"gone": {"cmd": "python stages/gone.py", "deps": []}}, root=project)
    (project / "src/musicml/b.py").write_text("def helper(:\n")
    with pytest.raises(InputError, match=r"src/musicml/b\.py:1: not valid Python"):
        missing_deps({"s": {"cmd": "python stages/s.py", "deps": []}}, root=project)
