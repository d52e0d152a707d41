"""Export filters, selection order and cap, the JSONL and CSV formats, the export folder."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

import soundfile as sf

from gen_helpers import record, tiny_snapshot
from musicml.genmeta.analysis import analyze_records
from musicml.genmeta.export import (CSV_COLUMNS, export_snapshot, finetune_row, iter_csv, matches,
                                    select_for_finetuning)
from musicml.genmeta.quality import quality_score
from musicml.genmeta.records import read_records


def scored(gid, q, genre="trap", fb=None, created="2026-01-05T00:00:00Z", provider="suno"):
    r = record(gid, qualityScore=q, createdAt=created, provider=provider,
               generationParams={"genre": genre, "bpm": 140})
    if fb:
        r["userFeedback"] = fb
    return r


def test_filters():
    r = scored("a", 0.8, fb={"rating": 4})
    assert matches(r, provider="suno", genre="trap", min_quality=0.8, with_feedback=True)
    assert not matches(r, provider="udio")
    assert not matches(r, genre="house")
    assert not matches(r, min_quality=0.81)
    assert not matches(r, with_feedback=False)
    assert matches(r, since=datetime(2026, 1, 5, tzinfo=timezone.utc))
    assert not matches(r, since=datetime(2026, 1, 6))  # naive = UTC
    assert not matches(record("b"), min_quality=0.0)  # no score, no pass


def test_selection_feedback_first_then_score_and_cap():
    rows = [scored("a", 0.9), scored("b", 0.75, fb={"liked": True}), scored("c", 0.95, genre="house"),
            scored("d", 0.6, fb={"liked": True}), scored("e", 0.8)]
    assert [r["generationId"] for r in select_for_finetuning(rows, min_quality=0.7)] == ["b", "c", "a", "e"]
    capped = select_for_finetuning(rows, min_quality=0.7, per_genre_cap=1)
    assert [r["generationId"] for r in capped] == ["b", "c"]


def test_jsonl_row_shape():
    row = finetune_row(scored("a", 0.85, fb={"rating": 5, "liked": True}), audio_path="audio/a.wav")
    assert set(row) == {"prompt", "audio_url", "audio_path", "duration", "metadata", "quality_score", "rating"}
    assert row["prompt"] == "dark, trap, 140 BPM - dark trap beat" and row["quality_score"] == 0.85
    assert row["rating"] == 5 and row["metadata"]["genre"] == "trap" and row["audio_path"] == "audio/a.wav"
    assert finetune_row(record("x", aiEnhancedPrompt=None))["prompt"] == "dark trap beat 140 bpm"


def test_csv_columns_quoting_and_booleans():
    rows = [scored("a", 0.8, fb={"rating": 5, "used": True}), scored("b", 0.6)]
    text = "".join(iter_csv(rows))
    parsed = list(csv.reader(io.StringIO(text)))
    assert tuple(parsed[0]) == CSV_COLUMNS
    assert parsed[1] == ["a", "dark trap beat 140 bpm", "dark, trap, 140 BPM - dark trap beat", "https://x/a.wav",
                         "", "trap", "140", "5", "true"]
    assert parsed[2][-2:] == ["", ""]
    assert '"dark, trap, 140 BPM - dark trap beat"' in text


def test_export_folder(tmp_path):
    snap = tiny_snapshot(tmp_path / "snap")
    recs = analyze_records(read_records(snap / "records.jsonl"), snap)
    for r in recs:  # everyone loves everything: all analysed clips pass 0.7
        r["userFeedback"] = {"liked": True, "used": True, "rating": 5}
        r["qualityScore"] = quality_score(r)
    summary = export_snapshot(recs, snap, tmp_path / "out", min_quality_jsonl=0.7, min_quality_csv=0.5,
                              per_genre_cap=None, sr=32000)
    lines = [json.loads(x) for x in (tmp_path / "out/train.jsonl").read_text().splitlines()]
    assert summary["finetune_records"] == len(lines) == 9  # the unreadable clip is never exported
    for line in lines:
        info = sf.info(tmp_path / "out" / line["audio_path"])
        assert info.samplerate == 32000 and info.channels == 1 and info.format == "WAV"
    ids = json.loads((tmp_path / "out/exported_ids.json").read_text())
    assert ids["finetune"] == [x["metadata"]["generationId"] for x in lines]
    assert len(ids["analysis"]) == 10  # the CSV has no analysis requirement
