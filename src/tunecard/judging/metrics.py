"""Classification and ranking metrics: pure functions, label-id arrays in, plain numbers out."""

from __future__ import annotations

import numpy as np

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
DIRECTION = {"hamming_loss": -1, "invalid_output_rate": -1, "label_cardinality": 0, "gold_label_cardinality": 0}
"""Metrics that are better lower (-1) or are no score (0); every other metric is better higher."""


def metric_keys(n_labels: int) -> list[str]:
    """Binary P/R/F1 for 2 classes (class id 1 is positive), macro and weighted otherwise."""
    if n_labels == 2:
        return ["accuracy", "precision", "recall", "f1"]
    return ["accuracy"] + [f"{m}_{a}" for a in ("macro", "weighted") for m in ("precision", "recall", "f1")]


def classification_metrics(y_true, y_pred, n_labels: int) -> dict[str, float]:
    """Accuracy and P/R/F1 (binary for 2 labels, macro and weighted otherwise) as scikit-learn computes them
    with zero_division=0; derived from the confusion matrix, as every bootstrap resample is (intervals.py).
    A prediction outside 0..n_labels-1 (no label) is a miss of its gold class and no class's positive."""
    counts = _confusion_with_no_label(y_true, y_pred, n_labels)
    return {key: float(value) for key, value in confusion_metrics(counts).items()}


def _confusion_with_no_label(y_true, y_pred, n_labels: int) -> np.ndarray:
    """[n, n + 1] counts, rows gold; the last column counts predictions outside 0..n-1 (no label)."""
    y_true, y_pred = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    column = np.where((y_pred < 0) | (y_pred >= n_labels), n_labels, y_pred)
    counts = np.bincount(y_true * (n_labels + 1) + column, minlength=n_labels * (n_labels + 1))
    return counts.reshape(n_labels, n_labels + 1)


def confusion_metrics(counts: np.ndarray) -> dict[str, np.ndarray]:
    """`classification_metrics` of confusion matrices [..., n, n] (rows gold, columns predicted; a further
    column may count predictions of no label), for all leading dimensions at once: the bootstrap passes one
    matrix per resample."""
    counts = np.asarray(counts, dtype=float)
    n = counts.shape[-2]
    hits = np.diagonal(counts[..., :n, :n], axis1=-2, axis2=-1)
    gold, predicted = counts.sum(-1), counts[..., :n, :n].sum(-2)
    precision, recall = _ratio(hits, predicted), _ratio(hits, gold)
    f1 = _ratio(2 * hits, gold + predicted)  # = 2PR/(P+R), and 0 where a class is never gold nor predicted
    result = {"accuracy": _ratio(hits.sum(-1), gold.sum(-1))}
    if n == 2:  # class id 1 is the positive class
        result.update(precision=precision[..., 1], recall=recall[..., 1], f1=f1[..., 1])
        return result
    support = gold / np.maximum(gold.sum(-1, keepdims=True), 1e-300)
    for name, per_class in (("precision", precision), ("recall", recall), ("f1", f1)):
        result[f"{name}_macro"] = per_class.mean(-1)
        result[f"{name}_weighted"] = (per_class * support).sum(-1)
    return result


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)


def metrics_with_invalid(y_true, y_pred, n_labels: int) -> dict[str, float]:
    """`classification_metrics` where a prediction of -1 marks an output that is no label (free
    generation): it is always wrong and no class's positive. Adds `invalid_output_rate`."""
    result = classification_metrics(y_true, y_pred, n_labels)
    result["invalid_output_rate"] = float(np.mean(np.asarray(y_pred) < 0))
    return result


def macro_f1(y_true, y_pred, n_labels: int) -> float:
    """Unweighted mean of per-class F1 over all n_labels classes (scikit-learn's, zero_division=0); a
    prediction outside 0..n_labels-1 is a miss, as in `classification_metrics`."""
    return float(macro_f1_of_confusions(_confusion_with_no_label(y_true, y_pred, n_labels)))


def macro_f1_of_confusions(counts: np.ndarray) -> np.ndarray:
    """Macro F1 of confusion matrices [..., n, n] (rows gold; a further column may count predictions of no
    label), for any n, binary included."""
    counts = np.asarray(counts, dtype=float)
    n = counts.shape[-2]
    hits = np.diagonal(counts[..., :n, :n], axis1=-2, axis2=-1)
    return _ratio(2 * hits, counts.sum(-1) + counts[..., :n, :n].sum(-2)).mean(-1)


def per_class_report(y_true, y_pred, names: list[str]) -> dict[str, dict[str, float]]:
    """precision/recall/f1/support per class name."""
    from sklearn.metrics import classification_report  # here, not at the top: loading a model to score never needs it

    report = classification_report(y_true, y_pred, labels=list(range(len(names))), target_names=names,
                                   output_dict=True, zero_division=0)
    return {name: {k: float(v) for k, v in report[name].items()} for name in names}


def confusion(y_true, y_pred, n_labels: int) -> list[list[int]]:
    """Rows are gold labels, columns predictions, in label-id order."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=list(range(n_labels))).tolist()


def balanced_class_weights(labels, n_classes: int) -> np.ndarray:
    """n_rows / (n_classes * rows_of_class), as scikit-learn's class_weight='balanced'."""
    counts = np.bincount(np.asarray(labels), minlength=n_classes).astype(float)
    return len(labels) / (n_classes * np.maximum(counts, 1))


def label_counts(labels, names: list[str]) -> dict[str, int]:
    """Rows per class name (label ids index `names`); for 0/1 label rows [n_rows, n_labels], rows carrying
    each label."""
    labels = np.asarray(labels)
    counts = labels.sum(0).astype(int) if labels.ndim == 2 else np.bincount(labels, minlength=len(names))
    return {name: int(c) for name, c in zip(names, counts)}


def pairwise_accuracy(pair_ids, labels, scores) -> float:
    """Share of pairs whose chosen text (label 1) scores strictly higher than its rejected text
    (label 0); a tie counts as a miss. Every pair id must have exactly one row of each label."""
    return float(pairwise_wins(pair_ids, labels, scores).mean())


def pairwise_wins(pair_ids, labels, scores) -> np.ndarray:
    """1.0 for each pair whose chosen text outscores its rejected one, else 0.0; pairs in order of first
    appearance (the order of `pandas.factorize(pair_ids)`)."""
    import pandas as pd

    codes, uniques = pd.factorize(np.asarray(pair_ids))
    frame = pd.DataFrame({"pair": codes, "label": np.asarray(labels), "score": np.asarray(scores)})
    table = frame.pivot(index="pair", columns="label", values="score")
    if table.isna().any().any() or list(table.columns) != [0, 1] or len(table) != len(uniques):
        raise ValueError("pairwise accuracy needs one chosen and one rejected row per pair")
    return (table[1] > table[0]).to_numpy(dtype=float)


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
    return float(average_precision_at_k(gold, scores, k).mean()) if len(gold) else 0.0


def average_precision_at_k(gold, scores: np.ndarray, k: int = 3) -> np.ndarray:
    """Each row's term of `map_at_k`: 1/rank of its gold option when ranked within the top k, else 0."""
    ranked = rank_options(scores, k)
    hit = ranked == np.asarray(gold)[:, None]
    rank = hit.argmax(-1) + 1
    return np.where(hit.any(-1), 1.0 / rank, 0.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


# ---- multi-label ------------------------------------------------------------------------------

MULTI_LABEL_KEYS = ["f1_micro", "precision_micro", "recall_micro", "f1_macro", "precision_macro", "recall_macro",
                    "f1_samples", "precision_samples", "recall_samples", "subset_accuracy", "hamming_loss",
                    "label_cardinality"]
"""Every multi-label metric, in the card's order: P/R/F1 averaged three ways (micro: over every (row, label)
decision; macro: each label counts the same; samples: each row counts the same), exact-set accuracy, the
share of wrong (row, label) decisions, and the mean number of labels predicted per row."""


def multi_label_terms(gold, predicted) -> np.ndarray:
    """Per-row terms [n_rows, 3 * n_labels + 6] whose column sums give every multi-label metric
    (`multi_label_from_sums`): the row's true positives, false positives and false negatives per label, its
    precision, recall and F1 (the samples averages), exact match, share of wrong labels, and labels predicted.
    A bootstrap resample weights these rows, so intervals and point values share one formula."""
    gold, predicted = np.asarray(gold, dtype=bool), np.asarray(predicted, dtype=bool)
    tp, fp, fn = gold & predicted, ~gold & predicted, gold & ~predicted
    n_tp, n_gold, n_pred = tp.sum(-1), gold.sum(-1), predicted.sum(-1)
    row = np.stack([_ratio(n_tp, n_pred), _ratio(n_tp, n_gold), _ratio(2 * n_tp, n_gold + n_pred),
                    (gold == predicted).all(-1), (gold != predicted).mean(-1), n_pred], axis=-1)
    return np.concatenate([tp, fp, fn, row], axis=-1).astype(float)


def multi_label_from_sums(sums: np.ndarray, n_rows) -> dict[str, np.ndarray]:
    """Every metric of MULTI_LABEL_KEYS from column sums of `multi_label_terms` [..., terms] over `n_rows`
    rows, as scikit-learn computes them with zero_division=0."""
    sums = np.asarray(sums, dtype=float)
    n_labels = (sums.shape[-1] - 6) // 3
    tp, fp, fn = (sums[..., i * n_labels:(i + 1) * n_labels] for i in range(3))
    row = sums[..., 3 * n_labels:] / np.maximum(np.asarray(n_rows, dtype=float), 1)[..., None]
    result = {}
    for name, numerator, denominator in (("precision", tp, tp + fp), ("recall", tp, tp + fn),
                                         ("f1", 2 * tp, 2 * tp + fp + fn)):
        result[f"{name}_micro"] = _ratio(numerator.sum(-1), denominator.sum(-1))
        result[f"{name}_macro"] = _ratio(numerator, denominator).mean(-1)
    for i, key in enumerate(("precision_samples", "recall_samples", "f1_samples", "subset_accuracy",
                             "hamming_loss", "label_cardinality")):
        result[key] = row[..., i]
    return result


def multi_label_metrics(gold, predicted) -> dict[str, float]:
    """MULTI_LABEL_KEYS of 0/1 label matrices [n_rows, n_labels], and the gold labels per row beside the
    predicted ones (`gold_label_cardinality`)."""
    terms = multi_label_terms(gold, predicted)
    result = {key: float(value) for key, value in multi_label_from_sums(terms.sum(0), len(terms)).items()}
    result["gold_label_cardinality"] = float(np.asarray(gold, dtype=bool).sum(-1).mean()) if len(terms) else 0.0
    return result


def multi_label_report(gold, predicted, names: list[str]) -> dict[str, dict[str, float]]:
    """precision/recall/f1/support per label name (the single-label per-class report's shape)."""
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(np.asarray(gold), np.asarray(predicted), average=None,
                                                 labels=list(range(len(names))), zero_division=0)
    return {name: {"precision": float(p[i]), "recall": float(r[i]), "f1-score": float(f[i]), "support": float(s[i])}
            for i, name in enumerate(names)}


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(logits, dtype=np.float64)))  # no overflow for large |x|
