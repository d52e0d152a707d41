"""Stage midi_validate: balance, diversity, quality, structure and consistency scores per dataset."""

from pathlib import Path

import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.errors import GateError
from musicml.midi.datasets import load_manifest, manifest_frame, read_splits
from musicml.midi.settings import load_settings
from musicml.midi.validate import Gates, validate_dataset


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `midi.validate`."),
    datasets: Path = typer.Option("data/midi/datasets", help="Folder of dataset manifests."),
    splits: Path = typer.Option("data/midi/splits", help="Folder of split files."),
    report: Path = typer.Option("metrics/midi_validate.json", help="Scores and verdict per dataset."),
) -> None:
    """Score every dataset in 0..1 and call it VALID when every score clears its gate
    (`midi.validate.min_*`). Strict mode fails after writing the report."""
    midi = section(load_yaml(params), "midi")
    settings = load_settings(midi)
    cfg = dict(midi["validate"])
    strict, edges = cfg.pop("strict"), cfg.pop("tempo_bins")
    gates = Gates(**cfg)
    results = {}
    for name, spec in settings.specs.items():
        frame = manifest_frame(load_manifest(datasets / name / "manifest.json"))
        results[name] = validate_dataset(frame, folder=datasets / name, splits=read_splits(splits / name), spec=spec,
                                         categories=settings.label_values[name], gates=gates, tempo_edges=edges)
        r = results[name]
        print(f"{'VALID' if r['valid'] else 'INVALID'} {name}: {r['samples']} samples, balance {r['balance_score']:.2f}, "
              f"diversity {r['diversity_score']:.2f}, quality {r['quality_score']:.2f}, "
              f"structure {r['structure_score']:.2f}, consistency {r['consistency_score']:.2f}")
    write_json(report, {"all_valid": all(r["valid"] for r in results.values()), "datasets": results})
    failed = [f"{name}: {'; '.join(r['failed'])}" for name, r in results.items() if not r["valid"]]
    if failed and strict:
        raise GateError("midi_validate: " + " | ".join(failed))


if __name__ == "__main__":
    stage(main)
