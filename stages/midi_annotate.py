"""Stage midi_annotate: one manifest per dataset, automatic + source + manual labels merged."""

from pathlib import Path

import typer

from musicml.atomic import atomic_path
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.midi.annotate import annotate_rows, read_manual_labels
from musicml.midi.datasets import config_document, manifest_document, read_index, write_dataset
from musicml.midi.settings import load_settings


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `midi.datasets` and `midi.annotate`."),
    synth: Path = typer.Option("data/midi/synth/index.jsonl", help="Index of the generated corpus."),
    imported: Path = typer.Option("data/midi/imported.jsonl", help="Index of imported real MIDI."),
    out: Path = typer.Option("data/midi/datasets", help="Folder to write: <dataset>/manifest.json and config.json."),
) -> None:
    """Measure every sample (key, mode, tempo, chords, groove, swing, articulation, dynamics, contour,
    range), merge with the source's and the manual labels (manual wins) and score label consistency."""
    midi = section(load_yaml(params), "midi")
    settings = load_settings(midi)
    cfg = midi["annotate"]
    manual = read_manual_labels(cfg["labels_file"], categories=settings.label_values)
    rows = read_index(synth) + read_index(imported)
    with atomic_path(out, is_dir=True) as tmp:
        for name, spec in settings.specs.items():
            annotated = annotate_rows(name, [r for r in rows if r["dataset"] == name], root=".", manual=manual,
                                      swing_tolerance=float(cfg["swing_tolerance"]))
            write_dataset(tmp / name, manifest_document(spec, annotated),
                          config_document(spec, families=settings.families[name]))
            verified = sum(1 for r in annotated if r["annotations"]["is_verified"])
            print(f"midi_annotate: {name}: {len(annotated)} samples, {verified} verified")


if __name__ == "__main__":
    stage(main)
