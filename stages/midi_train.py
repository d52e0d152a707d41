"""Stage midi_train: fit the scikit-learn baselines of every dataset on its train split."""

from pathlib import Path

import typer

from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.midi.baselines import interval_floors, save_fits, train_dataset
from musicml.midi.features import read_features
from musicml.midi.settings import load_settings


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `midi.seed` and `midi.eval`."),
    features: Path = typer.Option("data/midi/features", help="Folder of feature tables."),
    models: Path = typer.Option("models/midi", help="Folder to write: one pickle of fitted tasks per dataset."),
) -> None:
    """Fit each dataset's tasks on the train split (augmented copies included): random forests for labels
    and numeric targets, a logistic regression for the next chord. A regression's split-conformal interval
    (`midi.eval.interval_method`) is calibrated here, on generator families left out of the training side,
    and never narrower than the label's resolution (`midi.eval.interval_floor`, half-width per target)."""
    midi = section(load_yaml(params), "midi")
    settings = load_settings(midi)
    cfg = midi["eval"]
    floors = interval_floors(cfg.get("interval_floor"))
    fits = {}
    for name in settings.specs:
        X, names, index = read_features(features, name)
        fits[name] = train_dataset(name, X, names, index, seed=settings.seed, trees=int(cfg["trees"]),
                                   interval=float(cfg["interval"]), interval_method=str(cfg["interval_method"]),
                                   calibration_folds=int(cfg["calibration_folds"]), interval_floor=floors)
        print(f"midi_train: {name}: {', '.join(fits[name]) or 'no task with training labels'}")
    save_fits(fits, models)


if __name__ == "__main__":
    stage(main)
