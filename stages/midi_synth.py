"""Stage midi_synth: the embedded, seeded theory corpus of the five MIDI datasets."""

from pathlib import Path

import typer

from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.midi.settings import load_settings
from musicml.midi.synth import audio_renderer, write_corpus


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads the `midi` section."),
    out: Path = typer.Option("data/midi/synth", help="Folder to write: <dataset>/<family>/*.mid, audio, index.jsonl."),
) -> None:
    """Generate `midi.synth.per_category` samples per category of every dataset in `midi.datasets`.

    Emotion samples are also rendered to audio at `midi.synth.sr` Hz, by pretty_midi's sine synthesizer
    or (`midi.synth.renderer: soundfont`) by FluidSynth on `midi.synth.soundfont`.
    """
    midi = section(load_yaml(params), "midi")
    settings = load_settings(midi)
    synth = midi["synth"]
    render = audio_renderer(synth)
    counts = write_corpus(out, datasets=list(settings.specs), per_category=int(synth["per_category"]),
                          config=settings.config, seed=settings.seed, families=settings.families, sr=render["sr"],
                          audio_datasets=[n for n, s in settings.specs.items() if s.audio],
                          soundfont=render["soundfont"], soundfont_gain=render["gain"])
    print("midi_synth: " + ", ".join(f"{name} {n}" for name, n in counts.items()) + f" -> {out}")


if __name__ == "__main__":
    stage(main)
