"""The soundfont source: SoundFont parsing, kit choice, GM labels, FluidSynth rendering."""

from __future__ import annotations

import hashlib
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from conftest import ROOT, tiny_params
from musicml.audio import load_audio
from musicml.config import load_yaml
from musicml.drums import soundfont
from musicml.drums.soundfont import (LEAD_S, Preset, add_soundfonts, drum_kits, gm_drum_map, ingest_soundfonts,
                                     note_plan, read_presets)
from musicml.errors import ConfigError, InputError

TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None or not TIMGM.exists(),
                                      reason="needs Debian's fluidsynth and timgm6mb-soundfont")


def _chunk(cid: bytes, payload: bytes) -> bytes:
    return cid + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")


def minimal_sf2(presets: list[tuple[str, int, int]]) -> bytes:
    """A RIFF sfbk file with just INFO and preset headers (no samples): enough for read_presets."""
    records = b"".join(struct.pack("<20sHHHIII", name.encode(), program, bank, 0, 0, 0, 0)
                       for name, bank, program in [*presets, ("EOP", 0, 0)])
    info = _chunk(b"LIST", b"INFO" + _chunk(b"ifil", struct.pack("<HH", 2, 1)))
    pdta = _chunk(b"LIST", b"pdta" + _chunk(b"phdr", records))
    return _chunk(b"RIFF", b"sfbk" + info + pdta)


def test_read_presets_parses_preset_headers(tmp_path):
    path = tmp_path / "font.sf2"
    path.write_bytes(minimal_sf2([("Piano", 0, 0), ("Standard", 128, 0), ("Jazz", 128, 32)]))
    assert read_presets(path) == [Preset("Piano", 0, 0), Preset("Standard", 128, 0), Preset("Jazz", 128, 32)]


@pytest.mark.parametrize("content, message", [
    (b"not a soundfont at all", "not a SoundFont"),
    (b"RIFF\x04\x00\x00\x00WAVE", "not a SoundFont"),
    (b"RIFF\xff\x00\x00\x00sfbkLIST\xff\xff\x00\x00pdta", "truncated RIFF chunk"),
    (minimal_sf2([])[:12] + _chunk(b"LIST", b"INFO"), "no preset headers"),
])
def test_read_presets_rejects_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.sf2"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_presets(path)
    assert str(path) in str(info.value)


def test_read_presets_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read SoundFont"):
        read_presets(tmp_path / "absent.sf2")


def test_drum_kits_prefers_bank_128_and_honours_exclude():
    presets = [Preset("Piano", 0, 0), Preset("Orchestra Kit", 128, 48), Preset("Standard", 128, 0)]
    assert drum_kits(presets) == [Preset("Standard", 128, 0), Preset("Orchestra Kit", 128, 48)]
    assert drum_kits(presets, exclude=["orchestra"]) == [Preset("Standard", 128, 0)]
    # A drum-only font (no bank 128) plays its presets as kits.
    assert drum_kits([Preset("Red_Zeppelin_4pc", 0, 0)]) == [Preset("Red_Zeppelin_4pc", 0, 0)]


def test_gm_drum_map_from_the_taxonomy():
    gm = gm_drum_map(load_yaml(ROOT / "configs/taxonomy.yaml"))
    assert gm[36] == "kick" and gm[42] == "hihat_closed" and gm[44] == "hihat_pedal" and gm[46] == "hihat_open"
    assert gm[41] == "tom_low" and gm[45] == "tom_mid" and gm[50] == "tom_high" and gm[56] == "unknown"
    classes = set(load_yaml(ROOT / "configs/taxonomy.yaml")["taxonomy"]["classes"])
    assert classes <= set(gm.values())  # every class can be rendered


@pytest.mark.parametrize("gm, message", [({}, "gm_drums"), ({36: "bassdrum"}, "gm_drums.36"),
                                         ({200: "kick"}, "gm_drums.200")])
def test_gm_drum_map_rejects_bad_entries(gm, message):
    doc = {"taxonomy": {"classes": ["kick"]}, "gm_drums": gm}
    with pytest.raises(ConfigError, match=message):
        gm_drum_map(doc)


def test_note_plan_gives_every_hit_its_own_slot():
    plan = note_plan([36, 38], [40, 100], spacing_s=1.0)
    assert [(n, v) for n, v, _ in plan] == [(36, 40), (36, 100), (38, 40), (38, 100)]
    assert [t for *_, t in plan] == pytest.approx([LEAD_S, 1 + LEAD_S, 2 + LEAD_S, 3 + LEAD_S])


def test_missing_fluidsynth_is_a_one_line_config_error(monkeypatch, tmp_path):
    monkeypatch.setattr(soundfont.shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="apt-get install fluidsynth"):
        soundfont.fluidsynth_binary()


def test_ingest_rejects_empty_folder_and_bad_velocities(tmp_path):
    with pytest.raises(InputError, match="no SoundFont found"):
        ingest_soundfonts(tmp_path, gm_map={36: "kick"}, velocities=[100], audio_dir=tmp_path / "out")
    (tmp_path / "f.sf2").write_bytes(minimal_sf2([("Standard", 128, 0)]))
    with pytest.raises(ConfigError, match="velocities"):
        ingest_soundfonts(tmp_path, gm_map={36: "kick"}, velocities=[0, 200], audio_dir=tmp_path / "out")


def test_add_soundfonts_copies_enables_and_is_idempotent(tmp_path):
    font = tmp_path / "src" / "Kit.sf2"
    font.parent.mkdir()
    font.write_bytes(minimal_sf2([("Standard", 128, 0)]))
    params = tmp_path / "params.yaml"
    params.write_text("sources:\n  soundfont:\n    enabled: false  # keep this comment\n    path: elsewhere\n")
    dest = tmp_path / "data/raw/soundfont"
    changes = add_soundfonts([font], dest_root=dest, params_path=params, track=False)
    assert (dest / "Kit.sf2").read_bytes() == font.read_bytes()
    assert any("copied" in c for c in changes) and any("enabled" in c for c in changes)
    text = params.read_text()
    assert "keep this comment" in text and yaml.safe_load(text)["sources"]["soundfont"]["enabled"] is True
    assert add_soundfonts([font], dest_root=dest, params_path=params, track=False) == []


def test_add_soundfonts_validates_before_copying(tmp_path):
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"junk")
    params = tmp_path / "params.yaml"
    params.write_text("sources:\n  soundfont:\n    enabled: false\n")
    with pytest.raises(InputError, match="not a SoundFont"):
        add_soundfonts([bad], dest_root=tmp_path / "dest", params_path=params, track=False)
    assert not (tmp_path / "dest").exists() and "false" in params.read_text()


@needs_fluidsynth
def test_ingest_renders_labelled_distinct_audible_hits(tmp_path):
    gm = {36: "kick", 38: "snare", 42: "hihat_closed", 58: "unknown"}
    kwargs = dict(gm_map=gm, velocities=[60, 120], hit_s=0.8, exclude=["orchestra", "brush", "jazz", "room",
                                                                         "power", "electronic"])
    events = ingest_soundfonts(TIMGM, audio_dir=tmp_path / "a", **kwargs)
    # Standard and TR-808 remain; every kept hit is labelled from its note.
    assert set(events["session_id"]) == {"soundfont-timgm6mb-standard", "soundfont-timgm6mb-tr-808"}
    assert set(events["label"]) <= set(gm.values()) and {"kick", "snare", "hihat_closed"} <= set(events["label"])
    assert (events["source"] == "soundfont").all()
    clips = []
    for row in events.itertuples():
        sr = 22050
        audio = load_audio(row.audio_path, sr=sr)
        start = int(round(row.onset_s * sr))
        assert np.abs(audio[start - int(0.9 * LEAD_S * sr):start]).max() < 1e-3  # silence before the hit
        clip = audio[start:start + int(0.7 * sr)]
        assert np.abs(clip).max() > 1e-2  # and a hit after it
        clips.append(hashlib.sha1(np.round(clip * 3e4).astype(np.int16).tobytes()).hexdigest())
    assert len(set(clips)) == len(clips)  # no hit is kept twice
    # Same input, same bytes: the source is deterministic.
    again = ingest_soundfonts(TIMGM, audio_dir=tmp_path / "b", **kwargs)
    for name in sorted(p.name for p in (tmp_path / "a").iterdir()):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    pd.testing.assert_frame_equal(events.drop(columns=["audio_path", "event_id"]),
                                  again.drop(columns=["audio_path", "event_id"]))


@needs_fluidsynth
def test_ingest_soundfont_stage(run_stage, tmp_path):
    (tmp_path / "configs").mkdir()
    shutil.copy(ROOT / "configs/taxonomy.yaml", tmp_path / "configs/taxonomy.yaml")
    (tmp_path / "fonts").mkdir()
    shutil.copy(TIMGM, tmp_path / "fonts" / TIMGM.name)
    params = tiny_params(**{"sources.soundfont.enabled": True, "sources.soundfont.path": "fonts",
                            "sources.soundfont.velocities": [100]})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = run_stage("ingest_soundfont", cwd=tmp_path)
    events = pd.read_parquet(tmp_path / "data/interim/sources/soundfont.parquet")
    assert "soundfont:" in proc.stdout and len(events) > 50
    assert not events["session_id"].str.contains("orchestra").any()  # excluded by default params
    assert set(events["label"]) >= {"kick", "snare", "crash", "ride", "tom_low", "unknown"}
    assert all((tmp_path / p).exists() for p in events["audio_path"].unique())


def test_ingest_soundfont_stage_bad_font_fails_cleanly(run_stage, tmp_path):
    (tmp_path / "configs").mkdir()
    shutil.copy(ROOT / "configs/taxonomy.yaml", tmp_path / "configs/taxonomy.yaml")
    (tmp_path / "fonts").mkdir()
    (tmp_path / "fonts" / "broken.sf2").write_bytes(b"RIFF\x00\x00\x00\x00sfbk")
    params = tiny_params(**{"sources.soundfont.enabled": True, "sources.soundfont.path": "fonts"})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = run_stage("ingest_soundfont", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: fonts/broken.sf2") and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data/interim/sources/soundfont.parquet").exists()
