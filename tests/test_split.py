"""Unit tests of musicml.drums.split: whole sessions are held out, unknown hits go to openset."""

from __future__ import annotations

import pandas as pd
import pytest

from musicml.drums.split import SPLITS, split_sessions
from musicml.errors import ConfigError
from musicml.manifest import events_frame


def events(n_sessions=20, *, source="synth", hits=4, unknown_every=3, prefix=None):
    rows = []
    prefix = prefix or source
    for s in range(n_sessions):
        for h in range(hits):
            label = "unknown" if unknown_every and h == 0 and s % unknown_every == 0 else ["kick", "snare"][h % 2]
            rows.append({"source": source, "session_id": f"{prefix}-{s:02d}", "kit": f"kit{s}",
                         "audio_path": f"{prefix}-{s}.wav", "onset_s": 0.5 * h, "label": label})
    return events_frame(rows)


def session_splits(df):
    known = df[df["label"] != "unknown"]
    return known.groupby("session_id")["split"].agg(lambda s: set(s))


def split(df, **kw):
    args = dict(val_fraction=0.2, test_fraction=0.2, seed=7)
    args.update(kw)
    return split_sessions(df, **args)


def test_no_session_spans_two_splits():
    df = pd.concat([events(20), events(10, source="hydrogen")], ignore_index=True)
    out = split(df)
    per_session = session_splits(out)
    assert per_session.map(len).eq(1).all()
    assert set(out["split"]) <= set(SPLITS)
    assert len(out) == len(df) and out["event_id"].tolist() == df["event_id"].tolist()
    assert str(out["split"].dtype) == "string"


def test_fractions_are_applied_per_source():
    df = pd.concat([events(20), events(10, source="hydrogen")], ignore_index=True)
    out = split(df)
    known = out[out["label"] != "unknown"]
    counts = known.groupby(["source", "split"])["session_id"].nunique()
    assert counts[("synth", "test")] == 4 and counts[("synth", "val")] == 4 and counts[("synth", "train")] == 12
    assert counts[("hydrogen", "test")] == 2 and counts[("hydrogen", "val")] == 2
    assert counts[("hydrogen", "train")] == 6


def test_small_source_still_fills_every_split():
    out = split(events(3, unknown_every=0), val_fraction=0.1, test_fraction=0.1)
    assert sorted(out.groupby("session_id")["split"].first()) == ["test", "train", "val"]


def test_unknown_events_go_to_openset_whatever_their_session():
    out = split(events(20))
    unknown = out["label"] == "unknown"
    assert unknown.sum() == 7
    assert (out.loc[unknown, "split"] == "openset").all()
    assert not (out.loc[~unknown, "split"] == "openset").any()


def test_test_sessions_are_forced_into_test():
    forced = ["synth-00", "synth-01", "synth-02"]
    for seed in range(5):
        out = split(events(20), seed=seed, test_sessions=forced)
        per_session = out[out["label"] != "unknown"].groupby("session_id")["split"].first()
        assert (per_session[forced] == "test").all()
        # Forced sessions count towards the test fraction (20 % of 20 sessions = 4).
        assert (per_session == "test").sum() == 4


def test_unknown_test_session_is_a_config_error():
    with pytest.raises(ConfigError, match="not-a-session"):
        split(events(5), test_sessions=["synth-00", "not-a-session"])


def test_deterministic_per_seed_and_seed_matters():
    df = events(30)
    a = split(df, seed=11)
    b = split(df, seed=11)
    pd.testing.assert_frame_equal(a, b)
    c = split(df, seed=12)
    assert not a["split"].equals(c["split"])


def test_order_of_events_does_not_change_assignment():
    df = events(20)
    a = split(df).set_index("event_id")["split"]
    b = split(df.sample(frac=1.0, random_state=1)).set_index("event_id")["split"]
    pd.testing.assert_series_equal(a.sort_index(), b.sort_index())


@pytest.mark.parametrize("val,test", [(-0.1, 0.2), (0.2, 1.0), (0.5, 0.5), (0.7, 0.4), (1.0, 0.0)])
def test_bad_fractions_are_config_errors(val, test):
    with pytest.raises(ConfigError, match="fractions"):
        split(events(5), val_fraction=val, test_fraction=test)


def test_zero_fractions_keep_everything_in_train_for_small_sources():
    out = split(events(2, unknown_every=0), val_fraction=0.0, test_fraction=0.0)
    assert set(out["split"]) == {"train"}


def test_outlier_exposure_keeps_unknowns_of_training_and_validation_kits_in_their_split():
    df = events(20)
    out = split(df, outlier_exposure=True)
    legacy = split(df)
    # Known hits are split exactly as without outlier exposure.
    known = out["label"] != "unknown"
    assert out.loc[known, "split"].tolist() == legacy.loc[known, "split"].tolist()
    kit_split = session_splits(out).map(lambda s: next(iter(s)))
    unknown = out[~known]
    assert len(unknown) == 7
    for _, row in unknown.iterrows():
        expected = kit_split[row["session_id"]]
        assert row["split"] == ("openset" if expected == "test" else expected)
    # Every split of kits shows up among the unknowns' kits here, so all three cases are exercised.
    assert set(unknown["split"]) == {"train", "val", "openset"}
