"""The rows of a predictions table: id, prediction, one probability column per label, the top-k labels."""

from __future__ import annotations

import numpy as np


def prediction_frame(ids, probs: np.ndarray, labels: list[str], top_k: int = 1):
    import pandas as pd

    frame = pd.DataFrame({"id": list(ids), "prediction": [labels[i] for i in probs.argmax(-1)]})
    for i, label in enumerate(labels):
        frame[f"prob_{label}"] = probs[:, i].round(6)
    if top_k > 1:
        ranked = np.argsort(-probs, axis=1)[:, :top_k]
        frame["top_k"] = [" ".join(labels[i] for i in row) for row in ranked]
    return frame
