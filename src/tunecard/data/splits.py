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
    held_out_together: dict | None = None
    """When tunecard drew validation or test itself: how identical texts were kept on one side (`grouped_holdout`:
    {"rule", "repeated_rows", "repeated_texts"}); None when every split was given."""


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
KEY_COLUMNS = ("text", "text_pair")
"""The columns whose (normalised) values make two rows the same text, for the rows of `prepare`'s contract: the
text and its pair. Multiple choice's `text` holds the question with its options."""
TOGETHER_RULE = "identical texts (case and whitespace folded; for pairs, the whole pair) are kept on the same side"


def text_key(*parts) -> str:
    """What makes rows the same text: each part lower-cased with its whitespace collapsed (lists of options
    joined), as the duplicate and leakage checks compare them."""
    return "\x1f".join(" ".join((" | ".join(p) if isinstance(p, list) else str(p or "")).lower().split())
                       for p in parts)


def text_keys(dataset, columns=KEY_COLUMNS) -> list[str]:
    present = [c for c in columns if c and c in dataset.column_names]
    return [text_key(*row) for row in zip(*(dataset[c] for c in present))]


def grouped_holdout(holdout, columns=KEY_COLUMNS):
    """`holdout(train, size, seed, split)` drawing texts rather than rows: every group of identical texts (`text_keys`)
    is held out whole or not at all, so no held-out text is also a training text. The draw is made on each group's
    first row (stratified or random as `holdout` draws, `size` a share of the distinct texts); without repeated texts
    it is `holdout` itself, row for row."""
    import numpy as np

    def draw(train, size: float, seed: int, split: str = "validation") -> tuple:
        group = _groups(text_keys(train, columns))
        if group.max(initial=-1) + 1 == len(group):
            return holdout(train, size, seed, split)
        firsts = np.unique(group, return_index=True)[1]
        representatives = train.select(firsts).add_column("_group", list(range(len(firsts))))
        held = np.zeros(len(firsts), dtype=bool)
        try:
            held[holdout(representatives, size, seed, split)[1]["_group"]] = True
        except TunecardError as error:  # it counted distinct texts: say so
            raise TunecardError(error.what, error.expected.replace(" row", " distinct text"),
                                f"{error.found.replace(' row', ' distinct text')} ({len(train)} rows, "
                                f"{len(firsts)} distinct texts: identical texts are held out together)",
                                error.fix) from None
        return train.select(np.flatnonzero(~held[group])), train.select(np.flatnonzero(held[group]))
    return draw


def _groups(keys: list[str]):
    """Each row's group id (0, 1, ... in order of first appearance)."""
    import numpy as np

    ids: dict[str, int] = {}
    return np.array([ids.setdefault(key, len(ids)) for key in keys], dtype=int)


def together_report(train, columns=KEY_COLUMNS) -> dict:
    """What the card and metrics.json say of a hold-out drawn from `train`: the rule, and how many rows repeat an
    earlier row's text (and how many distinct texts repeat)."""
    import numpy as np

    counts = np.bincount(_groups(text_keys(train, columns)))
    return {"rule": TOGETHER_RULE, "repeated_rows": int((counts - 1).sum()), "repeated_texts": int((counts > 1).sum())}


def read_training_splits(data_config) -> dict:
    """The train, validation and test splits the data gives (other splits are ignored); train is required."""
    from tunecard.data.readers import read_splits

    raw = read_splits(data_config)
    if "train" not in raw:
        raise TunecardError("training data", "a train split (a file, or train.* in a folder)",
                            f"splits {', '.join(raw) or 'none'}", "pass --data or --data.train")
    return {name: ds for name, ds in raw.items() if name in SPLITS}


def hold_out_missing(splits: dict, data_config, seed: int, holdout=stratified_holdout,
                     key_columns=KEY_COLUMNS) -> tuple[dict, bool, bool, dict | None]:
    """(splits, validation held out?, test held out?, what `together_report` says or None): a test split drawn from
    train when none exists and data.test_size is set, then a validation split when none exists. `holdout(train, size,
    seed, split)` draws one (stratified by label unless the task draws by pair), keeping identical texts (the
    `key_columns`) on one side. The overlap a user's own splits have is left for the leakage check to report."""
    splits = dict(splits)
    together = together_report(splits["train"], key_columns)
    holdout = grouped_holdout(holdout, key_columns)
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
    return splits, validation_held_out, test_held_out, together if validation_held_out or test_held_out else None
