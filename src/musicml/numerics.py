"""One set of CPU kernels for NumPy and OpenBLAS, so the data stages' hashes do not depend on the machine.

NumPy and OpenBLAS choose SIMD kernels when they load: on a CPU with AVX-512
they run other kernels than on an AVX2-only one, and float64 ``exp`` / ``log``
/ ``power`` and BLAS reductions then differ in their last bits. That is enough
to flip single 16-bit samples of the synthesizer's audio (2,428 of 23.3
million samples in four kits, by one step each), which changes the hash of
``data/raw/synth`` and of everything downstream: a fresh clone's ``dvc repro``
on an AVX-512 machine re-ran all 52 stages against a ``dvc.lock`` written on
an AVX2 machine and moved the figures.

:data:`PINNED` caps both at their AVX2 kernels, the level any x86-64 machine
of the last decade has. Measured: with it, the AVX-512 machine reproduced the
AVX2 machine's hashes from the synthesizer to the feature store. PyTorch
training still differs between those two machines in the third decimal (its
oneDNN / MKL / ATen kernels capped at AVX2 as well did not make it equal, so
they are left free). The variables only take effect before the libraries
load, hence a ``.pth`` file in the virtual environment (``make setup`` writes
it with ``python -m musicml.numerics``): Python runs it at start-up, before
any import. Values already in the environment win; ``MUSICML_NATIVE_SIMD=1``
turns the pinning off.
"""

from __future__ import annotations

import argparse
import os
import sysconfig
from pathlib import Path
from typing import MutableMapping

#: Environment variable -> value that caps a library at its AVX2 kernels.
PINNED: dict[str, str] = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # NumPy 2.x names of its AVX-512 targets
    "OPENBLAS_CORETYPE": "Haswell",                               # NumPy's and SciPy's OpenBLAS
}
OPT_OUT = "MUSICML_NATIVE_SIMD"
PTH_NAME = "musicml-numerics.pth"


def pin(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set each :data:`PINNED` variable that ``environ`` (default ``os.environ``) lacks; returns those set.

    Nothing is set when ``environ[OPT_OUT]`` is ``1``. Only a process whose numeric libraries have not
    loaded yet is affected (the ``.pth`` file runs this at interpreter start-up).
    """
    env = os.environ if environ is None else environ
    if env.get(OPT_OUT) == "1":
        return {}
    added = {k: v for k, v in PINNED.items() if k not in env}
    env.update(added)
    return added


def pth_text() -> str:
    """The one-line ``.pth`` file: Python executes lines that start with ``import`` at start-up.

    Self-contained (it imports nothing of musicml), so it works before the package is importable.
    """
    return (f"import os; os.environ.get({OPT_OUT!r}) == '1' or "
            f"[os.environ.setdefault(k, v) for k, v in {sorted(PINNED.items())!r}]\n")


def write_pth(site_packages: str | os.PathLike | None = None) -> Path:
    """Write :func:`pth_text` into ``site_packages`` (default: this interpreter's) and return its path."""
    folder = Path(site_packages or sysconfig.get_paths()["purelib"])
    path = folder / PTH_NAME
    path.write_text(pth_text(), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the .pth file that pins the numeric libraries' CPU "
                                                 "kernels to AVX2 in this Python environment.")
    parser.add_argument("--site-packages", default=None, help="Target folder (default: this interpreter's).")
    args = parser.parse_args()
    print(f"numerics: CPU kernels pinned to AVX2 in {write_pth(args.site_packages)} (opt out: {OPT_OUT}=1)")


if __name__ == "__main__":
    main()
