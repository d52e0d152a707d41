"""Stage transcriber_validate: both transcription methods on the validation grooves, to choose the default."""

from pathlib import Path

import pandas as pd
import typer

from musicml.atomic import write_json
from musicml.audio import audio_duration
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.boundary import evaluate_with_base, held_out_takes, pack_references, pack_windows
from musicml.drums.transcribe import METHODS, StreamConfig, load_transcriber, transcribe
from musicml.manifest import read_events


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `transcribe` and `boundary`."),
    dataset: Path = typer.Option("data/interim/dataset.parquet", help="Events manifest (the validation takes)."),
    heldout: Path = typer.Option("data/interim/transcriber/heldout.parquet",
                                 help="More takes of the held-out kits (transcriber_grooves); its `val` takes are "
                                      "scored too; may be empty."),
    frames_model: Path = typer.Option(METHODS["frames"], help="Exported frame transcriber."),
    onsets_model: Path = typer.Option(METHODS["onsets"], help="Exported one-shot classifier."),
    metrics: Path = typer.Option("metrics/transcriber_validation.json",
                                 help="Boundary recall and onset F per method on the validation takes."),
) -> None:
    """Streams the validation takes (split `val` of `boundary.source`) through `musicml transcribe` with each
    method and scores them as boundary_eval scores the test takes (with --heldout's validation takes; `base_takes`:
    the dataset's alone); `better` names the method with the higher
    boundary macro recall (ties: onset macro F). The test takes are never read here."""
    p = load_yaml(params)
    cfg, stream = section(p, "boundary"), section(p, "transcribe")
    events = held_out_takes(read_events(dataset), source=cfg["source"], split="val", origin=str(dataset))
    more = held_out_takes(read_events(heldout), source=cfg["source"], split="val", origin=str(heldout))
    if len(more):
        events = pd.concat([events, more], ignore_index=True)
    durations = {path: audio_duration(path) for path in sorted(events["audio_path"].unique())}
    rows = pack_windows(events, durations, window_s=stream["window_ms"] / 1000, hop_s=stream["hop_ms"] / 1000,
                        margin_s=cfg["margin_ms"] / 1000)
    references = pack_references(rows)
    report = {}
    for method, model in (("frames", frames_model), ("onsets", onsets_model)):
        config = StreamConfig.from_params(stream, method=method)
        transcriber = load_transcriber(config, model)
        table = pd.DataFrame([{"take": take, **e.to_json()} for take in durations
                              for e in transcribe(take, transcriber, config)],
                             columns=["take", "time_s", "label", "confidence"])
        report[method] = evaluate_with_base(references, table, extra_takes=set(more["audio_path"].astype(str)),
                                            classes=transcriber.classes, tolerance_s=cfg["tolerance_ms"] / 1000,
                                            min_macro_recall=cfg["min_macro_recall"],
                                            merge_s=cfg["merge_ms"] / 1000)
        print(f"transcriber_validate: {method}: boundary macro recall {report[method]['macro_recall']:.4f}, "
              f"onset macro F {report[method]['macro_f_measure']:.4f} over {len(durations)} validation takes")
    better = max(report, key=lambda m: (report[m]["macro_recall"], report[m]["macro_f_measure"]))
    write_json(metrics, {**report, "better": better, "configured": stream.get("method", "onsets")})
    print(f"transcriber_validate: {better} is better on validation (params transcribe.method: "
          f"{stream.get('method', 'onsets')})")


if __name__ == "__main__":
    stage(main)
