"""The CPU-kernel pinning that makes a commit's hashes the same on AVX2 and AVX-512 machines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig

from musicml import numerics


def test_pin_sets_only_what_is_missing_and_honours_the_opt_out():
    env = {"OPENBLAS_CORETYPE": "Zen"}
    added = numerics.pin(env)
    assert env["OPENBLAS_CORETYPE"] == "Zen" and "OPENBLAS_CORETYPE" not in added
    assert added == {"NPY_DISABLE_CPU_FEATURES": numerics.PINNED["NPY_DISABLE_CPU_FEATURES"]}
    assert numerics.pin({numerics.OPT_OUT: "1"}) == {}


def run_site(tmp_path, extra_env: dict) -> dict:
    """A fresh interpreter with the .pth file in a site dir: its environment and the kernels it chose."""
    numerics.write_pth(tmp_path)
    # -S: no site-packages until the .pth folder has been processed, exactly as at a real start-up.
    code = ("import site, sys, os, json; site.addsitedir(sys.argv[1]); site.addsitedir(sys.argv[2]); "
            "import numpy; "
            "from numpy._core._multiarray_umath import __cpu_features__ as f; "
            "print(json.dumps({'env': {k: os.environ.get(k) for k in sys.argv[3:]}, "
            "'avx512': any(f.get(t) for t in ('X86_V4', 'AVX512_SKX', 'AVX512_ICL', 'AVX512_SPR'))}))")
    env = {k: v for k, v in os.environ.items() if k not in numerics.PINNED and k != numerics.OPT_OUT}
    out = subprocess.run([sys.executable, "-S", "-c", code, str(tmp_path), sysconfig.get_paths()["purelib"],
                          *numerics.PINNED],
                         env={**env, **extra_env}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_the_pth_file_pins_numpy_before_it_loads(tmp_path):
    got = run_site(tmp_path, {})
    assert got["env"] == numerics.PINNED
    assert not got["avx512"]  # whatever the CPU, NumPy's AVX-512 targets are off
    native = run_site(tmp_path, {numerics.OPT_OUT: "1"})
    assert all(v is None for v in native["env"].values())
