"""The router's example table: one request per row with its two labels.

Columns (JSONL on disk, the seed's format plus provenance):

=============  =====  ==========================================================
question       str    the request text
needsDAW       bool   track, clip, FX, mixing, selection, colour/rename, transport
needsArranger  bool   chords, melodies, scales, arpeggios, basslines, riffs, hooks, drums
confidence     float  1.0 for clear requests, lower for edge cases
category       str    daw, arranger, both, edge
operation      str    the template's operation (fx, mixing, chords, question, ...)
template_id    str    the template family; the unit the split holds out
source         str    template, paraphrase, llm_paraphrase or real
=============  =====  ==========================================================
"""

from __future__ import annotations

import os
from typing import Any, Iterable

import pandas as pd

from musicml.errors import InputError
from musicml.manifest import iter_jsonl, write_jsonl

CATEGORIES = ("daw", "arranger", "both", "edge")
LABELS = ("needsDAW", "needsArranger")
COLUMNS = ("question", "needsDAW", "needsArranger", "confidence", "category", "operation", "template_id", "source")


def category_of(needs_daw: bool, needs_arranger: bool) -> str:
    """The category that a clear (non-edge) pair of labels implies; neither agent is an edge case."""
    if needs_daw and needs_arranger:
        return "both"
    if needs_daw:
        return "daw"
    if needs_arranger:
        return "arranger"
    return "edge"


def check_text(value: Any, *, path: str, line: int, field: str = "question") -> str:
    """A request text: a non-empty string after stripping, else :class:`InputError`."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(path, "expected a non-empty text", line=line, field=field)
    return value.strip()


def check_bool(value: Any, *, path: str, line: int, field: str) -> bool:
    """A label: JSON true/false (CSV gives the strings true/false/1/0)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise InputError(path, f"expected true or false, got {value!r}", line=line, field=field)


def frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """A typed example table from row dicts (extra keys such as ``split`` are kept)."""
    df = pd.DataFrame(list(rows))
    for column in COLUMNS:
        if column not in df.columns:
            df[column] = pd.Series(dtype=object)
    if len(df):
        df[list(LABELS)] = df[list(LABELS)].astype(bool)
        df["confidence"] = df["confidence"].astype(float)
    return df


def read_examples(path: str | os.PathLike) -> pd.DataFrame:
    """Read an example JSONL written by :func:`write_examples`; errors name ``path:line`` and field."""
    rows = []
    for line, row in iter_jsonl(path):
        for column in COLUMNS:
            if column not in row:
                raise InputError(path, "missing field", line=line, field=column)
        row["question"] = check_text(row["question"], path=str(path), line=line)
        for label in LABELS:
            row[label] = check_bool(row[label], path=str(path), line=line, field=label)
        if row["category"] not in CATEGORIES:
            raise InputError(path, f"expected one of {list(CATEGORIES)}", line=line, field="category")
        rows.append(row)
    return frame(rows)


def write_examples(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write an example table as JSONL, atomically, columns in a stable order."""
    ordered = [c for c in COLUMNS if c in df.columns] + sorted(c for c in df.columns if c not in COLUMNS)
    write_jsonl(df[ordered].reset_index(drop=True), path)
