"""Stage gen_stats: the overview statistics, breakdowns, analyzer accuracy and the quality-score histogram."""

import csv
from pathlib import Path

import typer

from musicml.atomic import atomic_path, write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.genmeta.records import read_stage_records
from musicml.genmeta.stats import analyzer_accuracy, breakdown, histogram, overview


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `gen.snapshot`, `gen.analyze`, `gen.stats`."),
    records: Path = typer.Option("data/interim/genmeta/scored.jsonl", help="Scored records."),
    metrics: Path = typer.Option("metrics/gen_stats.json", help="Statistics (flat JSON for `dvc metrics`)."),
    plot: Path = typer.Option("metrics/plots/gen_quality_hist.csv", help="Quality-score histogram (dvc plot)."),
) -> None:
    """totalGenerations, byProvider, withFeedback, averageQualityScore, usedForTraining, byGenre,
    feedbackRate, missingAnalysis and analyzer accuracy (when the snapshot has truth.jsonl)."""
    p = load_yaml(params)
    rows = read_stage_records(records)
    truth = Path(section(p, "gen.snapshot")) / "truth.jsonl"
    stats = {**overview(rows), **breakdown(rows)}
    stats["analyzerAccuracy"] = analyzer_accuracy(
        rows, read_stage_records(truth), tempo_tolerance=float(section(p, "gen.analyze.tempo_tolerance"))) \
        if truth.exists() else {"evaluated": 0}
    write_json(metrics, stats)
    hist = histogram([r.get("qualityScore") or 0.0 for r in rows], bins=int(section(p, "gen.stats.histogram_bins")))
    with atomic_path(plot) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["bin_start", "bin_end", "count"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(hist)
    print(f"gen_stats: {stats['totalGenerations']} generations, {stats['withFeedback']} with feedback, "
          f"average quality {stats['averageQualityScore']}")


if __name__ == "__main__":
    stage(main)
