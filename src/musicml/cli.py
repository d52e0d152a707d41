"""The ``musicml`` command: use a trained model and manage data sources.

Pipeline stages are separate scripts (``stages/``, run by ``dvc repro``);
this command holds what a person runs by hand.
"""

from __future__ import annotations

from pathlib import Path

import typer

from musicml.console import new_app, run

app = new_app("musicml: drum-hit classification and the data it trains on. Run `musicml COMMAND --help`.")
kits_app = new_app("Real drum kits (Hydrogen format) as a data source.")
app.add_typer(kits_app, name="kits")
manifest_app = new_app("Your own labelled hits (events JSONL + audio) as a data source.")
app.add_typer(manifest_app, name="manifest")
soundfonts_app = new_app("General-MIDI SoundFonts (.sf2/.sf3) as a source of recorded drum kits.")
app.add_typer(soundfonts_app, name="soundfonts")


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


@soundfonts_app.command("add")
def soundfonts_add(
    fonts: list[Path] = typer.Argument(..., help="SoundFont files (.sf2/.sf3) holding GM drum kits."),
    dest: Path = typer.Option("data/raw/soundfont", help="Where the fonts are copied (DVC-tracked)."),
    params: Path = typer.Option("params.yaml", help="Params file to switch `sources.soundfont` on in."),
    track: bool = typer.Option(True, help="Track each copied font with `dvc add`."),
) -> None:
    """Copy fonts, `dvc add` them and enable the soundfont source. Idempotent.

    The ingest_soundfont stage then plays every drum kit of every font with
    FluidSynth (install it: apt-get install fluidsynth).
    """
    from musicml.drums.soundfont import add_soundfonts

    changes = add_soundfonts(fonts, dest_root=dest, params_path=params, track=track)
    for line in changes:
        typer.echo(line)
    if not changes:
        typer.echo("soundfonts: already up to date; params.yaml unchanged")


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
