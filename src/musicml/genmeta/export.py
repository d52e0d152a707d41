"""Fine-tuning and analysis exports: selection, filters, JSONL and CSV rows, audio conversion.

The stage (``gen_export``) and the API's streamed exports build their rows
with the same functions, so a file from either has the same shape.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import soundfile as sf

from musicml.atomic import atomic_path
from musicml.audio import load_audio

CSV_COLUMNS: tuple[str, ...] = ("generationId", "userPrompt", "aiEnhancedPrompt", "audioUrl", "duration", "genre",
                                "bpm", "rating", "used")


def has_feedback(record: Mapping[str, Any]) -> bool:
    """True when the record carries any user feedback."""
    return bool(record.get("userFeedback"))


def _parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def matches(record: Mapping[str, Any], *, provider: str | None = None, genre: str | None = None,
            min_quality: float | None = None, with_feedback: bool | None = None,
            since: datetime | None = None) -> bool:
    """Whether ``record`` passes the export filters (None = no filter).

    ``min_quality`` drops records without a score; ``since`` compares
    ``createdAt`` (timezone-aware or UTC).
    """
    if provider is not None and record.get("provider") != provider:
        return False
    if genre is not None and (record.get("generationParams") or {}).get("genre") != genre:
        return False
    if min_quality is not None and (record.get("qualityScore") is None or record["qualityScore"] < min_quality):
        return False
    if with_feedback is not None and has_feedback(record) != with_feedback:
        return False
    if since is not None:
        created = _parse_time(record.get("createdAt"))
        if created is None:
            return False
        since_aware = since if since.tzinfo else since.replace(tzinfo=created.tzinfo)
        created_aware = created if created.tzinfo else created.replace(tzinfo=since_aware.tzinfo)
        if created_aware < since_aware:
            return False
    return True


def select_for_finetuning(records: Sequence[Mapping[str, Any]], *, min_quality: float,
                          per_genre_cap: int | None = None) -> list[Mapping[str, Any]]:
    """Records of quality >= ``min_quality``: with feedback first, then by score, at most ``per_genre_cap`` per genre.

    Ties break on generationId, so the order is deterministic.
    """
    chosen = [r for r in records if matches(r, min_quality=min_quality)]
    chosen.sort(key=lambda r: (not has_feedback(r), -r["qualityScore"], r["generationId"]))
    if not per_genre_cap:
        return chosen
    counts: dict[str, int] = {}
    out = []
    for r in chosen:
        genre = (r.get("generationParams") or {}).get("genre") or ""
        if counts.get(genre, 0) < per_genre_cap:
            counts[genre] = counts.get(genre, 0) + 1
            out.append(r)
    return out


def finetune_row(record: Mapping[str, Any], *, audio_path: str | None = None) -> dict[str, Any]:
    """One JSONL line of the fine-tuning export.

    ``prompt`` is the enhanced prompt (the user's when there is none);
    ``quality_score`` stays in [0, 1] and the user's ``rating`` (1-5) goes beside it.
    """
    params = record.get("generationParams") or {}
    fb = record.get("userFeedback") or {}
    meta = record.get("analysisMetadata") or {}
    rhythm = meta.get("rhythmCharacteristics") or {}
    detected = {"tempo": rhythm.get("tempo"), "key": (meta.get("keyDetection") or {}).get("key")}
    metadata = {
        "generationId": record["generationId"], "userPrompt": record.get("userPrompt"),
        "provider": record.get("provider"), "model": record.get("modelUsed"),
        **{k: params[k] for k in ("genre", "bpm", "key", "mood", "style", "instrumental") if k in params},
        "liked": fb.get("liked"), "used": fb.get("used"),
        "detected": {k: v for k, v in detected.items() if v is not None},
    }
    return {"prompt": record.get("aiEnhancedPrompt") or record.get("userPrompt"),
            "audio_url": record.get("audioUrl"), "audio_path": audio_path, "duration": record.get("duration"),
            "metadata": metadata, "quality_score": record.get("qualityScore"), "rating": fb.get("rating")}


def csv_row(record: Mapping[str, Any]) -> list[Any]:
    """One CSV row in :data:`CSV_COLUMNS` order (missing values empty; booleans lower-case)."""
    params = record.get("generationParams") or {}
    fb = record.get("userFeedback") or {}
    used = fb.get("used")
    values = [record.get("generationId"), record.get("userPrompt"), record.get("aiEnhancedPrompt"),
              record.get("audioUrl"), record.get("duration"), params.get("genre"), params.get("bpm"),
              fb.get("rating"), None if used is None else str(bool(used)).lower()]
    return ["" if v is None else v for v in values]


def iter_csv(records: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """CSV text chunks: the header, then one chunk per record (for streaming)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    yield buf.getvalue()
    for record in records:
        buf.seek(0)
        buf.truncate()
        writer.writerow(csv_row(record))
        yield buf.getvalue()


def convert_audio(src: str | os.PathLike, dst: str | os.PathLike, *, sr: int) -> float:
    """Convert any readable audio to mono 16-bit WAV at ``sr`` Hz, atomically; returns its duration (s)."""
    audio = load_audio(src, sr=sr)
    with atomic_path(dst) as tmp:
        sf.write(tmp, np.clip(audio, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
    return round(audio.size / sr, 4)


def export_snapshot(records: Sequence[Mapping[str, Any]], snapshot: str | os.PathLike, out: str | os.PathLike, *,
                    min_quality_jsonl: float, min_quality_csv: float, per_genre_cap: int | None,
                    sr: int) -> dict[str, Any]:
    """Write the export folder ``out`` atomically and return its summary.

    ``out/train.jsonl``: fine-tuning rows (:func:`finetune_row`) of analysed
    records chosen by :func:`select_for_finetuning`, each with its audio
    converted to ``out/audio/<generationId>.wav`` (mono, ``sr`` Hz);
    ``out/analysis.csv``: :data:`CSV_COLUMNS` rows of records with quality >=
    ``min_quality_csv``, by generationId; ``out/exported_ids.json``: both id lists.
    """
    from musicml.genmeta.analysis import is_analysed
    from musicml.genmeta.records import audio_file

    # Audio that could not be analysed cannot be converted either: only analysed records train.
    finetune = select_for_finetuning([r for r in records if is_analysed(r)], min_quality=min_quality_jsonl,
                                     per_genre_cap=per_genre_cap)
    analysis = sorted((r for r in records if matches(r, min_quality=min_quality_csv)),
                      key=lambda r: r["generationId"])
    by_genre: dict[str, int] = {}
    by_provider: dict[str, int] = {}
    with atomic_path(out, is_dir=True) as tmp:
        (tmp / "audio").mkdir()
        with open(tmp / "train.jsonl", "w", encoding="utf-8") as handle:
            for r in finetune:
                rel = f"audio/{r['generationId']}.wav"
                convert_audio(audio_file(snapshot, r), tmp / rel, sr=sr)
                handle.write(json.dumps(finetune_row(r, audio_path=rel), sort_keys=True, allow_nan=False) + "\n")
                genre = (r.get("generationParams") or {}).get("genre") or "unknown"
                by_genre[genre] = by_genre.get(genre, 0) + 1
                by_provider[r["provider"]] = by_provider.get(r["provider"], 0) + 1
        with open(tmp / "analysis.csv", "w", encoding="utf-8", newline="") as handle:
            for chunk in iter_csv(analysis):
                handle.write(chunk)
        ids = {"finetune": [r["generationId"] for r in finetune], "analysis": [r["generationId"] for r in analysis]}
        (tmp / "exported_ids.json").write_text(json.dumps(ids, indent=2) + "\n")
    return {"finetune_records": len(finetune), "analysis_records": len(analysis),
            "finetune_with_feedback": sum(has_feedback(r) for r in finetune),
            "finetune_by_genre": dict(sorted(by_genre.items())),
            "finetune_by_provider": dict(sorted(by_provider.items())), "sample_rate": sr}
