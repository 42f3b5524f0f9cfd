import numpy as np
import pytest

from tunecard import metrics


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
