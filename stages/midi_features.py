"""Stage midi_features: one feature table per dataset (original and augmented samples)."""

from pathlib import Path

import typer

from musicml.atomic import atomic_path
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.midi.datasets import load_manifest, read_index, read_splits
from musicml.midi.features import build_features, write_features
from musicml.midi.settings import load_settings
from musicml.midi.synth import audio_renderer


def main(
    params: Path = typer.Option("params.yaml",
                                help="Params file; reads `midi.features`, `midi.synth` (sr and audio renderer)."),
    datasets: Path = typer.Option("data/midi/datasets", help="Folder of dataset manifests."),
    splits: Path = typer.Option("data/midi/splits", help="Folder of split files."),
    augmented: Path = typer.Option("data/midi/augmented/index.jsonl", help="Index of augmented copies."),
    out: Path = typer.Option("data/midi/features", help="Folder to write: <dataset>.npz and <dataset>.parquet."),
) -> None:
    """Pitch-class profile (absolute and key-relative), interval and IOI histograms, note density,
    onset deviation from the grid, swing, velocity statistics and curve, contour; plus log-mel,
    MFCC and chroma statistics for audio datasets. The index holds each sample's labels and its
    measured chord sequence (`chord_sequence`, one chord per bar)."""
    midi = section(load_yaml(params), "midi")
    settings = load_settings(midi)
    copies = read_index(augmented)
    mel = dict(midi["features"])
    workers = mel.pop("workers", 1)  # how the table is computed, not what it holds
    with atomic_path(out, is_dir=True) as tmp:
        for name, spec in settings.specs.items():
            split_of = read_splits(splits / name)
            rows = [{**e, "split": split_of[e["sample_id"]], "augmented": False, "parent_id": e["sample_id"]}
                    for e in load_manifest(datasets / name / "manifest.json")["samples"]]
            rows += [{**r, "split": "train"} for r in copies if r["dataset"] == name]
            audio = {**mel, **audio_renderer(midi["synth"])} if spec.audio else None
            X, names, index = build_features(rows, audio=audio, workers=workers)
            write_features(tmp, name, X, names, index)
            print(f"midi_features: {name}: {X.shape[0]} samples x {X.shape[1]} features")


if __name__ == "__main__":
    stage(main)
