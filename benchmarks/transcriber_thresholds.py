"""How well per-class peak thresholds chosen on some kits transfer to a kit not seen: leave one kit out.

transcriber_train chooses each class's peak threshold by onset F-beta
(`transcriber.threshold_beta`) on all validation takes at once, and the test
takes come from other kits. This script estimates that transfer on the
validation takes alone (the test takes are never read): for each validation
kit, thresholds are chosen on the other kits' takes and scored on its own;
the counts are summed over kits. It prints, per beta, the macro recall and
macro onset F-measure (classes with strokes) and per-class recall / precision.
References are merged as boundary_eval merges them (`boundary.merge_ms`).
Needs `dvc repro transcriber_train` first.

    python benchmarks/transcriber_thresholds.py [--betas 2 2.5 3 4]
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", default="models/transcriber.pt")
    parser.add_argument("--dataset", default="data/interim/dataset.parquet")
    parser.add_argument("--heldout", default="data/interim/transcriber/heldout.parquet")
    parser.add_argument("--betas", type=float, nargs="+", default=[2.0, 2.5, 3.0, 4.0])
    args = parser.parse_args()

    import pandas as pd

    from musicml.config import load_yaml, section
    from musicml.drums.boundary import held_out_takes, merge_close_onsets
    from musicml.drums.frame_transcription import choose_thresholds, class_scores, peak_radius
    from musicml.drums.transcriber import TranscriberConfig, load_checkpoint, load_takes, take_activations
    from musicml.manifest import read_events

    p = load_yaml(args.params)
    cfg = TranscriberConfig.from_params(section(p, "transcriber"), seed=int(p["seed"]))
    stream, bounds = section(p, "transcribe"), section(p, "boundary")
    model, state = load_checkpoint(args.model)
    classes = state["classes"]
    val = pd.concat([held_out_takes(read_events(path), source=bounds["source"], split="val", origin=str(path))
                     for path in (args.dataset, args.heldout)], ignore_index=True)
    kit_of = dict(zip(val["audio_path"].astype(str), val["session_id"].astype(str)))
    window_s, hop_s = stream["window_ms"] / 1000, stream["hop_ms"] / 1000
    takes = load_takes(val, classes, cfg, pad=int(round(window_s * cfg.frames.fps)) + 2)
    acts = {t.name: take_activations(model, t, cfg, window_s=window_s, hop_s=hop_s) for t in takes}
    merge_s = bounds["merge_ms"] / 1000
    refs = {t.name: merge_close_onsets(t.references, merge_s=merge_s) for t in takes}
    kits = sorted({kit_of[name] for name in acts})
    kw = dict(radius=peak_radius(cfg.min_gap_ms, cfg.frames), fps=cfg.frames.fps,
              tolerance_s=bounds["tolerance_ms"] / 1000, n_classes=len(classes))
    print(f"{len(takes)} validation takes of {len(kits)} kits; thresholds chosen on the others, scored on each")
    for beta in args.betas:
        counts = np.zeros((len(classes), 3))  # references, estimates, matched
        for kit in kits:
            fit = [n for n in acts if kit_of[n] != kit]
            held = [n for n in acts if kit_of[n] == kit]
            thresholds, _ = choose_thresholds({n: acts[n] for n in fit}, {n: refs[n] for n in fit},
                                              grid=cfg.threshold_grid, beta=beta, **kw)
            for c, s in enumerate(class_scores({n: acts[n] for n in held}, {n: refs[n] for n in held},
                                               thresholds=np.asarray(thresholds, np.float32), **kw)):
                counts[c] += (s["references"], s["estimates"], s["matched"])
        present = counts[:, 0] > 0
        recall = counts[:, 2] / np.maximum(counts[:, 0], 1)
        precision = counts[:, 2] / np.maximum(counts[:, 1], 1)
        f = np.where(recall + precision > 0, 2 * recall * precision / np.maximum(recall + precision, 1e-12), 0.0)
        print(f"beta {beta:g}: macro recall {recall[present].mean():.4f}, macro onset F {f[present].mean():.4f}; "
              + ", ".join(f"{classes[c]} {recall[c]:.2f}/{precision[c]:.2f}" for c in np.flatnonzero(present)))


if __name__ == "__main__":
    main()
