"""Stage gen_synth: the embedded default snapshot of synthetic generations (known bpm and key)."""

from pathlib import Path

import typer

from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.genmeta.synth import make_default_snapshot


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `gen.synth`."),
    out: Path = typer.Option("data/raw/genmeta/default", help="Snapshot folder to write (records, feedback, truth, audio)."),
) -> None:
    """Render seeded drum + bass + chord loops with template prompts and simulated feedback."""
    p = load_yaml(params)
    cfg = section(p, "gen.synth")
    summary = make_default_snapshot(out, seed=int(p["seed"]), **cfg)
    print(f"gen_synth: {summary['generations']} generations ({summary['audio_seconds']} s of audio), "
          f"{summary['feedback_events']} feedback events, {summary['unreadable']} unreadable, "
          f"{summary['silent']} silent -> {out}")


if __name__ == "__main__":
    stage(main)
