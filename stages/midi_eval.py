"""Stage midi_eval: scikit-learn baselines per dataset beside trivial ones (held-out family; real data)."""

from pathlib import Path

import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.midi.baselines import evaluate_dataset, interval_floors
from musicml.midi.features import read_features
from musicml.midi.settings import load_settings


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `midi.eval`."),
    features: Path = typer.Option("data/midi/features", help="Folder of feature tables."),
    report: Path = typer.Option("metrics/midi_eval.json", help="Metrics per dataset, subset and task."),
) -> None:
    """Train on the train split (augmented copies included), test on the held-out generator family
    and, reported separately, on imported real test data. Regression intervals are split-conformal
    (`midi.eval.interval_method`), calibrated on generator families left out of the training side, and
    never narrower than the label's resolution (`midi.eval.interval_floor`, half-width per target)."""
    midi = section(load_yaml(params), "midi")
    settings = load_settings(midi)
    cfg = midi["eval"]
    floors = interval_floors(cfg.get("interval_floor"))
    results = {}
    for name in settings.specs:
        X, names, index = read_features(features, name)
        results[name] = evaluate_dataset(name, X, names, index, seed=settings.seed, trees=int(cfg["trees"]),
                                         iterations=int(cfg["bootstrap_iterations"]),
                                         confidence=float(cfg["confidence"]), interval=float(cfg["interval"]),
                                         interval_method=str(cfg["interval_method"]),
                                         calibration_folds=int(cfg["calibration_folds"]), interval_floor=floors)
        for subset, tasks in results[name].items():
            for task, m in tasks.items():
                if "model_macro_f1" in m:
                    figure = f"macro-F1 {m['model_macro_f1']:.3f} vs majority {m['majority_macro_f1']:.3f}"
                elif "model_mae" in m:
                    figure = (f"MAE {m['model_mae']:.4f} vs trivial {m['trivial_mae']:.4f}, "
                              f"{m['interval']:.0%} conformal interval coverage {m['interval_coverage']}, "
                              f"mean width {m['interval_mean_width']}")
                else:
                    figure = f"top-1 {m['model_top1']:.3f} (bigram {m['bigram_top1']:.3f}), top-3 {m['model_top3']:.3f}"
                print(f"midi_eval: {name}/{subset}/{task}: {figure}")
    write_json(report, results)


if __name__ == "__main__":
    stage(main)
