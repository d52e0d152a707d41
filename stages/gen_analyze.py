"""Stage gen_analyze: librosa analysis of every snapshot record; analyzer accuracy against known truth."""

import time
from pathlib import Path

import typer
from tqdm import tqdm

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.genmeta.analysis import AnalysisSettings, analyze_records
from musicml.genmeta.records import read_records, read_stage_records, write_jsonl_rows
from musicml.genmeta.stats import analyzer_accuracy


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `gen.snapshot`, `gen.analyze`."),
    out: Path = typer.Option("data/interim/genmeta/analyzed.jsonl", help="Records with analysis (JSONL)."),
    metrics: Path = typer.Option("metrics/gen_analyze.json", help="Counts and analyzer accuracy."),
) -> None:
    """Tempo, rhythm confidence, stability, spectrum, MFCC, chroma, key, dynamics, embedding per record.

    A record whose audio cannot be read gets `analysisMetadata.analysisError`
    and the stage goes on. Accuracy is measured when the snapshot has truth.jsonl.
    """
    p = load_yaml(params)
    snapshot = Path(section(p, "gen.snapshot"))
    cfg = dict(section(p, "gen.analyze"))
    tolerance = float(cfg.pop("tempo_tolerance"))
    workers = cfg.pop("workers", 1)  # how the records are analysed, not what the analysis is
    records = read_records(snapshot / "records.jsonl")
    start = time.perf_counter()
    analysed = analyze_records(records, snapshot, AnalysisSettings(**cfg),
                               progress=lambda it: tqdm(it, total=len(records), desc="gen_analyze", unit="clip",
                                                        mininterval=5), workers=workers)
    elapsed = time.perf_counter() - start
    write_jsonl_rows(out, analysed)
    failed = [r for r in analysed if "analysisError" in r["analysisMetadata"]]
    truth_path = snapshot / "truth.jsonl"
    accuracy = analyzer_accuracy(analysed, read_stage_records(truth_path), tempo_tolerance=tolerance) \
        if truth_path.exists() else {"evaluated": 0}
    write_json(metrics, {"records": len(analysed), "analysed": len(analysed) - len(failed),
                         "unreadable": len(failed), "accuracy": accuracy})
    audio_s = sum(r.get("duration") or 0 for r in analysed if r not in failed)
    print(f"gen_analyze: {len(analysed) - len(failed)}/{len(analysed)} analysed, {len(failed)} unreadable, "
          f"{audio_s / max(elapsed, 1e-9):.1f} s audio/s; tempo acc {accuracy.get('tempo_accuracy')}, "
          f"key acc {accuracy.get('key_accuracy')}")


if __name__ == "__main__":
    stage(main)
