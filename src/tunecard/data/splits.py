"""Hold out a stratified validation split when the data has none."""

from __future__ import annotations

import math

import pyarrow.compute as pc

from tunecard.data.checks import arrow_column

from tunecard.errors import TunecardError


def stratified_holdout(train, size: float, seed: int) -> tuple:
    """(train, validation) with each class in the same share in both (train.label is a ClassLabel)."""
    n_classes = train.features["label"].num_classes
    n_holdout = math.ceil(size * len(train))
    counts = pc.value_counts(arrow_column(train, "label")).to_pylist()
    rarest = min(counts, key=lambda c: c["counts"])
    if rarest["counts"] < 2:
        name = train.features["label"].int2str(rarest["values"])
        raise TunecardError("validation split", "at least 2 rows of every class to hold some out",
                            f"class '{name}' with 1 row",
                            "add rows of that class or give a validation file with --data.validation")
    if n_holdout < n_classes or len(train) - n_holdout < n_classes:
        raise TunecardError("validation split", f"at least {n_classes} rows (one per class) on each side",
                            f"{len(train)} rows, {n_holdout} to hold out",
                            "add rows, change --data.validation_size or give --data.validation")
    parts = train.train_test_split(test_size=n_holdout, stratify_by_column="label", seed=seed)
    return parts["train"], parts["test"]
