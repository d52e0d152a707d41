"""Stage gen_export: JSONL for fine-tuning (audio as WAV at `gen.export.sr`) and CSV for analysis."""

from pathlib import Path

import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.genmeta.export import export_snapshot
from musicml.genmeta.records import read_stage_records


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `gen.snapshot`, `gen.export`."),
    records: Path = typer.Option("data/interim/genmeta/scored.jsonl", help="Scored records."),
    out: Path = typer.Option("data/processed/genmeta/export", help="Export folder: train.jsonl, analysis.csv, "
                                                                  "exported_ids.json, audio/."),
    metrics: Path = typer.Option("metrics/gen_export.json", help="Exported counts per genre and provider."),
) -> None:
    """Fine-tuning rows: quality >= min_quality_jsonl, analysed, feedback first, optional per-genre cap.
    Analysis rows: quality >= min_quality_csv, the seed's CSV columns."""
    p = load_yaml(params)
    cfg = section(p, "gen.export")
    summary = export_snapshot(read_stage_records(records), Path(section(p, "gen.snapshot")), out,
                              min_quality_jsonl=float(cfg["min_quality_jsonl"]),
                              min_quality_csv=float(cfg["min_quality_csv"]),
                              per_genre_cap=cfg.get("per_genre_cap"), sr=int(cfg["sr"]))
    write_json(metrics, summary)
    print(f"gen_export: {summary['finetune_records']} fine-tuning rows, {summary['analysis_records']} CSV rows "
          f"-> {out}")


if __name__ == "__main__":
    stage(main)
