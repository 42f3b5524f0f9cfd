"""Classification and ranking metrics: pure functions, label-id arrays in, plain numbers out."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (accuracy_score, classification_report, confusion_matrix,
                             precision_recall_fscore_support)

# metric key -> (model-index type, display name, args). Averaging is part of the metric's identity.
METRIC_INFO = {
    "accuracy": ("accuracy", "Accuracy", None),
    "precision": ("precision", "Precision", {"average": "binary"}),
    "recall": ("recall", "Recall", {"average": "binary"}),
    "f1": ("f1", "F1", {"average": "binary"}),
}
"""The metrics every label classifier reports; tasks add their own (Task.metric_info)."""
for _avg in ("macro", "weighted"):
    for _key, _name in (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1")):
        METRIC_INFO[f"{_key}_{_avg}"] = (_key, f"{_name} ({_avg})", {"average": _avg})
MAX_MAP_K = 10
"""The largest cut-off map_at_k is reported for."""


def metric_keys(n_labels: int) -> list[str]:
    """Binary P/R/F1 for 2 classes (class id 1 is positive), macro and weighted otherwise."""
    if n_labels == 2:
        return ["accuracy", "precision", "recall", "f1"]
    return ["accuracy"] + [f"{m}_{a}" for a in ("macro", "weighted") for m in ("precision", "recall", "f1")]


def classification_metrics(y_true, y_pred, n_labels: int) -> dict[str, float]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    result = {"accuracy": float(accuracy_score(y_true, y_pred))}
    averages = ["binary"] if n_labels == 2 else ["macro", "weighted"]
    for average in averages:
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, average=average, labels=list(range(n_labels)) if average != "binary" else None,
            zero_division=0)
        suffix = "" if average == "binary" else f"_{average}"
        result.update({f"precision{suffix}": float(p), f"recall{suffix}": float(r), f"f1{suffix}": float(f)})
    return result


def metrics_with_invalid(y_true, y_pred, n_labels: int) -> dict[str, float]:
    """`classification_metrics` where a prediction of -1 marks an output that is no label (free
    generation): it is always wrong and no class's positive. Adds `invalid_output_rate`."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if n_labels == 2:  # binary P/R/F1 only look at class 1, so "no label" may stand in as class 0 there
        result = classification_metrics(y_true, np.where(y_pred < 0, 0, y_pred), 2)
        result["accuracy"] = float(np.mean(y_true == y_pred))
    else:  # averaging over labels 0..n-1 counts a -1 as a miss of the gold class
        result = classification_metrics(y_true, y_pred, n_labels)
    result["invalid_output_rate"] = float(np.mean(y_pred < 0))
    return result


def macro_f1(y_true, y_pred, n_labels: int) -> float:
    """Unweighted mean of per-class F1 over all n_labels classes."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", labels=list(range(n_labels)), zero_division=0))


def per_class_report(y_true, y_pred, names: list[str]) -> dict[str, dict[str, float]]:
    """precision/recall/f1/support per class name."""
    report = classification_report(y_true, y_pred, labels=list(range(len(names))), target_names=names,
                                   output_dict=True, zero_division=0)
    return {name: {k: float(v) for k, v in report[name].items()} for name in names}


def confusion(y_true, y_pred, n_labels: int) -> list[list[int]]:
    """Rows are gold labels, columns predictions, in label-id order."""
    return confusion_matrix(y_true, y_pred, labels=list(range(n_labels))).tolist()


def balanced_class_weights(labels, n_classes: int) -> np.ndarray:
    """n_rows / (n_classes * rows_of_class), as scikit-learn's class_weight='balanced'."""
    counts = np.bincount(np.asarray(labels), minlength=n_classes).astype(float)
    return len(labels) / (n_classes * np.maximum(counts, 1))


def label_counts(labels, names: list[str]) -> dict[str, int]:
    """Rows per class name (label ids index `names`)."""
    counts = np.bincount(np.asarray(labels), minlength=len(names))
    return {name: int(c) for name, c in zip(names, counts)}


def pairwise_accuracy(pair_ids, labels, scores) -> float:
    """Share of pairs whose chosen text (label 1) scores strictly higher than its rejected text
    (label 0); a tie counts as a miss. Every pair id must have exactly one row of each label."""
    import pandas as pd

    frame = pd.DataFrame({"pair": np.asarray(pair_ids), "label": np.asarray(labels), "score": np.asarray(scores)})
    table = frame.pivot(index="pair", columns="label", values="score")
    if table.isna().any().any() or list(table.columns) != [0, 1]:
        raise ValueError("pairwise accuracy needs one chosen and one rejected row per pair")
    return float((table[1] > table[0]).mean())


def map_at_k(gold, ranked, k: int = 3) -> float:
    """Mean average precision at k with one correct answer per row (the Kaggle "LLM Science Exam" metric).

    `ranked[i]` lists row i's predictions, best first. A row scores 1/r when its gold label first
    appears at rank r <= k, else 0; once the gold label has been found, later predictions of it are
    ignored, so repeating a correct label never adds to the score.
    """
    total = 0.0
    for answer, predictions in zip(gold, ranked):
        for rank, prediction in enumerate(list(predictions)[:k], start=1):
            if prediction == answer:
                total += 1.0 / rank
                break  # the first hit is the only one that counts
    return total / len(gold) if len(gold) else 0.0


def rank_options(scores: np.ndarray, k: int | None = None) -> np.ndarray:
    """Option ids of each row ordered by score, best first (ties keep the lower id first); the top k."""
    order = np.argsort(-np.asarray(scores), axis=-1, kind="stable")
    return order if k is None else order[:, :k]


def map_at_k_from_scores(gold, scores: np.ndarray, k: int = 3) -> float:
    """MAP@k of rows of option scores [n_rows, n_options] against gold option ids."""
    return map_at_k(np.asarray(gold).tolist(), rank_options(scores, k).tolist(), k)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
