"""judging/metrics.py: classification metrics against hand counts and scikit-learn, MAP@k, pairwise accuracy."""

import numpy as np
import pytest

from tunecard.judging import metrics
from tunecard.judging.metrics import map_at_k, map_at_k_from_scores, pairwise_accuracy


def test_binary_metrics_match_hand_count():
    # tp=2 (rows 0,1), fp=1 (row 4), fn=1 (row 2), tn=1 (row 3)
    gold = [1, 1, 1, 0, 0]
    pred = [1, 1, 0, 0, 1]
    result = metrics.classification_metrics(gold, pred, 2)
    assert result == pytest.approx({"accuracy": 3 / 5, "precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3})


def test_multiclass_metrics_have_macro_and_weighted():
    gold = [0, 0, 0, 1, 2, 2]
    pred = [0, 0, 1, 1, 2, 0]
    result = metrics.classification_metrics(gold, pred, 3)
    # per class recall: 2/3, 1, 1/2 -> macro 13/18; weighted by support (3,1,2): (2+1+1)/6
    assert result["recall_macro"] == pytest.approx(13 / 18)
    assert result["recall_weighted"] == pytest.approx(4 / 6)
    assert set(result) == set(metrics.metric_keys(3))


def test_absent_class_counts_in_macro_average():
    # class 2 never appears nor is predicted: its F1 is 0 and still pulls the macro mean down
    result = metrics.classification_metrics([0, 1], [0, 1], 3)
    assert result["f1_macro"] == pytest.approx(2 / 3)


def test_label_counts_name_every_class():
    assert metrics.label_counts([2, 2, 1], ["a", "b", "c"]) == {"a": 0, "b": 1, "c": 2}


def test_confusion_rows_are_gold():
    assert metrics.confusion([0, 1, 1], [1, 1, 0], 2) == [[0, 1], [1, 1]]


def test_softmax_rows_sum_to_one():
    probs = metrics.softmax(np.array([[1000.0, 0.0], [1.0, 1.0]]))
    assert np.allclose(probs.sum(-1), 1) and probs[0, 0] == pytest.approx(1.0)


# ---- the confusion-matrix path every bootstrap resample takes ----------------------------------------

@pytest.mark.parametrize("n_labels", [2, 3, 7])
def test_confusion_metrics_equal_scikit_learn(n_labels):
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    rng = np.random.default_rng(n_labels)
    gold = rng.integers(0, n_labels, 300)
    pred = np.where(rng.random(300) < 0.6, gold, rng.integers(0, max(n_labels - 1, 1), 300))  # top class never predicted
    result = metrics.classification_metrics(gold, pred, n_labels)
    expected = {"accuracy": accuracy_score(gold, pred)}
    for average in (["binary"] if n_labels == 2 else ["macro", "weighted"]):
        p, r, f, _ = precision_recall_fscore_support(gold, pred, average=average, zero_division=0,
                                                     labels=None if average == "binary" else list(range(n_labels)))
        suffix = "" if average == "binary" else f"_{average}"
        expected.update({f"precision{suffix}": p, f"recall{suffix}": r, f"f1{suffix}": f})
    assert result == pytest.approx(expected, abs=1e-12)


def test_per_question_average_precision_means_to_map():
    rng = np.random.default_rng(0)
    scores, gold = rng.random((50, 5)), rng.integers(0, 5, 50)
    terms = metrics.average_precision_at_k(gold, scores, 3)
    assert set(np.round(terms, 6)) <= {0.0, 1.0, 0.5, round(1 / 3, 6)}
    assert terms.mean() == pytest.approx(metrics.map_at_k(gold.tolist(), metrics.rank_options(scores, 3).tolist(), 3))


def test_pairwise_wins_follow_first_appearance_of_pairs():
    wins = metrics.pairwise_wins(["b", "b", "a", "a"], [1, 0, 0, 1], [0.9, 0.1, 0.8, 0.2])
    assert wins.tolist() == [1.0, 0.0]  # pair b (first seen) chosen wins; pair a loses


# ---- MAP@k (multiple choice) and pairwise accuracy (preference) -------------------------------------

def test_map_at_3_hand_worked():
    gold = ["A", "B", "C", "D"]
    ranked = [["A", "B", "C"]] * 4  # ranks 1, 2, 3 and absent
    assert map_at_k(gold, ranked, 3) == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4)


def test_map_at_k_ignores_later_repeats_of_the_gold_label():
    # A repeated correct label counts once, at its first rank; repeated wrong labels still take ranks.
    assert map_at_k(["B"], [["B", "B", "B"]], 3) == 1.0
    assert map_at_k(["C"], [["A", "A", "C"]], 3) == pytest.approx(1 / 3)
    assert map_at_k(["C"], [["A", "C", "C"]], 3) == pytest.approx(1 / 2)
    assert map_at_k(["E"], [["D", "D", "D", "E"]], 3) == 0.0  # rank 4 is past the cut-off
    assert map_at_k(["E"], [["D", "D", "D", "E"]], 4) == pytest.approx(1 / 4)


def test_map_from_scores_ranks_ties_by_option_order_and_k1_is_accuracy():
    scores = np.array([[0.1, 0.5, 0.5, 0.2], [0.9, 0.05, 0.03, 0.02], [0.1, 0.2, 0.3, 0.4]])
    # row 0: ranking 1, 2, 3, 0 -> gold 2 at rank 2; row 1: gold 0 at rank 1; row 2: gold 0 last (rank 4)
    assert map_at_k_from_scores([2, 0, 0], scores, 3) == pytest.approx((1 / 2 + 1) / 3)
    assert map_at_k_from_scores([2, 0, 0], scores, 1) == pytest.approx(1 / 3)


def test_pairwise_accuracy_hand_worked_and_ties_count_as_misses():
    pairs = ["a", "a", "b", "b", "c", "c", "d", "d"]
    labels = [1, 0, 0, 1, 1, 0, 1, 0]
    scores = [0.9, 0.1, 0.2, 0.8, 0.3, 0.6, 0.5, 0.5]  # a right, b right, c wrong, d tie
    assert pairwise_accuracy(pairs, labels, scores) == 0.5
