"""Blending runs' probabilities (`tunecard ensemble`): weights fitted on validation, the blend itself, honest
out-of-fold validation scores, and the blend's paired lead over each member (numpy and scipy; the task's hooks
are called for its metrics). A member is anything with `.name`, `.metrics` (its metrics.json), `.task` (its
judged task) and `.splits` (split -> `.dataset`, `.probs`): workflows/ensemble.py's Member.

The blend is a linear pool: sum_i w_i p_i, with w_i >= 0 and sum w_i = 1. Weights are fitted on validation
alone; test is blended with the fitted weights and scored once. Multi-label probabilities (a sigmoid per label)
pool the same way, label by label; the log-loss is then each (row, label) decision's binary log-loss.
"""

from __future__ import annotations

import numpy as np

OBJECTIVES = ("log_loss", "headline", "equal")
"""log_loss: minimise validation log-loss (convex: one optimum); headline: maximise the task's headline metric
(MAP@3 for multiple choice) by search, starting from the log-loss weights; equal: 1/n each."""
SEARCH_CANDIDATES = 2000
"""Weight vectors tried (Dirichlet draws, seeded) when the objective is the headline metric."""


def blend(probs: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    return np.tensordot(np.asarray(weights, dtype=float), np.stack(probs), axes=1)


def fit_weights(probs: list[np.ndarray], gold, objective: str, headline=None, seed: int = 42) -> np.ndarray:
    """Non-negative weights summing to 1. `headline(blended_probs) -> float` (higher is better) for
    objective 'headline'."""
    if objective == "equal":
        return np.full(len(probs), 1 / len(probs))
    weights = _log_loss_weights(probs, gold)
    if objective == "log_loss":
        return weights
    rng = np.random.default_rng(seed)
    candidates = [weights, np.full(len(probs), 1 / len(probs)), *np.eye(len(probs)),
                  *rng.dirichlet(np.ones(len(probs)), SEARCH_CANDIDATES)]
    values = [headline(blend(probs, w)) for w in candidates]
    return np.asarray(candidates[int(np.argmax(values))])  # the first best: log-loss weights win ties


def _log_loss_weights(probs: list[np.ndarray], gold) -> np.ndarray:
    """`gold`: a label id per row, or a 0/1 row per label (independent labels: each (row, label) decision is a
    binary outcome, whose pooled probability is sum_i w_i p_i for yes and sum_i w_i (1 - p_i) for no)."""
    from scipy.optimize import minimize

    gold = np.asarray(gold)
    if gold.ndim == 2:
        stacked = np.stack(probs, axis=-1)  # [rows, labels, members]
        gold_probs = np.where(gold[..., None] > 0.5, stacked, 1 - stacked).reshape(-1, len(probs))
    else:
        gold_probs = np.stack([p[np.arange(len(p)), gold] for p in probs], axis=1)  # [rows, members]
    n = gold_probs.shape[1]

    def loss(w):
        return -np.mean(np.log(np.maximum(gold_probs @ w, 1e-12)))

    def gradient(w):
        return -(gold_probs / np.maximum(gold_probs @ w, 1e-12)[:, None]).mean(0)
    found = minimize(loss, np.full(n, 1 / n), jac=gradient, method="SLSQP", bounds=[(0, 1)] * n,
                     constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}])
    weights = np.clip(found.x, 0, None)
    return weights / weights.sum()


def fit_and_blend(task, members: list, objective: str, folds: int, seed: int):
    """(weights fitted on validation, each split's blended probabilities); with `folds`, validation's are
    out-of-fold."""
    names = members[0].metrics["label_names"]
    validation = members[0].splits["validation"].dataset
    scorer_for = headline_scorer(task, validation, names)
    member_probs = {name: [m.splits[name].probs for m in members] for name in members[0].splits}
    gold = validation["label"]
    weights = fitted(member_probs["validation"], gold, objective, scorer_for, seed)
    blended = {name: blend(probs, weights) for name, probs in member_probs.items()}
    if folds:
        blended["validation"] = out_of_fold(member_probs["validation"], gold, objective, folds, scorer_for, seed)
    return weights, blended


def headline_scorer(task, dataset, names: list[str]):
    """scorer_for(rows) -> fn(probs of those rows) -> the task's headline metric on them (higher is better), with
    the decision rules the task fits on validation (multi-label thresholds) refit on those probabilities."""
    def scorer_for(rows):
        subset = dataset.select(rows)

        def score(probs: np.ndarray) -> float:
            return headline_value(task.refit(probs, subset), subset, probs, names)
        return score
    return scorer_for


def headline_value(task, dataset, probs: np.ndarray, names: list[str]) -> float:
    """The task's headline metric of `probs` on a split, each row decided as the task decides (`predicted`)."""
    from tunecard.judging import metrics

    predicted = task.predicted(probs)
    if task.independent_labels:
        values = metrics.multi_label_metrics(np.asarray(dataset["label"]) > 0.5, predicted)
    else:
        values = {**metrics.classification_metrics(dataset["label"], predicted, len(names)),
                  **task.split_metrics(dataset, probs)}
    return values[task.headline_metric(names)]


def fitted(probs: list[np.ndarray], gold, objective: str, scorer_for, seed: int) -> np.ndarray:
    """Weights fitted on all validation rows; `scorer_for(rows)` gives the headline scorer of those rows."""
    return fit_weights(probs, gold, objective, scorer_for(np.arange(len(gold))), seed)


def out_of_fold(probs: list[np.ndarray], gold, objective: str, folds: int, scorer_for, seed: int) -> np.ndarray:
    """Validation probabilities of the blend where each row's weights were fitted on the other folds: an
    honest validation score for the blend when validation is small."""
    gold = np.asarray(gold)
    order = np.random.default_rng(seed).permutation(len(gold))
    blended = np.zeros_like(probs[0])
    for held in np.array_split(order, folds):
        rest = np.sort(np.setdiff1d(order, held))
        weights = fit_weights([p[rest] for p in probs], gold[rest], objective, scorer_for(rest), seed)
        blended[held] = blend([p[held] for p in probs], weights)
    return blended


def mean_confidence(members: list) -> dict[str, float]:
    """Each member's mean top probability on validation: a member with flat probabilities moves a linear pool
    little whatever its weight, so the card shows it beside the weight."""
    return {m.name: round(float(m.splits["validation"].probs.max(-1).mean()), 4) for m in members}


def member_leads(task, members: list, judged: dict, names: list[str], seed: int) -> dict[str, list[dict]]:
    """Per split, each member's headline value (decided as the member decides: its own thresholds) and the blend's
    paired lead over it (bootstrap interval)."""
    headline = task.headline_metric(names)
    leads = {}
    for split, evaluation in judged.items():
        dataset = members[0].splits[split].dataset
        scored = {"ensemble": (task.predicted(evaluation.probs), evaluation.probs)}
        values = {}
        for m in members:
            probs = m.splits[split].probs
            scored[m.name] = (m.task.predicted(probs), probs)
            values[m.name] = headline_value(m.task, dataset, probs, names)
        result = task.paired(dataset, scored, names, seed)
        leads[split] = [{"label": name, "value": values[name],
                         "difference": evaluation.report.metrics[headline] - values[name],
                         "interval": result["differences"][name]} for name in values]
    return leads
