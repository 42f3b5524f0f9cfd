"""The rows of a predictions table (id, prediction, one probability column per label, the top-k labels), and a
run's predictions/<split>.csv read back as the split it scored."""

from __future__ import annotations

import numpy as np


def prediction_frame(ids, probs: np.ndarray, labels: list[str], top_k: int = 1, decimals: int | None = 6):
    """`decimals=None` keeps full precision (a run's predictions/, from which `tunecard verify` recomputes
    calibration: a tail probability rounded to 0 would lose the logit it came from)."""
    import pandas as pd

    frame = pd.DataFrame({"id": list(ids), "prediction": [labels[i] for i in probs.argmax(-1)]})
    for i, label in enumerate(labels):
        frame[f"prob_{label}"] = probs[:, i] if decimals is None else probs[:, i].round(decimals)
    if top_k > 1:
        ranked = np.argsort(-probs, axis=1)[:, :top_k]
        frame["top_k"] = [" ".join(labels[i] for i in row) for row in ranked]
    return frame


def read_prediction_split(path, names: list[str]):
    """(dataset, probs) from a run's predictions/<split>.csv: the rows as the task's metrics read them (`id`,
    `label` ids, and the task's extra columns, e.g. `pair_id`) and the probabilities written for them."""
    from pathlib import Path

    import datasets
    import pandas as pd

    from tunecard.errors import TunecardError

    path = Path(path)
    if not path.is_file():
        raise TunecardError(f"predictions {path.name}", "a predictions file for every evaluated split",
                            f"no {path}", "restore the run's predictions/ folder")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    probs = frame[[f"prob_{name}" for name in names]].astype(float).to_numpy()
    index = {name: i for i, name in enumerate(names)}
    extras = {c: frame[c].tolist() for c in frame.columns
              if c not in ("id", "gold", "prediction") and not c.startswith("prob_")}
    dataset = datasets.Dataset.from_dict(
        {"id": frame["id"].tolist(), "label": [index[g] for g in frame["gold"]], **extras},
        features=datasets.Features({"id": datasets.Value("string"), "label": datasets.ClassLabel(names=names),
                                    **{c: datasets.Value("string") for c in extras}}))
    return dataset, probs
