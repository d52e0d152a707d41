"""Stage transcriber_grooves: more grooves on the training kits (training audio for the transcriber) and on
the validation and test kits (more held-out takes, so validation and boundary figures rest on more events)."""

from pathlib import Path
from typing import List, Optional

import pandas as pd
import typer

from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.audio_midi import MidiRules, rules_from_config
from musicml.drums.grooves import GrooveConfig, render_grooves
from musicml.drums.openness import load_calibration
from musicml.drums.soundfont import gm_drum_map
from musicml.manifest import empty_events, read_events, write_events

#: Added to params `seed`: these takes differ from the ingest_grooves takes of the same kits.
SEED_OFFSET = 1_000_003
#: Added to params `seed` for the held-out kits' takes: their patterns are not the training takes' patterns.
HELDOUT_SEED_OFFSET = 2_000_029


def _play(kits: pd.DataFrame, sessions: dict, audio_dir: Path, out: Path, *, takes: int, cfg: dict,
          rules: Optional[MidiRules], seed: int) -> pd.DataFrame:
    """``takes`` takes on every kit of ``sessions`` (session id -> split), written to ``audio_dir`` and
    ``out`` with a ``split`` column; none (an empty manifest and folder) when there is nothing to play."""
    chosen = kits[kits["session_id"].astype(str).isin(sessions)]
    if takes == 0 or rules is None or chosen.empty:
        audio_dir.mkdir(parents=True, exist_ok=True)
        write_events(empty_events().assign(split=pd.Series(dtype=str)), out)
        return empty_events()
    rendered = render_grooves(chosen, audio_dir, cfg=GrooveConfig.from_params(cfg), rules=rules,
                              takes_per_kit=takes, sr=cfg["sr"], seed=seed)
    rendered["split"] = rendered["session_id"].astype(str).map(sessions)
    write_events(rendered, out)
    return rendered


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `sources.grooves`, `drum_midi`, "
                                                    "`transcriber.extra_takes_per_kit` and "
                                                    "`transcriber.heldout_takes_per_kit`."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file; reads `gm_drums` and the classes."),
    dataset: Path = typer.Option("data/interim/dataset.parquet", help="Split events manifest: which kits are "
                                                                      "training, validation and test kits."),
    kits: List[Path] = typer.Option(
        ["data/interim/sources/synth.parquet", "data/interim/sources/hydrogen.parquet",
         "data/interim/sources/soundfont.parquet"], "--kits",
        help="Manifests of the kit sources (repeatable)."),
    audio_dir: Path = typer.Option("data/interim/transcriber/grooves", help="Folder for the training kits' "
                                                                            "<take_id>.wav + .mid."),
    out: Path = typer.Option("data/interim/transcriber/grooves.parquet", help="Events manifest of the training "
                                                                             "kits' takes."),
    heldout_dir: Path = typer.Option("data/interim/transcriber/heldout", help="Folder for the validation and "
                                                                             "test kits' <take_id>.wav + .mid."),
    heldout: Path = typer.Option("data/interim/transcriber/heldout.parquet",
                                 help="Events manifest of the validation and test kits' takes (column `split`)."),
) -> None:
    """Compose and play `transcriber.extra_takes_per_kit` further takes (the grooves' styles, meters and
    techniques, another seed) on every training kit, and `transcriber.heldout_takes_per_kit` takes (a third
    seed) on every validation and test kit; each kit keeps its split, so the split by kit holds. 0 writes an
    empty manifest and folder. The classifier's data (ingest_grooves) is untouched."""
    p = load_yaml(params)
    cfg = section(p, "sources.grooves")
    extra = int(section(p, "transcriber.extra_takes_per_kit"))
    more_heldout = int(section(p, "transcriber.heldout_takes_per_kit"))
    events = read_events(dataset)
    split_of = dict(zip(events["session_id"].astype(str), events["split"].astype(str)))
    frames = [read_events(path) for path in kits]
    frames = [f[f["source"].isin(cfg["kit_sources"])] for f in frames]
    frames = [f for f in frames if len(f)]
    pool = pd.concat(frames, ignore_index=True) if frames else empty_events()
    rules = None
    if cfg["enabled"] and len(pool):
        doc = load_yaml(taxonomy)
        rules = rules_from_config(section(p, "drum_midi"), gm_map=gm_drum_map(doc),
                                  curve=load_calibration(section(p, "drum_midi.calibration")).curve(),
                                  priority=section(doc, "taxonomy.classes"))
    seed = int(p["seed"])
    train = _play(pool, {s: x for s, x in split_of.items() if x == "train"}, audio_dir, out, takes=extra,
                  cfg=cfg, rules=rules, seed=seed + SEED_OFFSET)
    held = _play(pool, {s: x for s, x in split_of.items() if x in ("val", "test")}, heldout_dir, heldout,
                 takes=more_heldout, cfg=cfg, rules=rules, seed=seed + HELDOUT_SEED_OFFSET)
    for name, table, path in (("training", train, out), ("held-out", held, heldout)):
        print(f"transcriber_grooves: {len(table)} events in {table['audio_path'].nunique()} takes of "
              f"{table['session_id'].nunique()} {name} kits -> {path}")


if __name__ == "__main__":
    stage(main)
