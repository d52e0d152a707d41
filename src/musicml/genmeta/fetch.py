"""Getting a record's audio: a local path, a ``file://`` URL or an ``http(s)://`` download with limits."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from musicml.atomic import atomic_path
from musicml.errors import InputError

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


def local_path(url: str) -> Path | None:
    """The file a local path or ``file://`` URL names; None for http(s) URLs.

    Raises
    ------
    InputError
        For another URL scheme.
    """
    parsed = urlparse(url)
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(url)
    raise InputError(url, f"unsupported URL scheme {parsed.scheme!r}: expected a path, file://, http:// or https://")


def fetch_audio(url: str, *, dest_dir: str | os.PathLike, name: str, max_bytes: int, timeout_s: float) -> Path:
    """The local file holding the audio of ``url``; downloads land in ``dest_dir`` as ``name`` + suffix.

    A download larger than ``max_bytes`` (by Content-Length or by counting)
    or slower than ``timeout_s`` per network operation is abandoned and
    leaves no file behind.

    Raises
    ------
    InputError
        Missing local file, HTTP error, too large, timeout, unsupported scheme.
    """
    path = local_path(url)
    if path is not None:
        if not path.is_file():
            raise InputError(url, "audio file not found")
        if path.stat().st_size > max_bytes:
            raise InputError(url, f"audio larger than the {max_bytes} byte limit")
        return path
    import httpx

    suffix = Path(urlparse(url).path).suffix.lower()
    dest = Path(dest_dir) / (_SAFE.sub("_", name) + (suffix if suffix in AUDIO_SUFFIXES else ".audio"))
    try:
        with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=True) as response:
            if response.status_code != 200:
                raise InputError(url, f"download failed: HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise InputError(url, f"audio larger than the {max_bytes} byte limit ({declared} bytes declared)")
            with atomic_path(dest) as tmp, open(tmp, "wb") as handle:
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise InputError(url, f"audio larger than the {max_bytes} byte limit")
                    handle.write(chunk)
    except httpx.TimeoutException as exc:
        raise InputError(url, f"download timed out after {timeout_s} s") from exc
    except httpx.HTTPError as exc:
        raise InputError(url, f"download failed: {exc}") from exc
    return dest
