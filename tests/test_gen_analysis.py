"""Analysis of clips with known tempo and key; silence, unreadable files, key and tempo scoring."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from musicml.errors import InputError
from musicml.genmeta.analysis import (EMBEDDING_NAMES, analyze_file, analyze_one, is_analysed, merge_analysis)
from musicml.genmeta.keys import KRUMHANSL_MINOR, estimate_key, parse_key, relative_key
from musicml.genmeta.stats import analyzer_accuracy, key_relation, tempo_matches
from musicml.genmeta.synth import GENRES, render_loop

HOUSE = next(g for g in GENRES if g.name == "house")


@pytest.fixture(scope="module")
def clip_120_c_major(tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / "house.wav"
    y = render_loop(bpm=120, tonic=0, mode="major", genre=HOUSE, seconds=6.0, sr=22050,
                    rng=np.random.default_rng(0), kit_index=3, seed=1)
    sf.write(path, y, 22050, subtype="PCM_16")
    return path


def test_known_tempo_and_key_are_found(clip_120_c_major):
    result = analyze_file(clip_120_c_major)
    rhythm = result["analysisMetadata"]["rhythmCharacteristics"]
    assert tempo_matches(rhythm["tempo"], 120, 0.04)[0], rhythm
    # Beat-lag autocorrelation of a steady loop: 0.47-0.84 over the synth kits and genres at 120 BPM (kits
    # whose hats ring long sit lowest); 24 randomly timed hits in 6 s score 0.24.
    assert rhythm["rhythmConfidence"] > 0.4 and rhythm["tempoStability"] > 0.8
    assert result["analysisMetadata"]["keyDetection"]["key"] in ("C major", "A minor")
    assert result["format"] == "wav" and result["duration"] == pytest.approx(6.0, abs=1e-3)
    spec = result["spectralFeatures"]
    assert len(spec["mfcc"]) == 13 and len(spec["chromagram"]) == 12
    assert 100 < spec["spectralCentroid"] < spec["spectralRolloff"] < 11025
    assert len(result["audioEmbedding"]) == len(EMBEDDING_NAMES)
    assert result["analysisMetadata"]["dynamics"]["clippingRatio"] == 0.0


def test_minor_key_at_another_tempo(tmp_path):
    trap = next(g for g in GENRES if g.name == "hiphop")
    y = render_loop(bpm=92, tonic=7, mode="minor", genre=trap, seconds=6.0, sr=22050,
                    rng=np.random.default_rng(1), kit_index=5, seed=1)
    sf.write(tmp_path / "g.flac", y, 22050, format="FLAC")
    result = analyze_file(tmp_path / "g.flac")
    assert result["format"] == "flac"
    assert tempo_matches(result["analysisMetadata"]["rhythmCharacteristics"]["tempo"], 92, 0.04)[1]
    assert result["analysisMetadata"]["keyDetection"]["key"] in ("G minor", "A# major")


def test_clipping_is_measured(tmp_path, clip_120_c_major):
    y, sr = sf.read(clip_120_c_major)
    sf.write(tmp_path / "hot.wav", np.clip(y * 4, -1, 1), sr, subtype="PCM_16")
    dyn = analyze_file(tmp_path / "hot.wav")["analysisMetadata"]["dynamics"]
    assert dyn["clippingRatio"] > 0.01 and dyn["peak"] == pytest.approx(1.0, abs=1e-3)


def test_silence_gives_zero_confidence_not_a_crash(tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros(22050 * 2, np.float32), 22050)
    result = analyze_file(tmp_path / "s.wav")
    rhythm = result["analysisMetadata"]["rhythmCharacteristics"]
    assert rhythm == {"tempo": 0.0, "rhythmConfidence": 0.0, "tempoStability": 0.0, "beatCount": 0}
    assert result["analysisMetadata"]["keyDetection"]["key"] == ""
    assert all(np.isfinite(result["audioEmbedding"]))


def test_unreadable_file_marks_the_record(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"garbage" * 20)
    with pytest.raises(InputError, match="bad.wav"):
        analyze_file(tmp_path / "bad.wav")
    rec = {"generationId": "g", "analysisMetadata": {"vocalCharacteristics": {"gender": "female"}}}
    out = analyze_one(rec, tmp_path / "bad.wav")
    assert "unreadable audio" in out["analysisMetadata"]["analysisError"]
    assert out["analysisMetadata"]["vocalCharacteristics"] == {"gender": "female"}  # producer's data kept
    assert not is_analysed(out) and out["audioEmbedding"] is None


def test_merge_keeps_producer_fields_and_never_invents_them(clip_120_c_major):
    result = analyze_file(clip_120_c_major)
    plain = merge_analysis({"generationId": "a"}, result)
    assert "vocalCharacteristics" not in plain["analysisMetadata"]
    assert "styleMetadata" not in plain["analysisMetadata"]
    styled = merge_analysis({"generationId": "a", "analysisMetadata": {"styleMetadata": {"era": "90s"},
                                                                        "analysisError": "old"}}, result)
    assert styled["analysisMetadata"]["styleMetadata"] == {"era": "90s"}
    assert "analysisError" not in styled["analysisMetadata"] and is_analysed(styled)


def test_krumhansl_profile_recovers_every_key():
    for tonic in range(12):
        key, r = estimate_key(np.roll(KRUMHANSL_MINOR, tonic))
        assert parse_key(key) == (tonic, "minor") and r == pytest.approx(1.0)
    assert estimate_key(np.ones(12)) == ("", 0.0)


def test_key_relations_and_tempo_matching():
    assert relative_key("C major") == "A minor" and relative_key("A minor") == "C major"
    assert key_relation("A minor", "C major") == "relative"
    assert key_relation("G major", "C major") == "fifth"
    assert key_relation("C minor", "C major") == "parallel"
    assert key_relation("", "C major") == "other"
    assert tempo_matches(124.0, 120, 0.04) == (True, True)
    assert tempo_matches(126.0, 120, 0.04) == (False, False)
    assert tempo_matches(241.0, 120, 0.04) == (False, True)
    assert tempo_matches(0.0, 120, 0.04) == (False, False)


def test_accuracy_counts_exact_octave_and_relative():
    def rec(gid, tempo, key):
        return {"generationId": gid, "audioEmbedding": [0.0],
                "analysisMetadata": {"rhythmCharacteristics": {"tempo": tempo}, "keyDetection": {"key": key}}}
    records = [rec("a", 120, "C major"), rec("b", 240, "A minor"), rec("c", 100, "D major"),
               {"generationId": "d", "analysisMetadata": {"analysisError": "x"}}]
    truth = [{"generationId": g, "bpm": 120, "key": "C major"} for g in "abcd"]
    acc = analyzer_accuracy(records, truth, tempo_tolerance=0.04)
    assert acc["evaluated"] == 3
    assert acc["tempo_accuracy"] == pytest.approx(1 / 3, abs=1e-3)
    assert acc["tempo_accuracy_octave"] == pytest.approx(2 / 3, abs=1e-3) and acc["tempo_octave_errors"] == 1
    assert acc["key_accuracy"] == pytest.approx(1 / 3, abs=1e-3)
    assert acc["key_accuracy_with_relative"] == pytest.approx(2 / 3, abs=1e-3)


def test_analyze_records_gives_the_same_records_for_any_number_of_workers(tmp_path):
    from gen_helpers import tiny_snapshot

    from musicml.genmeta.analysis import analyze_records
    from musicml.genmeta.records import read_records

    snap = tiny_snapshot(tmp_path / "snap")
    records = read_records(snap / "records.jsonl")
    one = analyze_records(records, snap, workers=1)
    two = analyze_records(records, snap, workers=2)
    assert [r["generationId"] for r in two] == [r["generationId"] for r in records]  # in order
    assert one == two
    assert sum("analysisError" in r["analysisMetadata"] for r in two) == 1  # the unreadable clip, marked


def test_analyze_records_rejects_a_bad_worker_count(tmp_path):
    from musicml.errors import ConfigError
    from musicml.genmeta.analysis import analyze_records

    with pytest.raises(ConfigError, match="gen.analyze.workers must be an integer >= 1"):
        analyze_records([], tmp_path, workers=0)


def test_analyze_one_runs_on_one_blas_thread_as_the_stage_workers_do(tmp_path, monkeypatch):
    # The service calls analyze_one in its own process; with the machine's pool its MFCCs would
    # differ in their last bits from gen_analyze's (one thread per worker).
    from threadpoolctl import threadpool_info, threadpool_limits

    from musicml.genmeta import analysis

    seen = []
    monkeypatch.setattr(analysis, "analyze_file",
                        lambda audio, settings: seen.append({p["num_threads"] for p in threadpool_info()}) or {})
    monkeypatch.setattr(analysis, "merge_analysis", lambda record, found, error=None: record)
    with threadpool_limits(limits=2):
        analyze_one({"generationId": "g"}, tmp_path / "x.wav")
    assert seen == [{1}]
