"""The ``musicml`` command: use a trained model and manage data sources.

Pipeline stages are separate scripts (``stages/``, run by ``dvc repro``);
this command holds what a person runs by hand.
"""

from __future__ import annotations

from pathlib import Path

import typer

from musicml.console import new_app, run
from musicml.errors import InputError

app = new_app("musicml: drum-hit classification, the intent router, and the data they train on. "
              "Run `musicml COMMAND --help`.")
kits_app = new_app("Real drum kits (Hydrogen format) as a data source.")
app.add_typer(kits_app, name="kits")
manifest_app = new_app("Your own labelled hits (events JSONL + audio) as a data source.")
app.add_typer(manifest_app, name="manifest")


@app.command()
def predict(
    model: Path = typer.Option("models/drum_classifier.onnx", help="Exported ONNX model (torch not needed)."),
    manifest: Path = typer.Option(..., help="JSONL, one hit per line: audio_path, optional onset_s."),
    out: Path = typer.Option(..., help="JSONL to write: input fields + label, probabilities, unknown_score."),
    batch_size: int = typer.Option(64, help="Hits per onnxruntime call."),
) -> None:
    """Classify drum hits with the exported model.

    Without onset_s a row's hit starts at the first sound in its file.
    unknown_score is 1 - max probability: high means the hit is probably not
    one of the known classes.
    """
    import pandas as pd

    from musicml.inference import OnnxClassifier, predict_manifest
    from musicml.manifest import write_jsonl

    rows = predict_manifest(OnnxClassifier.load(model), str(manifest), batch_size=batch_size)
    write_jsonl(pd.DataFrame(rows), out)
    typer.echo(f"predict: {len(rows)} hits -> {out}")


@kits_app.command("add")
def kits_add(
    source: Path = typer.Option(..., "--from", help="Folder of kit folders, each with a drumkit.xml."),
    dest: Path = typer.Option("data/raw/hydrogen", help="Where the kits are copied (DVC-tracked)."),
    params: Path = typer.Option("params.yaml", help="Params file to switch `sources.hydrogen` on in."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file (name-mapping rules)."),
    track: bool = typer.Option(True, help="Track each copied kit with `dvc add`."),
) -> None:
    """Copy kits, `dvc add` them, enable them in params.yaml and hold some out for testing. Idempotent."""
    from musicml.config import load_taxonomy, load_yaml
    from musicml.drums.kits import add_kits

    seed = int(load_yaml(params).get("seed", 0))
    changes = add_kits(source, dest_root=str(dest), params_path=str(params), taxonomy=load_taxonomy(taxonomy),
                       seed=seed, track=track)
    for line in changes:
        typer.echo(line)
    if not changes:
        typer.echo("kits: already up to date; params.yaml unchanged")


@manifest_app.command("add")
def manifest_add(
    source: Path = typer.Argument(..., help="Folder holding one or more events *.jsonl files and their audio."),
    name: str = typer.Option(None, help="Folder name under data/raw/manifest (default: the source's name)."),
    params: Path = typer.Option("params.yaml", help="Params file to switch `sources.manifest` on in."),
    track: bool = typer.Option(True, help="Track the copy with `dvc add`."),
) -> None:
    """Copy, validate, `dvc add` and enable a manifest folder. Idempotent.

    audio_path in the JSONL may be relative to the JSONL's folder. Bad rows fail
    with file:line and field before params.yaml is changed.
    """
    from musicml.sources import add_manifest

    changes = add_manifest(source, name=name, params_path=params, track=track)
    for line in changes:
        typer.echo(line)
    if not changes:
        typer.echo("manifest: already up to date; params.yaml unchanged")


@app.command()
def route(
    text: str = typer.Argument(None, help="One request, e.g. \"add a ii-V-I to the piano track at bar 9\"."),
    file: Path = typer.Option(None, "--file", help="Text file, one request per line (instead of TEXT)."),
    out: Path = typer.Option(None, "--out", help="JSONL to write with --file (default: stdout)."),
    model: Path = typer.Option("models/router/serving", help="Exported router folder (router_export)."),
    batch_size: int = typer.Option(64, help="Requests per onnxruntime call."),
) -> None:
    """Which agents a request needs: prints {"needsDAW", "needsArranger", "confidence"}.

    With --file every line is one request and every output line one JSON object
    (text, needsDAW, needsArranger, confidence), in input order. Runs on
    onnxruntime and tokenizers only (no torch).
    """
    import json

    from musicml.router.requests_io import read_request_lines
    from musicml.router.serving import OnnxRouter

    if (text is None) == (file is None):
        raise InputError("route", "give either TEXT or --file, not both and not neither")
    if out is not None and file is None:
        raise InputError("route", "--out needs --file")
    if file is not None:
        texts = read_request_lines(file)
    else:
        if not text.strip():
            raise InputError("TEXT", "empty request; expected some text")
        texts = [text.strip()]
    results = OnnxRouter.load(model).route(texts, batch_size=batch_size)
    if file is None:
        typer.echo(json.dumps(results[0]))
        return
    lines = "".join(json.dumps({"text": t, **r}) + "\n" for t, r in zip(texts, results))
    if out is None:
        typer.echo(lines, nl=False)
    else:
        from musicml.atomic import write_text

        write_text(out, lines)
        typer.echo(f"route: {len(texts)} requests -> {out}", err=True)


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
