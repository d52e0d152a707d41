"""Unit tests of ONNX export (musicml.drums.export) and torch-free inference (musicml.inference)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest
import soundfile as sf
import torch

from musicml.audio import first_onset, load_audio
from musicml.drums.export import METADATA_CLASSES, METADATA_FEATURES, export_onnx, latency_ms, parity
from musicml.drums.model import DrumClassifierCNN
from musicml.errors import InputError
from musicml.evaluation import softmax
from musicml.features import MelConfig, cut_clip, log_mel
from musicml.inference import OnnxClassifier, predict_manifest

torch.set_num_threads(1)

CLASSES = ["kick", "snare", "hihat_closed"]
MEL = MelConfig(sr=8000, n_mels=32, n_frames=32, n_fft=256, hop_length=64)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = DrumClassifierCNN(len(CLASSES), input_pool=1)
    with torch.no_grad():  # non-trivial BatchNorm statistics, as after training
        for block in model.conv_blocks:
            block[1].running_mean.uniform_(-0.1, 0.1)
            block[1].running_var.uniform_(0.5, 1.5)
    model.eval()
    path = tmp_path_factory.mktemp("model") / "drums.onnx"
    export_onnx(model, path, classes=CLASSES, mel=MEL)
    return model, path


def write_hit(path, *, seconds=1.0, at=0.3, freq=300.0, sr=8000):
    audio = np.zeros(int(seconds * sr), dtype=np.float32)
    t = np.arange(int(0.2 * sr)) / sr
    start = int(at * sr)
    audio[start:start + t.size] = (0.5 * np.sin(2 * np.pi * freq * t) * np.exp(-t * 20))[: audio.size - start]
    sf.write(path, audio, sr, subtype="FLOAT")


def write_requests(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


# --- export -----------------------------------------------------------------------------------


def test_export_writes_metadata(exported):
    _, path = exported
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta[METADATA_CLASSES]) == CLASSES
    assert json.loads(meta[METADATA_FEATURES]) == MEL.to_dict()
    assert [i.name for i in proto.graph.input] == ["log_mel"]
    assert [o.name for o in proto.graph.output] == ["logits", "features"]
    assert not [p for p in path.parent.iterdir() if p.name != path.name]  # no temporary files left


def test_onnx_parity_with_torch(exported):
    model, path = exported
    classifier = OnnxClassifier.load(path)
    features = np.random.default_rng(0).random((7, 1, MEL.n_mels, MEL.n_frames), dtype=np.float32)
    assert max(parity(model, classifier.session, features, batch_size=3).values()) < 1e-4
    # Dynamic batch axis: any batch size runs, and matches torch.
    with torch.no_grad():
        expected = model(torch.from_numpy(features)).numpy()
    np.testing.assert_allclose(classifier.logits(features), expected, atol=1e-4)
    assert classifier.logits(features[:1]).shape == (1, len(CLASSES))


@pytest.mark.parametrize("input_norm", ["band_mean", "band_peak"])
def test_band_channel_model_exports_with_parity(tmp_path, input_norm):
    """The second input channel is part of the graph: ONNX takes the plain log-mel and matches torch."""
    torch.manual_seed(1)
    model = DrumClassifierCNN(len(CLASSES), input_pool=2, input_norm=input_norm).eval()
    export_onnx(model, tmp_path / "band.onnx", classes=CLASSES, mel=MEL)
    classifier = OnnxClassifier.load(tmp_path / "band.onnx")
    features = np.random.default_rng(3).random((5, 1, MEL.n_mels, MEL.n_frames), dtype=np.float32)
    assert max(parity(model, classifier.session, features, batch_size=2).values()) < 1e-4


def test_features_output_matches_torch_and_serves_the_mahalanobis_score(exported):
    from musicml.release.openset import FeatureDensity

    model, path = exported
    classifier = OnnxClassifier.load(path)
    rng = np.random.default_rng(2)
    features = rng.random((6, 1, MEL.n_mels, MEL.n_frames), dtype=np.float32)
    assert parity(model, classifier.session, features)["features"] < 1e-4
    with torch.no_grad():
        embedded = model.embed(torch.from_numpy(features)).numpy()
    density = FeatureDensity.fit(embedded, np.array([0, 0, 1, 1, 2, 2]), 3, shrinkage=0.5)
    classifier.unknown = {"score": "mahalanobis", "threshold": float(np.median(density.score(embedded))),
                          "density": density.to_dict()}
    logits, served = classifier.outputs(features)
    assert classifier.needs_features and served.shape == embedded.shape
    got = classifier.unknown_scores(logits, served)
    expected = -density.score(embedded)
    expected = expected / (expected - classifier.unknown["threshold"])
    np.testing.assert_allclose(got, expected, rtol=1e-3)
    with pytest.raises(ValueError, match="features"):
        classifier.unknown_scores(logits)


def test_parity_detects_a_different_model(exported):
    model, path = exported
    other = DrumClassifierCNN(len(CLASSES), input_pool=1).eval()
    features = np.random.default_rng(1).random((2, 1, MEL.n_mels, MEL.n_frames), dtype=np.float32)
    differences = parity(other, OnnxClassifier.load(path).session, features)
    assert differences["logits"] > 1e-3 and differences["features"] > 1e-3


def test_latency_is_positive(exported):
    _, path = exported
    ms = latency_ms(OnnxClassifier.load(path).session, np.zeros((1, MEL.n_mels, MEL.n_frames)), batch=2, runs=3)
    assert ms > 0.0


def test_onnx_classifier_load(exported):
    _, path = exported
    classifier = OnnxClassifier.load(path)
    assert classifier.classes == CLASSES and classifier.mel == MEL


def test_load_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        OnnxClassifier.load(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(InputError, match="not a loadable ONNX model"):
        OnnxClassifier.load(tmp_path / "junk.onnx")


def test_load_rejects_model_without_metadata(tmp_path):
    torch.onnx.export(DrumClassifierCNN(3, input_pool=1).eval(), (torch.zeros(1, 1, 16, 16),),
                      str(tmp_path / "plain.onnx"), input_names=["log_mel"], output_names=["logits"], dynamo=False)
    with pytest.raises(InputError, match="metadata"):
        OnnxClassifier.load(tmp_path / "plain.onnx")


# --- predict_manifest -------------------------------------------------------------------------


def test_predict_manifest_with_and_without_onset(exported, tmp_path, monkeypatch):
    model, path = exported
    (tmp_path / "audio").mkdir()
    write_hit(tmp_path / "audio" / "a.wav", at=0.3)
    write_hit(tmp_path / "audio" / "b.wav", at=0.1, freq=1500.0)
    manifest = write_requests(tmp_path / "requests.jsonl", [
        {"audio_path": "audio/a.wav", "onset_s": 0.3, "id": "first"},
        "",
        {"audio_path": "audio/b.wav"},  # no onset: the first sound in the file
        {"audio_path": str(tmp_path / "audio" / "a.wav"), "onset_s": 0.0},
    ])
    monkeypatch.chdir(tmp_path.parent)  # relative paths resolve from the manifest's folder
    rows = predict_manifest(OnnxClassifier.load(path), manifest, batch_size=2)

    assert len(rows) == 3
    assert rows[0]["id"] == "first" and rows[0]["onset_s"] == 0.3  # input fields kept
    assert "onset_s" not in rows[1]
    for row in rows:
        probs = row["probabilities"]
        assert list(probs) == CLASSES
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert row["label"] == max(probs, key=probs.get)
        assert row["unknown_score"] == pytest.approx(1.0 - max(probs.values()), abs=1e-5)
        assert 0.0 <= row["unknown_score"] < 1.0

    # The probabilities are those of the model on the hit's log-mel (same transform as training).
    audio_b = load_audio(tmp_path / "audio" / "b.wav", sr=MEL.sr)
    onset_b = first_onset(audio_b, MEL.sr)
    assert onset_b == pytest.approx(0.1, abs=0.002)
    for row, audio, onset in ((rows[0], load_audio(tmp_path / "audio" / "a.wav", sr=MEL.sr), 0.3),
                              (rows[1], audio_b, onset_b)):
        image = log_mel(cut_clip(audio, onset, MEL), MEL)[None, None]
        with torch.no_grad():
            expected = softmax(model(torch.from_numpy(image)).numpy())[0]
        np.testing.assert_allclose(list(row["probabilities"].values()), expected, atol=1e-4)


def test_predict_manifest_resamples_audio(exported, tmp_path):
    _, path = exported
    write_hit(tmp_path / "hi.wav", sr=16000)
    rows = predict_manifest(OnnxClassifier.load(path), write_requests(tmp_path / "r.jsonl",
                                                                      [{"audio_path": "hi.wav", "onset_s": 0.3}]))
    assert len(rows) == 1 and sum(rows[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_predict_manifest_empty(exported, tmp_path):
    _, path = exported
    assert predict_manifest(OnnxClassifier.load(path), write_requests(tmp_path / "r.jsonl", ["", ""])) == []


@pytest.mark.parametrize("line,field,message", [
    ('{"audio_path": "a.wav", ', None, "not valid JSON"),
    ('["a.wav"]', None, "JSON object"),
    ('{"onset_s": 0.1}', "audio_path", "non-empty string"),
    ('{"audio_path": "a.wav", "onset_s": -1}', "onset_s", "finite number"),
    ('{"audio_path": "a.wav", "onset_s": "soon"}', "onset_s", "finite number"),
])
def test_predict_manifest_bad_line_names_file_and_line(exported, tmp_path, line, field, message):
    _, path = exported
    write_hit(tmp_path / "a.wav")
    manifest = write_requests(tmp_path / "r.jsonl", [{"audio_path": "a.wav"}, "", line])
    with pytest.raises(InputError) as info:
        predict_manifest(OnnxClassifier.load(path), manifest)
    assert (info.value.path, info.value.line, info.value.field) == (manifest, 3, field)
    assert message in info.value.message
    assert str(info.value).startswith(f"{manifest}:3:")


def test_predict_manifest_missing_audio_names_line(exported, tmp_path):
    _, path = exported
    write_hit(tmp_path / "a.wav")
    manifest = write_requests(tmp_path / "r.jsonl", [{"audio_path": "a.wav"}, {"audio_path": "gone.wav"}])
    with pytest.raises(InputError) as info:
        predict_manifest(OnnxClassifier.load(path), manifest)
    assert (info.value.line, info.value.field) == (2, "audio_path")
    assert "gone.wav" in info.value.message and "not found" in info.value.message


def test_predict_manifest_onset_past_end(exported, tmp_path):
    _, path = exported
    write_hit(tmp_path / "a.wav", seconds=1.0)
    manifest = write_requests(tmp_path / "r.jsonl", [{"audio_path": "a.wav", "onset_s": 1.0}])
    with pytest.raises(InputError, match="past the end") as info:
        predict_manifest(OnnxClassifier.load(path), manifest)
    assert (info.value.line, info.value.field) == (1, "onset_s")


def test_predict_manifest_missing_manifest(exported, tmp_path):
    _, path = exported
    with pytest.raises(InputError, match="cannot open"):
        predict_manifest(OnnxClassifier.load(path), str(tmp_path / "none.jsonl"))


BLOCK_TORCH = textwrap.dedent("""
    import importlib.abc, json, sys

    class BlockTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"torch is blocked in this test ({name})")
            return None

    sys.meta_path.insert(0, BlockTorch())
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the torch blocker does not work")
    from musicml.inference import OnnxClassifier, predict_manifest

    rows = predict_manifest(OnnxClassifier.load(sys.argv[1]), sys.argv[2])
    assert not [m for m in sys.modules if m == "torch" or m.startswith("torch.")]
    print(json.dumps(rows))
""")


def test_inference_runs_without_torch(exported, tmp_path):
    model, path = exported
    write_hit(tmp_path / "a.wav")
    manifest = write_requests(tmp_path / "r.jsonl", [{"audio_path": "a.wav", "onset_s": 0.3}])
    expected = predict_manifest(OnnxClassifier.load(path), manifest)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", BLOCK_TORCH, str(path), manifest], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected
