"""Abstention fitted on constructed probabilities: the lowest cut-off that reaches a target accuracy, the highest
that reaches a coverage, ties kept together, a target beyond reach, and the kept rows measured with intervals."""

import numpy as np
import pytest
from scipy.stats import binom

from tunecard.judging import abstention

CONFIDENCE = np.array([0.99, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55])
CORRECT = np.array([1, 1, 1, 1, 1, 1, 0, 1, 0, 0], dtype=bool)
# kept rows' accuracy, most confident first: k=1..6 1.0, k=7 6/7=0.857, k=8 7/8=0.875, k=9 7/9=0.778, k=10 0.7


def _cut_off(confidence=CONFIDENCE, correct=CORRECT, **target):
    return abstention.fit_cut_off(abstention.curve(confidence, correct), **target)


@pytest.mark.parametrize("target, expected", [
    (0.85, 0.625),  # 8 rows kept (0.875), midway between the 8th and 9th confidences
    (0.87, 0.625),
    (0.9, 0.725),  # only the 6 most confident rows reach it
    (1.0, 0.725),
    (0.7, 0.0),  # every row: the cut-off keeps all
])
def test_the_lowest_cut_off_whose_kept_rows_reach_the_target_accuracy(target, expected):
    assert _cut_off(target_accuracy=target) == pytest.approx(expected)


def test_the_lowest_cut_off_even_where_a_higher_one_falls_short():
    # the second most confident row is wrong: 2 rows kept are 0.5 accurate, all 10 are 0.9
    correct = np.array([1, 0, 1, 1, 1, 1, 1, 1, 1, 1], dtype=bool)
    assert _cut_off(correct=correct, target_accuracy=0.9) == 0.0


@pytest.mark.parametrize("coverage, expected", [(0.75, 0.625), (0.8, 0.625), (1.0, 0.0), (0.05, 0.97)])
def test_the_highest_cut_off_that_keeps_the_target_coverage(coverage, expected):
    assert _cut_off(coverage=coverage) == pytest.approx(expected)


def test_rows_of_equal_confidence_are_kept_or_withheld_together():
    confidence, correct = np.array([0.9, 0.9, 0.8]), np.array([True, False, True])
    points = abstention.curve(confidence, correct)
    assert points.kept.tolist() == [2, 3]  # no point keeps one of the two 0.9 rows
    assert points.cut_offs.tolist() == pytest.approx([0.85, 0.0])
    assert _cut_off(confidence, correct, target_accuracy=0.6) == 0.0
    assert _cut_off(confidence, correct, coverage=0.5) == pytest.approx(0.85)  # 2 of 3 kept: at least half


def test_a_target_beyond_reach_fits_nothing_and_says_what_could_be_reached():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8]])
    gold = np.array([0, 1, 1])
    report = abstention.fit({"validation": (probs, gold)}, target_accuracy=0.99)
    assert report["threshold"] is None and "splits" not in report
    assert report["best"] == {"accuracy": pytest.approx(2 / 3, abs=1e-6), "coverage": 1.0}
    assert abstention.saved_settings(report) is None


def test_a_fitted_threshold_is_measured_on_every_split_with_intervals():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 400)
    probs = rng.dirichlet([1, 1, 1], 400)
    probs[np.arange(200), gold[:200]] += 2  # half the rows confidently right
    probs /= probs.sum(-1, keepdims=True)
    splits = {"validation": (probs[:200], gold[:200]), "test": (probs[200:], gold[200:])}
    report = abstention.fit(splits, coverage=0.5)
    threshold = report["threshold"]
    for name, (p, g) in splits.items():
        measured = report["splits"][name]
        kept = p.max(-1) >= threshold
        assert measured["kept"] == kept.sum() and measured["abstained"] == (~kept).sum()
        assert measured["coverage"] == pytest.approx(kept.mean(), abs=1e-6)
        assert measured["accuracy"] == pytest.approx((p.argmax(-1) == g)[kept].mean(), abs=1e-6)
        low, high = measured["intervals"]["accuracy"]
        assert low <= measured["accuracy"] <= high
        assert 0 <= measured["aurc"] <= 1
    assert report["splits"]["validation"]["coverage"] == 0.5
    saved = abstention.saved_settings(report)
    assert saved == {"threshold": threshold, "target_coverage": 0.5,
                     "validation_accuracy": report["splits"]["validation"]["accuracy"], "validation_coverage": 0.5,
                     "validation_accuracy_interval": report["splits"]["validation"]["intervals"]["accuracy"]}


def test_abstained_rows_get_no_label():
    probs = np.array([[0.7, 0.3], [0.45, 0.55], [0.1, 0.9]])
    assert abstention.abstains(probs, 0.6).tolist() == [False, True, False]
    assert abstention.labels_or_none(probs, ["a", "b"], 0.6) == ["a", None, "b"]
    assert abstention.labels_or_none(probs, ["a", "b"], None) == ["a", "b", "b"]


def test_the_kept_rows_accuracy_interval_is_exact_however_few_rows_are_kept():
    # one row kept, and right: a bootstrap would claim [1, 1]; the binomial interval says how little one row shows
    measured = abstention.at_cut_off(np.array([0.9, 0.5, 0.4]), np.array([True, False, True]), 0.7)
    assert (measured["kept"], measured["accuracy"], measured["coverage"]) == (1, 1.0, pytest.approx(1 / 3, abs=1e-6))
    assert measured["intervals"]["accuracy"] == [0.025, 1.0]
    low, high = measured["intervals"]["coverage"]  # 1 of 3 rows kept: each bound leaves 2.5% in its tail
    assert binom.sf(0, 3, low) == pytest.approx(0.025, abs=1e-5)
    assert binom.cdf(1, 3, high) == pytest.approx(0.025, abs=1e-5)
