"""Stage midi_split: train / val / test per dataset by origin (held-out generator family as test)."""

from pathlib import Path

import typer

from musicml.atomic import atomic_path
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.midi.datasets import assign_splits, load_manifest, manifest_frame, write_splits
from musicml.midi.settings import load_settings


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `midi.split`, `midi.datasets`, `midi.import`."),
    datasets: Path = typer.Option("data/midi/datasets", help="Folder of dataset manifests."),
    out: Path = typer.Option("data/midi/splits", help="Folder to write: <dataset>/{train,val,test}.txt."),
) -> None:
    """Every origin (a generated piece, or a real file) goes to exactly one split. The dataset's
    `test_family` and imported sources marked `test: true` form the test split."""
    midi = section(load_yaml(params), "midi")
    settings = load_settings(midi)
    sources = midi["import"].get("sources") or {}
    test_sources = [name for name, spec in sources.items() if (spec or {}).get("test")]
    with atomic_path(out, is_dir=True) as tmp:
        for name, spec in settings.specs.items():
            frame = manifest_frame(load_manifest(datasets / name / "manifest.json"))
            splits = assign_splits(frame, test_family=spec.test_family, val_fraction=float(midi["split"]["val_fraction"]),
                                   seed=settings.seed, test_sources=test_sources)
            counts = write_splits(tmp / name, frame["sample_id"], splits)
            print(f"midi_split: {name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    stage(main)
