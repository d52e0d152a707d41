"""Reading request files for ``musicml route --file``: one request per line, text only."""

from __future__ import annotations

import os

from musicml.errors import InputError


def read_request_lines(path: str | os.PathLike) -> list[str]:
    """The requests of a UTF-8 text file, one per line.

    An empty or blank line is an error (output lines must match input lines
    one to one), as are binary content and a file without requests.
    """
    try:
        raw = open(path, "rb").read()
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror}") from exc
    if b"\x00" in raw:
        raise InputError(path, "binary content; expected a UTF-8 text file with one request per line")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(path, "not UTF-8 text; expected one request per line", line=line) from exc
    lines = text.splitlines()
    if not lines:
        raise InputError(path, "no requests; expected one request per line")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise InputError(path, "empty line; expected one request per line", line=number)
    return [line.strip() for line in lines]
