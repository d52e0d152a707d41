"""Stage ingest_grooves: MIDI drum performances played through the kits' one-shots."""

from pathlib import Path
from typing import List

import pandas as pd
import typer

from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.audio_midi import rules_from_config
from musicml.drums.grooves import GrooveConfig, render_grooves
from musicml.drums.openness import load_calibration
from musicml.drums.soundfont import gm_drum_map
from musicml.manifest import empty_events, read_events, write_events


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `sources.grooves`, `drum_midi`."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file; reads `gm_drums` and the classes."),
    kits: List[Path] = typer.Option(
        ["data/interim/sources/synth.parquet", "data/interim/sources/hydrogen.parquet",
         "data/interim/sources/soundfont.parquet"], "--kits",
        help="Manifests of the kit sources whose one-shots play the grooves (repeatable); "
             "only those named in `sources.grooves.kit_sources` are used."),
    audio_dir: Path = typer.Option("data/interim/grooves", help="Folder for <take_id>.wav + <take_id>.mid."),
    out: Path = typer.Option("data/interim/sources/grooves.parquet", help="Events manifest to write."),
) -> None:
    """Compose drum grooves (styles, meters, metric modulation) as GM MIDI, play them on every kit.

    Each kit of the enabled kit sources gets `takes_per_kit` takes, written as
    a WAV + MIDI pair (the audio_midi format); the events are read back from
    the MIDI, and carry the kit's session id, so the split holds a groove out
    exactly when it holds its kit out. Disabled, it writes an empty manifest
    and an empty folder.
    """
    p = load_yaml(params)
    cfg = section(p, "sources.grooves")
    if not cfg["enabled"]:
        audio_dir.mkdir(parents=True, exist_ok=True)
        write_events(empty_events(), out)
        print(f"grooves: disabled -> {out}")
        return
    frames = [read_events(path) for path in kits]
    frames = [f[f["source"].isin(cfg["kit_sources"])] for f in frames]
    kit_events = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) \
        else empty_events()
    doc = load_yaml(taxonomy)
    calibration = load_calibration(section(p, "drum_midi.calibration"))
    rules = rules_from_config(section(p, "drum_midi"), gm_map=gm_drum_map(doc), curve=calibration.curve(),
                              priority=section(doc, "taxonomy.classes"))
    composition = GrooveConfig.from_params(cfg)
    events = render_grooves(kit_events, audio_dir, cfg=composition, rules=rules,
                            takes_per_kit=cfg["takes_per_kit"], sr=cfg["sr"], seed=p["seed"], progress=True)
    write_events(events, out)
    print(f"grooves: {len(events)} events in {events['audio_path'].nunique()} takes "
          f"of {events['session_id'].nunique()} kits -> {out}")


if __name__ == "__main__":
    stage(main)
