"""Stage midi_import: scan the enabled real-MIDI sources (de-duplicated, bad files skipped and listed)."""

from pathlib import Path

import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.errors import GateError
from musicml.midi.datasets import write_index
from musicml.midi.importer import check_folder_labels, scan_sources
from musicml.midi.settings import load_settings


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `midi.import`."),
    out: Path = typer.Option("data/midi/imported.jsonl", help="Index of imported samples (one JSON line each)."),
    report: Path = typer.Option("metrics/midi_import.json", help="Counts, duplicates and skipped files with reasons."),
) -> None:
    """Parse every file of every enabled source in `midi.import.sources`.

    Identical files (same content hash) are kept once. Unreadable, empty,
    out-of-range-tempo and drum-only (outside groove) files are skipped and
    listed with their reason; the stage fails when their share exceeds
    `midi.import.max_skipped_share` (strict), after writing the report.
    """
    midi = section(load_yaml(params), "midi")
    settings = load_settings(midi)
    cfg = midi["import"]
    folder_labels = cfg.get("folder_labels") or {}
    check_folder_labels(folder_labels, settings.label_values)
    rows, summary = scan_sources(cfg.get("sources") or {}, folder_labels=folder_labels)
    summary["max_skipped_share"] = cfg["max_skipped_share"]
    summary["gate_passed"] = summary["skipped_share"] <= cfg["max_skipped_share"]
    write_json(report, summary)
    write_index(rows, out)
    print(f"midi_import: {summary['imported']} imported, {summary['duplicates']} duplicates, "
          f"{summary['skipped']} skipped of {summary['files']} files")
    if not summary["gate_passed"] and cfg.get("strict", True):
        raise GateError(f"midi_import: skipped share {summary['skipped_share']:.3f} > max_skipped_share "
                        f"{cfg['max_skipped_share']} (see {report})")


if __name__ == "__main__":
    stage(main)
