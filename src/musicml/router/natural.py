"""The hand-written natural requests (``data/raw/router/natural.jsonl``): evaluation only, never training."""

from __future__ import annotations

import os

import pandas as pd

from musicml.errors import InputError
from musicml.router.mixing import read_requests


def read_natural(path: str | os.PathLike) -> pd.DataFrame:
    """Labelled requests in the import format; an unlabelled row is an error here."""
    labelled, unlabelled = read_requests(path)
    if len(unlabelled):
        raise InputError(path, f"every natural request needs both labels ({unlabelled.iloc[0]['origin']} has none)")
    if not len(labelled):
        raise InputError(path, "no requests")
    return labelled
