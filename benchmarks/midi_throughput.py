"""Throughput of the MIDI dataset pipeline on one core, and size per 1,000 samples.

Generates `--per-category` samples per category of every dataset into a
temporary folder (the midi_synth code path), then times, per dataset:

* synth      - generating + writing MIDI (and rendering 22,050 Hz audio for emotion),
* import     - the midi_import scan of that folder as if it were a real collection
               (read, hash for de-duplication, parse, tempo/notes/drum checks),
* features   - MIDI analysis + feature vector (+ log-mel/MFCC/chroma for audio),
* validation - annotation with its label-consistency checks + the validation scores.

Rates are per second of this process's CPU time (one BLAS thread), so they
read as files per second per core even on a busy machine. Prints them and bytes per 1,000 samples (MIDI, audio, features)
beside the seed's estimates (~50 MB, ~2 GB, ~100 MB per 1,000).

    python benchmarks/midi_throughput.py [--per-category 20]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import yaml


def main() -> None:
    from threadpoolctl import threadpool_limits

    from musicml.midi.annotate import annotate_rows
    from musicml.midi.datasets import assign_splits, manifest_document, manifest_frame, read_index
    from musicml.midi.features import build_features
    from musicml.midi.importer import scan_sources
    from musicml.midi.settings import load_settings
    from musicml.midi.synth import write_corpus
    from musicml.midi.validate import Gates, validate_dataset

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-category", type=int, default=20)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    midi = yaml.safe_load(Path(args.params).read_text())["midi"]
    settings = load_settings(midi)
    threadpool_limits(limits=1)  # files per second per core
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            for name, spec in settings.specs.items():
                start = time.process_time()
                write_corpus(Path("synth") / name, datasets=[name], per_category=args.per_category,
                             config=settings.config, seed=settings.seed, families=settings.families,
                             sr=int(midi["synth"]["sr"]), audio_datasets=[name] if spec.audio else [])
                synth_s = time.process_time() - start
                rows = read_index(Path("synth") / name / "index.jsonl")
                start = time.process_time()
                _, scanned = scan_sources({name: {"enabled": True, "dataset": name, "path": str(Path("synth") / name)}},
                                          folder_labels={})
                import_s = time.process_time() - start
                if scanned["imported"] != len(rows):
                    raise SystemExit(f"{name}: the import scan kept {scanned['imported']} of {len(rows)} files")
                start = time.process_time()
                annotated = annotate_rows(name, rows, root=".", manual={},
                                          swing_tolerance=float(midi["annotate"]["swing_tolerance"]))
                frame = manifest_frame(manifest_document(spec, annotated))
                splits = dict(zip(frame["sample_id"], assign_splits(frame, test_family=spec.test_family,
                                                                    val_fraction=0.15, seed=0)))
                Path(name).mkdir(exist_ok=True)
                for f in ("manifest.json", "config.json"):
                    Path(name, f).write_text("{}")
                validate_dataset(frame, folder=Path(name), splits=splits, spec=spec,
                                 categories=settings.label_values[name], gates=Gates(),
                                 tempo_edges=midi["validate"]["tempo_bins"])
                validate_s = time.process_time() - start
                feature_rows = [{**a, "split": splits[a["sample_id"]], "augmented": False} for a in annotated]
                start = time.process_time()
                audio = {**midi["features"], "sr": midi["synth"]["sr"]} if spec.audio else None
                X, _, _ = build_features(feature_rows, audio=audio)
                features_s = time.process_time() - start
                n = len(rows)
                midi_bytes = sum(Path(r["file_path"]).stat().st_size for r in rows)
                audio_bytes = sum(Path(r["audio_path"]).stat().st_size for r in rows if r["audio_path"])
                results[name] = {
                    "samples": n, "synth_files_per_s": round(n / synth_s, 1),
                    "import_files_per_s": round(n / import_s, 1),
                    "features_files_per_s": round(n / features_s, 1),
                    "validation_files_per_s": round(n / validate_s, 1),
                    "mb_per_1000_midi": round(midi_bytes / n * 1000 / 1e6, 2),
                    "mb_per_1000_audio": round(audio_bytes / n * 1000 / 1e6, 1),
                    "mb_per_1000_features": round(X.nbytes / n * 1000 / 1e6, 2),
                }
        finally:
            os.chdir(cwd)
    print(f"{'dataset':10} {'samples':>7} {'synth/s':>8} {'import/s':>8} {'feat/s':>8} {'valid/s':>8} "
          f"{'MIDI MB/1k':>10} {'audio MB/1k':>11} {'feat MB/1k':>10}")
    for name, r in results.items():
        print(f"{name:10} {r['samples']:7d} {r['synth_files_per_s']:8.1f} {r['import_files_per_s']:8.1f} "
              f"{r['features_files_per_s']:8.1f} "
              f"{r['validation_files_per_s']:8.1f} {r['mb_per_1000_midi']:10.2f} {r['mb_per_1000_audio']:11.1f} "
              f"{r['mb_per_1000_features']:10.2f}")
    print("seed's estimate per 1,000 samples: MIDI ~50 MB, audio (22 kHz) ~2 GB, features ~100 MB")
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
