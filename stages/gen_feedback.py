"""Stage gen_feedback: merge the snapshot's feedback log onto the analysed records."""

from pathlib import Path

import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.genmeta.feedback import merge_feedback
from musicml.genmeta.records import read_feedback_log, read_stage_records, write_jsonl_rows


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `gen.snapshot`."),
    records: Path = typer.Option("data/interim/genmeta/analyzed.jsonl", help="Analysed records."),
    out: Path = typer.Option("data/interim/genmeta/with_feedback.jsonl", help="Records with feedback merged."),
    metrics: Path = typer.Option("metrics/gen_feedback.json", help="Events applied, superseded, unknown ids."),
) -> None:
    """Last write per generationId wins; events for unknown ids are counted, not applied."""
    snapshot = Path(section(load_yaml(params), "gen.snapshot"))
    log = snapshot / "feedback.jsonl"
    events = list(read_feedback_log(log)) if log.exists() else []
    merged, summary = merge_feedback(read_stage_records(records), events)
    write_jsonl_rows(out, merged)
    write_json(metrics, summary)
    print(f"gen_feedback: {summary['applied']} records updated from {summary['events']} events, "
          f"{summary['superseded']} superseded, {summary['unknown_ids']} unknown ids")


if __name__ == "__main__":
    stage(main)
