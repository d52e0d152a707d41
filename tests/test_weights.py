"""Unit tests of musicml.drums.weights: per-session inverse-frequency weights and per-hit weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from musicml.drums.weights import event_weights, session_weights
from musicml.errors import ConfigError


def events(counts, source="synth"):
    """A minimal frame with ``counts[session]`` hits per session of one source."""
    return pd.DataFrame({"session_id": [s for s, n in counts.items() for _ in range(n)],
                         "source": source, "label": "kick"})


def test_inverse_frequency_anchored_on_the_median_session():
    table, summary = session_weights(events({"a": 10, "b": 20, "c": 40}), min_weight=0.01, max_weight=1.0)
    assert table["session_id"].tolist() == ["a", "b", "c"]
    assert table["events"].tolist() == [10, 20, 40]
    np.testing.assert_allclose(table["weight"], [0.2, 0.1, 0.05])  # median (20 hits) gets sqrt(0.01 * 1.0)
    assert (table["clamped"] == "").all()
    assert summary["clamped_low"] == summary["clamped_high"] == 0


def test_weights_are_clamped_and_flagged():
    # Median 10 hits -> sqrt(0.05 * 0.5) = 0.158; a (1 hit) 1.58 -> 0.5, c (100 hits) 0.0158 -> 0.05.
    table, summary = session_weights(events({"a": 1, "b": 10, "c": 100}), min_weight=0.05, max_weight=0.5)
    by_session = table.set_index("session_id")
    assert by_session.loc["a", "weight"] == pytest.approx(0.5) and by_session.loc["a", "clamped"] == "high"
    assert by_session.loc["b", "weight"] == pytest.approx(np.sqrt(0.025)) and by_session.loc["b", "clamped"] == ""
    assert by_session.loc["c", "weight"] == pytest.approx(0.05) and by_session.loc["c", "clamped"] == "low"
    assert summary == {"session_groups": 3, "events_counted": 111, "clamped_low": 1, "clamped_high": 1,
                       "min_weight": pytest.approx(0.05), "max_weight": pytest.approx(0.5),
                       "mass_share_per_source": {"synth": pytest.approx(1.0)}}


def test_weights_do_not_vanish_with_many_sessions():
    table, summary = session_weights(events({f"s{i:05d}": 3 + i % 5 for i in range(20_000)}))
    assert summary["clamped_low"] == summary["clamped_high"] == 0
    # Inverse frequency holds across the whole range: 3-hit sessions weigh 7/3 of 7-hit ones.
    by_size = table.groupby("events")["weight"].first()
    assert by_size[3] / by_size[7] == pytest.approx(7 / 3)


def test_a_few_tiny_sessions_do_not_push_everyone_to_the_floor():
    table, summary = session_weights(events({"tiny": 1, **{f"s{i}": 200 for i in range(9)}}))
    assert summary["clamped_low"] == 0
    assert table.set_index("session_id").loc["s0", "weight"] == pytest.approx(np.sqrt(0.025))


def test_sessions_with_equal_counts_get_equal_weights():
    table, _ = session_weights(events({"x": 7, "y": 7, "z": 7, "w": 7}))
    np.testing.assert_allclose(table["weight"], np.sqrt(0.05 * 0.5))


@pytest.mark.parametrize("low,high", [(0.0, 0.5), (-0.1, 0.5), (0.6, 0.5)])
def test_bad_clamp_range_is_config_error(low, high):
    with pytest.raises(ConfigError, match="min_weight"):
        session_weights(events({"a": 1}), min_weight=low, max_weight=high)


def test_no_events_is_config_error():
    with pytest.raises(ConfigError, match="no training events"):
        session_weights(events({}))


def test_every_hit_takes_its_session_weight_so_sessions_weigh_alike():
    ev = events({"a": 3, "b": 12, "c": 30})
    table, _ = session_weights(ev, min_weight=0.01, max_weight=1.0)
    w = event_weights(ev, table)
    assert w.shape == (len(ev),)
    np.testing.assert_allclose(w[:3], table["weight"][0])
    # Unclamped inverse-frequency weights give every session the same total mass.
    sums = pd.Series(w).groupby(ev["session_id"].to_numpy()).sum()
    np.testing.assert_allclose(sums.to_numpy(), sums.iloc[0])


def test_event_weights_keep_row_order_with_augmented_copies():
    original = events({"a": 4, "b": 16})
    table, _ = session_weights(original, min_weight=0.01, max_weight=1.0)
    with_copies = pd.concat([original, events({"a": 8})], ignore_index=True).sample(frac=1.0, random_state=0)
    w = event_weights(with_copies, table)
    by_session = table.set_index("session_id")["weight"]
    np.testing.assert_allclose(w, with_copies["session_id"].map(by_session).to_numpy())


def test_event_weights_with_weights_read_back_from_csv(tmp_path):
    ev = events({"1": 2, "2": 5})  # numeric-looking ids come back from CSV as int
    table, _ = session_weights(ev)
    table.to_csv(tmp_path / "w.csv", index=False)
    back = pd.read_csv(tmp_path / "w.csv", dtype={"session_id": str})
    np.testing.assert_allclose(event_weights(ev, back), event_weights(ev, table))


def test_event_weights_missing_session_is_config_error():
    table, _ = session_weights(events({"a": 2}))
    with pytest.raises(ConfigError, match="'b'"):
        event_weights(events({"a": 2, "b": 1}), table)


def test_balance_sources_gives_every_source_the_same_mass():
    many_synth = events({f"k{i}": 240 for i in range(20)}, source="synth")
    few_real = events({"real1": 40, "real2": 60}, source="hydrogen")
    frame = pd.concat([many_synth, few_real], ignore_index=True)
    plain, plain_summary = session_weights(frame)
    assert plain_summary["mass_share_per_source"]["hydrogen"] < 0.1
    table, summary = session_weights(frame, balance_sources=True)
    assert summary["mass_share_per_source"] == {"hydrogen": pytest.approx(0.5), "synth": pytest.approx(0.5)}
    # Within a source the inverse-frequency ratios are kept.
    w = table.set_index("session_id")["weight"]
    assert w["real1"] / w["real2"] == pytest.approx(plain.set_index("session_id")["weight"]["real1"]
                                                     / plain.set_index("session_id")["weight"]["real2"])
    assert table["source"].tolist()[:2] == ["synth", "synth"]


def test_balance_sources_is_a_no_op_with_one_source():
    frame = events({"a": 10, "b": 30})
    np.testing.assert_allclose(session_weights(frame, balance_sources=True)[0]["weight"],
                               session_weights(frame)[0]["weight"])
