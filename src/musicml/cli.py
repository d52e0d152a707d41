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
midi_app = new_app("MIDI datasets (emotion, melody, harmony, dynamics, groove): import, label, count.")
app.add_typer(midi_app, name="midi")


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


@midi_app.command("import")
def midi_import(
    source_dir: Path = typer.Argument(..., help="Folder of MIDI files; sub-folder names (happy/, swing/ ...) become "
                                                "labels through `midi.import.folder_labels`."),
    source: str = typer.Option(..., "--source", help="Source name: the folder under data/raw/midi."),
    dataset: str = typer.Option("emotion", help="Dataset the files feed: emotion, melody, harmony, dynamics, groove."),
    test: bool = typer.Option(False, help="Hold this source out as its own test set (reported separately)."),
    params: Path = typer.Option("params.yaml", help="Params file to enable the source in (comments kept)."),
    root: Path = typer.Option("data/raw/midi", help="Where sources are copied (DVC-tracked)."),
    track: bool = typer.Option(True, help="Track the copy with `dvc add`."),
) -> None:
    """Copy a MIDI folder to data/raw/midi/NAME, `dvc add` it and enable it. Idempotent.

    Then `dvc repro midi_eval` scans it: duplicates (by content hash) are kept
    once, unreadable files are skipped and listed in metrics/midi_import.json.
    """
    from musicml.midi.importer import add_midi_source

    changes = add_midi_source(source_dir, name=source, dataset=dataset, root=root, params_path=params, test=test,
                              track=track)
    for line in changes:
        typer.echo(line)
    if not changes:
        typer.echo(f"midi import: {source} already up to date; params.yaml unchanged")


@midi_app.command("stats")
def midi_stats(
    dataset: str = typer.Option(..., help="emotion, melody, harmony, dynamics or groove."),
    params: Path = typer.Option("params.yaml", help="Params file (dataset declarations, tempo bins)."),
    datasets: Path = typer.Option("data/midi/datasets", help="Folder of dataset manifests (midi_annotate)."),
    splits: Path = typer.Option("data/midi/splits", help="Folder of split files (midi_split)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Counts per label, key, mode, tempo bin, source and split."""
    import json

    from musicml.config import load_yaml, section
    from musicml.midi.datasets import load_manifest, manifest_frame, read_splits, stats_tables
    from musicml.midi.settings import load_settings

    midi = section(load_yaml(params), "midi")
    spec = _midi_spec(load_settings(midi), dataset)
    frame = manifest_frame(load_manifest(datasets / dataset / "manifest.json"))
    if (splits / dataset).is_dir():
        frame["split"] = frame["sample_id"].map(read_splits(splits / dataset))
    tables = stats_tables(frame, category=spec.category, tempo_edges=midi["validate"]["tempo_bins"])
    if as_json:
        typer.echo(json.dumps({"dataset": dataset, "samples": len(frame), **tables}, indent=2, sort_keys=True))
        return
    typer.echo(f"{dataset}: {len(frame)} samples")
    for name, counts in tables.items():
        typer.echo(f"{name}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def _midi_spec(settings, dataset: str):
    from musicml.errors import ConfigError

    if dataset not in settings.specs:
        raise ConfigError(f"unknown dataset '{dataset}': expected one of {list(settings.specs)}")
    return settings.specs[dataset]


@midi_app.command("annotate")
def midi_annotate(
    dataset: str = typer.Option(..., help="Dataset whose unverified samples to label."),
    params: Path = typer.Option("params.yaml", help="Params file (label values, labels file)."),
    datasets: Path = typer.Option("data/midi/datasets", help="Folder of dataset manifests (midi_annotate)."),
    limit: int = typer.Option(20, help="Ask about at most this many samples."),
) -> None:
    """Ask for the label of unverified samples (imported first) and record it as verified.

    Answer with the label (e.g. `happy`), optionally followed by valence and
    arousal for emotion (`happy 0.8 0.6`); an empty line skips the sample, `q`
    stops. Answers go to the tracked labels file (`midi.annotate.labels_file`)
    and win over automatic labels at the next `dvc repro`.
    """
    from musicml.config import load_yaml, section
    from musicml.midi.annotate import prompt_labels, read_manual_labels
    from musicml.midi.datasets import load_manifest
    from musicml.midi.settings import load_settings

    midi = section(load_yaml(params), "midi")
    settings = load_settings(midi)
    spec = _midi_spec(settings, dataset)
    labels_file = Path(midi["annotate"]["labels_file"])
    manual = read_manual_labels(labels_file, categories=settings.label_values)
    samples = load_manifest(datasets / dataset / "manifest.json")["samples"]
    recorded = prompt_labels(samples, dataset=dataset, category=spec.category,
                             allowed=settings.label_values[dataset].get(spec.category, []), manual=manual,
                             labels_file=labels_file, limit=limit, ask=_ask, say=typer.echo)
    typer.echo(f"annotate: {recorded} label(s) recorded in {labels_file}; `dvc repro midi_annotate` applies them")


def _ask(prompt: str) -> str | None:
    """One answer line from stdin (None at end of input)."""
    import sys

    typer.echo(prompt, nl=False)
    line = sys.stdin.readline()
    return None if line == "" else line.strip()


def main() -> None:
    run(app)


if __name__ == "__main__":
    main()
