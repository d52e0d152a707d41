"""Which library modules each pipeline stage runs, so that ``dvc.yaml``'s ``deps`` can be checked.

DVC re-runs a stage when one of its ``deps`` changes. A stage script imports the
library, and the library imports more of itself: a module the stage runs but
does not list is a change DVC cannot see, and ``dvc repro`` then keeps an output
that the current code would no longer produce. This module follows the imports
of every stage script through ``src/musicml`` (statically, with :mod:`ast`, so
nothing is executed), and reports or adds the modules a stage's ``deps`` lack.

The closure is deliberately generous: an import inside a function counts even
when the stage never calls that function. A needless dependency costs a re-run;
a missing one costs a stale result.

    musicml deps check    # one line per stage that lacks a module; exit 1
    musicml deps sync     # add the missing modules to dvc.yaml
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from musicml.errors import InputError

PACKAGE = "musicml"
# Modules that cannot change what a stage writes: they print (console) or raise (errors).
# Listing them would re-run the whole graph for a reworded message.
OUTPUT_NEUTRAL = frozenset({f"{PACKAGE}/console.py", f"{PACKAGE}/errors.py"})


def module_name(path: Path, src_root: Path) -> str:
    """``src/musicml/drums/x.py`` -> ``musicml.drums.x``; a package's ``__init__.py`` -> the package."""
    parts = path.relative_to(src_root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_file(name: str, src_root: Path) -> Path | None:
    """The file that defines module ``name`` under ``src_root``, or None (not ours, or an attribute)."""
    base = src_root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parse(path: Path, parsed: dict[Path, ast.Module] | None = None) -> ast.Module:
    """``path``'s syntax tree, from ``parsed`` when a caller checking many stages keeps one."""
    if parsed is not None and path in parsed:
        return parsed[path]
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from exc
    except SyntaxError as exc:
        raise InputError(path, f"not valid Python: {exc.msg}", line=exc.lineno) from exc
    if parsed is not None:
        parsed[path] = tree
    return tree


def imported_names(path: Path, *, src_root: Path, parsed: dict[Path, ast.Module] | None = None) -> set[str]:
    """Every dotted name ``path`` imports, anywhere in the file, relative imports resolved.

    ``from a.b import c`` gives both ``a.b`` and ``a.b.c``: ``c`` may be a submodule or
    an attribute, and :func:`module_file` tells them apart.
    """
    tree = _parse(path, parsed)
    inside = path.is_relative_to(src_root)
    package = module_name(path, src_root) if inside else ""
    if inside and path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_closure(script: Path, *, src_root: Path, parsed: dict[Path, ast.Module] | None = None) -> set[Path]:
    """The files of ``src_root/musicml`` that running ``script`` may import, directly or not.

    Importing ``musicml.drums.x`` also runs ``musicml/__init__.py`` and
    ``musicml/drums/__init__.py``, so parent packages are part of the closure.
    """
    seen: set[Path] = set()
    todo = [script]
    while todo:
        for name in imported_names(todo.pop(), src_root=src_root, parsed=parsed):
            if name.split(".")[0] != PACKAGE:
                continue
            parts = name.split(".")
            for end in range(1, len(parts) + 1):
                found = module_file(".".join(parts[:end]), src_root)
                if found is not None and found not in seen:
                    seen.add(found)
                    todo.append(found)
    return seen


def runs_code(path: Path, parsed: dict[Path, ast.Module] | None = None) -> bool:
    """False for a module that holds only a docstring and dunder metadata (``__version__``): a bare ``__init__``."""
    tree = _parse(path, parsed)
    return not all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        or isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id.startswith("__")
                                                for t in node.targets)
        for node in tree.body
    )


def stage_scripts(cmd: str | list[str]) -> list[str]:
    """The ``stages/*.py`` scripts a stage's ``cmd`` runs."""
    commands = cmd if isinstance(cmd, list) else [cmd]
    return [word for command in commands for word in command.split()
            if word.startswith("stages/") and word.endswith(".py")]


def _dep_paths(stage: Mapping) -> list[str]:
    return [next(iter(dep)) if isinstance(dep, dict) else str(dep) for dep in stage.get("deps") or []]


def _covered(path: str, deps: Iterable[str]) -> bool:
    """True when ``path`` is a dep or lies inside a folder that is one."""
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def required_deps(stage: Mapping, *, root: Path, parsed: dict[Path, ast.Module] | None = None) -> list[str]:
    """The files, relative to ``root``, that a stage must list: its scripts and the modules they run.

    ``parsed`` (a dict, filled as files are read) lets many stages share one parse of each module.
    """
    src_root = root / "src"
    scripts = stage_scripts(stage.get("cmd", ""))
    modules: set[Path] = set()
    for script in scripts:
        modules |= import_closure(root / script, src_root=src_root, parsed=parsed)
    needed = [m for m in modules
              if runs_code(m, parsed) and m.relative_to(src_root).as_posix() not in OUTPUT_NEUTRAL]
    return scripts + sorted(m.relative_to(root).as_posix() for m in needed)


def missing_deps(stages: Mapping[str, Mapping], *, root: Path) -> dict[str, list[str]]:
    """Per stage (in file order), the required files its ``deps`` do not cover; stages lacking none are left out."""
    missing = {}
    parsed: dict[Path, ast.Module] = {}  # the stages share most modules: read and parse each once
    for name, stage in stages.items():
        deps = _dep_paths(stage)
        lacking = [path for path in required_deps(stage, root=root, parsed=parsed) if not _covered(path, deps)]
        if lacking:
            missing[name] = lacking
    return missing


@dataclass(frozen=True)
class _DepsBlock:
    """Where one stage's ``deps:`` list sits in the text: its item indent and the line to insert after."""
    indent: str
    insert_after: int


_STAGE = re.compile(r"^  (?P<name>[A-Za-z0-9_\-@{}$.]+):\s*(#.*)?$")
_ITEM = re.compile(r"^(?P<indent>\s+)- (?P<path>[^\s:#]+)")


def _deps_blocks(lines: list[str]) -> dict[str, _DepsBlock]:
    """Each stage's ``deps:`` list in a ``dvc.yaml`` written in the usual block style."""
    blocks: dict[str, _DepsBlock] = {}
    stage = None
    i = 0
    while i < len(lines):
        found = _STAGE.match(lines[i])
        if found:
            stage = found.group("name")
        elif stage and lines[i].strip() == "deps:":
            key_indent = len(lines[i]) - len(lines[i].lstrip())
            last, indent, last_src = i, " " * (key_indent + 2), None
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or
                                      len(lines[j]) - len(lines[j].lstrip()) > key_indent):
                item = _ITEM.match(lines[j])
                if item and len(item.group("indent")) == key_indent + 2:
                    indent = item.group("indent")
                    last = j
                    if item.group("path").startswith(("src/", "stages/")):
                        last_src = j
                j += 1
            blocks[stage] = _DepsBlock(indent, last if last_src is None else last_src)
            i = j
            continue
        i += 1
    return blocks


def add_deps(text: str, additions: Mapping[str, Iterable[str]]) -> str:
    """``dvc.yaml``'s text with each stage's ``additions`` listed after its last code dep.

    Comments, order and every other line stay as they are.

    Raises
    ------
    ValueError
        A stage of ``additions`` has no block-style ``deps:`` list to add to.
    """
    lines = text.splitlines(keepends=True)
    blocks = _deps_blocks([line.rstrip("\n") for line in lines])
    inserts: dict[int, list[str]] = {}
    for name, paths in additions.items():
        if name not in blocks:
            raise ValueError(f"dvc.yaml: stage {name!r} has no `deps:` list to add {list(paths)} to")
        block = blocks[name]
        inserts.setdefault(block.insert_after, []).extend(f"{block.indent}- {path}\n" for path in paths)
    out: list[str] = []
    for i, line in enumerate(lines):
        out.append(line)
        out.extend(inserts.get(i, []))
    return "".join(out)
