"""Bring real Hydrogen drum kits into the repository (what ``make kits`` runs).

``musicml kits add --from DIR`` calls :func:`add_kits`, which

1. copies every kit folder of ``DIR`` into ``data/raw/hydrogen/<folder>``
   (:func:`copy_kits`; kits already there unchanged are left alone),
2. puts each copied folder under DVC (:func:`dvc_add`),
3. parses all kits there to learn their session ids and class coverage,
4. holds out a deterministic set of well-covered kits as test kits
   (:func:`choose_test_kits`), and
5. switches the ``hydrogen`` source on in ``params.yaml``, keeping its comments
   and key order (:func:`enable_hydrogen`).

Every step is idempotent: running it again changes nothing and reports nothing.
"""

from __future__ import annotations

import filecmp
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Collection, Iterable, Mapping, Sequence

import pandas as pd
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.util import load_yaml_guess_indent

from musicml.atomic import atomic_path
from musicml.drums.hydrogen import kit_dirs, parse_kits
from musicml.errors import ConfigError, InputError, MusicmlError
from musicml.taxonomy import Taxonomy

DEFAULT_DEST = "data/raw/hydrogen"
# A test kit must exercise most of the taxonomy, or macro-F1 on it says little:
# kits below this many known classes (hand-percussion kits, 5-class
# electro kits) stay in training.
MIN_TEST_CLASSES = 8


# ------------------------------------------------------------------------- copy


def _files(root: Path) -> list[Path]:
    """Relative paths of every file under ``root``, sorted."""
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def _same_tree(a: Path, b: Path) -> bool:
    """True when both folders hold the same relative file names with the same bytes."""
    names = _files(a)
    if names != _files(b):
        return False
    return all(filecmp.cmp(a / name, b / name, shallow=False) for name in names)


def copy_kits(src_root: str | os.PathLike, dest_root: str | os.PathLike) -> list[str]:
    """Copy each kit folder of ``src_root`` to ``dest_root/<same folder name>``.

    Parameters
    ----------
    src_root : path
        A folder of Hydrogen kit folders (each holding ``drumkit.xml``).
    dest_root : path
        Where the kits go; created if needed.

    Returns
    -------
    list of str
        Folder names of the kits copied or updated, in name order; a kit already
        present with identical content is skipped, so a second call returns ``[]``.

    Raises
    ------
    InputError
        ``src_root`` is missing or holds no kit.
    """
    sources = kit_dirs(src_root)
    if not sources:
        raise InputError(src_root, "no Hydrogen kit found: expected sub-folders holding drumkit.xml")
    return [kit.name for kit in sources if copy_folder(kit, Path(dest_root) / kit.name)]


def copy_folder(src: str | os.PathLike, target: str | os.PathLike) -> bool:
    """Copy folder ``src`` to ``target`` unless it already holds identical content.

    The copy is made beside the target and swapped in, so an interrupted copy
    never leaves a half folder that a later run would take as present.
    Returns True when something was copied.
    """
    src, target = Path(src), Path(target)
    if target.is_dir() and _same_tree(src, target):
        return False
    with atomic_path(target, is_dir=True) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
    return True


# -------------------------------------------------------------------------- dvc


def dvc_add(paths: Iterable[str | os.PathLike], *, cwd: str | os.PathLike | None = None) -> None:
    """Track ``paths`` with ``dvc add`` (the ``dvc`` of this interpreter's environment).

    Raises
    ------
    MusicmlError
        One line with the exit status and DVC's last message when it fails.
    """
    targets = [str(p) for p in paths]
    if not targets:
        return
    # The venv's own dvc, not whatever is first on PATH: same version as the lock.
    dvc = Path(sys.executable).parent / "dvc"
    if not dvc.exists():
        raise MusicmlError(f"dvc not found at {dvc}: install the project's environment first")
    result = subprocess.run([str(dvc), "add", *targets], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        detail = lines[-1] if lines else "no output"
        raise MusicmlError(f"dvc add {' '.join(targets)} failed (exit {result.returncode}): {detail}")


# ------------------------------------------------------------------- test kits


def known_classes(events: pd.DataFrame, taxonomy: Taxonomy) -> dict[str, set[str]]:
    """Per session id, the taxonomy classes its events hold (possibly none)."""
    coverage: dict[str, set[str]] = {str(s): set() for s in events["session_id"].unique()}
    for session_id, label in zip(events["session_id"], events["label"]):
        if taxonomy.is_known(label):
            coverage[str(session_id)].add(str(label))
    return coverage


def _seeded_rank(seed: int, session_id: str) -> str:
    """A seed-dependent sort key that does not depend on which other kits exist."""
    return hashlib.sha256(f"{seed}|{session_id}".encode()).hexdigest()


def choose_test_kits(
    session_ids: Iterable[str],
    *,
    fraction: float = 0.3,
    seed: int,
    classes: Mapping[str, Collection[str]] | None = None,
    min_classes: int = MIN_TEST_CLASSES,
) -> list[str]:
    """Pick the real kits held out for testing, deterministically.

    Parameters
    ----------
    session_ids : iterable of str
        All kit session ids.
    fraction : float
        Share of the kits to hold out; at least one kit is always chosen.
    seed : int
        Decides among equally good kits. Each kit's rank depends only on the
        seed and its own id, so adding kits later rarely reshuffles the choice.
    classes : mapping, optional
        Known classes per session id (see :func:`known_classes`). When given,
        only kits with at least ``min_classes`` classes are candidates (or, if
        none qualifies, the best-covered ones), and kits are picked greedily to
        add the most classes not yet covered by the test set.
    min_classes : int
        Coverage a kit needs to be a test candidate.

    Returns
    -------
    list of str
        The chosen session ids, sorted.

    Raises
    ------
    ConfigError
        No session ids, or ``fraction`` outside (0, 1].
    """
    ids = sorted(set(session_ids))
    if not ids:
        raise ConfigError("no kits to choose test kits from")
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"test-kit fraction must be in (0, 1], got {fraction}")
    wanted = max(1, round(fraction * len(ids)))
    ranked = sorted(ids, key=lambda s: _seeded_rank(seed, s))
    if classes is None:
        return sorted(ranked[:wanted])
    coverage = {s: set(classes.get(s, ())) for s in ranked}
    candidates = [s for s in ranked if len(coverage[s]) >= min_classes]
    if not candidates:
        best = max(len(c) for c in coverage.values())
        candidates = [s for s in ranked if len(coverage[s]) == best]
    return sorted(_greedy_cover(candidates, coverage, min(wanted, len(candidates))))


def _greedy_cover(candidates: Sequence[str], coverage: Mapping[str, set[str]], count: int) -> list[str]:
    """Take ``count`` candidates, each adding the most uncovered classes (ties: list order)."""
    chosen: list[str] = []
    covered: set[str] = set()
    remaining = list(candidates)
    while len(chosen) < count:
        pick = max(remaining, key=lambda s: len(coverage[s] - covered))  # first of equals wins
        remaining.remove(pick)
        chosen.append(pick)
        covered |= coverage[pick]
    return chosen


# ---------------------------------------------------------------------- params


def _show(value: Any) -> str:
    """A value as it reads in YAML, for change messages."""
    if value is _UNSET:
        return "(unset)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


class _Unset:
    """Marks a key that is absent (distinct from an explicit null)."""


_UNSET: Any = _Unset()


def _parent(doc: CommentedMap, keys: Sequence[str], *, path: Path) -> CommentedMap:
    """The mapping that holds ``keys[-1]``, creating missing levels at the end."""
    node = doc
    for i, key in enumerate(keys[:-1]):
        if key not in node or node[key] is None:
            node[key] = CommentedMap()
        node = node[key]
        if not isinstance(node, dict):
            where = ".".join(keys[: i + 1])
            raise InputError(path, f"expected a mapping at '{where}', got {type(node).__name__}", field=where)
    return node


def _plain(value: Any) -> Any:
    """Round-trip YAML node as plain Python, for messages."""
    return list(value) if isinstance(value, list) else value


def _same(old: Any, new: Any) -> bool:
    """Whether a loaded YAML value already equals ``new`` (``1`` is not ``true``)."""
    if isinstance(new, bool) or isinstance(old, bool):
        return isinstance(old, bool) and isinstance(new, bool) and old == new
    if isinstance(new, list):
        return isinstance(old, list) and list(old) == new
    return old == new  # quoted scalars load as str subclasses; equality still holds


def _set_list(parent: CommentedMap, key: str, values: list) -> None:
    """Replace a list's items in place so its style and trailing comments survive."""
    old = parent.get(key)
    if not isinstance(old, CommentedSeq):
        seq = CommentedSeq(values)
        seq.fa.set_flow_style()  # ids read best on one line: [a, b, c]
        parent[key] = seq
        return
    # In block style the comment after a list hangs on its last item; move it
    # to the new last item instead of losing it or leaving it mid-list.
    tail = old.ca.items.pop(len(old) - 1, None) if len(old) else None
    if not old:
        old.fa.set_flow_style()  # `[]` grows into `[a, b]`, not a block list
    old.clear()
    old.extend(values)
    for index in list(old.ca.items):
        if index >= len(old):
            del old.ca.items[index]
    if tail is not None and values:
        old.ca.items[len(values) - 1] = tail


def _set(doc: CommentedMap, dotted: str, value: Any, *, path: Path) -> list[str]:
    """Set ``dotted`` (``a.b.c``) to ``value``; return the change line, or nothing."""
    keys = dotted.split(".")
    parent = _parent(doc, keys, path=path)
    old = parent.get(keys[-1], _UNSET)
    if old is not _UNSET and _same(old, value):
        return []
    line = f"{dotted}: {_show(_plain(old))} -> {_show(value)}"  # before an in-place list edit
    if isinstance(value, list):
        _set_list(parent, keys[-1], value)
    else:
        parent[keys[-1]] = value
    return [line]


def _mapping_indent(text: str) -> int:
    """Indent of the first nested mapping key in ``text`` (2 when there is none)."""
    parent = None
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(raw) - len(raw.lstrip(" "))
        if parent is not None and depth > parent and not stripped.startswith("-"):
            return depth - parent
        parent = depth if stripped.endswith(":") and not stripped.startswith("-") else None
    return 2


def _load_params(path: Path) -> tuple[YAML, CommentedMap]:
    """Round-trip load ``path``, keeping its indentation style for the rewrite."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(path, f"cannot read params: {exc.strerror}") from exc
    yaml = YAML()  # round-trip: comments, key order and quoting survive
    yaml.preserve_quotes = True
    try:
        doc, indent, seq_offset = load_yaml_guess_indent(text)
    except Exception as exc:  # ruamel raises several error types
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(path, f"not valid YAML: {getattr(exc, 'problem', exc)}", line=line) from exc
    # ruamel's guess describes block sequences; mappings are measured apart.
    yaml.indent(mapping=_mapping_indent(text), sequence=indent or 2, offset=seq_offset or 0)
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise InputError(path, f"expected a mapping at the top level, got {type(doc).__name__}")
    return yaml, doc


def _strip_trailing_spaces(text: str) -> str:
    """Drop the trailing blanks ruamel leaves where it re-wraps a long flow list."""
    return "\n".join(line.rstrip() for line in text.split("\n"))


def enable_hydrogen(
    params_path: str | os.PathLike,
    *,
    kits_root: str | os.PathLike,
    test_kits: Iterable[str],
) -> list[str]:
    """Switch the Hydrogen source on in ``params.yaml``, keeping comments and order.

    Sets ``sources.hydrogen.enabled: true``, ``sources.hydrogen.path`` to
    ``kits_root`` and ``split.test_kits`` to ``test_kits``, creating missing
    sections. The file is rewritten (atomically) only when something changed.

    Returns
    -------
    list of str
        One line per changed key, e.g. ``"sources.hydrogen.enabled: false -> true"``;
        empty when the file already said all this.

    Raises
    ------
    InputError
        The file is missing, is not YAML, or a section on the way is not a mapping.
    """
    return update_params(params_path, {
        "sources.hydrogen.enabled": True,
        "sources.hydrogen.path": Path(kits_root).as_posix(),
        "split.test_kits": list(test_kits),
    })


def update_params(params_path: str | os.PathLike, values: Mapping[str, Any]) -> list[str]:
    """Set dotted keys of ``params.yaml`` to ``values``, keeping comments and order.

    Missing sections are created; the file is rewritten (atomically) only when
    something changed. Returns one ``"key: old -> new"`` line per changed key.
    """
    path = Path(params_path)
    yaml, doc = _load_params(path)
    changes = [line for dotted, value in values.items() for line in _set(doc, dotted, value, path=path)]
    if changes:
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            yaml.dump(doc, handle, transform=_strip_trailing_spaces)
    return changes


# ---------------------------------------------------------------- orchestration


def add_kits(
    src_root: str | os.PathLike,
    *,
    dest_root: str | os.PathLike = DEFAULT_DEST,
    params_path: str | os.PathLike = "params.yaml",
    taxonomy: Taxonomy,
    seed: int = 0,
    track: bool = True,
) -> list[str]:
    """Copy, track and enable the kits of ``src_root``: ``musicml kits add --from``.

    Parameters
    ----------
    src_root : path
        A folder of Hydrogen kit folders (e.g. ``/usr/share/hydrogen/data/drumkits``).
    dest_root : path
        Where the kits live in the repository, relative to its root.
    params_path : path
        The ``params.yaml`` to update.
    taxonomy : Taxonomy
        Labels the kits, to choose well-covered test kits.
    seed : int
        Seed of the test-kit choice.
    track : bool
        Run ``dvc add`` on every kit folder (off in tests).

    Returns
    -------
    list of str
        What changed: one line per copied kit, then the ``params.yaml`` changes.
        Empty on a repeated run.

    Notes
    -----
    Test kits are chosen among *all* kits in ``dest_root``, so kits added by an
    earlier run take part. Layers whose sample file is missing (a packaging bug
    some published kits have) are skipped with a ``KitWarning`` here rather than
    failing the whole import.
    """
    names = [d.name for d in kit_dirs(src_root)]
    copied = copy_kits(src_root, dest_root)
    if track:
        # Every kit, not only the copied ones: a run interrupted between copy
        # and `dvc add` must still end with all kits tracked.
        dvc_add(Path(dest_root) / name for name in names)
    events = parse_kits(dest_root, taxonomy=taxonomy, on_missing="skip")
    coverage = known_classes(events, taxonomy)
    test_kits = choose_test_kits(coverage, seed=seed, classes=coverage)
    changes = [f"copied kit {Path(src_root) / n} -> {Path(dest_root) / n}" for n in copied]
    return changes + enable_hydrogen(params_path, kits_root=dest_root, test_kits=test_kits)
