"""Bootstrap confidence intervals of a split's metrics, and paired intervals of the model's lead over its
baselines (numpy only).

A resample draws the split's units (rows; questions for multiple choice; pairs for preference) with
replacement. Every scorer (the model and each baseline) is scored on the same resamples, so a difference is
paired: the noise of which rows happened to be in the split cancels. Metrics are recomputed per resample
the way their point values are: the label metrics from a confusion matrix of the resampled rows
(`metrics.confusion_metrics`), the task's own metrics as means of per-unit terms (an AP@k per question, a
win per pair). Intervals are percentile intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tunecard.judging import metrics

RESAMPLES = 1000
CONFIDENCE = 0.95
_CHUNK = 100
"""Resamples drawn at once: bounds memory at _CHUNK x rows weights for large splits."""


@dataclass
class Scorer:
    """One scorer of a split: its predicted label per row, and its per-unit terms of the task's own metrics."""
    predictions: np.ndarray
    unit_terms: dict[str, np.ndarray] = field(default_factory=dict)


def bootstrap(gold, units, n_labels: int, scorers: dict[str, Scorer], keys: list[str], headline: str,
              seed: int, resamples: int = RESAMPLES) -> dict:
    """Intervals of the first scorer's `keys`, and of its `headline` lead over each other scorer.

    `units[i]`: the unit id (0..n_units-1) row i belongs to; rows of a drawn unit are drawn together.
    Returns {"metrics": {key: [low, high]}, "differences": {scorer: [low, high]}} plus the settings.
    """
    units = np.asarray(units)
    n_units = int(units.max()) + 1 if len(units) else 0
    cells = np.asarray(gold) * n_labels
    values = {name: _resampled(cells, scorer, units, n_units, n_labels, seed, resamples)
              for name, scorer in scorers.items()}
    return _summary(values, keys, headline, seed, resamples)


def _summary(values: dict[str, dict[str, np.ndarray]], keys: list[str], headline: str, seed: int,
             resamples: int) -> dict:
    """Percentile intervals of the first scorer's metrics, of its headline lead over each other scorer, and of its
    lead on every metric both have (`differences_by_metric`: what tells a result measurably below a baseline)."""
    model, *others = values
    return {
        "confidence": CONFIDENCE, "resamples": resamples, "seed": seed,
        "metrics": {key: _percentiles(values[model][key]) for key in keys if key in values[model]},
        "differences": {name: _percentiles(values[model][headline] - values[name][headline])
                        for name in others if headline in values[name] and headline in values[model]},
        "differences_by_metric": {name: {key: _percentiles(values[model][key] - values[name][key]) for key in keys
                                         if key in values[name] and key in values[model]} for name in others},
    }


def _percentiles(samples: np.ndarray) -> list[float]:
    low, high = (1 - CONFIDENCE) / 2 * 100, (1 + CONFIDENCE) / 2 * 100
    return [round(float(v), 6) for v in np.percentile(samples, [low, high])]


def _resampled(cells: np.ndarray, scorer: Scorer, units: np.ndarray, n_units: int, n_labels: int, seed: int,
               resamples: int) -> dict[str, np.ndarray]:
    """Each metric of one scorer on every resample; the same seed gives every scorer the same resamples."""
    out: dict[str, list] = {}
    for counts, confusion in _resampled_confusions(cells, scorer.predictions, units, n_units, n_labels, seed,
                                                   resamples):
        chunk = metrics.confusion_metrics(confusion)
        chunk.update({key: counts @ terms / n_units for key, terms in scorer.unit_terms.items()})
        for key, value in chunk.items():
            out.setdefault(key, []).append(value)
    return {key: np.concatenate(parts) for key, parts in out.items()}


def _resampled_confusions(cells: np.ndarray, predictions, units: np.ndarray, n_units: int, n_labels: int,
                          seed: int, resamples: int):
    """Chunk by chunk: how often each unit was drawn [chunk, n_units], and the confusion matrix of each
    resample [chunk, n_labels, n_labels]."""
    rng = np.random.default_rng(seed)
    cell_of_row = cells + np.asarray(predictions)
    for start in range(0, resamples, _CHUNK):
        draws = rng.integers(0, n_units, (min(_CHUNK, resamples - start), n_units))
        counts = _counts_per_unit(draws, n_units)
        confusion = np.stack([np.bincount(cell_of_row, weights=w, minlength=n_labels * n_labels)
                              for w in counts[:, units]])
        yield counts, confusion.reshape(-1, n_labels, n_labels)


def paired_lead(gold, units, n_labels: int, model_predictions, baseline_predictions, statistic, seed: int,
                resamples: int = RESAMPLES) -> list[float]:
    """The interval of statistic(model) - statistic(baseline) over the same resamples; `statistic` maps
    confusion matrices [resamples, n, n] to values [resamples] (e.g. `metrics.macro_f1_of_confusions`)."""
    units = np.asarray(units)
    n_units = int(units.max()) + 1 if len(units) else 0
    cells = np.asarray(gold) * n_labels

    def values(predictions) -> np.ndarray:
        return np.concatenate([statistic(confusion) for _, confusion in _resampled_confusions(
            cells, predictions, units, n_units, n_labels, seed, resamples)])
    return _percentiles(values(model_predictions) - values(baseline_predictions))


def _counts_per_unit(draws: np.ndarray, n_units: int) -> np.ndarray:
    offsets = np.arange(len(draws))[:, None] * n_units
    return np.bincount((draws + offsets).ravel(), minlength=len(draws) * n_units).reshape(len(draws), n_units)


def bootstrap_row_terms(terms: dict[str, np.ndarray], from_sums, keys: list[str], headline: str, seed: int,
                        resamples: int = RESAMPLES) -> dict:
    """`bootstrap` for metrics that are functions of column sums of per-row terms (multi-label:
    `metrics.multi_label_terms` and `multi_label_from_sums`): `terms` maps each scorer (the model first) to
    its [n_rows, n_terms] array; every scorer is weighted by the same resampled rows."""
    values = {name: _resampled_sums(rows, from_sums, seed, resamples) for name, rows in terms.items()}
    return _summary(values, keys, headline, seed, resamples)


def _resampled_sums(rows: np.ndarray, from_sums, seed: int, resamples: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(rows)
    out: dict[str, list] = {}
    for start in range(0, resamples, _CHUNK):
        counts = _counts_per_unit(rng.integers(0, n, (min(_CHUNK, resamples - start), n)), n)
        for key, value in from_sums(counts @ rows, counts.sum(-1)).items():
            out.setdefault(key, []).append(value)
    return {key: np.concatenate(parts) for key, parts in out.items()}


def clopper_pearson(successes: int, trials: int, confidence: float = CONFIDENCE) -> list[float]:
    """The exact binomial interval of a proportion (Clopper–Pearson): valid however few the trials, where a
    bootstrap of one correct row would claim [1, 1]. No trials: [0, 1]."""
    from scipy.stats import beta

    tail = (1 - confidence) / 2
    low = beta.ppf(tail, successes, trials - successes + 1) if successes > 0 else 0.0
    high = beta.ppf(1 - tail, successes + 1, trials - successes) if successes < trials else 1.0
    return [round(float(low), 6), round(float(high), 6)]


def epoch_bands(values, units: int, kept: dict) -> tuple[list[float], list[float]]:
    """A 95% band for each epoch's validation value of a metric between 0 and 1, where Trainer kept no per-epoch
    predictions to resample: the wider, on each side, of the exact binomial interval of the value over `units`
    validation units (exact for accuracy, an approximation for F1 or MAP) and the kept model's bootstrap interval
    (`kept`: {"low", "high", "value"}) drawn around the value. The binomial side keeps the band honest where the
    kept model's interval is degenerate (a perfect validation score bootstraps to [1, 1])."""
    lows, highs = [], []
    for value in values:
        binomial = clopper_pearson(int(round(value * units)), units)
        lows.append(max(min(binomial[0], value + kept["low"] - kept["value"]), 0.0))
        highs.append(min(max(binomial[1], value + kept["high"] - kept["value"]), 1.0))
    return lows, highs
