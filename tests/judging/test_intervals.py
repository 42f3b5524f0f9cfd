"""Bootstrap intervals: they cover the true value at their stated rate, resample the task's units, and pair
the model with its baselines."""

import numpy as np
import pytest

from tunecard.judging import intervals
from tunecard.judging import metrics


def _interval(gold, pred, keys=("accuracy",), seed=0, **scorers):
    result = intervals.bootstrap(gold, np.arange(len(gold)), 2, {"model": intervals.Scorer(pred), **scorers},
                                 list(keys), "accuracy", seed)
    return result


def test_interval_covers_the_true_accuracy_at_about_the_stated_rate():
    # 200 experiments: a classifier right with probability 0.8 on 300 fresh rows each time
    rng = np.random.default_rng(1)
    covered = 0
    for experiment in range(200):
        gold = rng.integers(0, 2, 300)
        pred = np.where(rng.random(300) < 0.8, gold, 1 - gold)
        low, high = _interval(gold, pred, seed=experiment)["metrics"]["accuracy"]
        covered += low <= 0.8 <= high
    assert 0.90 <= covered / 200 <= 0.99


def test_interval_holds_the_point_value_and_narrows_with_more_rows():
    rng = np.random.default_rng(2)
    widths = []
    for n in (200, 3200):
        gold = rng.integers(0, 2, n)
        pred = np.where(rng.random(n) < 0.8, gold, 1 - gold)
        low, high = _interval(gold, pred)["metrics"]["accuracy"]
        assert low < metrics.classification_metrics(gold, pred, 2)["accuracy"] < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 3  # about 1/sqrt(16) = 1/4 as wide


def test_paired_lead_is_tighter_than_the_two_intervals_suggest():
    # a second scorer that agrees with the model on all but 20 of 1000 rows, where it is wrong
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 2, 1000)
    model = np.where(rng.random(1000) < 0.75, gold, 1 - gold)
    other = model.copy()
    flip = np.flatnonzero(model == gold)[:20]
    other[flip] = 1 - other[flip]
    result = _interval(gold, model, other=intervals.Scorer(other))
    low, high = result["differences"]["other"]
    assert 0 < low < 0.02 < high < 0.035  # the lead is exactly 0.02 and clearly above zero
    model_low, model_high = result["metrics"]["accuracy"]
    assert high - low < (model_high - model_low) / 2


def test_units_resample_groups_together():
    # pairs of rows always both right or both wrong: drawn by pair, the accuracy of a resample is a share of
    # pairs, so every value is a multiple of 1/n_pairs; drawn by row it would not be
    gold = np.zeros(20, dtype=int)
    pred = np.repeat([0, 1] * 5, 2)  # 10 pairs, half right
    units = np.repeat(np.arange(10), 2)
    draws = intervals._resampled(gold * 2, intervals.Scorer(pred), units, 10, 2, seed=0, resamples=200)
    assert np.allclose(draws["accuracy"] * 10, np.round(draws["accuracy"] * 10))


def test_unit_terms_are_averaged_per_resample():
    gold = np.zeros(4, dtype=int)
    scorer = intervals.Scorer(np.zeros(4, dtype=int), {"map_at_3": np.array([1.0, 0.5, 1 / 3, 0.0])})
    result = intervals.bootstrap(gold, np.arange(4), 2, {"model": scorer}, ["map_at_3"], "map_at_3", seed=0)
    low, high = result["metrics"]["map_at_3"]
    assert 0 <= low < (1 + 0.5 + 1 / 3) / 4 < high <= 1
    assert result["resamples"] >= 1000 and result["confidence"] == 0.95


def test_same_seed_same_interval():
    gold = np.array([0, 1] * 50)
    pred = np.array([0, 1, 1, 1] * 25)
    assert _interval(gold, pred, seed=5) == _interval(gold, pred, seed=5)
    assert _interval(gold, pred, seed=5) != _interval(gold, pred, seed=6)


def test_paired_macro_f1_lead_over_the_majority_baseline():
    # A model right on 90% of a balanced 3-class split leads always-"0" (macro F1 1/6) clearly; random guessing
    # leads too (macro F1 about 1/3); another single class does not, and the collapse check says so.
    rng = np.random.default_rng(4)
    gold = rng.integers(0, 3, 600)
    majority = np.zeros(600, dtype=int)
    good = np.where(rng.random(600) < 0.9, gold, (gold + 1) % 3)
    guess = rng.integers(0, 3, 600)
    units = np.arange(600)
    lead = metrics.macro_f1(gold, good, 3) - metrics.macro_f1(gold, majority, 3)
    low, high = intervals.paired_lead(gold, units, 3, good, majority, metrics.macro_f1_of_confusions, seed=0)
    assert 0.6 < low < lead < high
    low, high = intervals.paired_lead(gold, units, 3, guess, majority, metrics.macro_f1_of_confusions, seed=0)
    assert low > 0  # random guessing over 3 classes does beat one-class macro F1 (0.33 vs 0.17)
    from tunecard.judging import diagnostics

    one_class = np.ones(600, dtype=int)  # another single class: no lead at all
    interval = intervals.paired_lead(gold, units, 3, one_class, majority, metrics.macro_f1_of_confusions, seed=0)
    found = diagnostics.collapse_findings("test", gold, one_class, ["a", "b", "c"], 0.1, 0.1, interval)
    assert "collapse.no_better_than_majority" in [f.id for f in found]
    assert intervals.paired_lead(gold, units, 3, good, good, metrics.macro_f1_of_confusions, seed=0) == [0, 0]


def test_epoch_bands_are_the_wider_of_the_binomial_and_the_kept_bootstrap_interval():
    from tunecard.judging.intervals import clopper_pearson, epoch_bands

    low, high = epoch_bands([0.667, 0.737, 1.0], 60, {"low": 1.0, "high": 1.0, "value": 1.0})  # a perfect kept score
    assert [low[0], high[0]] == clopper_pearson(40, 60) and high[2] == 1.0 and low[2] == clopper_pearson(60, 60)[0]
    low, high = epoch_bands([0.80, 0.81], 2000, {"low": 0.77, "high": 0.85, "value": 0.81})  # macro F1: wide
    assert low == pytest.approx([0.76, 0.77]) and high == pytest.approx([0.84, 0.85])
