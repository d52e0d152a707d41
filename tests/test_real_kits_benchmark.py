"""benchmarks/real_kits.py: the listing of the commonest errors."""

from __future__ import annotations

import sys

import numpy as np

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import real_kits  # noqa: E402

CLASSES = ["kick", "snare", "hihat_closed", "hihat_pedal"]


def test_top_confusions_lists_errors_most_first_with_the_true_class_support():
    # 3 closed hats heard as pedal, 1 as snare; 2 pedals heard as closed; kicks all right.
    y = np.array([2, 2, 2, 2, 2, 3, 3, 3, 0, 0])
    pred = np.array([3, 3, 3, 1, 2, 2, 2, 3, 0, 0])
    assert real_kits.top_confusions(y, pred, CLASSES) == [
        ("hihat_closed", "hihat_pedal", 3, 5), ("hihat_pedal", "hihat_closed", 2, 3), ("hihat_closed", "snare", 1, 5)]


def test_top_confusions_keeps_the_n_commonest_and_breaks_ties_in_taxonomy_order():
    y = np.array([0, 1, 2, 3])
    pred = np.array([1, 0, 3, 2])
    assert real_kits.top_confusions(y, pred, CLASSES, n=2) == [("kick", "snare", 1, 1), ("snare", "kick", 1, 1)]


def test_top_confusions_of_a_perfect_model_is_empty():
    y = np.array([0, 1, 2, 3])
    assert real_kits.top_confusions(y, y, CLASSES) == []


def test_offset_images_move_the_clip_against_the_hit(tmp_path):
    import pandas as pd
    import soundfile as sf

    from musicml.features import MelConfig, iter_event_features

    mel = MelConfig(sr=22050, n_mels=32, n_frames=64, n_fft=512, hop_length=128, fmin=20.0, pre_onset_s=0.01)
    audio = np.zeros(22050, dtype=np.float32)
    rng = np.random.default_rng(0)
    for start in (2205, 13230):  # two noise bursts, at 0.1 s and 0.6 s
        audio[start:start + 2000] = rng.normal(0, 0.3, 2000) * np.exp(-np.arange(2000) / 400)
    sf.write(tmp_path / "hits.wav", audio, 22050)
    events = pd.DataFrame({"audio_path": [str(tmp_path / "hits.wav")] * 2, "onset_s": [0.1, 0.6],
                           "event_id": ["a", "b"]})
    exact = np.stack([image for _, image in sorted(iter_event_features(events, mel), key=lambda t: t[0])])
    hop_s = mel.hop_length / mel.sr
    moved = real_kits.offset_images(events, mel, [0.0, -8 * hop_s, 4 * hop_s])
    assert np.array_equal(moved[0.0][:, 0], exact)
    loudest = exact.max(axis=1).argmax(axis=1)  # frame of each clip's loudest moment
    early, late = moved[-8 * hop_s][:, 0], moved[4 * hop_s][:, 0]
    assert np.all(np.abs(early.max(axis=1).argmax(axis=1) - (loudest + 8)) <= 1)  # silence before the hit
    assert np.all(late.max(axis=1).argmax(axis=1) <= np.maximum(loudest - 3, 0))  # the attack cut
    # A clip cut before the start of the file is padded, not refused.
    assert real_kits.offset_images(events.iloc[:1], mel, [-0.2])[-0.2].shape == (1, 1, 32, 64)
