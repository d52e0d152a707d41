"""What `make setup` puts into the virtual environment beyond the packages' own code."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from musicml import numerics

ROOT = Path(__file__).resolve().parents[1]
IN_MAKE_VENV = Path(sys.prefix).resolve() == (ROOT / ".venv").resolve()


def test_dvc_reads_params_with_the_c_yaml_parser():
    """DVC parses params.yaml once per params dependency (62 times in a no-op `dvc repro`): the pure-Python
    parser made that 85 % of a no-op's time; ruamel.yaml.clib (pinned in requirements.lock) is 4-5x faster."""
    from dvc.utils.serialize._yaml import parse_yaml
    from ruamel.yaml import YAML

    assert YAML(typ="safe").Parser.__name__ == "CParser"
    assert parse_yaml("a: [1, 2]\n", "p.yaml") == {"a": [1, 2]}


@pytest.mark.skipif(not IN_MAKE_VENV, reason="runs in the .venv that `make setup` builds")
def test_make_setup_pins_the_numeric_kernels_in_this_process():
    assert (Path(sys.prefix) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
            / numerics.PTH_NAME).is_file()
    if os.environ.get(numerics.OPT_OUT) != "1":
        for key in numerics.PINNED:
            assert key in os.environ, key
