"""Two runs scored on the same rows, compared from their predictions/<split>.csv: each run's accuracy and macro F1
and the paired 95% bootstrap interval of the difference (rows resampled together, tunecard's own intervals)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tunecard.judging.intervals import paired_lead
from tunecard.judging.metrics import macro_f1_of_confusions


def accuracy_of_confusions(confusions: np.ndarray) -> np.ndarray:
    return np.trace(confusions, axis1=-2, axis2=-1) / confusions.sum((-2, -1))


STATISTICS = {"accuracy": accuracy_of_confusions, "f1_macro": macro_f1_of_confusions}


def from_predictions(run_a: Path, run_b: Path, names: tuple[str, str], splits=("validation", "test")) -> dict:
    """{split: {statistic: {name_a: value, name_b: value, "difference": a - b, "difference_interval": [lo, hi]}}}."""
    result = {}
    for split in splits:
        ours, theirs = (pd.read_csv(Path(run) / "predictions" / f"{split}.csv") for run in (run_a, run_b))
        assert list(ours["id"]) == list(theirs["id"]) and list(ours["gold"]) == list(theirs["gold"]), split
        labels = sorted(set(ours["gold"]) | set(ours["prediction"]) | set(theirs["prediction"]))
        code = {name: i for i, name in enumerate(labels)}
        gold, a, b = (column.map(code).to_numpy() for column in (ours["gold"], ours["prediction"],
                                                                 theirs["prediction"]))
        result[split] = {}
        for statistic, function in STATISTICS.items():
            value_a, value_b = (float(function(_confusion(gold, p, len(labels)))) for p in (a, b))
            lead = difference(gold, a, b, len(labels), function)
            result[split][statistic] = {names[0]: round(value_a, 4), names[1]: round(value_b, 4),
                                        "difference": lead["difference"], "difference_interval": lead["interval"]}
    return result


def difference(gold: np.ndarray, a: np.ndarray, b: np.ndarray, n_labels: int,
               statistic=accuracy_of_confusions) -> dict:
    """statistic(a) - statistic(b) for predicted label ids on the same rows, with its paired 95% interval."""
    value = float(statistic(_confusion(gold, a, n_labels)) - statistic(_confusion(gold, b, n_labels)))
    interval = paired_lead(gold, np.arange(len(gold)), n_labels, a, b, statistic, seed=0)
    return {"difference": round(value, 4), "interval": [round(v, 4) for v in interval]}


def _confusion(gold: np.ndarray, predicted: np.ndarray, n: int) -> np.ndarray:
    confusion = np.zeros((n, n), dtype=np.int64)
    np.add.at(confusion, (gold, predicted), 1)
    return confusion
