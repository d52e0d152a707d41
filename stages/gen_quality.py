"""Stage gen_quality: a quality score in [0, 1] per record (weights in `gen.quality`)."""

from pathlib import Path

import numpy as np
import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.genmeta.quality import QualityWeights, quality_score
from musicml.genmeta.records import read_stage_records, write_jsonl_rows


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `gen.quality`."),
    records: Path = typer.Option("data/interim/genmeta/with_feedback.jsonl", help="Records with feedback."),
    out: Path = typer.Option("data/interim/genmeta/scored.jsonl", help="Records with qualityScore."),
    metrics: Path = typer.Option("metrics/gen_quality.json", help="Score distribution summary."),
) -> None:
    """Rhythm confidence, tempo stability, clipping and dynamic range terms, then likes, usage and rating."""
    weights = QualityWeights.from_params(section(load_yaml(params), "gen.quality"))
    scored = [dict(r, qualityScore=quality_score(r, weights)) for r in read_stage_records(records)]
    write_jsonl_rows(out, scored)
    scores = np.array([r["qualityScore"] for r in scored], dtype=float)
    summary = {"records": int(scores.size)}
    if scores.size:
        summary.update(mean=round(float(scores.mean()), 4), median=round(float(np.median(scores)), 4),
                       p10=round(float(np.percentile(scores, 10)), 4), p90=round(float(np.percentile(scores, 90)), 4),
                       share_ge_0_5=round(float((scores >= 0.5).mean()), 4),
                       share_ge_0_7=round(float((scores >= 0.7).mean()), 4))
    write_json(metrics, summary)
    print(f"gen_quality: {summary['records']} records, mean score {summary.get('mean')}")


if __name__ == "__main__":
    stage(main)
