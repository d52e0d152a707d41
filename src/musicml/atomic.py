"""Write outputs so that a failing or killed process never leaves a truncated file.

Every writer goes to a temporary sibling path and is renamed into place with
:func:`os.replace`, which is atomic on POSIX file systems.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


# Fault injection for the fault tests (tests/test_faults.py): with MUSICML_FAULT_PAUSE=NAME[:N] the N-th
# (default first) atomic write of an output named NAME stops once its temporary is written, before the
# rename, and creates the marker `.NAME.paused.tmp`; the test then SIGKILLs the process at exactly the
# moment a non-atomic writer would leave a truncated file. Unset, it costs one dictionary look-up.
FAULT_PAUSE_ENV = "MUSICML_FAULT_PAUSE"
_writes: Counter = Counter()


def _fault_pause(final: Path) -> None:
    spec = os.environ.get(FAULT_PAUSE_ENV)
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != final.name:
        return
    _writes[name] += 1
    if _writes[name] == int(nth or 1):
        (final.parent / f".{final.name}.paused.tmp").touch()
        time.sleep(3600)


def _remove_stale_temporaries(final: Path) -> None:
    """Delete temporaries that a killed earlier writer of ``final`` left behind."""
    for stale in final.parent.glob(f".{final.name}.*.tmp"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On an exception the temporary file or directory is removed and ``path`` keeps
    its previous content (or stays absent).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(final)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        _fault_pause(final)
        if is_dir:
            if final.exists():
                old = final.with_name(f".{final.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(final, old)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, final)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically, the same bytes for the same ``obj``.

    Given a file name, ``torch.save`` names the zip archive's root folder after it, so
    saving through :func:`atomic_path`'s random temporary name made every run's bytes
    differ (and DVC re-ran the stages downstream). Given a file object, the root is
    always ``archive``.
    """
    import torch  # here, so that modules which never save a model need no torch

    with atomic_path(path) as tmp, open(tmp, "wb") as fileobj:
        torch.save(obj, fileobj)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON (stable bytes for stable hashes)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def copy_file(source: str | os.PathLike, path: str | os.PathLike) -> None:
    """Copy ``source`` to ``path`` atomically (``path`` never holds a partial copy)."""
    with atomic_path(path) as tmp:
        shutil.copyfile(source, tmp)
