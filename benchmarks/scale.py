"""The drum data stages on a production-sized manifest: seconds and peak RSS per stage.

Generates (once, cached in the temp folder) a synthetic events manifest shaped
like the seed's production data -- 7.4 M hits over 50 k sessions by default,
skewed session sizes and labels, four sources, a few duplicate hits -- and
runs merge_manifests -> split -> health -> weights on it with the library
functions the stages call. Each stage runs in its own process that reads its
input Parquet and writes its output Parquet, as under `dvc repro`, so the peak
RSS printed is that stage's own.

    python benchmarks/scale.py                      # 7.4 M events, the chosen engine
    python benchmarks/scale.py --engine pandas      # the same, plain pandas (NumPy object strings)
    python benchmarks/scale.py --events 200000 --sessions 1500   # small and quick

`--engine arrow` (the default, what the stages use) keeps strings in Arrow
memory (pandas' pyarrow-backed `str`); `--engine pandas` converts every string
column to NumPy `object` dtype after reading, the plain-pandas baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

STAGES = ("merge_manifests", "split", "health", "weights")
SOURCES = {"synth": 0.70, "hydrogen": 0.12, "soundfont": 0.10, "manifest": 0.08}
# Label shares of a real drum corpus: hi-hats and kicks/snares dominate, toms and
# auxiliary hits are rare; `unknown` is open-set percussion.
LABELS = {
    "hihat_closed": 0.26, "kick": 0.17, "snare": 0.16, "hihat_open": 0.06, "hihat_pedal": 0.04,
    "ride": 0.07, "crash": 0.04, "tom_high": 0.03, "tom_mid": 0.03, "tom_low": 0.03,
    "sidestick": 0.025, "clap": 0.015, "unknown": 0.06,
}
TECHNIQUES = ["ghost", "flam", "rimshot", "hihat_bark", "multi_cymbal_same_class", "choke"]


def generate(path: Path, *, events: int, sessions: int, seed: int) -> None:
    """Write a synthetic manifest of about ``events`` hits over ``sessions`` sessions to ``path``."""
    rng = np.random.default_rng(seed)
    # Session sizes: log-normal (a few huge multitrack sessions, many small kits), scaled to the total.
    sizes = rng.lognormal(mean=0.0, sigma=0.8, size=sessions)
    sizes = np.maximum(1, np.round(sizes / sizes.sum() * events)).astype(np.int64)
    n = int(sizes.sum())
    session_source = rng.choice(list(SOURCES), size=sessions, p=list(SOURCES.values()))
    session_names = np.array([f"{src}-{i:06d}" for i, src in enumerate(session_source)], dtype=object)
    kit_names = np.array([f"kit-{i % 4000:04d}" for i in range(sessions)], dtype=object)
    audio = np.array([f"data/raw/{src}/{name}.wav" for src, name in zip(session_source, session_names)],
                     dtype=object)
    sess = np.repeat(np.arange(sessions), sizes)
    # Onsets: increasing inside a session, 60-400 ms apart.
    gaps = rng.uniform(0.06, 0.4, size=n)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    onsets = np.cumsum(gaps)
    onsets -= np.repeat(onsets[starts] - gaps[starts], sizes)
    onsets = np.round(onsets * 22050) / 22050  # onsets fall on samples
    # 0.1 % of hits are duplicated 0.3 ms later (the same hit listed twice).
    dup = rng.random(n) < 0.001
    labels = rng.choice(list(LABELS), size=n, p=np.array(list(LABELS.values())) / sum(LABELS.values()))
    tech_pick = rng.integers(0, len(TECHNIQUES), size=n)
    techniques = [[TECHNIQUES[t]] if r < 0.12 else [] for t, r in zip(tech_pick, rng.random(n))]
    extra = [["crash"] if r < 0.02 else [] for r in rng.random(n)]
    velocity = rng.integers(1, 128, size=n).astype(object)
    velocity[rng.random(n) < 0.2] = None
    hihat = np.char.startswith(labels.astype(str), "hihat")
    openness = np.where(hihat, np.round(rng.random(n), 3), np.nan)
    table = pa.table({
        "event_id": pa.array([f"{i:016x}" for i in range(n)]),
        "source": pa.array(session_source[sess]),
        "session_id": pa.array(session_names[sess]),
        "kit": pa.array(kit_names[sess]),
        "audio_path": pa.array(audio[sess]),
        "onset_s": pa.array(onsets),
        "label": pa.array(labels),
        "extra_labels": pa.array(extra, type=pa.list_(pa.string())),
        "techniques": pa.array(techniques, type=pa.list_(pa.string())),
        "velocity": pa.array(velocity, type=pa.int64()),
        "openness": pa.array(openness, mask=~hihat),
    })
    dups = table.filter(pa.array(dup))
    dups = dups.set_column(5, "onset_s", pa.array(dups["onset_s"].to_numpy() + 0.0003))
    # A listed-twice hit is a second row with an id of its own (a repeated id is a reader error).
    dups = dups.set_column(0, "event_id", pa.array([f"{n + i:016x}" for i in range(dups.num_rows)]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.concat_tables([table, dups]), tmp)
    os.replace(tmp, path)


def _read(path: Path, engine: str, columns: list[str] | None = None, *, trusted: bool = True) -> pd.DataFrame:
    """Read a manifest as the stages do (arrow), or with NumPy object strings and Python lists (pandas).

    Only merge_manifests checks every value (``trusted=False``); the later stages read
    the pipeline's own outputs with ``trusted=True``, as the stage scripts do.
    """
    from musicml.manifest import read_events

    df = read_events(path, columns=columns, arrow_lists=engine == "arrow", trusted=trusted)
    if engine == "pandas":
        for name in df.columns:
            if pd.api.types.is_string_dtype(df[name]) and not isinstance(df[name].dtype, pd.ArrowDtype):
                df[name] = df[name].astype(object)
    return df


def run_stage(name: str, work: Path, engine: str) -> dict:
    """One stage in this process: read its input, compute, write its output; seconds of work."""
    from musicml.manifest import write_events

    start, cpu_start = time.perf_counter(), time.process_time()
    if name == "merge_manifests":
        from musicml.drums.merge import merge_manifests

        out, _ = merge_manifests({"events": _read(work / "input.parquet", engine, trusted=False)}, dedup_tolerance_s=0.001)
        write_events(out, work / "events.parquet")
    elif name == "split":
        from musicml.drums.split import split_sessions

        out = split_sessions(_read(work / "events.parquet", engine), val_fraction=0.15, test_fraction=0.15,
                             seed=1337)
        write_events(out, work / "split.parquet")
    elif name == "health":
        from musicml.atomic import copy_file
        from musicml.config import load_taxonomy
        from musicml.drums.health import HealthThresholds, health_report, render_html

        df = _read(work / "split.parquet", engine)
        # Audio durations come from the files in the real stage; here every session file is 60 s.
        paths = df["audio_path"].astype(str).unique()
        durations = pd.DataFrame({"audio_path": paths, "duration_s": np.full(len(paths), 60.0)})
        classes = load_taxonomy(Path(__file__).resolve().parents[1] / "configs/taxonomy.yaml").classes
        report = health_report(df, classes=classes, thresholds=HealthThresholds(), durations=durations)
        render_html(report)
        copy_file(work / "split.parquet", work / "dataset.parquet")  # as the stage does
    elif name == "weights":
        from musicml.drums.weights import session_weights

        df = _read(work / "dataset.parquet", engine, columns=["session_id", "source", "split"])
        table, _ = session_weights(df[df["split"] == "train"])
        table.to_csv(work / "weights.csv", index=False, float_format="%.8g")
    else:
        raise ValueError(name)
    # CPU seconds (all threads) next to wall seconds: on a shared machine the wall time
    # grows with the load, the CPU time hardly does.
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu_start, "peak_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: of its own image, not counting the parent it forked from)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def load_average() -> str:
    """The 1/5/15-minute load averages (``/proc/loadavg``): the other work the figures shared the CPUs with."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:  # not Linux
        return "n/a"


def _child(name: str, work: Path, engine: str) -> dict:
    """Run one stage in a fresh interpreter; its wall seconds, work seconds and own peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", name, "--work", str(work), "--engine", engine],
                            stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    status = proc.wait()
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"stage {name} failed (status {status})")
    result = json.loads(out.strip().splitlines()[-1])
    return {"wall": wall, "seconds": result["seconds"], "cpu": result["cpu"], "peak_mb": result["peak_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=7_391_699, help="events to generate")
    parser.add_argument("--sessions", type=int, default=49_967, help="session groups to generate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", choices=["arrow", "pandas"], default="arrow",
                        help="arrow: Arrow-backed strings (what the stages use); pandas: NumPy object strings")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "musicml-scale",
                        help="folder for the generated manifest and the stage outputs")
    parser.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_stage(args.child, args.work, args.engine)))
        return
    work = args.cache / f"v2-{args.events}-{args.sessions}-{args.seed}"  # v2: listed-twice hits get ids of their own
    manifest = work / "input.parquet"
    if not manifest.exists():
        start = time.perf_counter()
        generate(manifest, events=args.events, sessions=args.sessions, seed=args.seed)
        print(f"generated {manifest} in {time.perf_counter() - start:.1f} s")
    rows = pq.ParquetFile(manifest).metadata.num_rows
    print(f"scale: {rows:,} events, {args.sessions:,} sessions, engine {args.engine}, {os.cpu_count()} CPUs")
    print(f"  load average before: {load_average()}")
    total_wall = total_work = total_cpu = peak = 0.0
    for name in args.stages:
        r = _child(name, work, args.engine)
        total_wall += r["wall"]
        total_work += r["seconds"]
        total_cpu += r["cpu"]
        peak = max(peak, r["peak_mb"])
        print(f"  {name:16s} {r['seconds']:7.1f} s work  {r['cpu']:7.1f} s CPU  {r['wall']:7.1f} s process  "
              f"peak RSS {r['peak_mb']:7.0f} MB", flush=True)
    print(f"  {'total':16s} {total_work:7.1f} s work  {total_cpu:7.1f} s CPU  {total_wall:7.1f} s process  "
          f"peak RSS {peak:7.0f} MB")
    print(f"  load average after: {load_average()}")


if __name__ == "__main__":
    main()
