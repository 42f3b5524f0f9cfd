"""A task's prepared splits, and the held-out splits drawn from train when the data has none."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc

from tunecard.data.checks import arrow_column
from tunecard.errors import TunecardError


@dataclass
class PreparedData:
    """A task's `prepare` result: standardised splits in the task's contract."""
    splits: dict
    """Split name -> datasets.Dataset."""
    label_names: list[str]
    columns: Any
    """The source columns read (data.columns.Columns)."""
    validation_held_out: bool = False
    dropped_rows: dict[str, dict] = field(default_factory=dict)
    """Rows skipped per split for a missing text, label or option (data.bad_rows: drop): {"count", "first"
    (ids, or 1-based row numbers), "by" ("id" or "row")}."""
    findings: list = field(default_factory=list)
    """Findings made while preparing the data (diagnostics.Finding)."""
    test_held_out: bool = False


def stratified_holdout(train, size: float, seed: int, split: str = "validation") -> tuple:
    """(train, held out) with each class in the same share in both (train.label is a ClassLabel)."""
    n_classes = train.features["label"].num_classes
    n_holdout = math.ceil(size * len(train))
    counts = pc.value_counts(arrow_column(train, "label")).to_pylist()
    rarest = min(counts, key=lambda c: c["counts"])
    if rarest["counts"] < 2:
        name = train.features["label"].int2str(rarest["values"])
        raise TunecardError(f"{split} split", "at least 2 rows of every class to hold some out",
                            f"class '{name}' with 1 row",
                            f"add rows of that class or give a {split} file with --data.{split}")
    if n_holdout < n_classes or len(train) - n_holdout < n_classes:
        raise TunecardError(f"{split} split", f"at least {n_classes} rows (one per class) on each side",
                            f"{len(train)} rows, {n_holdout} to hold out",
                            f"add rows, change --data.{split}_size or give --data.{split}")
    parts = train.train_test_split(test_size=n_holdout, stratify_by_column="label", seed=seed)
    return parts["train"], parts["test"]


def random_holdout(train, size: float, seed: int, split: str = "validation", unit: str = "row") -> tuple:
    """(train, held out): a seeded random share of the rows, for labels that cannot stratify (label sets,
    preference pairs: `unit` names what a row is in the error)."""
    n_holdout = math.ceil(size * len(train))
    if n_holdout < 1 or len(train) - n_holdout < 1:
        raise TunecardError(f"{split} split", f"at least one {unit} on each side of the hold-out",
                            f"{len(train)} {unit}s, {n_holdout} to hold out",
                            f"add {unit}s or give a {split} file with --data.{split}")
    parts = train.train_test_split(test_size=n_holdout, seed=seed)
    return parts["train"], parts["test"]


SPLITS = ("train", "validation", "test")


def read_training_splits(data_config) -> dict:
    """The train, validation and test splits the data gives (other splits are ignored); train is required."""
    from tunecard.data.readers import read_splits

    raw = read_splits(data_config)
    if "train" not in raw:
        raise TunecardError("training data", "a train split (a file, or train.* in a folder)",
                            f"splits {', '.join(raw) or 'none'}", "pass --data or --data.train")
    return {name: ds for name, ds in raw.items() if name in SPLITS}


def hold_out_missing(splits: dict, data_config, seed: int, holdout=stratified_holdout) -> tuple[dict, bool, bool]:
    """(splits, validation held out?, test held out?): a test split drawn from train when none exists and
    data.test_size is set, then a validation split when none exists. `holdout(train, size, seed, split)`
    draws one (stratified by label unless the task draws by pair)."""
    splits = dict(splits)
    test_held_out = "test" not in splits and bool(data_config.test_size)
    if test_held_out and not 0 < data_config.test_size < 1:
        raise TunecardError("--data.test_size", "a share between 0 and 1", repr(data_config.test_size),
                            "set e.g. 0.1")
    if test_held_out:
        splits["train"], splits["test"] = holdout(splits["train"], data_config.test_size, seed, "test")
    validation_held_out = "validation" not in splits
    if validation_held_out:
        splits["train"], splits["validation"] = holdout(splits["train"], data_config.validation_size, seed,
                                                        "validation")
    return splits, validation_held_out, test_held_out
