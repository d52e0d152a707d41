"""Stage ingest_audio_midi: recordings with aligned General-MIDI drum files."""

from pathlib import Path

import typer

from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.audio_midi import ingest_audio_midi, rules_from_config
from musicml.drums.openness import load_calibration
from musicml.drums.soundfont import gm_drum_map
from musicml.manifest import empty_events, write_events


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `sources.audio_midi` and `drum_midi`."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file; reads `gm_drums` and the classes."),
    out: Path = typer.Option("data/interim/sources/audio_midi.parquet", help="Events manifest to write."),
) -> None:
    """Label every <name>.wav + <name>.mid pair under `sources.audio_midi.path` from its MIDI.

    GM drum notes on channel 10 give the labels (configs/taxonomy.yaml
    `gm_drums`), CC4 the hi-hat openness through the vendor curve of
    `drum_midi.calibration`. A missing partner file, an unreadable MIDI file or
    a note past the end of the audio stops the stage with one line naming the
    file; an unknown note is skipped or an error (`on_unknown_note`). Disabled
    (the default), it writes an empty manifest.
    """
    p = load_yaml(params)
    cfg = section(p, "sources.audio_midi")
    if not cfg["enabled"]:
        write_events(empty_events(), out)
        print(f"audio_midi: disabled -> {out}")
        return
    doc = load_yaml(taxonomy)
    curve = load_calibration(section(p, "drum_midi.calibration")).curve(cfg["vendor"])
    rules = rules_from_config(section(p, "drum_midi"), gm_map=gm_drum_map(doc), curve=curve,
                              priority=section(doc, "taxonomy.classes"), on_unknown_note=cfg["on_unknown_note"])
    events = ingest_audio_midi(cfg["path"], rules)
    write_events(events, out)
    print(f"audio_midi: {len(events)} events in {events['session_id'].nunique()} recordings -> {out}")


if __name__ == "__main__":
    stage(main)
