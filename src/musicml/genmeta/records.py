"""The generation record contract (the seed's model) and snapshot folders.

One pydantic model validates a record wherever it enters: a POST to the API,
a line of a snapshot's ``records.jsonl``. Errors name the field in one line.

A *snapshot* is a folder, tracked by DVC, that the ``gen_`` stages read
instead of a live database::

    records.jsonl    one record per line (camelCase fields of the seed)
    feedback.jsonl   the feedback log: generationId, liked, rating, feedback, used, at
    audio/           the audio files; a record's ``audioPath`` is relative to the folder
    truth.jsonl      optional: generationId, bpm, key known to be true (synthetic data)
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from musicml.atomic import atomic_path
from musicml.errors import InputError
from musicml.manifest import iter_jsonl

Number = StrictInt | StrictFloat
_UNION_TAGS = ("int", "float")


class GenerationParams(BaseModel):
    """What the generator was asked for; unknown keys are kept."""

    model_config = ConfigDict(extra="allow")
    genre: Optional[StrictStr] = None
    bpm: Optional[Number] = Field(None, gt=0)
    key: Optional[StrictStr] = None
    mood: Optional[StrictStr] = None
    style: Optional[StrictStr] = None
    duration: Optional[Number] = Field(None, gt=0)
    model: Optional[StrictStr] = None
    provider: Optional[StrictStr] = None
    instrumental: Optional[StrictBool] = None
    customLyrics: Optional[StrictStr] = None


class Feedback(BaseModel):
    """A user's feedback on one generation; every field optional, rating 1-5."""

    model_config = ConfigDict(extra="forbid")
    liked: Optional[StrictBool] = None
    rating: Optional[StrictInt] = Field(None, ge=1, le=5)
    feedback: Optional[StrictStr] = None
    used: Optional[StrictBool] = None


class FeedbackEvent(Feedback):
    """One line of a feedback log: the feedback plus whose it is and when it arrived."""

    generationId: StrictStr = Field(min_length=1)
    at: Optional[datetime] = None


class RecordIn(BaseModel):
    """A generation as its producer reports it (POST body, snapshot line)."""

    model_config = ConfigDict(extra="forbid")
    id: Optional[StrictStr] = None
    userId: StrictStr = Field(min_length=1)
    generationId: StrictStr = Field(min_length=1, max_length=200)
    userPrompt: StrictStr
    aiEnhancedPrompt: Optional[StrictStr] = None
    generationParams: GenerationParams = Field(default_factory=GenerationParams)
    audioUrl: StrictStr = Field(min_length=1)
    audioStorageKey: Optional[StrictStr] = None
    audioPath: Optional[StrictStr] = None
    duration: Optional[Number] = Field(None, gt=0)
    format: Optional[StrictStr] = None
    analysisMetadata: Optional[dict[str, Any]] = None
    audioEmbedding: Optional[list[Number]] = None
    spectralFeatures: Optional[dict[str, Any]] = None
    userFeedback: Optional[Feedback] = None
    provider: StrictStr = Field(min_length=1)
    modelUsed: Optional[StrictStr] = None
    generationCost: Optional[Number] = Field(None, ge=0)
    generationDuration: Optional[Number] = Field(None, ge=0)
    usedForTraining: StrictBool = False
    trainingEpoch: Optional[StrictInt] = Field(None, ge=0)
    qualityScore: Optional[Number] = Field(None, ge=0, le=1)
    createdAt: Optional[datetime] = None
    updatedAt: Optional[datetime] = None


def describe_error(err: dict[str, Any], *, skip: tuple[str, ...] = ()) -> tuple[str, str]:
    """``(field, message)`` of one pydantic error, for one-line reports; ``skip`` drops loc prefixes."""
    # A number field is int | float: pydantic tags the loc with the union member tried.
    loc = [str(p) for p in err["loc"] if p not in _UNION_TAGS and p not in skip]
    if err["type"] in ("int_type", "float_type"):
        msg = "Input should be a valid number"
    elif err["type"] == "missing":
        msg = "required field missing"
    elif err["type"] == "extra_forbidden":
        msg = "unknown field"
    else:
        msg = err["msg"]
    return ".".join(loc) or "<body>", msg


def first_error(exc: ValidationError) -> tuple[str, str]:
    """``(field, message)`` of the first error of a pydantic validation."""
    return describe_error(exc.errors()[0])


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` (naive datetimes are taken as UTC)."""
    if moment is None:
        return None
    text = moment.isoformat()
    if moment.tzinfo is None:
        return text + "Z"
    return text.replace("+00:00", "Z")


def record_dict(model: RecordIn) -> dict[str, Any]:
    """A validated record as plain JSON-able data (datetimes as ISO strings, None fields dropped)."""
    data = model.model_dump(mode="json", exclude_none=True)
    data["generationParams"] = model.generationParams.model_dump(mode="json", exclude_none=True)
    return data


def parse_record(row: Any, *, path: str, line: int) -> dict[str, Any]:
    """Validate one record; raises :class:`InputError` naming ``path:line`` and the field."""
    try:
        return record_dict(RecordIn.model_validate(row))
    except ValidationError as exc:
        field, msg = first_error(exc)
        raise InputError(path, msg, line=line, field=field) from exc


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All records of a records JSONL file; duplicate generationIds are an error."""
    out, seen = [], {}
    for line, row in iter_jsonl(path):
        record = parse_record(row, path=str(path), line=line)
        gid = record["generationId"]
        if gid in seen:
            raise InputError(path, f"duplicate generationId {gid!r} (first on line {seen[gid]})", line=line,
                             field="generationId")
        seen[gid] = line
        out.append(record)
    return out


def read_feedback_log(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Yield the validated events of a feedback log in file order."""
    for line, row in iter_jsonl(path):
        try:
            event = FeedbackEvent.model_validate(row)
        except ValidationError as exc:
            field, msg = first_error(exc)
            raise InputError(path, msg, line=line, field=field) from exc
        yield event.model_dump(mode="json", exclude_none=True)


def read_stage_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records written by an earlier ``gen_`` stage (already validated: only JSON is checked)."""
    return [row for _, row in iter_jsonl(path)]


def write_jsonl_rows(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> int:
    """Write dicts as key-sorted JSONL atomically (stable bytes); returns the row count."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, sort_keys=True, allow_nan=False) + "\n")
            count += 1
    return count


def audio_file(snapshot: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Where a snapshot record's audio lies: ``audioPath`` under the snapshot folder."""
    rel = record.get("audioPath")
    if not rel:
        raise InputError(Path(snapshot) / "records.jsonl", f"record {record['generationId']!r} has no audioPath",
                         field="audioPath")
    return Path(snapshot) / rel
