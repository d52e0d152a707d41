"""Stage health: dataset health report and gates; passes the gated dataset downstream."""

from pathlib import Path

import pandas as pd
import typer

from musicml.atomic import copy_file
from musicml.audio import audio_duration
from musicml.config import load_taxonomy, load_yaml, section
from musicml.console import stage
from musicml.drums.health import HealthThresholds, check_gates, health_report, write_reports
from musicml.manifest import read_events, write_events


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `health`."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file (class list)."),
    events: Path = typer.Option("data/interim/split.parquet", help="Split manifest to check."),
    report_json: Path = typer.Option("metrics/health.json", help="JSON report with `gating_results`."),
    report_html: Path = typer.Option("metrics/health.html", help="HTML report."),
    out: Path = typer.Option("data/interim/dataset.parquet", help="The dataset that passed the gates."),
) -> None:
    """Counts, duplication, drift, techniques, velocity/openness, durations; strict mode fails on a gate.

    Reports are written first, so a failing gate still leaves them to read.
    """
    thresholds = HealthThresholds(**section(load_yaml(params), "health"))
    # merge_manifests' output, checked row by row when merge read its sources.
    df = read_events(events, arrow_lists=True, trusted=True)
    paths = sorted(df["audio_path"].astype(str).unique())
    durations = pd.DataFrame({"audio_path": paths, "duration_s": [audio_duration(p) for p in paths]})
    report = health_report(df, classes=load_taxonomy(taxonomy).classes, thresholds=thresholds, durations=durations)
    write_reports(report, report_json, report_html)
    failed = [g["gate"] for g in report["gating_results"] if not g["passed"]]
    print(f"health: {report['events']} events, gates {'passed' if not failed else 'FAILED: ' + ', '.join(failed)}")
    if thresholds.strict:
        check_gates(report)
    if events.suffix == ".parquet":
        # The dataset is the split manifest unchanged, and write_events wrote that one in
        # canonical form: copying its bytes is the same file, without a second encode.
        copy_file(events, out)
    else:
        write_events(df, out)


if __name__ == "__main__":
    stage(main)
