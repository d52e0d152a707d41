"""Multi-mic alignment QC (musicml.drums.alignment, takes.render_multimic, stages align_synth / align_qc)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from scipy import signal

from conftest import ROOT
from musicml.drums.alignment import align_session, estimate_offset, read_session
from musicml.drums.synth import make_kit
from musicml.drums.takes import REFERENCE_MIC, _fractional_delay, backbeat_hits, render_multimic
from musicml.errors import GateError, InputError

SR = 16000


def bursts(seconds=3.0, seed=0):
    """Decaying noise bursts at random times: a drum-like signal with a well-defined delay."""
    rng = np.random.default_rng(seed)
    x = np.zeros(int(seconds * SR), np.float32)
    env = np.exp(-np.arange(2000) / 300).astype(np.float32)
    for start in rng.integers(0, x.size - 2000, 12):
        x[start:start + 2000] += rng.standard_normal(2000).astype(np.float32) * env
    return x


@pytest.mark.parametrize("delay_ms", [0.0, 0.37, -2.718, 7.5, -12.06])
def test_fractional_delays_are_recovered(delay_ms):
    x = bursts()
    late = _fractional_delay(x, delay_ms * SR / 1000)
    # A different colouring (zero-phase low-pass) and level must not move the estimate.
    coloured = 0.3 * signal.sosfiltfilt(signal.butter(2, 2000, "lowpass", fs=SR, output="sos"), late)
    offset, peak = estimate_offset(x, coloured.astype(np.float32), sr=SR, max_lag_s=0.05)
    assert abs(offset * 1000 - delay_ms) < 0.05 and peak > 5


def test_search_is_bounded_by_max_lag():
    x = bursts()
    offset, _ = estimate_offset(x, _fractional_delay(x, 0.02 * SR), sr=SR, max_lag_s=0.005)
    assert abs(offset) <= 0.005 + 1 / SR


def test_multimic_take_delays_are_known_and_recoverable():
    kit = make_kit(1, seed=3)
    audio, mics = render_multimic(kit, backbeat_hits(3.0, seed=3), sr=SR, seed=3, max_delay_ms=6)
    assert {m.name for m in mics} == set(audio) and len(audio) == 6
    assert next(m for m in mics if m.name == REFERENCE_MIC).delay_ms == 0.0
    assert all(abs(m.delay_ms) <= 6 for m in mics) and len({m.delay_ms for m in mics}) == 6
    assert not np.allclose(audio["kick"], audio["hihat"])  # different mics hear different mixes
    for m in mics:
        offset, _ = estimate_offset(audio[REFERENCE_MIC], audio[m.name], sr=SR, max_lag_s=0.05)
        assert abs(offset * 1000 - m.delay_ms) < 0.05, m.name


def write_session(folder, manifest):
    path = folder / "session.json"
    path.write_text(json.dumps(manifest) if not isinstance(manifest, str) else manifest)
    return path


def test_session_manifest_errors(tmp_path):
    sf.write(tmp_path / "ref.wav", bursts(1.0), SR)
    path = write_session(tmp_path, {"session_id": "s", "reference": "ref.wav",
                                    "files": [{"path": "a.wav"}, {"path": "b.wav"}]})
    with pytest.raises(InputError, match=r"2 audio file\(s\) not found: .*a.wav, .*b.wav"):
        read_session(path)
    with pytest.raises(InputError, match="field 'reference': missing required field"):
        read_session(write_session(tmp_path, {"session_id": "s", "files": [{"path": "ref.wav"}]}))
    with pytest.raises(InputError, match="files\\[0\\].known_offset_ms"):
        read_session(write_session(tmp_path, {"session_id": "s", "reference": "ref.wav",
                                              "files": [{"path": "ref.wav", "known_offset_ms": "1 ms"}]}))
    with pytest.raises(InputError, match="not valid JSON"):
        read_session(write_session(tmp_path, "{"))
    with pytest.raises(InputError, match="cannot open"):
        read_session(tmp_path / "nothing.json")
    sf.write(tmp_path / "quiet.wav", np.zeros(SR, np.float32), SR)
    silent = read_session(write_session(tmp_path, {"session_id": "s", "reference": "ref.wav",
                                                   "files": [{"path": "quiet.wav"}]}))
    with pytest.raises(InputError, match="quiet.wav: audio is silent"):
        align_session(silent, max_lag_ms=50, analysis_s=10, max_abs_offset_ms=10)


def test_files_at_other_rates_are_compared_at_the_reference_rate(tmp_path):
    import librosa

    x = bursts(2.0)
    sf.write(tmp_path / "ref.wav", x, SR)
    late = _fractional_delay(x, 3.25 * SR / 1000)
    sf.write(tmp_path / "hi.wav", librosa.resample(late, orig_sr=SR, target_sr=44100), 44100)
    session = read_session(write_session(tmp_path, {"session_id": "s", "reference": "ref.wav",
                                                    "files": [{"path": "hi.wav", "known_offset_ms": 3.25}]}))
    report = align_session(session, max_lag_ms=20, analysis_s=10, max_abs_offset_ms=5)
    assert report["worst_error_ms"] < 0.1 and report["passed"] and report["sr"] == SR


@pytest.mark.slow
def test_stages_end_to_end(tmp_path, run_stage, monkeypatch):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    align = params["align"]
    align["synth"].update(seconds=4, sr=SR)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seed": 5, "align": align}))
    run_stage("align_synth", cwd=tmp_path)
    proc = run_stage("align_qc", "--metrics", "align.json", cwd=tmp_path)
    report = json.loads((tmp_path / "align.json").read_text())
    files = report["sessions"][0]["files"]
    assert len(files) == 5 and report["gates"]["max_abs_offset_ms"]["passed"]
    assert report["worst_error_ms"] < 0.05
    assert report["max_abs_offset_ms"] == max(abs(f["estimated_offset_ms"]) for f in files)
    assert all(f["known_offset_ms"] is not None for f in files) and "max |offset|" in proc.stdout

    # The strict gate: a tolerance below the real offsets fails the stage, after writing the report.
    align["max_abs_offset_ms"] = 0.5
    (tmp_path / "tight.yaml").write_text(yaml.safe_dump({"seed": 5, "align": align}))
    import runpy

    main = runpy.run_path(str(ROOT / "stages" / "align_qc.py"))["main"]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GateError, match="alignment: max \\|offset\\|"):
        main(params=Path("tight.yaml"), session=None, metrics=Path("tight.json"))
    assert json.loads((tmp_path / "tight.json").read_text())["gates"]["max_abs_offset_ms"]["passed"] is False


def test_stage_names_missing_files(tmp_path, run_stage):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    write_session(tmp_path, {"session_id": "s", "reference": "ref.wav", "files": [{"path": "kick.wav"}]})
    proc = run_stage("align_qc", "--session", "session.json", "--metrics", "m.json", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "not found" in proc.stderr and "kick.wav" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "m.json").exists()
