"""Stage augment: reproducible augmented copies of the training hits."""

from pathlib import Path

import typer

from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.augment import AugmentConfig, augment_events
from musicml.features import MelConfig
from musicml.manifest import empty_events, read_events, write_events


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `augment`, `features`."),
    dataset: Path = typer.Option("data/interim/dataset.parquet", help="Gated, split manifest."),
    audio_dir: Path = typer.Option("data/interim/augmented", help="Folder for augmented audio (one WAV per session)."),
    out: Path = typer.Option("data/interim/augmented.parquet", help="Manifest of the augmented hits."),
) -> None:
    """Pitch shift, time stretch, noise and gain on the train split only, `augment.multiplier` copies per hit."""
    p = load_yaml(params)
    knobs = dict(section(p, "augment"))
    workers = knobs.pop("workers", 1)  # how the copies are rendered, not what they are
    config = AugmentConfig(**knobs)
    mel = MelConfig.from_params(section(p, "features"))
    df = read_events(dataset)
    train = df[df["split"] == "train"]
    if config.multiplier > 0:
        result = augment_events(train, audio_dir, config=config, sr=mel.sr, clip_s=mel.clip_samples / mel.sr,
                                pre_onset_s=mel.pre_onset_s, seed=p["seed"], workers=workers)
    else:
        audio_dir.mkdir(parents=True, exist_ok=True)
        result = empty_events()
    write_events(result.assign(split="train"), out)
    print(f"augment: {len(result)} augmented hits from {len(train)} training hits -> {out}")


if __name__ == "__main__":
    stage(main)
