"""benchmarks/real_kits.py: the listing of the commonest errors."""

from __future__ import annotations

import sys

import numpy as np

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import real_kits  # noqa: E402

CLASSES = ["kick", "snare", "hihat_closed", "hihat_pedal"]


def test_top_confusions_lists_errors_most_first_with_the_true_class_support():
    # 3 closed hats heard as pedal, 1 as snare; 2 pedals heard as closed; kicks all right.
    y = np.array([2, 2, 2, 2, 2, 3, 3, 3, 0, 0])
    pred = np.array([3, 3, 3, 1, 2, 2, 2, 3, 0, 0])
    assert real_kits.top_confusions(y, pred, CLASSES) == [
        ("hihat_closed", "hihat_pedal", 3, 5), ("hihat_pedal", "hihat_closed", 2, 3), ("hihat_closed", "snare", 1, 5)]


def test_top_confusions_keeps_the_n_commonest_and_breaks_ties_in_taxonomy_order():
    y = np.array([0, 1, 2, 3])
    pred = np.array([1, 0, 3, 2])
    assert real_kits.top_confusions(y, pred, CLASSES, n=2) == [("kick", "snare", 1, 1), ("snare", "kick", 1, 1)]


def test_top_confusions_of_a_perfect_model_is_empty():
    y = np.array([0, 1, 2, 3])
    assert real_kits.top_confusions(y, y, CLASSES) == []
