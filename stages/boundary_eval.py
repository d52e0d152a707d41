"""Stage boundary_eval: transcribe the held-out takes, score boundary recall and onset F-measure per class."""

from pathlib import Path

import pandas as pd
import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.boundary import evaluate_with_base, extra_pack_takes, read_pack, read_predictions
from musicml.errors import GateError
from musicml.manifest import write_jsonl
from musicml.taxonomy import UNKNOWN


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `boundary` and `transcribe`."),
    pack: Path = typer.Option("data/processed/boundary/labels.jsonl", help="Boundary pack (boundary_pack)."),
    model: Path = typer.Option(None, help="Exported ONNX model; default: the one of `transcribe.method` "
                                          "(models/transcriber.onnx or models/drum_classifier.onnx)."),
    predictions: Path = typer.Option("data/processed/boundary/predictions.jsonl",
                                     help="Transcription (take, time_s, label, confidence): written here, "
                                          "or read with --score-only."),
    score_only: bool = typer.Option(False, help="Score an existing --predictions file instead of transcribing."),
    metrics: Path = typer.Option("metrics/boundary.json", help="Boundary recall, onset F per class, gates."),
) -> None:
    """Macro recall of window-edge events per class (gate `boundary.min_macro_recall`, fails the stage when
    `boundary.strict`) and onset F-measure per class within `boundary.tolerance_ms` (mir_eval conventions); strokes of one class closer than `boundary.merge_ms` are one reference."""
    p = load_yaml(params)
    cfg = section(p, "boundary")
    references = read_pack(pack)
    takes = sorted({r.take for r in references})
    if score_only:
        table = read_predictions(predictions, takes=takes)
        classes = sorted({r.label for r in references} - {UNKNOWN})  # open-set events are not a class
    else:
        from musicml.drums.transcribe import StreamConfig, load_transcriber, method_of, transcribe

        stream = section(p, "transcribe")
        # An explicit --model decides the method by its kind; otherwise `transcribe.method` picks the model.
        config = StreamConfig.from_params(stream, method=None if model is None else
                                          method_of(model, stream.get("method", "onsets")))
        transcriber = load_transcriber(config, model)
        rows = [{"take": take, **event.to_json()} for take in takes
                for event in transcribe(take, transcriber, config)]
        table = pd.DataFrame(rows, columns=["take", "time_s", "label", "confidence"])
        write_jsonl(table, predictions)
        classes = transcriber.classes
    # The gate is on every take; `base_takes` repeats the scores on the dataset's own held-out takes alone.
    report = evaluate_with_base(references, table, extra_takes=extra_pack_takes(pack), classes=classes,
                                tolerance_s=cfg["tolerance_ms"] / 1000, min_macro_recall=cfg["min_macro_recall"],
                                merge_s=cfg["merge_ms"] / 1000)
    report["method"] = "score-only" if score_only else config.method
    write_json(metrics, report)
    gate = report["gates"]["macro_recall"]
    print(f"boundary_eval: {report['takes']} takes ({report['method']}), boundary macro recall {report['macro_recall']:.4f} "
          f"(gate {gate['threshold']}: {'pass' if gate['passed'] else 'FAIL'}), onset macro F "
          f"{report['macro_f_measure']:.4f} over {report['references']} events"
          + (f"; the {report['base_takes']['takes']} dataset takes alone: {report['base_takes']['macro_recall']:.4f}, "
             f"{report['base_takes']['macro_f_measure']:.4f}" if "base_takes" in report else ""))
    if cfg["strict"] and not gate["passed"]:
        raise GateError(f"boundary macro recall {report['macro_recall']:.4f} < {gate['threshold']}")


if __name__ == "__main__":
    stage(main)
