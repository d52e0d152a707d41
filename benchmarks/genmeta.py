"""Generation-metadata speed: the analyzer, and the API on SQLite.

Analyzer: clips per second and seconds of audio per second on one core, on
the default snapshot (data/raw/genmeta/default, `make repro` first) or on
freshly synthesised clips when that is absent.

API: `musicml serve` runs as a subprocess on a temporary SQLite file filled
with --records analysed records; over real HTTP it measures p50/p95 latency
and requests/s of POST, GET, PUT feedback and statistics, then streams the
JSONL and CSV exports of --export-records records and reports their time and
the server's resident memory before and after (flat = streamed).

    python benchmarks/genmeta.py [--clips 60] [--records 10000] [--export-records 100000] [--requests 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
P = "/api/training-metadata"


def bench_analyzer(n_clips: int) -> dict:
    from musicml.genmeta.analysis import analyze_file
    from musicml.genmeta.records import read_records
    from musicml.genmeta.synth import make_default_snapshot

    snap = ROOT / "data/raw/genmeta/default"
    with tempfile.TemporaryDirectory() as tmp:
        if not (snap / "records.jsonl").exists():
            snap = Path(tmp) / "snap"
            make_default_snapshot(snap, n_generations=n_clips, seconds=6.0, sr=22050, seed=0, n_users=4,
                                  flac_share=0.2, clipped_share=0.05, n_unreadable=0, n_silent=0,
                                  feedback_rate=0.0, resubmit_rate=0.0, n_unknown_feedback=0)
        files = [snap / r["audioPath"] for r in read_records(snap / "records.jsonl")]
        files = [f for f in files if f.stat().st_size > 1000][:n_clips]
        analyze_file(files[0])  # JIT warm-up of librosa's numba kernels, not counted
        audio_s = 0.0
        start = time.perf_counter()
        for f in files:
            audio_s += analyze_file(f)["duration"]
        elapsed = time.perf_counter() - start
    return {"clips": len(files), "clips_per_s": len(files) / elapsed, "audio_s_per_s": audio_s / elapsed}


def fill(url: str, n: int, template: dict) -> None:
    """Insert ``n`` analysed records in bulk (createdAt spread over the last year)."""
    from sqlalchemy import insert

    from musicml.genmeta.db import Store, TrainingMetadata

    store = Store(url)
    now = datetime.now(timezone.utc)
    batch = []
    with store.engine.begin() as conn:
        for i in range(n):
            batch.append({**template, "id": str(uuid.uuid4()), "generationId": f"bench_{i:07d}",
                          "userId": f"user_{i % 500}", "provider": ("suno", "musicgen", "udio")[i % 3],
                          "generationParams": {**template["generationParams"], "genre": ("trap", "house")[i % 2]},
                          "qualityScore": (i % 100) / 100, "userFeedback": {"rating": 1 + i % 5} if i % 4 == 0 else None,
                          "createdAt": now - timedelta(minutes=i), "updatedAt": now})
            if len(batch) == 2000:
                conn.execute(insert(TrainingMetadata), batch)
                batch = []
        if batch:
            conn.execute(insert(TrainingMetadata), batch)
    store.close()


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of ``pid`` in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def timed(client: httpx.Client, calls) -> dict:
    lat = []
    start = time.perf_counter()
    for method, path, kwargs in calls:
        t = time.perf_counter()
        resp = client.request(method, path, **kwargs)
        lat.append((time.perf_counter() - t) * 1000)
        if resp.status_code >= 400:
            raise SystemExit(f"{method} {path}: HTTP {resp.status_code} {resp.text[:200]}")
    total = time.perf_counter() - start
    q = statistics.quantiles(lat, n=20)
    return {"n": len(lat), "p50_ms": statistics.median(lat), "p95_ms": q[18], "req_per_s": len(lat) / total}


def bench_api(n_records: int, n_export: int, n_requests: int) -> dict:
    from musicml.genmeta.analysis import analyze_file

    sys.path.insert(0, str(ROOT / "tests"))
    from gen_servers import start_server, stop_server  # the test suite's launcher

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = next((ROOT / "data/raw/genmeta/default/audio").glob("*.wav"), None)
        if clip is None:
            from musicml.genmeta.synth import make_default_snapshot

            make_default_snapshot(tmp / "s", n_generations=1, seconds=6.0, sr=22050, seed=0, n_users=1,
                                  flac_share=0, clipped_share=0, n_unreadable=0, n_silent=0, feedback_rate=0,
                                  resubmit_rate=0, n_unknown_feedback=0)
            clip = next((tmp / "s/audio").iterdir())
        analysis = analyze_file(clip)
        template = {"userPrompt": "dark trap beat 140 bpm", "aiEnhancedPrompt": "dark, trap, 140 BPM - dark trap beat",
                    "generationParams": {"bpm": 140, "mood": "dark"}, "audioUrl": str(clip), "duration": 6.0,
                    "format": "wav", "analysisMetadata": analysis["analysisMetadata"],
                    "spectralFeatures": analysis["spectralFeatures"], "audioEmbedding": analysis["audioEmbedding"],
                    "usedForTraining": False}
        url = f"sqlite:///{tmp / 'bench.db'}"
        t = time.perf_counter()
        fill(url, n_records, template)
        out["fill_s"] = time.perf_counter() - t
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["gen"]["serve"]["export_rate_limit_per_minute"] = 0
        (tmp / "params.yaml").write_text(yaml.safe_dump(params))
        proc, base = start_server(url, tmp, params=tmp / "params.yaml", token=None)
        try:
            with httpx.Client(base_url=base, timeout=600) as client:
                # POSTs point at a missing file: the background step fails fast, so the figure is the API's.
                posts = [("POST", P, {"json": {"userId": "u", "generationId": f"post_{i}", "userPrompt": "p",
                                               "audioUrl": str(tmp / "missing.wav"), "provider": "suno"}})
                         for i in range(n_requests)]
                out["post"] = timed(client, posts)
                ids = [f"bench_{i:07d}" for i in range(0, n_records, max(1, n_records // n_requests))][:n_requests]
                out["get"] = timed(client, [("GET", f"{P}/{g}", {}) for g in ids])
                out["feedback"] = timed(client, [("PUT", f"{P}/{g}/feedback", {"json": {"rating": 4, "liked": True}})
                                                 for g in ids])
                out["statistics"] = timed(client, [("GET", f"{P}/statistics/overview", {})] * min(n_requests, 100))
                out["similar"] = timed(client, [("GET", f"{P}/similar/{g}", {}) for g in ids[:20]])
            stop_server(proc)
            if n_export > n_records:
                from sqlalchemy import text

                from musicml.genmeta.db import COLUMNS, Store

                # Copies of the existing rows under new ids, doubling until there are enough.
                copied = ", ".join("lower(hex(randomblob(16)))" if c == "id" else
                                   "'copy_' || lower(hex(randomblob(8)))" if c == "generationId" else c
                                   for c in COLUMNS)
                store = Store(url)
                with store.engine.begin() as conn:
                    count = lambda: conn.execute(text("SELECT count(*) FROM training_metadata")).scalar()  # noqa
                    while (missing := n_export - count()) > 0:
                        conn.execute(text(f"INSERT INTO training_metadata SELECT {copied} FROM training_metadata "
                                          "LIMIT :n"), {"n": missing})
                store.close()
            proc, base = start_server(url, tmp, params=tmp / "params.yaml", token=None)
            with httpx.Client(base_url=base, timeout=3600) as client:
                total = client.get(f"{P}/statistics/overview").json()["statistics"]["totalGenerations"]
                out["export_records"] = total
                for fmt in ("jsonl", "csv"):
                    before = rss_mb(proc.pid)
                    t = time.perf_counter()
                    size = lines = 0
                    with client.stream("GET", f"{P}/export/{fmt}") as resp:
                        for chunk in resp.iter_bytes():
                            size += len(chunk)
                            lines += chunk.count(b"\n")
                    out[f"export_{fmt}"] = {"s": time.perf_counter() - t, "mb": size / 2 ** 20, "lines": lines,
                                            "rss_before_mb": before[0], "rss_after_mb": rss_mb(proc.pid)[0],
                                            "peak_mb": rss_mb(proc.pid)[1]}
        finally:
            stop_server(proc)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=60, help="clips to analyse")
    parser.add_argument("--records", type=int, default=10000, help="records in the database for the latency runs")
    parser.add_argument("--export-records", type=int, default=100000, help="records in the database for the exports")
    parser.add_argument("--requests", type=int, default=300, help="requests per latency figure")
    args = parser.parse_args()
    os.chdir(ROOT)
    a = bench_analyzer(args.clips)
    print(f"analyzer: {a['clips']} clips, {a['clips_per_s']:.2f} clips/s, "
          f"{a['audio_s_per_s']:.1f} s of audio per second (one core)")
    api = bench_api(args.records, args.export_records, args.requests)
    print(f"api (SQLite, {args.records} records, filled in {api['fill_s']:.1f} s):")
    for name in ("post", "get", "feedback", "statistics", "similar"):
        r = api[name]
        print(f"  {name:<10} n={r['n']:<4} p50 {r['p50_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms  "
              f"{r['req_per_s']:7.1f} req/s")
    for fmt in ("jsonl", "csv"):
        e = api[f"export_{fmt}"]
        print(f"  export {fmt:<5} {api['export_records']} records: {e['s']:.1f} s, {e['mb']:.1f} MiB, "
              f"{e['lines']} lines; server RSS {e['rss_before_mb']:.0f} -> {e['rss_after_mb']:.0f} MiB "
              f"(peak {e['peak_mb']:.0f} MiB)")
    print(json.dumps({"analyzer": a, "api": api}, default=float))


if __name__ == "__main__":
    main()
