"""Stage align_synth: a synthetic multi-microphone take with known per-mic delays (align_qc's test input)."""

from pathlib import Path

import typer

from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.takes import write_multimic_session


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `align.synth`."),
    out: Path = typer.Option("data/interim/align/synth", help="Folder: one wav per mic + session.json."),
) -> None:
    """Close mics (kick, snare, hi-hat, toms) and two overheads of one backbeat take, each band-limited,
    with bleed and its own delay drawn within +-`align.synth.max_delay_ms`; session.json records the delays."""
    p = load_yaml(params)
    cfg = section(p, "align.synth")
    manifest = write_multimic_session(out, seconds=cfg["seconds"], bpm=cfg["bpm"], sr=cfg["sr"], seed=p["seed"],
                                      kit_index=cfg["kit_index"], max_delay_ms=cfg["max_delay_ms"])
    print(f"align_synth: multi-mic take -> {manifest}")


if __name__ == "__main__":
    stage(main)
