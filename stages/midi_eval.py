"""Stage midi_eval: score the midi_train baselines beside trivial ones (held-out family; real data)."""

from pathlib import Path

import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.midi.baselines import load_fits, score_dataset
from musicml.midi.features import read_features
from musicml.midi.settings import load_settings


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `midi.seed` and `midi.eval`."),
    features: Path = typer.Option("data/midi/features", help="Folder of feature tables."),
    models: Path = typer.Option("models/midi", help="Folder of fitted tasks that midi_train wrote."),
    report: Path = typer.Option("metrics/midi_eval.json", help="Metrics per dataset, subset and task."),
) -> None:
    """Score each dataset's fitted tasks on the held-out generator family and, reported separately, on
    imported real test data, beside trivial baselines (majority class, training mean or rule-measured swing
    ratio, bigram chords): macro-F1, MAE/RMSE/R2 and the interval's coverage, top-1/top-3, bootstrap CIs."""
    midi = section(load_yaml(params), "midi")
    settings = load_settings(midi)
    cfg = midi["eval"]
    results = {}
    for name in settings.specs:
        X, names, index = read_features(features, name)
        results[name] = score_dataset(name, load_fits(models, name), X, names, index, seed=settings.seed,
                                      iterations=int(cfg["bootstrap_iterations"]),
                                      confidence=float(cfg["confidence"]))
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
