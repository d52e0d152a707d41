"""Database maintenance: snapshots for the gen_ stages, marking records used for training, retention."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from musicml.atomic import atomic_path
from musicml.errors import InputError, MusicmlError
from musicml.genmeta.db import Store
from musicml.genmeta.fetch import AUDIO_SUFFIXES, fetch_audio, local_path
from musicml.manifest import iter_jsonl

# Bookkeeping of the service that a snapshot does not carry.
_TRANSIENT_META = ("status",)


def _audio_source(record: dict[str, Any]) -> str:
    """Where the service keeps a record's audio: its downloaded copy, else the URL it was given."""
    return record.get("audioStorageKey") or record["audioUrl"]


def snapshot(store: Store, out: str | os.PathLike, *, max_bytes: int, timeout_s: float,
             track: bool = False) -> dict[str, int]:
    """Dump every record and its audio into the snapshot folder ``out`` (atomically).

    Records keep every column; ``audioPath`` points at the copy under
    ``audio/``. Feedback is also written as the feedback log the stages
    merge (one event per record, at its ``updatedAt``). Audio that cannot be
    copied or downloaded leaves its record in the snapshot, marked by a
    missing file that ``gen_analyze`` records as unreadable. With ``track``,
    the folder is added to DVC (``dvc add``).
    """
    counts = {"records": 0, "audio": 0, "missing_audio": 0, "feedback": 0}
    with atomic_path(out, is_dir=True) as tmp:
        (tmp / "audio").mkdir()
        with open(tmp / "records.jsonl", "w", encoding="utf-8") as rec_f, \
                open(tmp / "feedback.jsonl", "w", encoding="utf-8") as fb_f:
            for record in store.iter_records():
                gid = record["generationId"]
                source = _audio_source(record)
                suffix = Path(source.split("?")[0]).suffix.lower()
                rel = f"audio/{gid}{suffix if suffix in AUDIO_SUFFIXES else '.audio'}"
                try:
                    if local_path(source) is None:
                        fetched = fetch_audio(source, dest_dir=tmp / "audio", name=gid, max_bytes=max_bytes,
                                              timeout_s=timeout_s)
                        rel = f"audio/{fetched.name}"
                    else:
                        shutil.copyfile(local_path(source), tmp / rel)
                    counts["audio"] += 1
                except (MusicmlError, OSError):
                    counts["missing_audio"] += 1
                row = {k: v for k, v in record.items() if v is not None}
                if row.get("analysisMetadata"):
                    row["analysisMetadata"] = {k: v for k, v in row["analysisMetadata"].items()
                                               if k not in _TRANSIENT_META}
                row["audioPath"] = rel
                rec_f.write(json.dumps(row, sort_keys=True) + "\n")
                counts["records"] += 1
                if record.get("userFeedback"):
                    fb_f.write(json.dumps({"generationId": gid, **record["userFeedback"],
                                           "at": record["updatedAt"]}, sort_keys=True) + "\n")
                    counts["feedback"] += 1
    if track:
        proc = subprocess.run(["dvc", "add", str(out)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise MusicmlError(f"dvc add {out} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1]}")
    return counts


def read_ids(path: str | os.PathLike) -> list[str]:
    """generationIds from a file: ``exported_ids.json`` (its ``finetune`` list), a JSONL
    (``generationId`` or ``metadata.generationId`` per line, e.g. ``train.jsonl``), or plain text
    (one id per line, ``#`` comments)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "ids file not found")
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(path, f"not valid JSON ({exc.msg})", line=exc.lineno) from exc
        ids = data.get("finetune") if isinstance(data, dict) else data
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise InputError(path, "expected a list of ids or an object with a 'finetune' list", field="finetune")
        return ids
    if path.suffix == ".jsonl":
        ids = []
        for line, row in iter_jsonl(path):
            gid = row.get("generationId") or (row.get("metadata") or {}).get("generationId")
            if not isinstance(gid, str) or not gid:
                raise InputError(path, "expected a string", line=line, field="generationId")
            ids.append(gid)
        return ids
    return [s.strip() for s in path.read_text().splitlines() if s.strip() and not s.startswith("#")]


def prune(store: Store, *, older_than_days: float | None, user_id: str | None,
          audio_dir: str | os.PathLike | None) -> dict[str, Any]:
    """Delete records (and the service's downloaded audio copies of them under ``audio_dir``)."""
    removed = store.prune(older_than_days=older_than_days, user_id=user_id)
    files = 0
    root = Path(audio_dir).resolve() if audio_dir else None
    for record in removed:
        key = record.get("audioStorageKey")
        # Only the service's own copies go; a producer's files are not ours to delete.
        if key and root and Path(key).resolve().is_relative_to(root) and Path(key).is_file():
            Path(key).unlink()
            files += 1
    return {"records": len(removed), "audio_files": files,
            "oldest_removed": min((r["createdAt"] for r in removed), default=None)}
