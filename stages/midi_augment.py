"""Stage midi_augment: label-aware augmented copies of the training split of every dataset."""

from pathlib import Path

import typer

from musicml.atomic import atomic_path
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.midi.augment import MidiAugmentConfig, augment_dataset
from musicml.midi.datasets import load_manifest, read_splits, write_index
from musicml.midi.settings import load_settings
from musicml.midi.synth import audio_renderer


def main(
    params: Path = typer.Option("params.yaml",
                                help="Params file; reads `midi.augment`, `midi.synth` (sr and audio renderer)."),
    datasets: Path = typer.Option("data/midi/datasets", help="Folder of dataset manifests."),
    splits: Path = typer.Option("data/midi/splits", help="Folder of split files."),
    out: Path = typer.Option("data/midi/augmented", help="Folder to write: <dataset>/*.mid (+ .wav), index.jsonl."),
) -> None:
    """`midi.augment.multiplier` copies of each train sample: transpose, time stretch, velocity scale,
    timing jitter, note dropout; labels (key, chords, tempo) follow. Emotion audio is re-rendered and
    passed through the drum augmenter (pitch shift, time stretch, noise, gain; `midi.augment.audio`),
    seeded per clip, emotion labels kept. Val and test are never augmented."""
    midi = section(load_yaml(params), "midi")
    settings = load_settings(midi)
    cfg = dict(midi["augment"])
    audio_cfg = cfg.pop("audio")
    workers = cfg.pop("workers", 1)  # how the copies are made, not what they are
    config = MidiAugmentConfig(**cfg)
    render = audio_renderer(midi["synth"])
    with atomic_path(out, is_dir=True) as tmp:
        rows = []
        for name, spec in settings.specs.items():
            split_of = read_splits(splits / name)
            train = [e for e in load_manifest(datasets / name / "manifest.json")["samples"]
                     if split_of.get(e["sample_id"]) == "train"]
            # Files are written inside the temporary folder but indexed under their final path.
            new = augment_dataset(name, train, out_dir=tmp, seed=settings.seed, config=config, audio=audio_cfg,
                                  render=render if spec.audio else None, workers=workers)
            for row in new:
                for key in ("file_path", "audio_path"):
                    if row[key]:
                        row[key] = (out / Path(row[key]).relative_to(tmp)).as_posix()
            rows += new
            print(f"midi_augment: {name}: {len(train)} train samples -> {len(new)} copies")
        write_index(rows, tmp / "index.jsonl")


if __name__ == "__main__":
    stage(main)
