"""`musicml route` input handling (the model itself is covered by the end-to-end router test)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT
from musicml.errors import InputError
from musicml.router.requests_io import read_request_lines


def _route(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "musicml.cli", "route", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_read_request_lines(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("mute track 2\n  write a riff  \n")
    assert read_request_lines(path) == ["mute track 2", "write a riff"]
    path.write_text("mute\n\nthanks\n")
    with pytest.raises(InputError, match=r"r.txt:2: empty line"):
        read_request_lines(path)
    path.write_bytes(b"\x00\x01binary")
    with pytest.raises(InputError, match="binary"):
        read_request_lines(path)
    path.write_bytes(b"ok\n\xff\xfe\n")
    with pytest.raises(InputError, match=r"r.txt:2: not UTF-8"):
        read_request_lines(path)
    path.write_text("")
    with pytest.raises(InputError, match="no requests"):
        read_request_lines(path)


@pytest.mark.parametrize("args, message", [
    (["   "], "empty request"),
    ([], "either TEXT or --file"),
    (["mute", "--out", "x.jsonl"], "--out needs --file"),
])
def test_route_rejects_bad_input_in_one_line(tmp_path, args, message):
    proc = _route(*args, "--model", str(tmp_path / "none"), cwd=tmp_path)
    assert proc.returncode == 1 and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_route_without_an_exported_model_says_so(tmp_path):
    proc = _route("mute track 2", "--model", str(tmp_path / "missing"), cwd=tmp_path)
    assert proc.returncode == 1 and "not an exported router" in proc.stderr
