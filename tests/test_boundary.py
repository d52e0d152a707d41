"""Boundary pack and boundary evaluation (musicml.drums.boundary, stages boundary_pack / boundary_eval)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from conftest import ROOT
from musicml.drums.boundary import (Reference, evaluate_boundaries, evaluate_with_base, extra_pack_takes,
                                    first_of_close, match_onsets, merge_close_onsets, merge_close_strikes, onset_scores, pack_windows,
                                    plan_boundary_windows, read_pack, read_predictions)
from musicml.errors import GateError, InputError
from musicml.manifest import events_frame, write_events
from transcribe_helpers import export_random_model, write_take


def test_matching_is_maximum_and_one_to_one():
    rng = np.random.default_rng(0)
    for _ in range(200):
        ref = np.round(rng.uniform(0, 2, rng.integers(0, 12)), 3)
        est = np.round(rng.uniform(0, 2, rng.integers(0, 12)), 3)
        pairs = match_onsets(ref, est, tolerance_s=0.05)
        assert len({i for i, _ in pairs}) == len({j for _, j in pairs}) == len(pairs)
        assert all(abs(ref[i] - est[j]) <= 0.05 for i, j in pairs)
        graph = csr_matrix((np.abs(ref[:, None] - est[None, :]) <= 0.05).astype(int)) if ref.size and est.size \
            else None
        best = 0 if graph is None else int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())
        assert len(pairs) == best


def test_matching_tolerance_is_inclusive_and_unordered():
    assert match_onsets([1.0, 2.0], [2.04, 0.96], tolerance_s=0.05) == [(0, 1), (1, 0)]
    assert match_onsets([0.5], [0.5625], tolerance_s=0.0625) == [(0, 0)]  # exactly at the tolerance
    assert match_onsets([1.0], [1.06], tolerance_s=0.05) == []
    assert match_onsets([1.0], [0.99, 1.01], tolerance_s=0.05) == [(0, 0)]  # one estimate per reference


def test_onset_scores_follow_mir_eval():
    assert onset_scores(0, 0, 0) == {"precision": 0.0, "recall": 0.0, "f_measure": 0.0}
    assert onset_scores(4, 0, 0)["f_measure"] == 0.0
    s = onset_scores(4, 2, 2)
    assert s["precision"] == 1.0 and s["recall"] == 0.5 and s["f_measure"] == pytest.approx(2 / 3)


def test_windows_and_boundary_flags():
    assert plan_boundary_windows(1.0, window_s=2.048, hop_s=0.512) == [(0.0, 2.048)]
    windows = plan_boundary_windows(4.0, window_s=2.048, hop_s=0.512)
    assert windows[-1][0] < 4.0 <= windows[-1][1] and len(windows) == 5
    events = events_frame([
        {"source": "grooves", "session_id": "s", "kit": "k", "audio_path": "t.wav", "onset_s": t, "label": "kick"}
        for t in (0.02, 1.0, 2.03, 2.5)])
    rows = pack_windows(events, {"t.wav": 4.0}, window_s=2.048, hop_s=0.512, margin_s=0.04)
    assert [r["window"] for r in rows] == [0, 1, 2, 3, 4]
    first = {e["onset_s"]: e for e in rows[0]["events"]}
    assert first[0.02]["near_start"] and first[2.03]["near_end"] and not first[1.0]["near_start"]
    assert rows[0]["n_boundary"] == 2
    # 1.0 s lies in windows 0 and 1 (1.0 - 0.512 = 0.488 from the second window's start: not near an edge).
    assert sum(any(e["onset_s"] == 1.0 for e in r["events"]) for r in rows) == 2
    assert rows[2]["events"][0]["onset_s"] == 2.03 and rows[2]["events"][0]["near_start"] is False


def write_pack(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def pack_row(take="a.wav", events=None, window=0):
    return {"take": take, "window": window, "start_s": 0.0, "end_s": 2.048,
            "events": events if events is not None else [{"event_id": "e1", "onset_s": 0.5, "labels": ["kick"]}]}


@pytest.mark.parametrize("rows, match", [
    ([{"window": 0, "events": []}], "field 'take'"),
    ([pack_row(events=[{"event_id": "e1", "labels": ["kick"]}])], "events.onset_s"),
    ([pack_row(events=[{"event_id": "e1", "onset_s": "x", "labels": ["kick"]}])], "finite number"),
    ([pack_row(events=[{"event_id": "e1", "onset_s": 0.1, "labels": []}])], "events.labels"),
    ([pack_row(), pack_row(events=[{"event_id": "e1", "onset_s": 0.9, "labels": ["kick"]}], window=1)],
     "earlier window"),
    (["not json"], "not valid JSON"),
])
def test_bad_packs(tmp_path, rows, match):
    path = write_pack(tmp_path / "labels.jsonl", rows)
    with pytest.raises(InputError, match=match) as info:
        read_pack(path)
    assert f"{path}:" in str(info.value)


def test_empty_pack_is_an_empty_result(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text("")
    assert read_pack(path) == []
    report = evaluate_boundaries([], preds(), classes=["kick"], tolerance_s=0.05, min_macro_recall=0.95)
    assert report["takes"] == 0 and report["macro_recall"] == 0.0 and not report["gates"]["macro_recall"]["passed"]
    with pytest.raises(InputError, match="cannot open"):
        read_pack(tmp_path / "missing.jsonl")


def test_bad_predictions(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("")
    assert read_predictions(path, takes=["a.wav"]).empty  # an empty transcription is valid
    path.write_text(json.dumps({"take": "b.wav", "time_s": 1.0, "label": "kick"}) + "\n")
    with pytest.raises(InputError, match=r"p.jsonl:1: field 'take': take 'b.wav' is not in the boundary pack"):
        read_predictions(path, takes=["a.wav"])
    path.write_text(json.dumps({"take": "a.wav", "label": "kick"}) + "\n")
    with pytest.raises(InputError, match="field 'time_s'"):
        read_predictions(path, takes=["a.wav"])
    with pytest.raises(InputError, match="cannot open"):
        read_predictions(tmp_path / "missing.jsonl", takes=["a.wav"])


def refs(*items):
    return [Reference("a.wav", f"e{i}", t, label, boundary) for i, (t, label, boundary) in enumerate(items)]


def preds(*items):
    return pd.DataFrame([{"take": "a.wav", "time_s": t, "label": label} for t, label in items],
                        columns=["take", "time_s", "label"])


def test_evaluation_scores_and_gate():
    references = refs((0.5, "kick", True), (1.0, "snare", True), (1.5, "kick", False), (2.0, "snare", False),
                      (2.2, "unknown", True))
    perfect = evaluate_boundaries(references, preds((0.51, "kick"), (0.99, "snare"), (1.5, "kick"), (2.0, "snare")),
                                  classes=["kick", "snare", "hihat_closed"], tolerance_s=0.05, min_macro_recall=0.95)
    assert perfect["macro_recall"] == 1.0 and perfect["macro_f_measure"] == 1.0
    assert perfect["gates"]["macro_recall"]["passed"] and perfect["ignored_references"] == 1
    assert perfect["per_class"]["hihat_closed"]["references"] == 0
    # The snare at the boundary is missed (wrong label there), one kick comes 60 ms late.
    worse = evaluate_boundaries(references, preds((0.5, "kick"), (1.0, "kick"), (1.56, "kick"), (2.0, "snare")),
                                classes=["kick", "snare"], tolerance_s=0.05, min_macro_recall=0.95)
    kick, snare = worse["per_class"]["kick"], worse["per_class"]["snare"]
    assert snare["boundary_recall"] == 0.0 and kick["boundary_recall"] == 1.0
    assert worse["macro_recall"] == 0.5 and not worse["gates"]["macro_recall"]["passed"]
    assert kick["precision"] == pytest.approx(1 / 3) and kick["recall"] == 0.5
    assert snare["f_measure"] == pytest.approx(2 / 3)
    empty = evaluate_boundaries(references, preds(), classes=["kick", "snare"], tolerance_s=0.05,
                                min_macro_recall=0.95)
    assert empty["macro_recall"] == 0.0 and empty["estimates"] == 0


def test_first_of_close_keeps_the_first_stroke_of_each_run():
    assert first_of_close([1.0, 0.5, 0.52, 0.54, 0.6], merge_s=0.03).tolist() == [True, True, False, True, True]
    assert first_of_close([0.5, 0.5], merge_s=0.03).tolist() == [True, False]
    assert first_of_close([0.5, 0.5], merge_s=0.0).all()


def test_close_onsets_of_one_class_merge_and_other_classes_stay():
    # (onset_s, class): a flam of class 1 (20 ms), two class-2 cymbals together, class 0 at the same time.
    pairs = [(1.0, 0), (1.0, 2), (1.0, 2), (2.0, 1), (2.02, 1), (2.5, 1)]
    assert merge_close_onsets(pairs, merge_s=0.03) == [(1.0, 0), (1.0, 2), (2.0, 1), (2.5, 1)]
    assert merge_close_onsets(pairs, merge_s=0.0) == pairs


def test_same_class_strokes_closer_than_merge_are_one_reference():
    # Two crashes struck together (the second flagged at a window edge) and a snare flam 20 ms apart; a kick
    # at the same time as a crash is another class and stays.
    references = refs((1.0, "crash", False), (1.0, "crash", True), (1.0, "kick", False), (2.0, "snare", False),
                      (2.02, "snare", False), (3.0, "snare", False))
    kept, merged = merge_close_strikes(references, merge_s=0.03)
    assert merged == {"crash": 1, "snare": 1} and len(kept) == 4
    assert [r for r in kept if r.label == "crash"] == [Reference("a.wav", "e0", 1.0, "crash", True)]
    # One onset per stroke the transcription can report: without merging the second of each pair is a miss.
    predictions = preds((1.0, "crash"), (1.0, "kick"), (2.0, "snare"), (3.0, "snare"))
    kw = dict(classes=["kick", "snare", "crash"], tolerance_s=0.05, min_macro_recall=0.95)
    plain = evaluate_boundaries(references, predictions, **kw)
    assert plain["per_class"]["crash"]["boundary_recall"] == 0.0 and plain["per_class"]["snare"]["recall"] == 2 / 3
    report = evaluate_boundaries(references, predictions, merge_s=0.03, **kw)
    crash, snare = report["per_class"]["crash"], report["per_class"]["snare"]
    assert crash["boundary_recall"] == 1.0 and crash["references"] == 1 and crash["merged_references"] == 1
    assert snare["f_measure"] == 1.0 and snare["merged_references"] == 1 and report["merge_ms"] == 30.0
    assert report["macro_recall"] == 1.0


def test_extra_takes_are_scored_with_the_base_takes_and_apart():
    references = refs((0.5, "kick", True), (1.0, "snare", True))
    references += [Reference("b.wav", "b1", 0.5, "kick", True), Reference("b.wav", "b2", 1.0, "snare", True)]
    # Take a.wav (the dataset's) is transcribed perfectly, the extra take b.wav misses its snare.
    predictions = pd.concat([preds((0.5, "kick"), (1.0, "snare")),
                             pd.DataFrame([{"take": "b.wav", "time_s": 0.5, "label": "kick"}])], ignore_index=True)
    kw = dict(classes=["kick", "snare"], tolerance_s=0.05, min_macro_recall=0.95)
    report = evaluate_with_base(references, predictions, extra_takes={"b.wav"}, **kw)
    assert report["takes"] == 2 and report["macro_recall"] == 0.75 and not report["gates"]["macro_recall"]["passed"]
    base = report["base_takes"]
    assert base["takes"] == 1 and base["macro_recall"] == 1.0 and "gates" not in base
    assert base["per_class"]["snare"]["boundary_events"] == 1
    assert "base_takes" not in evaluate_with_base(references, predictions, extra_takes=set(), **kw)


def test_extra_flags_of_a_pack(tmp_path):
    path = write_pack(tmp_path / "labels.jsonl", [pack_row(), {**pack_row(take="b.wav"), "extra": True},
                                                  {**pack_row(take="c.wav"), "extra": False}])
    assert extra_pack_takes(path) == {"b.wav"}
    write_pack(path, [{**pack_row(take="b.wav"), "extra": "yes"}])
    with pytest.raises(InputError, match="field 'extra'"):
        extra_pack_takes(path)


# --- the stages, on a fixture take -------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with a held-out 'grooves' take, a dataset manifest, tiny params and a model."""
    root = tmp_path_factory.mktemp("boundary")
    (root / "data").mkdir()
    # 113 BPM: off the 512 ms window grid, so some strikes fall near window edges.
    hits = write_take(root / "data" / "take.wav", seconds=10.0, bpm=113, seed=2, kit_index=5)
    other = write_take(root / "data" / "train.wav", seconds=3.0, seed=3, kit_index=6)
    # Explicit ids: strikes 0.1 ms apart would share a hashed id (merge_manifests makes them one hit).
    rows = [{"event_id": f"g1-{i}", "source": "grooves", "session_id": "g1", "kit": "k5",
             "audio_path": "data/take.wav", "onset_s": h.onset_s, "label": h.label, "split": "test"} for i, h in enumerate(hits)]
    rows += [{"event_id": f"g2-{i}", "source": "grooves", "session_id": "g2", "kit": "k6",
              "audio_path": "data/train.wav", "onset_s": h.onset_s, "label": h.label, "split": "train"}
             for i, h in enumerate(other)]
    frame = events_frame([{k: v for k, v in r.items() if k != "split"} for r in rows])
    frame["split"] = [r["split"] for r in rows]
    write_events(frame, root / "data" / "dataset.parquet")
    # transcriber_grooves' manifest of more held-out takes: one more take of the test kit, one of a validation kit.
    more = write_take(root / "data" / "extra.wav", seconds=3.0, seed=4, kit_index=5)
    rows = [{"event_id": f"x{s}-{i}", "source": "grooves", "session_id": s, "kit": "k5",
             "audio_path": "data/extra.wav" if split == "test" else "data/val.wav", "onset_s": h.onset_s,
             "label": h.label, "split": split} for s, split in (("g1", "test"), ("g3", "val")) for i, h in enumerate(more)]
    frame = events_frame([{k: v for k, v in r.items() if k != "split"} for r in rows])
    frame["split"] = [r["split"] for r in rows]
    write_events(frame, root / "data" / "heldout.parquet")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    # The onsets method: model.onnx is a one-shot classifier (the frame transcriber: test_transcriber).
    (root / "params.yaml").write_text(yaml.safe_dump({"transcribe": {**params["transcribe"], "method": "onsets"},
                                                      "boundary": params["boundary"]}))
    export_random_model(root / "model.onnx")
    return root, hits


def stage_main(name):
    """A stage's main() in-process (its errors raise instead of exiting): for the error paths."""
    import runpy

    return runpy.run_path(str(ROOT / "stages" / f"{name}.py"))["main"]


@pytest.mark.slow
def test_stages_end_to_end(workdir, run_stage):
    root, hits = workdir
    run_stage("boundary_pack", "--dataset", "data/dataset.parquet", "--extra", "data/heldout.parquet", "--out",
              "pack.jsonl", cwd=root)
    windows = [json.loads(line) for line in (root / "pack.jsonl").read_text().splitlines()]
    # The held-out take and the extra take of the test split (not the training or the validation take).
    assert {w["take"]: w["extra"] for w in windows} == {"data/take.wav": False, "data/extra.wav": True}
    assert sum(w["n_boundary"] for w in windows) > 0
    assert {e["onset_s"] for w in windows if not w["extra"] for e in w["events"]} == {round(h.onset_s, 6)
                                                                                       for h in hits}

    proc = run_stage("boundary_eval", "--pack", "pack.jsonl", "--model", "model.onnx", "--predictions", "pred.jsonl",
                     "--metrics", "boundary.json", cwd=root)
    report = json.loads((root / "boundary.json").read_text())
    assert {"macro_recall", "macro_f_measure", "per_class", "gates"} <= set(report)
    assert set(report["per_class"]["kick"]) >= {"boundary_recall", "f_measure", "precision", "recall"}
    assert report["takes"] == 2 and "boundary macro recall" in proc.stdout
    assert report["base_takes"]["takes"] == 1 and report["base_takes"]["references"] == len(hits)
    predicted = [json.loads(line) for line in (root / "pred.jsonl").read_text().splitlines()]
    assert predicted and set(predicted[0]) == {"take", "time_s", "label", "confidence"}

    # Scoring the annotations themselves: every class recalled, the gate passes.
    references = read_pack(root / "pack.jsonl")
    (root / "perfect.jsonl").write_text("".join(json.dumps({"take": r.take, "time_s": r.onset_s, "label": r.label})
                                                + "\n" for r in references))
    run_stage("boundary_eval", "--pack", "pack.jsonl", "--predictions", "perfect.jsonl", "--score-only",
              "--metrics", "perfect.json", cwd=root)
    perfect = json.loads((root / "perfect.json").read_text())
    assert perfect["macro_recall"] == 1.0 and perfect["gates"]["macro_recall"]["passed"]


def test_strict_gate_fails_after_writing_the_report(workdir, monkeypatch):
    root, _ = workdir
    monkeypatch.chdir(root)
    stage_main("boundary_pack")(params=Path("params.yaml"), dataset=Path("data/dataset.parquet"),
                                extra=Path("data/heldout.parquet"), out=Path("strict_pack.jsonl"))
    (root / "half.jsonl").write_text(json.dumps({"take": "data/take.wav", "time_s": 0.25, "label": "kick"}) + "\n")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["boundary"]["strict"] = True
    (root / "strict.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(GateError, match="boundary macro recall"):
        stage_main("boundary_eval")(params=Path("strict.yaml"), pack=Path("strict_pack.jsonl"), model=Path("none"),
                                    predictions=Path("half.jsonl"), score_only=True, metrics=Path("strict.json"))
    assert json.loads((root / "strict.json").read_text())["gates"]["macro_recall"]["passed"] is False


def test_no_held_out_takes_give_an_empty_pack(workdir, monkeypatch):
    root, _ = workdir
    monkeypatch.chdir(root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["boundary"]["source"] = "nothing"
    (root / "nothing.yaml").write_text(yaml.safe_dump(params))
    with pytest.warns(UserWarning, match="no events with source 'nothing'"):
        stage_main("boundary_pack")(params=Path("nothing.yaml"), dataset=Path("data/dataset.parquet"),
                                    extra=Path("data/heldout.parquet"), out=Path("none.jsonl"))
    assert (root / "none.jsonl").read_text() == ""
    stage_main("boundary_eval")(params=Path("nothing.yaml"), pack=Path("none.jsonl"), model=Path("model.onnx"),
                                predictions=Path("none_pred.jsonl"), score_only=False, metrics=Path("none.json"))
    report = json.loads((root / "none.json").read_text())
    assert report["takes"] == 0 and report["gates"]["macro_recall"]["passed"] is False
    assert (root / "none_pred.jsonl").read_text() == ""
