"""Stage transcriber_grooves: more grooves on the TRAINING kits, as extra training audio for the transcriber."""

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

#: Added to params `seed`: these takes differ from the ingest_grooves takes of the same kits.
SEED_OFFSET = 1_000_003


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `sources.grooves`, `drum_midi` "
                                                    "and `transcriber.extra_takes_per_kit`."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file; reads `gm_drums` and the classes."),
    dataset: Path = typer.Option("data/interim/dataset.parquet", help="Split events manifest: which kits are "
                                                                      "training kits."),
    kits: List[Path] = typer.Option(
        ["data/interim/sources/synth.parquet", "data/interim/sources/hydrogen.parquet",
         "data/interim/sources/soundfont.parquet"], "--kits",
        help="Manifests of the kit sources (repeatable); only kits of the training split are played."),
    audio_dir: Path = typer.Option("data/interim/transcriber/grooves", help="Folder for <take_id>.wav + .mid."),
    out: Path = typer.Option("data/interim/transcriber/grooves.parquet", help="Events manifest to write."),
) -> None:
    """Compose and play `transcriber.extra_takes_per_kit` further takes (the grooves' styles, meters and
    techniques, another seed) on every training kit; 0 writes an empty manifest and folder. Validation
    and test kits are never played, so the split by kit holds."""
    p = load_yaml(params)
    cfg = section(p, "sources.grooves")
    extra = int(section(p, "transcriber.extra_takes_per_kit"))
    events = read_events(dataset)
    train_sessions = set(events.loc[events["split"] == "train", "session_id"].astype(str))
    frames = [read_events(path) for path in kits]
    frames = [f[f["source"].isin(cfg["kit_sources"]) & f["session_id"].astype(str).isin(train_sessions)]
              for f in frames]
    frames = [f for f in frames if len(f)]
    if extra == 0 or not cfg["enabled"] or not frames:
        audio_dir.mkdir(parents=True, exist_ok=True)
        write_events(empty_events(), out)
        print(f"transcriber_grooves: no extra takes -> {out}")
        return
    doc = load_yaml(taxonomy)
    rules = rules_from_config(section(p, "drum_midi"), gm_map=gm_drum_map(doc),
                              curve=load_calibration(section(p, "drum_midi.calibration")).curve(),
                              priority=section(doc, "taxonomy.classes"))
    rendered = render_grooves(pd.concat(frames, ignore_index=True), audio_dir, cfg=GrooveConfig.from_params(cfg),
                              rules=rules, takes_per_kit=extra, sr=cfg["sr"], seed=int(p["seed"]) + SEED_OFFSET)
    write_events(rendered, out)
    print(f"transcriber_grooves: {len(rendered)} events in {rendered['audio_path'].nunique()} takes "
          f"of {rendered['session_id'].nunique()} training kits -> {out}")


if __name__ == "__main__":
    stage(main)
