"""Running Typer apps so that user errors print as one line, never a traceback."""

from __future__ import annotations

import sys
import warnings
from typing import Callable

import typer

from musicml.errors import MusicmlError


def new_app(help: str) -> typer.Typer:
    """A Typer app configured the same way for every stage and the CLI."""
    return typer.Typer(help=help, add_completion=False, pretty_exceptions_enable=False,
                       no_args_is_help=False, rich_markup_mode=None)


def run(app: typer.Typer | Callable[[], None]) -> None:
    """Call ``app``; a :class:`MusicmlError` prints ``error: <message>`` and exits 1.

    Warnings (e.g. a skipped sample layer) print as ``warning: <message>`` lines.
    """
    warnings.formatwarning = lambda message, *args, **kwargs: f"warning: {message}\n"
    try:
        app()
    except MusicmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


def stage(fn: Callable, help: str | None = None) -> None:
    """Run ``fn`` as a one-command stage script (``python stages/x.py --help`` works)."""
    app = new_app(help or (fn.__doc__ or "").strip())
    app.command()(fn)
    run(app)
