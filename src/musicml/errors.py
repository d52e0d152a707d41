"""One small error hierarchy that every command-line entry point prints as one line."""

from __future__ import annotations

import functools


class MusicmlError(Exception):
    """Base class of every error a user can cause (bad input, failed gate, bad config)."""


class InputError(MusicmlError):
    """Bad input data: names the file, the line or row, the field and what was expected.

    Parameters
    ----------
    path : str
        The file (or directory) that holds the bad input.
    message : str
        What is wrong and what was expected.
    line : int, optional
        1-based line (JSONL/CSV) or row number.
    field : str, optional
        The offending field or column.
    """

    def __init__(self, path: object, message: str, *, line: int | None = None, field: str | None = None):
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        where = self.path if line is None else f"{self.path}:{line}"
        what = f" field '{field}':" if field else ""
        super().__init__(f"{where}:{what} {message}")

    def __reduce__(self):
        # Picklable with its keyword fields, so an error raised in a worker process
        # (features.workers) reaches the parent intact.
        return functools.partial(InputError, line=self.line, field=self.field), (self.path, self.message)


class ConfigError(MusicmlError):
    """A parameter or option has a value the code cannot use."""


class GateError(MusicmlError):
    """A quality gate failed in strict mode; the message names the gate and the figure."""
