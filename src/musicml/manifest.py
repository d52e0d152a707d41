"""The events manifest: one row per labelled drum hit, the contract between stages.

Columns (see ARCHITECTURE.md):

==============  ===============  ====================================================
column          type             meaning
==============  ===============  ====================================================
event_id        str              stable id: hash of source, audio path and onset
source          str              where it came from (synth, hydrogen, manifest, ...)
session_id      str              recording session / kit instance (unit of splits)
kit             str              drum kit name
audio_path      str              audio holding the hit, relative to the repo root
onset_s         float >= 0       onset time in that audio, seconds
label           str              a taxonomy class, or ``unknown`` (open-set)
extra_labels    list[str]        further classes struck at the same onset
techniques      list[str]        playing techniques (hihat_bark, rimshot, flam, ...)
velocity        int 1-127|null   MIDI-style velocity
openness        float 0-1|null   hi-hat openness
==============  ===============  ====================================================

Inside the pipeline manifests are Parquet; JSONL is accepted at the edges.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from musicml.atomic import atomic_path
from musicml.audio import audio_duration
from musicml.errors import InputError

COLUMNS: tuple[str, ...] = (
    "event_id",
    "source",
    "session_id",
    "kit",
    "audio_path",
    "onset_s",
    "label",
    "extra_labels",
    "techniques",
    "velocity",
    "openness",
)
REQUIRED: tuple[str, ...] = ("source", "session_id", "kit", "audio_path", "onset_s", "label")
LIST_COLUMNS: tuple[str, ...] = ("extra_labels", "techniques")
#: Sort keys of :func:`sort_events`: the canonical row order of every manifest written.
SORT_KEYS: tuple[str, ...] = ("source", "session_id", "audio_path", "onset_s", "event_id")
#: Arrow type of a list column held in Arrow memory (``read_events(..., arrow_lists=True)``).
ARROW_LIST = pa.list_(pa.string())
#: Sort keys of :func:`sort_events`: the canonical row order of every manifest written.
SORT_KEYS: tuple[str, ...] = ("source", "session_id", "audio_path", "onset_s", "event_id")
#: Arrow type of a list column held in Arrow memory (``read_events(..., arrow_lists=True)``).
ARROW_LIST = pa.list_(pa.string())


def make_event_id(source: str, audio_path: str, onset_s: float) -> str:
    """Stable 16-hex-digit id of a hit: the same source, file and onset (to 0.1 ms) give the same id."""
    key = f"{source}|{audio_path}|{round(float(onset_s), 4):.4f}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def make_event_ids(sources: pd.Series, audio_paths: pd.Series, onsets: pd.Series) -> pd.Series:
    """:func:`make_event_id` of many hits at once, equal to it row by row.

    The key strings are built column-wise in Arrow and hashed by DuckDB's
    ``sha1`` over the whole column (C++, both cores, no Python object per
    row): on a million hits about 0.4 s of CPU where ``hashlib`` called once
    per row took 2 s (``benchmarks/scale_engines.py``).

    Returns
    -------
    Series of str, the ids, on a fresh RangeIndex.
    """
    import duckdb  # imported here: only merge_manifests hashes whole columns

    onset = pd.to_numeric(onsets).to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore"):  # nan / inf are flagged below and take the scalar path
        scaled = onset * 1e4
        fraction = np.abs(scaled - np.trunc(scaled))
    # ``round(x, 4)`` rounds the exact binary value of x; ``x * 1e4`` adds a rounding of its
    # own, which can only matter next to a half, for huge values, or for -0.0 / nan / inf:
    # those few rows take the exact scalar path.
    unsure = ~np.isfinite(scaled) | (np.abs(fraction - 0.5) < 1e-6) \
        | (np.abs(scaled) >= 2.0 ** 50) | np.signbit(onset)
    whole = np.where(unsure, 0, np.round(scaled)).astype(np.int64)
    sources, audio_paths = pd.Series(sources), pd.Series(audio_paths)
    chunks = []
    with duckdb.connect() as con:
        # In slices of a million rows: the key strings of one slice only exist at a time.
        for start in range(0, len(onset), _ID_BATCH):
            stop = min(start + _ID_BATCH, len(onset))
            text = pc.binary_join_element_wise(
                pa.array(whole[start:stop] // 10_000).cast(pa.string()),
                pc.utf8_lpad(pa.array(whole[start:stop] % 10_000).cast(pa.string()), 4, "0"), ".")
            keys = pc.binary_join_element_wise(pa.array(sources.iloc[start:stop], pa.string()),
                                               pa.array(audio_paths.iloc[start:stop], pa.string()), text, "|")
            con.register("event_keys", pa.table({"key": keys}))
            # A plain projection keeps the row order (DuckDB's preserve_insertion_order).
            chunks.extend(con.sql("SELECT substr(sha1(key), 1, 16) AS id FROM event_keys")
                          .to_arrow_table()["id"].cast(pa.string()).chunks)
            con.unregister("event_keys")
    ids = pa.chunked_array(chunks, pa.string()).combine_chunks()
    if unsure.any():
        exact = [make_event_id(s, p, v) for s, p, v in zip(
            sources[unsure].tolist(), audio_paths[unsure].tolist(), onset[unsure].tolist())]
        ids = pc.replace_with_mask(ids, pa.array(unsure), pa.array(exact, pa.string()))
    return pd.Series(pd.array(ids, dtype="str"))


_ID_BATCH = 1_000_000


def _check_str(value: Any, *, path: str, line: int, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(path, f"expected a non-empty string, got {_short(value)}", line=line, field=field)
    _check_unicode(value, path=path, line=line, field=field)
    return value


def _check_unicode(value: str, *, path: str, line: int, field: str) -> None:
    # JSON's \ud800-style escapes can spell lone surrogates: Python keeps them, Parquet (UTF-8) cannot.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(path, f"not valid Unicode text ({exc.reason} at character {exc.start})", line=line,
                         field=field) from None


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a huge bad value still gives a one-line error."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _is_number(value: Any) -> bool:
    """A JSON/NumPy number, not a bool (``True`` is an int in Python)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _as_float(value: Any) -> float | None:
    """``float(value)``, or None when it does not fit a float (a 400-digit JSON integer)."""
    try:
        return float(value)
    except OverflowError:
        return None


def _check_str_list(value: Any, *, path: str, line: int, field: str) -> list[str]:
    if value is None:
        return []
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise InputError(path, f"expected a list of strings, got {_short(value)}", line=line, field=field)
    for v in value:
        _check_unicode(v, path=path, line=line, field=field)
    return list(value)


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def normalize_row(row: Mapping[str, Any], *, path: str, line: int) -> dict[str, Any]:
    """Validate one event and return it with every column of :data:`COLUMNS`.

    Raises
    ------
    InputError
        Naming ``path``, ``line`` and the field when a value is missing or has
        the wrong type or range. Labels are *not* checked against the taxonomy
        here: an unknown label is counted and gated by ``health``, not dropped.
    """
    for name in REQUIRED:
        if name not in row or _is_missing(row[name]):
            raise InputError(path, "missing required field", line=line, field=name)
    out: dict[str, Any] = {}
    for name in ("source", "session_id", "kit", "audio_path", "label"):
        out[name] = _check_str(row[name], path=path, line=line, field=name)
    onset = row["onset_s"]
    onset_f = _as_float(onset) if _is_number(onset) else None
    if onset_f is None or not math.isfinite(onset_f) or onset_f < 0:
        raise InputError(path, f"expected a finite number >= 0, got {_short(onset)}", line=line, field="onset_s")
    out["onset_s"] = onset_f
    for name in LIST_COLUMNS:
        out[name] = _check_str_list(row.get(name), path=path, line=line, field=name)
    velocity = row.get("velocity")
    if _is_missing(velocity):
        out["velocity"] = None
    else:
        if not _is_number(velocity) or not 1 <= velocity <= 127 or velocity != int(velocity):
            raise InputError(path, f"expected an integer 1-127 or null, got {_short(velocity)}", line=line,
                             field="velocity")
        out["velocity"] = int(velocity)
    openness = row.get("openness")
    if _is_missing(openness):
        out["openness"] = None
    else:
        if not _is_number(openness) or not 0.0 <= openness <= 1.0:
            raise InputError(path, f"expected a number 0-1 or null, got {_short(openness)}", line=line,
                             field="openness")
        out["openness"] = float(openness)
    event_id = row.get("event_id")
    out["event_id"] = (
        _check_str(event_id, path=path, line=line, field="event_id")
        if not _is_missing(event_id)
        else make_event_id(out["source"], out["audio_path"], out["onset_s"])
    )
    return {name: out[name] for name in COLUMNS}


def events_frame(rows: Iterable[Mapping[str, Any]], *, origin: str = "<events>") -> pd.DataFrame:
    """Validate ``rows`` (dicts) and build a manifest DataFrame with the canonical dtypes."""
    normalized = [normalize_row(r, path=origin, line=i + 1) for i, r in enumerate(rows)]
    return _typed(pd.DataFrame(normalized, columns=list(COLUMNS)))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for name in ("event_id", "source", "session_id", "kit", "audio_path", "label"):
        df[name] = df[name].astype("string")
    df["onset_s"] = df["onset_s"].astype("float64")
    df["velocity"] = pd.array(df["velocity"], dtype="Int64")
    df["openness"] = pd.array(df["openness"], dtype="Float64")
    for name in LIST_COLUMNS:
        df[name] = df[name].map(lambda v: [] if v is None else list(v))
    return df.reset_index(drop=True)


def empty_events() -> pd.DataFrame:
    """A manifest with no rows and the canonical columns."""
    return events_frame([])


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)`` for every non-blank line of a JSONL file.

    A file that cannot be opened, a line that is not UTF-8 or not JSON, or a line
    that is not a JSON object raises :class:`InputError` naming ``path:line``. A
    UTF-8 byte-order mark at the start of the file is allowed (Windows editors write one).
    """
    path = str(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise InputError(path, f"cannot open: {exc.strerror}") from exc
    with handle:
        # Bytes, decoded line by line, so a bad byte is reported at its own line.
        for lineno, raw in enumerate(handle, start=1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(path, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})",
                                 line=lineno) from None
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(path, f"not valid JSON ({exc.msg} at column {exc.colno})", line=lineno) from exc
            except (ValueError, RecursionError) as exc:  # a 5,000-digit number, nesting 100,000 deep
                raise InputError(path, f"not valid JSON ({type(exc).__name__}: {str(exc)[:80]})",
                                 line=lineno) from None
            if not isinstance(row, dict):
                raise InputError(path, f"expected a JSON object, got {type(row).__name__}", line=lineno)
            yield lineno, row


class _IdRegistry:
    """Explicit ``event_id`` values seen so far, so a repeated one is reported with both places.

    Only ids a file states are checked: derived ids of two hits at the same onset of the
    same audio coincide on purpose, and merge_manifests keeps one of them.
    """

    def __init__(self) -> None:
        self.first: dict[str, str] = {}

    def check(self, raw: Mapping[str, Any], *, path: str, line: int) -> None:
        event_id = raw.get("event_id")
        if _is_missing(event_id):
            return
        if event_id in self.first:
            raise InputError(path, f"duplicate event_id {_short(event_id)} (first at {self.first[event_id]})",
                             line=line, field="event_id")
        self.first[event_id] = f"{path}:{line}"


def read_jsonl(path: str | os.PathLike) -> pd.DataFrame:
    """Read an events JSONL file; every error names ``path:line`` and the field."""
    rows, ids = [], _IdRegistry()
    for lineno, raw in iter_jsonl(path):
        rows.append(normalize_row(raw, path=str(path), line=lineno))
        ids.check(raw, path=str(path), line=lineno)
    return _typed(pd.DataFrame(rows, columns=list(COLUMNS)))


def _jsonable(value: Any) -> Any:
    if value is pd.NA or _is_missing(value):
        return None
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return value


def write_jsonl(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write any DataFrame as JSONL (one object per row), atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for record in df.to_dict(orient="records"):
            handle.write(json.dumps({k: _jsonable(v) for k, v in record.items()}, sort_keys=True) + "\n")


def read_events(
    path: str | os.PathLike, *, columns: Iterable[str] | None = None, arrow_lists: bool = False,
    trusted: bool = False,
) -> pd.DataFrame:
    """Read a manifest written by :func:`write_events` (Parquet) or a JSONL file.

    Parameters
    ----------
    path : path
        ``*.jsonl`` or Parquet.
    columns : iterable of str, optional
        Read only these columns (Parquet); every column by default. Reading
        only what a stage needs saves memory and time on large manifests.
    arrow_lists : bool
        Keep ``extra_labels`` / ``techniques`` in Arrow memory (``pd.ArrowDtype``
        list of strings) instead of one Python list per row: the data stages
        only count and pass them through, and millions of Python lists cost
        seconds and gigabytes. A missing (null) list reads as empty either way.
    trusted : bool
        The file is a pipeline output that :func:`write_events` wrote from a
        manifest read with the full checks (merge_manifests checks every
        source): only the footer's schema and the columns are checked, not
        every value again. The row checks (strings, ranges, unique ids) cost a
        quarter of a downstream stage on millions of rows and cannot fail on
        such a file. JSONL is always checked in full.
    """
    path = Path(path)
    if path.suffix == ".jsonl":
        df = read_jsonl(path)
        return df if columns is None else df[list(columns)]
    if not path.exists():
        raise InputError(path, "manifest not found")
    _check_schema(path)
    try:
        names = pq.read_schema(path).names
    except Exception as exc:  # pyarrow raises several types for a corrupt file
        _explain_unreadable(path)
        raise InputError(path, f"not a readable Parquet manifest: {str(exc)[:200]}") from None
    wanted = list(names) if columns is None else list(columns)
    missing = [c for c in (COLUMNS if columns is None else wanted) if c not in names]
    if missing:
        raise InputError(path, f"missing columns {missing}", field=missing[0])
    lists = [c for c in wanted if c in LIST_COLUMNS]
    try:
        df = pd.read_parquet(path, columns=[c for c in wanted if c not in lists])
        list_table = pq.read_table(path, columns=lists) if lists else None
    except Exception as exc:  # a value pandas cannot convert to the dtype the file's metadata asks for
        _explain_unreadable(path)
        raise InputError(path, f"not a readable Parquet manifest: {str(exc)[:200]}") from None
    if not trusted:
        _check_columns(df, str(path))
    for name in lists:
        # _check_schema has made sure the lists hold strings (or nothing).
        column = list_table[name]
        if arrow_lists:
            df[name] = pd.Series(pd.arrays.ArrowExtensionArray(_arrow_lists(column, origin=path, field=name)),
                                 index=df.index)
        else:
            df[name] = pd.Series(_python_lists(column), index=df.index, dtype=object)
    return df[wanted]


def _is_text_type(t: Any) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t)


def _is_number_type(t: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t)


def _check_schema(path: Path) -> None:
    """Column types from the Parquet footer, before pandas converts (and fails on) a mistyped column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # not Parquet, truncated, a directory
        raise InputError(path, f"not a readable Parquet manifest: {str(exc)[:200]}") from None
    for name in COLUMNS:
        if name not in schema.names:
            continue  # reported with every other missing column after reading
        t = schema.field(name).type
        if name in LIST_COLUMNS:
            ok = pa.types.is_null(t) or ((pa.types.is_list(t) or pa.types.is_large_list(t))
                                         and _is_text_type(t.value_type))
            expected = "a list of strings"
        elif name in ("onset_s", "velocity", "openness"):
            ok = _is_number_type(t) or (name != "onset_s" and pa.types.is_null(t))
            expected = "numbers"
        else:
            ok = _is_text_type(t)
            expected = "strings"
        if not ok:
            raise InputError(path, f"column type is {t}, expected {expected}", field=name)


def _explain_unreadable(path: Path) -> None:
    """When pandas cannot convert a column to the dtype the file's pandas metadata asks for
    (1.5 in an Int64 ``velocity``), find the row and field on the plain Arrow conversion."""
    import pyarrow.parquet as pq

    try:
        plain = pq.read_table(path).to_pandas(ignore_metadata=True)
    except Exception:  # corrupt data pages: nothing more precise to say
        return
    _check_columns(plain, str(path))


def _first_bad(mask: np.ndarray) -> int | None:
    return int(np.flatnonzero(mask)[0]) if mask.any() else None


def _check_columns(df: pd.DataFrame, path: str) -> None:
    """Column-wise (vectorised) type and range checks of a Parquet manifest; rows are 1-based.

    The same contract :func:`normalize_row` enforces on JSONL, without a Python call per row:
    7 million rows cost a second or two.
    """
    # Only the columns read are checked (read_events reports missing ones first).

    def fail(name: str, row: int, expected: str) -> None:
        raise InputError(path, f"expected {expected}, got {_short(df[name].iloc[row])}", line=row + 1, field=name)

    codes: dict[str, np.ndarray] = {}
    for name in ("event_id", "source", "session_id", "kit", "audio_path", "label"):
        if name not in df.columns:
            continue
        col = df[name]
        if name == "event_id" and (numbers := hex_id_numbers(col)) is not None:
            codes[name] = numbers  # 16 hex digits each: strings, none blank
            continue
        kind = pd.api.types.infer_dtype(col, skipna=True)
        if kind not in ("string", "empty"):
            is_str = col.map(lambda v: isinstance(v, str)).to_numpy()
            fail(name, _first_bad(~is_str) or 0, "a non-empty string")
        # Blank text is looked for among the distinct values (thousands, not millions of
        # strings to strip); the codes of event_id also find repeated ids below.
        codes[name], distinct = pd.factorize(col)
        blank = pd.Series(distinct, dtype="string").str.strip().eq("").to_numpy(dtype=bool, na_value=True)
        empty = (codes[name] < 0) | np.r_[blank, False][codes[name]]  # code -1 (missing) picks the False
        if (row := _first_bad(empty)) is not None:
            fail(name, row, "a non-empty string")
    for name, lo, hi, nullable, what in (("onset_s", 0.0, math.inf, False, "a finite number >= 0"),
                                         ("velocity", 1, 127, True, "an integer 1-127 or null"),
                                         ("openness", 0.0, 1.0, True, "a number 0-1 or null")):
        if name not in df.columns:
            continue
        col = df[name]
        if nullable and col.isna().all():
            continue
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            fail(name, _first_bad(col.notna().to_numpy()) or 0, what)
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        ok = np.isfinite(values) & (values >= lo) & (values <= hi)
        if name == "velocity":
            ok &= values == np.round(values)
        if nullable:
            ok |= np.isnan(values)
        if (row := _first_bad(~ok)) is not None:
            fail(name, row, what)
    if "event_id" not in df.columns:
        return
    duplicated = repeated(codes["event_id"])
    if (row := _first_bad(duplicated)) is not None:
        first = int(np.flatnonzero((df["event_id"] == df["event_id"].iloc[row]).to_numpy())[0])
        raise InputError(path, f"duplicate event_id {df['event_id'].iloc[row]!r} (first at row {first + 1})",
                         line=row + 1, field="event_id")


def _arrow_lists(column: pa.ChunkedArray, *, origin: Any, field: str) -> pa.ChunkedArray:
    """A Parquet list column as ``list<string>``, a null list read as an empty one."""
    try:
        column = column.cast(ARROW_LIST)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(origin, f"expected a list of strings: {exc}", field=field) from exc
    if column.null_count:
        # Rare (hand-written files only): rebuild with an empty list in place of each null.
        column = pa.chunked_array([pa.array([v or [] for v in column.to_pylist()], ARROW_LIST)])
    return column


def _python_lists(column: pa.ChunkedArray) -> list[list[str]]:
    """A Parquet list column as Python lists of str, a null list read as an empty one."""
    return [[] if v is None else [str(x) for x in v] for v in column.to_pylist()]


def _arrow_chunks(column: pd.Series) -> pa.ChunkedArray:
    return pa.chunked_array(column.array.__arrow_array__())


def list_lengths(column: pd.Series) -> np.ndarray:
    """Items per row of a list column (Python lists or Arrow lists), as int64."""
    if isinstance(column.dtype, pd.ArrowDtype):
        lengths = pc.list_value_length(_arrow_chunks(column)).fill_null(0)
        return lengths.to_numpy().astype(np.int64)
    return np.fromiter(map(len, column), dtype=np.int64, count=len(column))


def flatten_lists(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Every item of a list column with the row position it came from.

    Returns
    -------
    rows : ndarray of int64, shape (n_items,)
        Row position (0-based) of each item, ascending.
    items : ndarray of object (str), shape (n_items,)
        The items, row by row, each list in its own order.
    """
    rows = np.repeat(np.arange(len(column), dtype=np.int64), list_lengths(column))
    if isinstance(column.dtype, pd.ArrowDtype):
        items = np.asarray(pc.list_flatten(_arrow_chunks(column)).to_pylist(), dtype=object)
    else:
        items = np.asarray([x for v in column for x in v], dtype=object)
    return rows, items.reshape(-1)


def lists_from_items(rows: np.ndarray, items: Sequence[str], n_rows: int, *, index=None) -> pd.Series:
    """An Arrow list column of ``n_rows`` rows from items and their ascending row positions."""
    lengths = np.bincount(np.asarray(rows, dtype=np.int64), minlength=n_rows)
    offsets = pa.array(np.r_[0, np.cumsum(lengths)].astype(np.int32))
    array = pa.ListArray.from_arrays(offsets, pa.array(list(items), pa.string()))
    return pd.Series(pd.arrays.ArrowExtensionArray(array), index=index)


def _list_array(column: pd.Series) -> pa.Array:
    """A list column as one ``list<string>`` Arrow array, or ``list<null>`` when it holds no item.

    ``list<null>`` for an all-empty column is what pyarrow infers from Python
    lists, so the file written does not depend on how the lists were held.
    """
    if isinstance(column.dtype, pd.ArrowDtype):
        array = _arrow_chunks(column).combine_chunks()
    else:
        array = pa.array(column.to_numpy(dtype=object), type=ARROW_LIST)
    if len(pc.list_flatten(array)) == 0:
        array = pa.ListArray.from_arrays(pa.array(np.zeros(len(array) + 1, dtype=np.int32)), pa.nulls(0),
                                         mask=array.is_null())
    return array


def events_table(df: pd.DataFrame) -> pa.Table:
    """``df`` as the Arrow table that ``df.to_parquet(index=False)`` writes, whichever way lists are held.

    Non-list columns go through :meth:`pyarrow.Table.from_pandas`, as in pandas;
    list columns are converted column-wise (no Python object per row), and the
    schema with its pandas metadata is taken from a one-row stand-in holding
    Python lists, so the bytes written are those of the plain-pandas writer.
    """
    lists = [c for c in df.columns if c in LIST_COLUMNS]
    if not lists or len(df) == 0:
        return pa.Table.from_pandas(df.astype({c: object for c in lists}), preserve_index=False)
    arrays = {name: _list_array(df[name]) for name in lists}
    table = pa.Table.from_pandas(df.drop(columns=lists), preserve_index=False)
    sample = df.iloc[:1].drop(columns=lists)
    for name in lists:
        position = df.columns.get_loc(name)
        table = table.add_column(position, name, arrays[name])
        stand_in = [] if arrays[name].type.value_type == pa.null() else ["x"]
        sample.insert(position, name, pd.Series([stand_in], index=sample.index, dtype=object))
    reference = pa.Table.from_pandas(sample, preserve_index=False).schema
    # One chunk per column: the Parquet writer cuts row groups at chunk boundaries.
    return table.cast(reference).combine_chunks()


def sort_order(df: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """Row positions that sort ``df`` by ``keys`` ascending, stably (ties keep their order).

    The order of ``df.sort_values(keys, kind="mergesort")``: strings compare by
    code point, which is the byte order of the UTF-8 that Arrow sorts. Arrow's
    multi-key sort takes seconds where pandas' takes a minute on millions of rows.
    Every text key but the last is replaced by the rank of its value among the
    column's distinct values, so the sort compares integers; the last key only
    breaks ties and stays text (it is often an id, distinct on every row).
    """
    keys = list(keys)
    table = pa.table({f"k{i}": _sort_key(df[key], text=i == len(keys) - 1) for i, key in enumerate(keys)})
    order = pc.sort_indices(table, sort_keys=[(f"k{i}", "ascending") for i in range(len(keys))])
    return order.to_numpy()


def _sort_key(column: pd.Series, *, text: bool) -> pa.Array:
    """``column`` as an Arrow sort key: text columns (unless ``text``) as ranks of their distinct values.

    On 7 M rows with 50 k distinct paths, hashing the column and sorting the
    distinct values takes a fraction of the time a sort spends comparing long
    strings with common prefixes. A missing value stays missing (sorted last).
    """
    values = _one_chunk(column)
    if text or not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    encoded = pc.dictionary_encode(values)
    rank = pc.rank(encoded.dictionary, sort_keys="ascending", tiebreaker="first")
    return pc.take(rank, encoded.indices)


def _one_chunk(column: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array:
    values = column if isinstance(column, (pa.Array, pa.ChunkedArray)) else pa.array(column)
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


_HEX_DIGITS = np.full(256, 16, dtype=np.uint8)
_HEX_DIGITS[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)


def hex_id_numbers(ids: pd.Series) -> np.ndarray | None:
    """The ids as 64-bit numbers when every one is 16 lowercase hex digits (:func:`make_event_id`'s form).

    Equal exactly where the ids are equal and ordered as the strings are, so
    they stand in for the ids in sorts and repeat checks: on 7 M ids a
    vectorised pass instead of a hash table of Python-visible strings.
    ``None`` when any id has another form (a hand-written manifest's).
    """
    values = _one_chunk(ids)
    if not len(values) or values.null_count or not pa.types.is_string(values.type) \
            and not pa.types.is_large_string(values.type):
        return None
    values = values.cast(pa.large_string())
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64, count=len(values) + 1, offset=values.offset * 8)
    if not np.all(np.diff(offsets) == 16):
        return None
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8, count=int(offsets[-1] - offsets[0]),
                         offset=int(offsets[0]))
    digits = _HEX_DIGITS[data.reshape(-1, 16)]
    if (digits > 15).any():
        return None
    number = np.zeros(len(values), dtype=np.uint64)
    for k in range(16):
        number = (number << np.uint64(4)) | digits[:, k].astype(np.uint64)
    return number


def id_keys(ids: pd.Series) -> np.ndarray:
    """Integer stand-ins for event ids: equal where the ids are, in the ids' sort order."""
    numbers = hex_id_numbers(ids)
    if numbers is not None:
        return numbers
    return pd.factorize(pd.Series(ids), sort=True)[0].astype(np.int64)


def repeated(keys: np.ndarray) -> np.ndarray:
    """True at each position whose key occurs at an earlier position (``Series.duplicated()``).

    By sorting, not a hash table: on millions of distinct 64-bit keys it takes
    about a third of the time. Repeats are rare, so a plain sort first tells
    whether the stable one that places them is needed at all.
    """
    plain = np.sort(keys)
    if not np.any(plain[1:] == plain[:-1]):
        return np.zeros(len(keys), dtype=bool)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    out = np.empty(len(keys), dtype=bool)
    out[order] = np.r_[False, ordered[1:] == ordered[:-1]]
    return out


def is_sorted(df: pd.DataFrame, keys: Sequence[str]) -> bool:
    """Whether ``df`` is already in ``keys`` order: a few column-wise comparisons, not a sort."""
    if len(df) < 2:
        return True
    in_order = None  # row i <= row i+1 on the keys compared so far (from the last key up)
    for key in reversed(list(keys)):
        column = pa.array(df[key])
        before, after = column[:-1], column[1:]
        less = pc.fill_null(pc.less(before, after), False)
        if in_order is None:
            in_order = pc.or_(less, pc.fill_null(pc.equal(before, after), False))
        else:
            in_order = pc.or_(less, pc.and_(pc.fill_null(pc.equal(before, after), False), in_order))
    return bool(pc.all(in_order).as_py())


def sort_events(df: pd.DataFrame) -> pd.DataFrame:
    """Canonical row order, so identical content always gives identical bytes."""
    if is_sorted(df, SORT_KEYS):  # a stage that only adds a column keeps its input's order
        return df.reset_index(drop=True)
    return df.take(sort_order(df, SORT_KEYS)).reset_index(drop=True)


def write_events(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a manifest as Parquet, atomically, in canonical row order.

    Extra columns (e.g. ``split``) are kept after the canonical ones. List
    columns may hold Python lists or Arrow lists: the bytes are the same.
    """
    extra = [c for c in df.columns if c not in COLUMNS]
    table = events_table(sort_events(df[list(COLUMNS) + extra]))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="snappy")


def read_manifest_folder(folder: str | os.PathLike) -> pd.DataFrame:
    """Read every ``*.jsonl`` under ``folder`` and check each hit against its audio.

    ``audio_path`` may be relative to the current directory (the repo root) or
    to the JSONL file's folder; it is rewritten relative to the current
    directory. Every error names the JSONL file and line: a missing or
    unreadable audio file, an onset past the end of its audio.
    """
    folder = Path(folder)
    files = sorted(folder.rglob("*.jsonl")) if folder.is_dir() else []
    if not files:
        raise InputError(folder, "empty source: no *.jsonl events manifest found")
    rows, ids = [], _IdRegistry()
    for jsonl in files:
        durations: dict[str, float] = {}
        for lineno, raw in iter_jsonl(jsonl):
            row = normalize_row(raw, path=str(jsonl), line=lineno)
            ids.check(raw, path=str(jsonl), line=lineno)
            audio_path, onset = row["audio_path"], row["onset_s"]
            resolved = audio_path if os.path.exists(audio_path) else os.path.relpath(jsonl.parent / audio_path)
            if not os.path.exists(resolved):
                raise InputError(jsonl, f"audio file {audio_path} not found (event {row['event_id']})",
                                 line=lineno, field="audio_path")
            if resolved not in durations:
                try:
                    durations[resolved] = audio_duration(resolved)
                except InputError as exc:
                    raise InputError(jsonl, f"{audio_path}: {exc.message}", line=lineno, field="audio_path") from exc
            if onset >= durations[resolved]:
                raise InputError(jsonl, f"onset {onset:.3f} s is past the end of {audio_path} "
                                        f"({durations[resolved]:.3f} s)", line=lineno, field="onset_s")
            rows.append({**row, "audio_path": resolved})
    if not rows:
        raise InputError(folder, "empty source: the manifests hold no events")
    return _typed(pd.DataFrame(rows, columns=list(COLUMNS)))
