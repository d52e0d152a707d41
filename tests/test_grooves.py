"""Grooves: composed GM MIDI performances played through a kit's one-shots, labelled from the MIDI."""

from __future__ import annotations

import hashlib

import mido
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from conftest import ROOT
from drum_midi_helpers import CURVE, RULES, SR, groove_config
from musicml.drums import grooves as g
from musicml.drums.audio_midi import read_drum_midi
from musicml.drums.openness import OpennessCurve
from musicml.drums.split import split_sessions
from musicml.drums.synth import synthesize
from musicml.errors import ConfigError
from musicml.manifest import read_events, write_events

CFG = groove_config(take_s=8.0, layer_prob=1.0, open_hat_prob=1.0)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Four synthetic kits (one take each: the four forms) rendered in a temporary folder."""
    root = tmp_path_factory.mktemp("grooves")
    kits = synthesize(root / "kits", n_kits=4, hits_per_class=3, unknown_hits=1, sr=SR, seed=5, technique_prob=0.2)
    events = g.render_grooves(kits, root / "out", cfg=CFG, rules=RULES, takes_per_kit=1, sr=SR, seed=11)
    return root, kits, events


def _digest(folder):
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_each_take_is_a_wav_and_a_gm_midi_on_channel_10(rendered):
    root, kits, events = rendered
    files = sorted(p.name for p in (root / "out").iterdir())
    takes = sorted(events["audio_path"].map(lambda p: p.rsplit("/", 1)[1][:-4]).unique())
    assert files == sorted([f"{t}.mid" for t in takes] + [f"{t}.wav" for t in takes]) and len(takes) == 4
    for take in takes:
        midi = mido.MidiFile(root / "out" / f"{take}.mid")
        channels = {m.channel for track in midi.tracks for m in track if m.type == "note_on"}
        assert channels == {9}
        info = sf.info(root / "out" / f"{take}.wav")
        assert info.samplerate == SR and info.duration >= CFG.take_s


def test_events_keep_the_kit_session_and_read_back_from_the_midi(rendered):
    root, kits, events = rendered
    assert (events["source"] == "grooves").all()
    kit_of = dict(zip(kits["session_id"], kits["kit"]))
    assert set(events["session_id"]) == set(kit_of)
    assert all(kit_of[s] == k for s, k in zip(events["session_id"], events["kit"]))
    for path, group in events.groupby("audio_path"):
        midi = read_drum_midi(root / "out" / (path.rsplit("/", 1)[1][:-4] + ".mid"))
        times = np.array([n.time for n in midi.notes])
        # Every event sits exactly on a note, and every note belongs to an event at most flam_s earlier.
        for onset, label in zip(group["onset_s"], group["label"]):
            at = [n for n in midi.notes if abs(n.time - onset) < 1e-9]
            assert at and label in {RULES.gm_map[n.pitch] for n in midi.notes if 0 <= n.time - onset <= 0.011}
        onsets = np.sort(group["onset_s"].to_numpy())
        nearest = onsets[np.searchsorted(onsets, times + 1e-9, side="right") - 1]
        assert np.all(times - nearest <= RULES.flam_s + 1e-9)
        assert group["velocity"].between(1, 127).all()


def test_forms_and_styles_tag_the_groove_level_techniques(rendered):
    root, _, events = rendered
    by_form = {}
    for path, group in events.groupby("audio_path"):
        midi = read_drum_midi(root / "out" / (path.rsplit("/", 1)[1][:-4] + ".mid"))
        techniques = group["techniques"].map(set)
        meters = {(n, d) for _, n, d in midi.meters}
        if len(midi.tempos) > 1:
            by_form["metric_modulation"] = True
            ratio = midi.tempos[1][1] / midi.tempos[0][1]
            assert any(abs(ratio - p / q) < 0.01 for p, q in g.MODULATIONS)
            after = group["onset_s"] >= midi.tempos[1][0] - 1e-6
            assert techniques[after].map(lambda t: "metric_modulation" in t).all()
            assert not techniques[~after].map(lambda t: "metric_modulation" in t).any()
        if len(meters) > 1 or meters & set(g.ODD_METERS):
            by_form.setdefault("meter", 0)
            by_form["meter"] += 1
            assert techniques.map(lambda t: "variable_meter" in t).all()
        if meters == {(4, 4)}:
            assert not techniques.map(lambda t: "variable_meter" in t).any()
    assert by_form == {"metric_modulation": True, "meter": 2}
    counts = pd.Series([t for ts in events["techniques"] for t in ts]).value_counts()
    for technique in ("multi_cymbal_same_class", "hihat_bark", "metric_modulation", "variable_meter"):
        assert counts.get(technique, 0) > 0, technique
    layered = events[events["techniques"].map(lambda t: "multi_cymbal_same_class" in t)]
    assert layered["extra_labels"].map(lambda e: "crash" in e).all()
    hats = events[events["label"].str.startswith("hihat")]
    assert hats["openness"].notna().all() and (hats.loc[hats["label"] == "hihat_open", "openness"] >= CFG.open_min - 0.01).all()


def test_same_seed_same_bytes_other_seed_other_grooves(rendered, tmp_path):
    root, kits, events = rendered
    again = g.render_grooves(kits, tmp_path / "a", cfg=CFG, rules=RULES, takes_per_kit=1, sr=SR, seed=11)
    assert _digest(tmp_path / "a") == _digest(root / "out")
    pd.testing.assert_frame_equal(again.drop(columns=["audio_path", "event_id"]),
                                  events.drop(columns=["audio_path", "event_id"]))
    g.render_grooves(kits, tmp_path / "b", cfg=CFG, rules=RULES, takes_per_kit=1, sr=SR, seed=12)
    assert _digest(tmp_path / "b") != _digest(root / "out")


def test_split_holds_a_groove_out_exactly_with_its_kit(rendered):
    _, kits, events = rendered
    merged = pd.concat([kits, events], ignore_index=True)
    split = split_sessions(merged, val_fraction=0.25, test_fraction=0.25, seed=3, follow_sources=["grooves"])
    known = split[split["split"] != "openset"]
    assert known.groupby("session_id")["split"].nunique().eq(1).all()
    assert set(known.loc[known["source"] == "grooves", "split"]) <= {"train", "val", "test"}
    # The kits alone are split exactly as before grooves existed.
    alone = split_sessions(kits, val_fraction=0.25, test_fraction=0.25, seed=3)
    assert dict(zip(alone["session_id"], alone["split"])) == \
        dict(zip(split.loc[split["source"] == "synth", "session_id"], split.loc[split["source"] == "synth", "split"]))


def _impulse_shots():
    """One-shots that make the output readable: a click for drums, a long constant ring for the open hat."""
    click = np.zeros(2000, np.float32)
    click[0] = 1.0
    ring = np.full(SR, 0.5, np.float32)
    return {"kick": [g.OneShot(click, 100)], "snare": [g.OneShot(click * 0.5, 100)],
            "hihat_open": [g.OneShot(ring, 100)], "hihat_closed": [g.OneShot(click, 100)]}


def _write(tmp_path, notes, cc4=()):
    take = g.Take("t", "rock", "common", tuple(notes), tuple(cc4), ((0, 120.0),), ((0, 4, 4),))
    g.write_midi(take, tmp_path / "t.mid")
    return tmp_path / "t.mid"


def test_render_places_each_stroke_at_its_note_with_velocity_gain(tmp_path):
    # 120 BPM: 960 ticks = 0.5 s.
    path = _write(tmp_path, [(960, g.KICK, 100), (1920, g.SNARE, 100), (2880, g.KICK, 50)])
    out = g.render_midi(path, _impulse_shots(), RULES.gm_map, curve=CURVE, sr=SR, rng=np.random.default_rng(0))
    peaks = np.flatnonzero(np.abs(out) > 1e-6)
    assert list(peaks) == [int(0.5 * SR), SR, int(1.5 * SR)]
    assert out[int(0.5 * SR)] == pytest.approx(g.PEAK) and out[SR] == pytest.approx(g.PEAK / 2)
    assert out[int(1.5 * SR)] == pytest.approx(g.PEAK / 2)


def test_a_closing_hat_chokes_the_open_one_and_openness_sets_its_ring(tmp_path):
    sr_ticks = 960  # one beat = 0.5 s
    open_only = _write(tmp_path, [(sr_ticks, g.HH_OPEN, 100)], cc4=[(sr_ticks, 0)])
    ring = g.render_midi(open_only, _impulse_shots(), RULES.gm_map, curve=CURVE, sr=SR, rng=np.random.default_rng(0))
    assert np.abs(ring[int(0.5 * SR):int(1.4 * SR)]).min() > 0.1  # fully open: rings the whole sample
    half = _write(tmp_path, [(sr_ticks, g.HH_OPEN, 100)], cc4=[(sr_ticks, CURVE.inverse(0.5))])
    out = g.render_midi(half, _impulse_shots(), RULES.gm_map, curve=CURVE, sr=SR, rng=np.random.default_rng(0))
    assert np.abs(out[int(0.6 * SR):int(0.95 * SR)]).min() > 0.1 and np.abs(out[int(1.1 * SR):]).max() < 1e-6
    choked = _write(tmp_path, [(sr_ticks, g.HH_OPEN, 100), (sr_ticks + 480, g.HH_CLOSED, 100)], cc4=[(sr_ticks, 0)])
    out = g.render_midi(choked, _impulse_shots(), RULES.gm_map, curve=CURVE, sr=SR, rng=np.random.default_rng(0))
    assert np.abs(out[int(0.8 * SR):]).max() < 1e-6  # nothing rings after the closed stroke's click


def test_beat_groups_and_config_checks():
    assert g.beat_groups(4, 4) == [4, 4, 4, 4]
    assert g.beat_groups(7, 8) == [4, 4, 6] and g.beat_groups(6, 8) == [6, 6] and g.beat_groups(5, 4) == [4] * 5
    with pytest.raises(ConfigError, match="tempo range"):
        g.GrooveConfig(tempo_min=200, tempo_max=100)
    with pytest.raises(ConfigError, match="lacks"):
        g.GrooveConfig.from_params({"take_s": 10})
    assert isinstance(CURVE, OpennessCurve)


def test_stage_script_writes_the_source_and_skips_when_disabled(rendered, tmp_path, run_stage):
    _, kits, _ = rendered
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["sources"]["grooves"].update(take_s=4.0, kit_sources=["synth"])
    params["drum_midi"]["calibration"] = str(ROOT / "configs/openness_calibration.json")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_events(kits.iloc[: len(kits) // 2], tmp_path / "synth.parquet")
    common = ["--taxonomy", str(ROOT / "configs/taxonomy.yaml"), "--kits", "synth.parquet"]
    run_stage("ingest_grooves", *common, cwd=tmp_path)
    events = read_events(tmp_path / "data/interim/sources/grooves.parquet")
    assert len(events) > 0 and events["audio_path"].str.startswith("data/interim/grooves/").all()
    assert all((tmp_path / p).exists() for p in events["audio_path"].unique())
    params["sources"]["grooves"]["enabled"] = False
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = run_stage("ingest_grooves", *common, cwd=tmp_path)
    assert "disabled" in proc.stdout and len(read_events(tmp_path / "data/interim/sources/grooves.parquet")) == 0


def test_transcriber_grooves_play_each_kit_in_its_split(rendered, tmp_path, run_stage):
    """transcriber_grooves: extra takes of the training kits, held-out takes of the validation and test kits."""
    _, kits, _ = rendered
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["sources"]["grooves"].update(take_s=2.0, kit_sources=["synth"])
    params["drum_midi"]["calibration"] = str(ROOT / "configs/openness_calibration.json")
    params["transcriber"].update(extra_takes_per_kit=1, heldout_takes_per_kit=2)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    sessions = sorted(kits["session_id"].unique())
    split_of = dict(zip(sessions, ["train", "train", "val", "test"]))
    write_events(kits.assign(split=kits["session_id"].map(split_of)), tmp_path / "dataset.parquet")
    write_events(kits, tmp_path / "synth.parquet")
    common = ["--taxonomy", str(ROOT / "configs/taxonomy.yaml"), "--kits", "synth.parquet",
              "--dataset", "dataset.parquet"]
    run_stage("transcriber_grooves", *common, cwd=tmp_path)
    train = read_events(tmp_path / "data/interim/transcriber/grooves.parquet")
    held = read_events(tmp_path / "data/interim/transcriber/heldout.parquet")
    assert set(train["split"]) == {"train"} and set(train["session_id"]) == set(sessions[:2])
    assert train.groupby("session_id")["audio_path"].nunique().tolist() == [1, 1]
    assert dict(zip(held["session_id"], held["split"])) == {sessions[2]: "val", sessions[3]: "test"}
    assert held.groupby("session_id")["audio_path"].nunique().tolist() == [2, 2]
    assert held["audio_path"].str.startswith("data/interim/transcriber/heldout/").all()
    assert all((tmp_path / p).exists() for p in held["audio_path"].unique())
    params["transcriber"]["heldout_takes_per_kit"] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    run_stage("transcriber_grooves", *common, cwd=tmp_path)
    assert len(read_events(tmp_path / "data/interim/transcriber/heldout.parquet")) == 0
    assert len(read_events(tmp_path / "data/interim/transcriber/grooves.parquet")) == len(train)


def test_one_shots_of_a_sample_kit_play_a_groove(tmp_path):
    """A Hydrogen-like kit: one file per sample (onset near 0), velocity layers; the groove keeps its session."""
    from musicml.manifest import events_frame

    rng = np.random.default_rng(0)
    rows = []
    for label, velocities in (("kick", (40, 120)), ("snare", (100,)), ("hihat_closed", (90,)), ("tom_low", (90,))):
        for v in velocities:
            path = tmp_path / f"{label}_{v}.wav"
            audio = np.zeros(3 * SR, np.float32)
            audio[220:6615] = rng.normal(0, v / 200, 6395)
            sf.write(path, audio, SR)
            rows.append({"source": "hydrogen", "session_id": "hydrogen:MyKit", "kit": "My Kit",
                         "audio_path": str(path), "onset_s": 0.01, "label": label, "velocity": v})
    kit = events_frame(rows)
    shots = g.kit_one_shots(kit, sr=SR)
    assert sorted(shots) == ["hihat_closed", "kick", "snare", "tom_low"]
    assert [s.velocity for s in shots["kick"]] == [40, 120]
    assert all(s.audio.size == int(1.5 * SR) for s in shots["kick"])  # capped at max_s, not the 3 s file
    events = g.render_grooves(kit, tmp_path / "out", cfg=CFG, rules=RULES, takes_per_kit=2, sr=SR, seed=1)
    assert set(events["session_id"]) == {"hydrogen:MyKit"} and set(events["kit"]) == {"My Kit"}
    assert events["audio_path"].nunique() == 2
    # Only what the kit can play is written: no crash, ride, open hat or clap notes.
    assert set(events["label"]) | {e for ex in events["extra_labels"] for e in ex} <= set(shots)
