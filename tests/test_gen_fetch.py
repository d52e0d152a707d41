"""Audio locations: local paths, file:// URLs, unsupported schemes and the size limit."""

from __future__ import annotations

import pytest

from musicml.errors import InputError
from musicml.genmeta.fetch import fetch_audio, local_path


def test_local_forms(tmp_path):
    clip = tmp_path / "a b.wav"
    clip.write_bytes(b"x" * 100)
    assert local_path(str(clip)) == clip
    assert local_path(clip.as_uri()) == clip  # percent-encoded space decoded
    assert local_path("https://host/a.wav") is None
    assert fetch_audio(clip.as_uri(), dest_dir=tmp_path, name="n", max_bytes=100, timeout_s=1) == clip


def test_errors(tmp_path):
    with pytest.raises(InputError, match="unsupported URL scheme 'ftp'"):
        local_path("ftp://host/a.wav")
    (tmp_path / "big.wav").write_bytes(b"x" * 101)
    with pytest.raises(InputError, match="larger than the 100 byte limit"):
        fetch_audio(str(tmp_path / "big.wav"), dest_dir=tmp_path, name="n", max_bytes=100, timeout_s=1)
    with pytest.raises(InputError, match="audio file not found"):
        fetch_audio(str(tmp_path / "none.wav"), dest_dir=tmp_path, name="n", max_bytes=100, timeout_s=1)
