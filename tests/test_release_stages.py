"""The release stages run as DVC runs them (openset_eval, hard_negatives, interpret, readiness, export's
unknown score, `musicml predict`), on a small synthetic feature store and a briefly trained model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT, tiny_params
from musicml.config import load_taxonomy
from musicml.drums.checkpoint import save_model
from musicml.drums.model import DrumClassifierCNN
from musicml.features import FEATURES_FILE, INDEX_FILE, MelConfig
from musicml.manifest import events_frame, write_events
from musicml.release.openset import SERVABLE, FeatureDensity

MEL = MelConfig(n_mels=32, n_frames=32)


def _store(work, classes, rng):
    """Each class is a bright horizontal band at its own mel row; unknowns are broadband noise."""
    rows, images = [], []
    # kit4 is a validation kit with its own unknown hits (split.outlier_exposure): the validation open-set.
    for session, split in enumerate(["train", "train", "test", "openset", "val"]):
        for c, name in enumerate(classes + ["unknown"] * 4):
            for k in range(3):
                label = name
                if split != "val" and (split == "openset") != (name == "unknown"):
                    continue
                img = rng.normal(-60, 3, (MEL.n_mels, MEL.n_frames))
                if label == "unknown":
                    img += rng.uniform(0, 30, MEL.n_mels)[:, None]
                else:
                    img[2 + 2 * c: 4 + 2 * c, 2:] += 50
                images.append(img)
                rows.append({"source": "synth", "session_id": f"kit{session}", "kit": f"kit{session}",
                             "audio_path": f"data/raw/synth/kit{session}.wav", "onset_s": float(len(rows)),
                             "label": label, "split": split})
    split = [r.pop("split") for r in rows]
    events = events_frame(rows)
    events["split"] = split
    store = work / "data/processed/features"
    store.mkdir(parents=True)
    np.save(store / FEATURES_FILE, np.asarray(images, dtype=np.float32)[:, None])
    events.to_parquet(store / INDEX_FILE, index=False)
    write_events(events, work / "data/interim/dataset.parquet")
    return np.asarray(images, dtype=np.float32)[:, None], events


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("release")
    (work / "configs").mkdir()
    (work / "configs/taxonomy.yaml").write_text((ROOT / "configs/taxonomy.yaml").read_text())
    classes = list(load_taxonomy(ROOT / "configs/taxonomy.yaml").classes)
    rng = np.random.default_rng(0)
    features, events = _store(work, classes, rng)
    torch.manual_seed(0)
    model = DrumClassifierCNN(len(classes), dropout=0.0, input_pool=1)
    train = (events["split"] == "train").to_numpy()
    x = torch.from_numpy(features[train])
    y = torch.tensor([classes.index(lbl) for lbl in events["label"][train]])
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(25):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    (work / "models").mkdir()
    with torch.no_grad():
        density = FeatureDensity.fit(model.eval().embed(x).numpy(), y.numpy(), len(classes), shrinkage=0.1)
    save_model(work / "models/drum_classifier.pt", model.eval(), classes=classes, mel=MEL,
               feature_density=density.to_dict())
    params = tiny_params()
    params["hard_negatives"]["min_confidence"] = 0.0
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return work


@pytest.fixture(scope="module")
def ran(work, run_stage):
    for stage in ("evaluate", "openset_eval", "hard_negatives", "interpret", "export"):
        run_stage(stage, cwd=work)
    # The other gate sources, as their stages (tested elsewhere) write them.
    (work / "metrics/health.json").write_text(json.dumps({"passed": True}))
    (work / "metrics/bootstrap.json").write_text(json.dumps({"all": {"model": {"macro_f1": {"low": 0.7}}}}))
    (work / "metrics/boundary.json").write_text(json.dumps(
        {"macro_recall": 0.97, "gates": {"macro_recall": {"passed": True, "value": 0.97, "threshold": 0.95}}}))
    (work / "metrics/align_qc.json").write_text(json.dumps(
        {"max_abs_offset_ms": 12.5, "gates": {"max_abs_offset_ms": {"passed": False, "value": 12.5, "threshold": 10}}}))
    return work


def test_openset_metrics_and_roc_plot(ran):
    m = json.loads((ran / "metrics/openset.json").read_text())
    assert m["known_events"] == 36 and m["unknown_events"] == 12
    assert m["val_known_events"] == 36 and m["val_unknown_events"] == 12
    # Chosen on the validation kits, among the scores a served model computes; gated on test.
    assert m["chosen_on"] == "val" and m["score"] in SERVABLE
    assert m["scores"][m["score"]]["val_auroc"] == max(m["scores"][s]["val_auroc"] for s in SERVABLE)
    assert m["auroc"] == m["scores"][m["score"]]["auroc"]
    assert set(m["scores"]) == {"max_softmax", "energy", "mahalanobis", "knn"}
    assert m["auroc"] > 0.5  # unknowns are noise, known hits a clear band
    assert set(m["gates"]) == {"auroc", "fpr_at_tpr"} and m["gates"]["auroc"]["threshold"] == 0.9
    assert m["passed"] == all(g["passed"] for g in m["gates"].values())
    roc = pd.read_csv(ran / "metrics/plots/openset_roc.csv")
    assert list(roc.columns) == ["fpr", "tpr_max_softmax", "tpr_energy", "tpr_mahalanobis", "tpr_knn"]
    assert len(roc) == 101


def test_openset_chooses_on_test_without_a_validation_open_set(ran, run_stage, tmp_path):
    table = pd.read_parquet(ran / "data/processed/predictions.parquet")
    table[table["split"] != "val"].to_parquet(tmp_path / "p.parquet")
    run_stage("openset_eval", "--predictions", str(tmp_path / "p.parquet"), "--metrics",
              str(tmp_path / "o.json"), "--roc-csv", str(tmp_path / "roc.csv"), cwd=ran)
    m = json.loads((tmp_path / "o.json").read_text())
    assert m["chosen_on"] == "test" and m["val_unknown_events"] == 0
    assert m["auroc"] == max(m["scores"][s]["auroc"] for s in SERVABLE)


def test_strict_openset_fails_after_writing_metrics(ran, run_stage, tmp_path):
    params = yaml.safe_load((ran / "params.yaml").read_text())
    params["openset"].update(strict=True, min_auroc=1.01)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "openset.json"
    proc = run_stage("openset_eval", "--params", str(tmp_path / "p.yaml"), "--metrics", str(out),
                            "--roc-csv", str(tmp_path / "roc.csv"), cwd=ran, check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: openset gate failed: auroc")
    assert "Traceback" not in proc.stderr
    assert json.loads(out.read_text())["passed"] is False


def test_openset_rejects_predictions_without_scores(ran, run_stage, tmp_path):
    pd.read_parquet(ran / "data/processed/predictions.parquet").drop(columns="energy").to_parquet(tmp_path / "p.parquet")
    proc = run_stage("openset_eval", "--predictions", str(tmp_path / "p.parquet"),
                            "--metrics", str(tmp_path / "o.json"), cwd=ran, check=False)
    assert proc.returncode == 1 and "missing columns ['energy']" in proc.stderr
    assert not (tmp_path / "o.json").exists()


def test_hard_negatives_manifest(ran):
    rows = [json.loads(line) for line in (ran / "data/processed/hard_negatives.jsonl").read_text().splitlines()]
    m = json.loads((ran / "metrics/hard_negatives.json").read_text())
    assert m["negatives"] == len(rows) and sum(m["by_predicted_label"].values()) == len(rows)
    preds = pd.read_parquet(ran / "data/processed/predictions.parquet").set_index("event_id")
    unknowns = int((preds["split"] == "openset").sum())
    assert len(rows) >= unknowns  # min_confidence 0: every unknown hit is a false positive of some class
    for row in rows:
        p = preds.loc[row["event_id"]]
        assert row["predicted_label"] == p["predicted"] and row["audio_path"].startswith("data/raw/synth/")
        assert p["split"] == "openset" or p["true_index"] != p["pred_index"]


def test_interpret_figures(ran):
    svgs = sorted(p.name for p in (ran / "metrics/interpret").glob("*.svg"))
    m = json.loads((ran / "metrics/interpret.json").read_text())
    assert "embedding_pca.svg" in svgs and len(svgs) == len(m["attributed_hits"]) + 1
    assert m["embedded_hits"] == 36 and len(m["explained_variance"]) == 2
    assert all(0 < n <= 2 for n in m["attributed_hits"].values())
    assert (ran / "metrics/interpret/embedding_pca.svg").read_text().count("<circle") >= 36


def test_readiness_report_and_strict_mode(ran, run_stage, tmp_path):
    run_stage("readiness", cwd=ran)
    report = json.loads((ran / "metrics/readiness.json").read_text())
    assert set(report["gates"]) == {"health", "macro_f1_ci_low", "openset_auroc", "openset_fpr_at_95_tpr",
                                    "boundary_macro_recall", "alignment_max_offset_ms"}
    # Thresholds come from the source files (threshold_key): 0.95 passes 0.97, 12.5 ms breaks 10 ms.
    assert report["gates"]["boundary_macro_recall"]["passed"] is True
    assert report["gates"]["alignment_max_offset_ms"] == {**report["gates"]["alignment_max_offset_ms"],
                                                          "passed": False, "value": 12.5, "threshold": 10}
    assert report["passed"] is False
    for g in report["gates"].values():
        assert set(g) >= {"passed", "value", "threshold", "source"}
    openset = json.loads((ran / "metrics/openset.json").read_text())
    assert report["gates"]["openset_auroc"]["value"] == openset["auroc"]
    assert report["passed"] == all(g["passed"] for g in report["gates"].values())
    html = (ran / "metrics/report.html").read_text()
    assert 'id="readiness"' in html and "openset_fpr_at_95_tpr" in html and "embedding_pca".replace("_", " ") in html

    params = yaml.safe_load((ran / "params.yaml").read_text())
    params["readiness"]["strict"] = True
    params["readiness"]["gates"].append({"name": "impossible", "source": "metrics/openset.json", "key": "auroc",
                                         "op": ">", "threshold": 1.0})
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    proc = run_stage("readiness", "--params", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "r.json"),
                            "--html", str(tmp_path / "r.html"), cwd=ran, check=False)
    assert proc.returncode == 1 and "readiness gate failed" in proc.stderr and "impossible" in proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["passed"] is False  # written before failing


def test_predict_uses_the_chosen_unknown_score(ran, tmp_path):
    import soundfile as sf

    from musicml.inference import OnnxClassifier, predict_manifest

    model = OnnxClassifier.load(ran / "models/drum_classifier.onnx")
    chosen = json.loads((ran / "metrics/openset.json").read_text())
    assert {k: v for k, v in model.unknown.items() if k != "density"} == {"score": chosen["score"],
                                                                           "threshold": chosen["threshold"]}
    assert ("density" in model.unknown) == (chosen["score"] == "mahalanobis")
    logits = np.array([[8.0] + [0.0] * 11, [0.1] * 12], dtype=np.float32)
    for spec in ({"score": "energy", "threshold": 2.0}, {"score": "max_softmax", "threshold": 0.5}):
        model.unknown = spec
        scores = model.unknown_scores(logits)
        assert scores[0] < scores[1] and np.all((scores >= 0) & (scores <= 1))
    model.unknown = {"score": "energy", "threshold": float(np.log(12 * np.exp(0.1)))}
    assert model.unknown_scores(logits)[1] == pytest.approx(0.5)  # at the threshold: 0.5

    model = OnnxClassifier.load(ran / "models/drum_classifier.onnx")
    sr = model.mel.sr
    wav = tmp_path / "hit.wav"
    sf.write(wav, (np.random.default_rng(1).normal(0, 0.3, sr) * np.exp(-np.arange(sr) / 2000)).astype("float32"), sr)
    (tmp_path / "m.jsonl").write_text(json.dumps({"audio_path": str(wav), "onset_s": 0.0}) + "\n")
    out = predict_manifest(model, str(tmp_path / "m.jsonl"))
    assert 0.0 <= out[0]["unknown_score"] <= 1.0
