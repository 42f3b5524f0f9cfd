"""Answer positions of multiple-choice questions, per option count: what is true of a multiple-choice split where
class findings are not. Answer letters are positions, not classes: `E` exists only in the five-option questions,
so its "class size" says how many questions have five options, not that a class is rare. What matters is where
the answers stand against chance (1/n for each of n options) and how accurate the model is on questions of each
size. numpy and scipy only: arrays in, a table and findings out."""

from __future__ import annotations

import numpy as np

from tunecard.judging.diagnostics import Finding

POSITION_BIAS_P = 0.001
"""A chi-square test of where the model's answers stand against where the gold answers stand, per option count:
below this p-value the model favours a position (a warning)."""
MIN_QUESTIONS = 20
"""Option counts with fewer questions are tabled but not tested: too few to tell a bias from noise."""


def by_option_count(gold, predicted, option_counts, names: list[str]) -> dict[int, dict]:
    """Per option count n: questions, the model's accuracy, chance (1/n), and the shares of gold and of predicted
    answers at each of the n positions."""
    gold, predicted, counts = np.asarray(gold), np.asarray(predicted), np.asarray(option_counts)
    groups = {}
    for n in sorted(set(counts.tolist())):
        mask = counts == n
        groups[int(n)] = {"questions": int(mask.sum()), "accuracy": float((gold[mask] == predicted[mask]).mean()),
                          "chance": 1 / n, "gold": _shares(gold[mask], n, names),
                          "predicted": _shares(predicted[mask], n, names)}
    return groups


def _shares(positions: np.ndarray, n: int, names: list[str]) -> dict[str, float]:
    shares = np.bincount(positions, minlength=n)[:n] / max(len(positions), 1)
    return {names[i]: round(float(share), 6) for i, share in enumerate(shares)}


def shown(shares: dict[str, float]) -> str:
    return " ".join(f"{name} {share:.0%}" for name, share in shares.items())


def position_table(groups: dict[int, dict]) -> dict:
    """The card's table of `by_option_count`: one row per option count."""
    rows = [[n, g["questions"], round(g["accuracy"], 6), round(g["chance"], 6), shown(g["gold"]),
             shown(g["predicted"])] for n, g in groups.items()]
    return {"title": "By option count (answer letters are positions: chance is 1/n for each of n options)",
            "columns": ["Options", "Questions", "Accuracy", "Chance", "Gold answer at", "Model's answer at"],
            "rows": rows}


def position_findings(split: str, groups: dict[int, dict], gold, predicted, option_counts) -> list[Finding]:
    """An info finding with each option count's accuracy and gold answer positions against chance; a warning per
    option count whose predicted positions differ from the gold ones beyond chance (chi-square, p <
    POSITION_BIAS_P)."""
    from scipy.stats import chisquare

    gold, predicted, counts = np.asarray(gold), np.asarray(predicted), np.asarray(option_counts)
    findings = []
    for n, group in groups.items():
        mask = counts == n
        expected = np.bincount(gold[mask], minlength=n)[:n]
        if group["questions"] < MIN_QUESTIONS or (expected == 0).any():
            continue
        p = float(chisquare(np.bincount(predicted[mask], minlength=n)[:n], expected).pvalue)
        if p < POSITION_BIAS_P:
            lean = {name: group["predicted"][name] - group["gold"][name] for name in group["gold"]}
            findings.append(Finding(
                "positions.bias", "warning", f"on {split} questions with {n} options the model answers "
                f"'{max(lean, key=lean.get)}' more often than the gold answers stand there (model: "
                f"{shown(group['predicted'])}; gold: {shown(group['gold'])}; chi-square p = {p:.2g})",
                {"options": n, "p_value": p, **group},
                "the model leans on where an answer stands: shuffle the options of the training questions", split))
    summary = "; ".join(f"{n} options ({g['questions']} questions): accuracy {g['accuracy']:.4f} against chance "
                        f"{g['chance']:.4f}, gold answers at {shown(g['gold'])}" for n, g in groups.items())
    evidence = {"by_option_count": {str(n): g for n, g in groups.items()}}  # JSON keys: as metrics.json reads back
    return [Finding("positions.by_option_count", "info", f"{split}: {summary}", evidence, "", split), *findings]
