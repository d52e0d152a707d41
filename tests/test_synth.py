"""Tests of the procedural drum synthesizer (tiny sizes: the whole file runs in seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from musicml.drums.synth import (
    CLASSES,
    GHOST_MAX_VELOCITY,
    TECHNIQUES,
    UNKNOWN_INSTRUMENTS,
    make_kit,
    render_hit,
    render_session,
    synthesize,
)
from musicml.errors import ConfigError
from musicml.features import MelConfig, cut_clip, log_mel
from musicml.manifest import COLUMNS, events_frame

SR = 16000


def _small(out_dir: Path, *, seed: int = 7, **kwargs):
    args = dict(n_kits=2, hits_per_class=2, unknown_hits=3, sr=SR, seed=seed)
    args.update(kwargs)
    return synthesize(out_dir, **args)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def _kits_of_each_style(seed: int = 0) -> list:
    kits = [make_kit(i, seed=seed) for i in range(12)]
    return [next(k for k in kits if k.style == style) for style in ("acoustic", "electronic")]


def test_make_kit_is_deterministic_and_kits_differ():
    assert make_kit(3, seed=1) == make_kit(3, seed=1)
    assert make_kit(3, seed=1) != make_kit(4, seed=1)
    assert make_kit(3, seed=1) != make_kit(3, seed=2)
    assert make_kit(3, seed=1).kit_id == "synth-kit-003"
    assert {make_kit(i, seed=0).style for i in range(12)} == {"acoustic", "electronic"}


def test_synthesize_is_deterministic(tmp_path):
    first = _small(tmp_path / "a")
    files = sorted((tmp_path / "a").glob("*.wav"))
    assert [f.name for f in files] == ["synth-kit-000.wav", "synth-kit-001.wav"]
    before = [f.read_bytes() for f in files]
    again = _small(tmp_path / "a")
    assert [f.read_bytes() for f in files] == before
    assert again.equals(first)

    other = _small(tmp_path / "b", seed=8)
    assert (tmp_path / "b" / "synth-kit-000.wav").read_bytes() != before[0]
    assert not other[["label", "velocity"]].equals(first[["label", "velocity"]])


@pytest.mark.parametrize("label", CLASSES + UNKNOWN_INSTRUMENTS)
def test_every_label_renders_finite_audible_float32(label):
    for kit in _kits_of_each_style():
        x = render_hit(label, kit, velocity=100, sr=SR, rng=np.random.default_rng(0))
        assert x.dtype == np.float32 and x.ndim == 1
        assert np.isfinite(x).all()
        assert np.abs(x).max() > 1e-2
        # The hit starts at the onset: the first 20 ms hold real energy.
        assert _rms(x[: int(0.02 * SR)]) > 1e-3


@pytest.mark.parametrize("technique", sorted(TECHNIQUES))
def test_every_technique_renders(technique):
    kit = make_kit(0, seed=0)
    velocity = GHOST_MAX_VELOCITY if technique == "ghost" else 110
    for label in TECHNIQUES[technique]:
        x = render_hit(label, kit, velocity=velocity, sr=SR, rng=np.random.default_rng(1), technique=technique)
        assert np.isfinite(x).all() and np.abs(x).max() > 1e-3


def test_velocity_scales_level_and_brightness():
    kit = make_kit(2, seed=0)

    def render(velocity):
        return render_hit("snare", kit, velocity=velocity, sr=SR, rng=np.random.default_rng(5))

    def centroid(x):
        spectrum = np.abs(np.fft.rfft(x[: int(0.2 * SR)]))
        return float((spectrum * np.fft.rfftfreq(int(0.2 * SR), 1 / SR)).sum() / spectrum.sum())

    soft, loud = render(30), render(120)
    assert np.abs(loud).max() > 3 * np.abs(soft).max()
    assert centroid(loud) > centroid(soft)


def test_bark_cuts_the_open_hihat_short():
    # A kit whose open hat rings long enough for the choke to show.
    kit = next(k for k in (make_kit(i, seed=0) for i in range(12))
               if dict(k.voices)["hihat_open"].components[0].decay_s > 0.8)
    plain = render_hit("hihat_open", kit, velocity=100, sr=SR, rng=np.random.default_rng(2))
    bark = render_hit("hihat_open", kit, velocity=100, sr=SR, rng=np.random.default_rng(2), technique="hihat_bark")
    late = slice(int(0.22 * SR), int(0.35 * SR))  # the bark chokes the hat 80-200 ms after the hit
    assert _rms(plain[late]) > 0 and _rms(bark[late]) < 0.5 * _rms(plain[late])


def test_any_number_of_workers_renders_the_same_files_and_manifest(tmp_path):
    one = _small(tmp_path / "w1", n_kits=3, workers=1)
    two = _small(tmp_path / "w2", n_kits=3, workers=2)
    names = sorted(f.name for f in (tmp_path / "w1").glob("*.wav"))
    assert names == sorted(f.name for f in (tmp_path / "w2").glob("*.wav")) and len(names) == 3
    assert all((tmp_path / "w1" / n).read_bytes() == (tmp_path / "w2" / n).read_bytes() for n in names)
    assert one.drop(columns=["audio_path", "event_id"]).equals(two.drop(columns=["audio_path", "event_id"]))


def test_manifest_contract(tmp_path):
    out = tmp_path / "data" / "synth"
    df = _small(out)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 2 * (len(CLASSES) * 2 + 3)
    assert (df["source"] == "synth").all()
    assert set(df["session_id"]) == {"synth-kit-000", "synth-kit-001"}
    assert set(df["audio_path"]) == {str(out / "synth-kit-000.wav"), str(out / "synth-kit-001.wav")}
    assert set(df["label"]) == set(CLASSES) | {"unknown"}
    assert df["velocity"].between(1, 127).all()
    assert (df.loc[df.label == "hihat_open", "openness"] == 1.0).all()
    assert (df.loc[df.label.isin(["hihat_closed", "hihat_pedal"]), "openness"] == 0.0).all()
    assert df.loc[~df.label.str.startswith("hihat"), "openness"].isna().all()
    assert df["event_id"].is_unique
    # Round trip through the validator: the rows are a valid manifest.
    events_frame(df.to_dict(orient="records"), origin="roundtrip")

    for _, session in df.groupby("session_id"):
        onsets = np.sort(session["onset_s"].to_numpy())
        assert onsets[0] == pytest.approx(0.2, abs=1 / SR)
        gaps = np.diff(onsets)
        assert gaps.min() >= 0.8 - 1 / SR and gaps.max() <= 1.2 + 1 / SR

    info = sf.info(out / "synth-kit-000.wav")
    assert info.subtype == "PCM_16" and info.samplerate == SR and info.channels == 1
    audio, _ = sf.read(out / "synth-kit-000.wav", dtype="float32")
    assert 0.85 < np.abs(audio).max() <= 0.9 + 1e-4


def test_onsets_point_at_energy(tmp_path):
    df = _small(tmp_path, n_kits=3)
    window = int(0.03 * SR)
    louder = []
    for path, session in df.groupby("audio_path"):
        audio, _ = sf.read(path, dtype="float32")
        for onset in session["onset_s"]:
            i = int(round(onset * SR))
            louder.append(_rms(audio[i:i + window]) > 3 * _rms(audio[i - window:i]))
    # Soft hits can drown in a crash's tail, as they do in real recordings; most must not.
    assert np.mean(louder) >= 0.9


def test_kits_sound_different():
    def spectrum(kit_index, label):
        x = render_hit(label, make_kit(kit_index, seed=0), velocity=100, sr=SR, rng=np.random.default_rng(3))
        return 20 * np.log10(np.abs(np.fft.rfft(x[: int(0.25 * SR)], 4096)) + 1e-6)

    for label in ("kick", "snare", "hihat_closed", "crash"):
        a, b = spectrum(0, label), spectrum(1, label)
        assert np.mean(np.abs(a - b)) > 3.0, label  # mean log-spectral distance in dB


def test_tom_pitch_order_within_each_kit():
    def fundamental(x):
        # After the pitch glide has settled and the upper modes (which decay faster) have faded
        # (a kit's high-pass can put the fundamental under a mode at first): the strongest peak below 400 Hz.
        seg = x[int(0.2 * SR): int(0.8 * SR)]
        spectrum = np.abs(np.fft.rfft(seg * np.hanning(seg.size), 1 << 15))
        freqs = np.fft.rfftfreq(1 << 15, 1 / SR)
        band = (freqs > 40) & (freqs < 400)
        return freqs[band][np.argmax(spectrum[band])]

    lows = []
    for kit_index in range(8):
        kit = make_kit(kit_index, seed=4)
        f = {label: fundamental(render_hit(label, kit, velocity=90, sr=SR, rng=np.random.default_rng(0)))
             for label in ("tom_high", "tom_mid", "tom_low")}
        assert f["tom_high"] > f["tom_mid"] > f["tom_low"], (kit_index, f)
        lows.append(f["tom_low"])
    assert max(lows) > 1.3 * min(lows)  # tuning varies from kit to kit


def test_techniques_are_tagged(tmp_path):
    kit = make_kit(0, seed=0)
    _, events = render_session(kit, classes=CLASSES, hits_per_class=12, unknown_hits=0, sr=SR, seed=0,
                               technique_prob=1.0)
    for event in events:
        eligible = [t for t, labels in TECHNIQUES.items() if event["label"] in labels]
        assert len(event["techniques"]) == (1 if eligible else 0)
        if event["techniques"]:
            technique = event["techniques"][0]
            assert technique in eligible
            if technique == "ghost":
                assert event["velocity"] <= GHOST_MAX_VELOCITY
            assert event["extra_labels"] == (["crash"] if technique == "multi_cymbal_same_class" else [])
    used = {t for e in events for t in e["techniques"]}
    assert used == set(TECHNIQUES)

    _, plain = render_session(kit, classes=CLASSES, hits_per_class=4, unknown_hits=0, sr=SR, seed=0,
                              technique_prob=0.0)
    assert not any(e["techniques"] for e in plain)
    assert all(e["velocity"] > GHOST_MAX_VELOCITY for e in plain if e["label"] == "snare")


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_kits=0),
        dict(seed=-1),
        dict(hits_per_class=-1),
        dict(hits_per_class=0, unknown_hits=0),
        dict(sr=8000),
        dict(technique_prob=1.5),
        dict(classes=("kick", "cowbell")),
        dict(classes=("kick", "kick")),
        dict(workers=0),
    ],
)
def test_synthesize_rejects_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ConfigError):
        _small(tmp_path, **kwargs)


def test_render_hit_rejects_bad_arguments():
    kit = make_kit(0, seed=0)
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError):
        render_hit("gong", kit, velocity=100, sr=SR, rng=rng)
    with pytest.raises(ConfigError):
        render_hit("unknown", kit, velocity=100, sr=SR, rng=rng)
    with pytest.raises(ConfigError):
        render_hit("kick", kit, velocity=0, sr=SR, rng=rng)
    with pytest.raises(ConfigError):
        render_hit("kick", kit, velocity=100, sr=SR, rng=rng, technique="rimshot")
    with pytest.raises(ConfigError):
        render_hit("snare", kit, velocity=100, sr=SR, rng=rng, technique="ghost")
    with pytest.raises(ConfigError):
        make_kit(-1, seed=0)


def _octave_db(x: np.ndarray, sr: int, lo_hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / sr)
    return float(10 * np.log10(spectrum[(freqs >= lo_hz) & (freqs < 2 * lo_hz)].sum()))


def test_acoustic_cymbals_are_dark_like_recorded_ones():
    """Recorded cymbals carry about as much energy per octave high as low (flat on a mel scale);
    white noise would put 6 dB more in each octave up. The acoustic voices are tilted towards pink."""
    acoustic = _kits_of_each_style()[0]
    sr = 44100
    for label in ("crash", "hihat_open"):
        rises = []
        for seed in range(6):
            hit = render_hit(label, acoustic, velocity=100, sr=sr, rng=np.random.default_rng(seed))
            rises.append(_octave_db(hit, sr, 5000) - _octave_db(hit, sr, 1250))  # two octaves up
        assert np.median(rises) < 6.0, (label, rises)  # white: +12 dB over two octaves


def test_noise_floor_sits_far_below_a_soft_hit():
    """Sample libraries are quiet between hits: the floor of a session stays ~60 dB or more
    under a soft closed hi-hat's peak, so the end of a short hit's clip is near silence."""
    for index in range(4):
        kit = make_kit(index, seed=3)
        audio, events = render_session(kit, classes=("hihat_closed",), hits_per_class=1, unknown_hits=0,
                                       sr=SR, seed=3, technique_prob=0.0)
        onset = int(events[0]["onset_s"] * SR)
        peak = np.abs(audio[onset:onset + SR // 10]).max()
        floor = _rms(audio[onset + int(0.6 * SR):onset + int(0.75 * SR)])
        assert 20 * np.log10(floor / peak) < -45, index


def _decay_and_low_band(label: str) -> tuple[float, float]:
    """Median over acoustic kits of a hit's -40 dB time (s, loudest mel band) and of its early
    energy below ~370 Hz (0-1 log-mel scale, relative to the hit's peak)."""
    cfg = MelConfig(sr=SR)
    times, lows = [], []
    for k in range(24):
        kit = make_kit(k, seed=0)
        if kit.style != "acoustic":
            continue
        x = render_hit(label, kit, velocity=100, sr=SR, rng=np.random.default_rng(k))
        x = np.concatenate([np.zeros(int(0.05 * SR), np.float32), x, np.zeros(SR, np.float32)])
        image = log_mel(cut_clip(x, 0.05, cfg), cfg)
        env = image.max(axis=0)
        peak = int(env.argmax())
        below = np.flatnonzero(env[peak:] < 0.5)  # 0.5 = 40 dB under the peak on the 80 dB scale
        times.append((below[0] if below.size else env.size - peak) * cfg.hop_length / cfg.sr)
        lows.append(image[:14, :12].mean())
    return float(np.median(times)), float(np.median(lows))


def test_hats_and_sidestick_ring_as_long_as_recorded_ones():
    # Recorded one-shots (Hydrogen and GM SoundFont kits) fall 40 dB in ~200 ms (closed hat) and
    # ~190 ms (sidestick), and a hat keeps energy below 400 Hz ~25 dB under its peak (the stick on
    # the bow). The earlier synth: 80 ms, 90 ms and ~60 dB, and recorded hats read as pedal hats.
    hat_t40, hat_low = _decay_and_low_band("hihat_closed")
    side_t40, _ = _decay_and_low_band("sidestick")
    assert hat_t40 >= 0.11, hat_t40
    assert hat_low >= 0.4, hat_low
    assert side_t40 >= 0.15, side_t40
