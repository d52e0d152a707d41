"""How well the exported drum model transfers to recorded kits it never saw.

The default model trains on the procedural synthesizer only; the users' hits
come from recorded kits. This script scores the ONNX model on every known-class
hit of the recorded kits installed on this machine:

* Debian's Hydrogen kits (``hydrogen-drumkits``, under /usr/share/hydrogen), labelled by
  the taxonomy's instrument-name rules, one event per sample layer;
* the drum kits of the General-MIDI SoundFonts that ``make soundfonts`` uses, rendered with
  FluidSynth and labelled exactly by the GM percussion map.

It prints accuracy and macro-F1 with 95 % bootstrap CIs (whole kits resampled),
per source and per class, and the commonest errors. ``--onset-offsets-ms`` scores
the same hits again with every onset moved, as an annotation or a detector would
miss it: negative = the clip is cut that early (silence before the hit), positive
= that late (the attack cut). A model trained WITH these
kits (``make kits soundfonts``) has seen them, so its figure here is not a
transfer figure: use the held-out kits of ``metrics/bootstrap.json`` for that model.

    python benchmarks/real_kits.py [--model models/drum_classifier.onnx] [--onset-offsets-ms=-23,-12,12,23]
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from musicml.audio import load_audio
from musicml.config import load_taxonomy, load_yaml
from musicml.drums.hydrogen import KitWarning, parse_kits
from musicml.drums.soundfont import fluidsynth_binary, gm_drum_map, ingest_soundfonts
from musicml.errors import ConfigError
from musicml.evaluation import bootstrap_ci, classification_metrics, confusion
from musicml.features import MelConfig, cut_clip, iter_event_features, log_mel
from musicml.inference import OnnxClassifier

ROOT = Path(__file__).resolve().parents[1]
HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")
SF2 = Path("/usr/share/sounds/sf2")
# The fonts of `make soundfonts`; AVLdrums' Black Pearl is left out there and here: it is
# the same recording as Hydrogen's "The Black Pearl 1.0".
FONTS = ("FluidR3_GM.sf2", "TimGM6mb.sf2", "Red_Zeppelin_4_LV2.sf2")


def recorded_events(taxonomy_path: Path, params: dict, work: Path) -> pd.DataFrame:
    """Known-class events of the installed Hydrogen kits and SoundFont kits (either may be absent)."""
    taxonomy = load_taxonomy(taxonomy_path)
    frames = []
    if HYDROGEN.is_dir():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", KitWarning)  # ingest_hydrogen reports these; here they are noise
            frames.append(parse_kits(HYDROGEN, taxonomy=taxonomy, on_missing="skip"))
    fonts = [SF2 / name for name in FONTS if (SF2 / name).exists()]
    try:
        fluidsynth_binary()
    except ConfigError:
        fonts = []
    if fonts:
        sf = params["sources"]["soundfont"]
        font_dir = work / "fonts"
        font_dir.mkdir()
        for font in fonts:
            (font_dir / font.name).symlink_to(font)
        frames.append(ingest_soundfonts(
            font_dir, gm_map=gm_drum_map(load_yaml(taxonomy_path)), velocities=sf["velocities"],
            audio_dir=work / "audio", sr=sf["sr"], hit_s=sf["hit_s"], gain=sf["gain"],
            exclude=sf["exclude_presets"]))
    if not frames:
        raise SystemExit("no recorded kits here: install hydrogen-drumkits and/or fluidsynth + the GM SoundFonts "
                         "(make kits soundfonts installs them as root)")
    events = pd.concat(frames, ignore_index=True)
    return events[events["label"].isin(taxonomy.classes)].reset_index(drop=True)


def offset_images(events: pd.DataFrame, mel: MelConfig, offsets_s: list[float]) -> dict[float, np.ndarray]:
    """Log-mel images of ``events`` with every onset moved by each of ``offsets_s``, reading each file once.

    The file-reading path of the stages (:func:`musicml.features.iter_event_features`) rejects an
    onset before 0 s; a clip cut early must start there, padded with silence, as ``cut_clip`` does.
    """
    events = events.reset_index(drop=True)
    images = {offset: np.zeros((len(events), 1, mel.n_mels, mel.n_frames), dtype=np.float32) for offset in offsets_s}
    for path, group in events.groupby("audio_path", sort=True):
        audio = load_audio(path, sr=mel.sr)
        for pos, onset in zip(group.index, group["onset_s"]):
            for offset, out in images.items():
                out[pos, 0] = log_mel(cut_clip(audio, float(onset) + offset, mel), mel)
    return images


def report(name: str, y: np.ndarray, pred: np.ndarray, sessions: np.ndarray, classes: list[str]) -> None:
    ci = bootstrap_ci(y, pred, classes=classes, iterations=1000, seed=0, groups=sessions)
    f1, acc = ci["macro_f1"], ci["accuracy"]
    print(f"{name:10s} {len(y):5d} hits {len(set(sessions)):3d} kits   macro-F1 {f1['point']:.3f} "
          f"[{f1['low']:.3f}, {f1['high']:.3f}]   accuracy {acc['point']:.3f} [{acc['low']:.3f}, {acc['high']:.3f}]")


def predict(model: OnnxClassifier, images: np.ndarray) -> np.ndarray:
    """Predicted class indices, in batches of 256."""
    return np.concatenate([model.logits(images[s:s + 256]) for s in range(0, len(images), 256)]).argmax(axis=1)


def top_confusions(y: np.ndarray, pred: np.ndarray, classes: list[str], n: int = 8) -> list[tuple[str, str, int, int]]:
    """The ``n`` commonest errors as ``(true, predicted, hits, hits of the true class)``, most first.

    Ties keep the taxonomy's order (true class, then predicted), so the listing is stable.
    """
    counts = confusion(y, pred, len(classes))
    support = counts.sum(axis=1)
    errors = [(-int(counts[t, p]), t, p) for t in range(len(classes)) for p in range(len(classes))
              if t != p and counts[t, p]]
    return [(classes[t], classes[p], -neg, int(support[t])) for neg, t, p in sorted(errors)[:n]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models/drum_classifier.onnx")
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--taxonomy", type=Path, default=ROOT / "configs/taxonomy.yaml")
    parser.add_argument("--onset-offsets-ms", default="",
                        help="comma-separated onset offsets (ms) to score again; "
                             "write --onset-offsets-ms=-23,12,... (with =)")
    args = parser.parse_args()
    offsets = [float(v) for v in args.onset_offsets_ms.split(",") if v.strip()]
    model = OnnxClassifier.load(args.model)
    index = {c: i for i, c in enumerate(model.classes)}
    with tempfile.TemporaryDirectory(prefix="musicml-real-kits-") as tmp:
        events = recorded_events(args.taxonomy, load_yaml(args.params), Path(tmp))
        y = events["label"].map(index).to_numpy()
        images = np.zeros((len(events), 1, model.mel.n_mels, model.mel.n_frames), dtype=np.float32)
        for pos, image in iter_event_features(events, model.mel):
            images[pos, 0] = image
        # Cut while the rendered SoundFont hits still exist.
        moved = offset_images(events, model.mel, [ms / 1000 for ms in offsets]) if offsets else {}
    shifted = {ms: classification_metrics(y, predict(model, moved[ms / 1000]), model.classes)["macro_f1"]
               for ms in offsets}
    pred = predict(model, images)
    sessions = events["session_id"].astype(str).to_numpy()
    print(f"model {args.model}")
    report("all", y, pred, sessions, model.classes)
    for source in sorted(events["source"].unique()):
        mask = (events["source"] == source).to_numpy()
        report(source, y[mask], pred[mask], sessions[mask], model.classes)
    per_class = classification_metrics(y, pred, model.classes)["per_class"]
    print("per-class F1: " + "  ".join(f"{c} {m['f1']:.2f}" for c, m in per_class.items() if m["support"]))
    print("commonest errors: " + ", ".join(f"{true} as {predicted} {hits}/{of}"
                                           for true, predicted, hits, of in top_confusions(y, pred, model.classes)))
    if shifted:
        print("macro-F1 with onsets moved: " + "  ".join(f"{ms:+g} ms {f1:.3f}" for ms, f1 in shifted.items()))


if __name__ == "__main__":
    main()
