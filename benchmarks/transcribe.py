"""Streaming transcription speed on one core: seconds of audio per CPU second, and peak memory.

Renders a 3-minute backbeat take (120 BPM, every class, a synth kit outside the
training kits) and transcribes it with models/drum_classifier.onnx (the onsets
method) or, given --model models/transcriber.onnx, the frame transcriber, one
thread everywhere. The goal is >= 50x real time. Also prints how well the onsets and
labels match the exact annotations (50 ms tolerance).

    python benchmarks/transcribe.py [--seconds 180] [--model models/drum_classifier.onnx | models/transcriber.onnx]
"""

from __future__ import annotations

import os

# One core: BLAS and onnxruntime must not spread over more (set before numpy loads).
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from musicml.drums.boundary import match_onsets, onset_scores  # noqa: E402
from musicml.drums.synth import make_kit, render_take, write_wav  # noqa: E402
from musicml.drums.takes import backbeat_hits  # noqa: E402
from musicml.drums.transcribe import StreamConfig, load_transcriber, method_of, transcribe  # noqa: E402


# The child reports its own high-water mark: a parent's RUSAGE_CHILDREN inherits the parent's own
# peak through fork, so it would report the benchmark's rendering, not the command.
_CHILD = """
import resource, sys
from musicml.cli import app
try:
    app(sys.argv[1:], standalone_mode=False)
finally:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def _peak_rss_mb(path: Path, model: str, out: Path) -> float:
    """Peak RSS of a fresh `musicml transcribe` process (imports included): what a user's run needs."""
    done = subprocess.run([sys.executable, "-c", _CHILD, "transcribe", str(path), "--model", model, "--out",
                           str(out), "--no-progress"], check=True, capture_output=True, text=True)
    return int(done.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--model", default="models/drum_classifier.onnx")
    parser.add_argument("--kit", type=int, default=40, help="Synth kit index (training uses 0-31).")
    args = parser.parse_args()
    config = StreamConfig(method=method_of(args.model, "onsets"))
    model = load_transcriber(config, args.model, threads=1)
    sr = model.mel.sr if config.method == "onsets" else model.frames.sr
    hits = backbeat_hits(args.seconds - 1.0, bpm=120, seed=99)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "groove.wav"
        write_wav(path, render_take(make_kit(args.kit, seed=99), hits, sr=sr, seed=99), sr)
        # Warm-up on a short take: imports and first-call set-up are not streaming cost.
        short = Path(tmp) / "short.wav"
        write_wav(short, render_take(make_kit(args.kit, seed=99), hits[:8], sr=sr, seed=99), sr)
        list(transcribe(short, model, config, progress=False))
        cpu, wall = time.process_time(), time.perf_counter()
        events = list(transcribe(path, model, config, progress=False))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        # Memory must not grow with length: the short take and the long one need the same.
        rss_short = _peak_rss_mb(short, args.model, Path(tmp) / "short.jsonl")
        rss_long = _peak_rss_mb(path, args.model, Path(tmp) / "long.jsonl")
    duration = max(h.onset_s for h in hits) + 1.5
    print(f"transcribe ({config.method}): {duration:.0f} s of audio, {len(hits)} strikes -> {len(events)} events")
    print(f"speed: {duration / cpu:.1f}x real time per CPU second ({cpu:.2f} s CPU, {wall:.2f} s wall, 1 thread)")
    print(f"memory: peak RSS of `musicml transcribe` {rss_long:.0f} MB on this take, "
          f"{rss_short:.0f} MB on a {hits[7].onset_s + 1.5:.0f} s take")
    times = sorted({h.onset_s for h in hits})
    truth = [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] > 0.03]  # strikes together: one onset
    found = sorted({e.time_s for e in events})
    s = onset_scores(len(truth), len(found), len(match_onsets(truth, found, tolerance_s=0.05)))
    print(f"onsets (any label, 50 ms, strikes within 30 ms merged): precision {s['precision']:.3f} "
          f"recall {s['recall']:.3f} F {s['f_measure']:.3f}")
    scores = []
    for label in sorted({h.label for h in hits}):
        ref = [h.onset_s for h in hits if h.label == label]
        est = [e.time_s for e in events if e.label == label]
        f = onset_scores(len(ref), len(est), len(match_onsets(ref, est, tolerance_s=0.05)))
        scores.append(f["f_measure"])
        print(f"  {label:13s} {len(ref):4d} strikes  P {f['precision']:.3f}  R {f['recall']:.3f}  "
              f"F {f['f_measure']:.3f}")
    print(f"labelled onsets: macro F {sum(scores) / len(scores):.3f}")


if __name__ == "__main__":
    main()
