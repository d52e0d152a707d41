"""Locating the command-line tools the release commands drive (dvc, gto, vl2svg)."""

from __future__ import annotations

import os
import shutil
import sys


def tool(name: str) -> str:
    """The ``name`` executable beside this Python (the project's venv) first, then on PATH.

    Running ``.venv/bin/musicml`` without activating the venv must still find
    the venv's dvc and gto, not another version elsewhere on PATH.
    """
    local = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(local):
        return local
    return shutil.which(name) or name
