"""Abstention: a confidence cut-off, fitted on validation, under which a classifier withholds its label (numpy only).

A row's confidence is its top probability, calibrated (after the run's softmax temperature). A cut-off t keeps the
rows whose confidence is at least t and abstains on the rest; the kept rows' accuracy is the selective accuracy, their
share the coverage, and 1 - accuracy the selective risk (the risk–coverage curve of Geifman & El-Yaniv, 2017).

Fitting looks only at the cut-offs that separate two validation confidences, each placed midway between them: rows
of equal confidence are kept or withheld together, and a probability that moves in its last digits (another back
end, a value read back from a predictions file) does not move a validation row across the cut-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from tunecard.judging import intervals
from tunecard.judging.diagnostics import Finding

CONFIDENCE = "the top probability, after the fitted softmax temperature"
"""What the cut-off is compared with, in the card's words."""


@dataclass
class Curve:
    """The risk–coverage curve of one split: one point per cut-off, from the most confident row alone (first) to
    every row kept (last)."""
    cut_offs: np.ndarray
    """Each point's cut-off: midway between the lowest kept confidence and the next lower one (0: keeps all)."""
    kept: np.ndarray
    correct: np.ndarray
    """Correct rows among the kept ones."""
    rows: int

    @property
    def coverage(self) -> np.ndarray:
        return self.kept / self.rows

    @property
    def accuracy(self) -> np.ndarray:
        return self.correct / self.kept


def confidence_and_correct(probs: np.ndarray, gold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's confidence (top probability) and whether its top label is the gold one."""
    probs = np.asarray(probs, dtype=np.float64)
    return probs.max(-1), probs.argmax(-1) == np.asarray(gold)


def curve(confidence: np.ndarray, correct: np.ndarray) -> Curve:
    """The risk–coverage curve: rows sorted from the most confident, a point at the end of each group of equal
    confidence."""
    order = np.argsort(-confidence, kind="stable")
    sorted_confidence, hits = confidence[order], np.cumsum(correct[order])
    ends = np.flatnonzero(np.r_[sorted_confidence[1:] != sorted_confidence[:-1], True])
    lowest_kept = sorted_confidence[ends]
    next_lower = np.r_[lowest_kept[1:], np.nan]
    cut_offs = np.where(np.isnan(next_lower), 0.0, (lowest_kept + next_lower) / 2)
    return Curve(cut_offs, ends + 1, hits[ends], len(confidence))


def fit_cut_off(points: Curve, target_accuracy: Optional[float] = None,
                coverage: Optional[float] = None) -> Optional[float]:
    """The lowest cut-off whose kept rows reach `target_accuracy` (the most rows kept that do), or the highest
    whose coverage reaches `coverage` (the fewest rows withheld); None when no cut-off reaches the accuracy."""
    if coverage is not None:
        return float(points.cut_offs[np.argmax(points.coverage >= coverage - 1e-12)])
    reached = np.flatnonzero(points.accuracy >= target_accuracy)
    return float(points.cut_offs[reached[-1]]) if len(reached) else None


def abstains(probs: np.ndarray, cut_off: Optional[float]) -> np.ndarray:
    """Which rows abstain: their top probability is below the cut-off (none without one)."""
    top = np.asarray(probs).max(-1)
    return top < cut_off if cut_off is not None else np.zeros(len(top), dtype=bool)


def labels_or_none(probs: np.ndarray, labels: list[str], cut_off: Optional[float]) -> list:
    """The top label of each row, None where the row abstains: what a predictor's `predict` returns."""
    withheld = abstains(probs, cut_off)
    return [None if w else labels[i] for i, w in zip(np.asarray(probs).argmax(-1), withheld)]


def at_cut_off(confidence: np.ndarray, correct: np.ndarray, cut_off: float) -> dict:
    """One split at the cut-off: rows kept and withheld, coverage and the kept rows' accuracy, each with its exact
    95% binomial interval (Clopper–Pearson; the accuracy's given the rows kept), and the area under the split's
    risk–coverage curve (AURC: the mean selective risk over every coverage; lower is better)."""
    kept = confidence >= cut_off
    n_kept, n_right = int(kept.sum()), int((kept & correct).sum())
    return {"rows": len(kept), "kept": n_kept, "abstained": len(kept) - n_kept,
            "coverage": round(n_kept / max(len(kept), 1), 6),
            "accuracy": round(n_right / n_kept, 6) if n_kept else None,
            "intervals": {"coverage": intervals.clopper_pearson(n_kept, len(kept)),
                          "accuracy": intervals.clopper_pearson(n_right, n_kept)},
            "aurc": round(aurc(confidence, correct), 6)}


def aurc(confidence: np.ndarray, correct: np.ndarray) -> float:
    """The mean selective risk of the k most confident rows over k = 1..n."""
    order = np.argsort(-confidence, kind="stable")
    risk = 1 - np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    return float(risk.mean()) if len(order) else 0.0


def fit(splits: dict[str, tuple[np.ndarray, np.ndarray]], target_accuracy: Optional[float] = None,
        coverage: Optional[float] = None) -> dict:
    """metrics.json's `abstention`: the cut-off (`threshold`) fitted on `splits["validation"]` and every split
    measured at it (`splits`: name -> (calibrated probabilities, gold label ids)). When no cut-off reaches
    `target_accuracy`, `threshold` is None and `best` says what validation could reach."""
    measured = {name: confidence_and_correct(*split) for name, split in splits.items()}
    points = curve(*measured["validation"])
    threshold = fit_cut_off(points, target_accuracy, coverage)
    target = {"accuracy": target_accuracy} if coverage is None else {"coverage": coverage}
    report = {"confidence": CONFIDENCE, "target": target, "threshold": threshold}
    if threshold is None:
        best_accuracy, best_coverage = best_reachable(points)
        return {**report, "best": {"accuracy": round(best_accuracy, 6), "coverage": round(best_coverage, 6)}}
    splits = {name: at_cut_off(*values, threshold) for name, values in measured.items()}
    for name, split in splits.items():
        if name != "validation":
            split["target"] = _against_target(split, target)
    return {**report, "interval": "exact binomial (Clopper–Pearson), 95%", "splits": splits}


def _against_target(split: dict, target: dict) -> dict:
    """Whether a held-out split at the cut-off reaches what validation was fitted to: its point value, and whether
    the target lies inside its 95% interval (a miss inside it is within the noise of the split)."""
    (key, wanted), = target.items()
    value, (low, high) = split[key], split["intervals"][key]
    return {"met": value is not None and value >= wanted, "within_interval": low <= wanted <= high}


def risk_coverage(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, tuple[list, list]]:
    """Each split's risk–coverage curve as (coverages, selective risks), for the plot (`splits` as `fit` takes)."""
    points = {name: curve(*confidence_and_correct(*split)) for name, split in splits.items()}
    return {name: (p.coverage.tolist(), (1 - p.accuracy).tolist()) for name, p in points.items()}


def saved_settings(report: dict) -> Optional[dict]:
    """What is saved with the model (ModelSettings.abstention) from `fit`'s report: the threshold, what it was
    fitted for and what validation promised; None when nothing was fitted."""
    if report["threshold"] is None:
        return None
    validation = report["splits"]["validation"]
    return {"threshold": report["threshold"], **{f"target_{k}": v for k, v in report["target"].items()},
            "validation_accuracy": validation["accuracy"], "validation_coverage": validation["coverage"],
            "validation_accuracy_interval": validation["intervals"]["accuracy"]}


def threshold_of(saved: Optional[dict]) -> Optional[float]:
    """The cut-off of a saved abstention (None: the model never abstains)."""
    return saved["threshold"] if saved else None


def best_reachable(points: Curve) -> tuple[float, float]:
    """(accuracy, coverage) of the most accurate cut-off, the widest on a tie: what a target beyond reach could
    have asked for."""
    best = np.flatnonzero(points.accuracy == points.accuracy.max())[-1]
    return float(points.accuracy[best]), float(points.coverage[best])


def findings(report: dict) -> list[Finding]:
    """What the card and the terminal should flag: a target no cut-off reaches on validation (the model then never
    abstains), and a held-out split whose interval at the cut-off lies wholly short of the target."""
    (key, wanted), = report["target"].items()
    if report["threshold"] is None:
        best = report["best"]
        return [Finding("abstention.unreachable", "warning",
                        f"no confidence cut-off reaches validation accuracy {wanted:g} on the kept rows (the best "
                        f"reaches {best['accuracy']:.4f}, keeping {best['coverage']:.1%}): the model never abstains",
                        {"target_accuracy": wanted, **best}, "lower --abstain.target_accuracy, or set "
                        "--abstain.coverage", "validation")]
    return [Finding("abstention.short_of_target", "warning",
                    f"at the cut-off fitted on validation, {name} {key} is {_shown(split[key])} "
                    f"({split['intervals'][key][0]:.4f}–{split['intervals'][key][1]:.4f}), short of the target "
                    f"{wanted:g}", {"threshold": report["threshold"], key: split[key],
                                    "interval": split["intervals"][key], "target": wanted},
                    "fit it on more validation rows, or expect the lower value on new data", name)
            for name, split in report["splits"].items()
            if "target" in split and not split["target"]["met"] and not split["target"]["within_interval"]]


def _shown(value: Optional[float]) -> str:
    return "undefined (no row kept)" if value is None else f"{value:.4f}"
