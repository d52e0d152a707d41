"""Speed of the grooves source and the audio + MIDI importer, on one core.

Renders `--kits` synthetic kits (the ingest_synth code path, not timed), then times:

* grooves  - composing, writing the MIDI, playing it through the kit's one-shots and
             labelling it from the MIDI (the ingest_grooves code path), per take;
* import   - reading the written pairs back as the ingest_audio_midi stage does.

Rates are per second of this process's CPU time (one BLAS thread): seconds of
audio rendered or imported per CPU second, so they read per core even on a
busy machine. Also prints events per take and the technique counts.

    python benchmarks/grooves.py [--kits 8] [--take-s 24]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml


def main() -> None:
    from threadpoolctl import threadpool_limits

    from musicml.config import load_yaml
    from musicml.drums.audio_midi import ingest_audio_midi, rules_from_config
    from musicml.drums.grooves import GrooveConfig, render_grooves
    from musicml.drums.openness import load_calibration
    from musicml.drums.soundfont import gm_drum_map
    from musicml.drums.synth import synthesize

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kits", type=int, default=8)
    parser.add_argument("--take-s", type=float, default=None, help="Default: sources.grooves.take_s.")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--taxonomy", default="configs/taxonomy.yaml")
    args = parser.parse_args()
    params = yaml.safe_load(Path(args.params).read_text())
    cfg = dict(params["sources"]["grooves"])
    if args.take_s:
        cfg["take_s"] = args.take_s
    doc = load_yaml(args.taxonomy)
    rules = rules_from_config(params["drum_midi"], gm_map=gm_drum_map(doc),
                              curve=load_calibration(params["drum_midi"]["calibration"]).curve(),
                              priority=doc["taxonomy"]["classes"])
    synth = params["sources"]["synth"]
    threadpool_limits(limits=1)
    with tempfile.TemporaryDirectory() as tmp:
        kits = synthesize(Path(tmp) / "kits", n_kits=args.kits, hits_per_class=synth["hits_per_class"],
                          unknown_hits=0, sr=cfg["sr"], seed=params["seed"], technique_prob=synth["technique_prob"])
        start = time.process_time()
        events = render_grooves(kits, Path(tmp) / "grooves", cfg=GrooveConfig.from_params(cfg), rules=rules,
                                takes_per_kit=cfg["takes_per_kit"], sr=cfg["sr"], seed=params["seed"])
        render_s = time.process_time() - start
        import soundfile as sf

        audio_s = sum(sf.info(p).duration for p in (Path(tmp) / "grooves").glob("*.wav"))
        start = time.process_time()
        imported = ingest_audio_midi(Path(tmp) / "grooves", rules)
        import_s = time.process_time() - start
    takes = events["audio_path"].nunique()
    print(f"grooves: {takes} takes, {audio_s:.0f} s of audio, {len(events)} events "
          f"({len(events) / takes:.0f} per take)")
    print(f"  compose + render + label: {render_s:.2f} CPU s = {audio_s / render_s:.0f} s of audio per CPU s "
          f"({render_s / takes * 1000:.0f} ms per take)")
    print(f"  import (audio_midi):      {import_s:.2f} CPU s = {audio_s / import_s:.0f} s of audio per CPU s; "
          f"{len(imported)} events")
    counts = Counter(t for ts in events["techniques"] for t in ts)
    print("  techniques: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print("  labels: " + ", ".join(f"{k} {v}" for k, v in events["label"].value_counts().sort_index().items()))


if __name__ == "__main__":
    main()
