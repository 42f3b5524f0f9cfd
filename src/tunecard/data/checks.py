"""Checks that run before any training: every problem is a TunecardError naming the rows.

They work on the Arrow columns directly (pyarrow.compute), so they stay fast on large files.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from tunecard.data.columns import id_column as find_id_column
from tunecard.errors import TunecardError


def arrow_column(dataset, column: str):
    """The column as Arrow data, honouring any indices mapping left by filter/select/split."""
    return dataset.with_format("arrow")[column]


def check_texts(dataset, column: str, split: str) -> None:
    """No missing or blank texts."""
    values = arrow_column(dataset, column)
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        raise TunecardError(f"text column '{column}' in {split}", "text values",
                            f"values of type {values.type}", "name the text column with --data.text_column")
    blank = pc.or_kleene(pc.is_null(values), pc.equal(pc.utf8_trim_whitespace(values), ""))
    _fail_on_rows(blank, f"texts in {split} column '{column}'", "a non-empty text in every row",
                  "empty or missing", "fill in or remove those rows, or pass --data.bad_rows drop")


SHOWN_ROWS = 5
"""How many dropped rows a report names."""


def drop_bad_rows_in(splits: dict, is_complete) -> tuple[dict, dict]:
    """(the splits without their incomplete rows, what was dropped per split: `drop_bad_rows`'s reports)."""
    kept, dropped = {}, {}
    for name, dataset in splits.items():
        kept[name], report = drop_bad_rows(dataset, is_complete)
        dropped.update({name: report} if report else {})
    return kept, dropped


def drop_bad_rows(dataset, is_complete):
    """(the dataset without its incomplete rows, {"count": n, "first": the first ids or 1-based row numbers});
    `is_complete(batch) -> [bool]` judges a batch of rows."""
    id_column = find_id_column(dataset.column_names)
    flags = [ok for batch in dataset.iter(batch_size=10_000) for ok in is_complete(batch)]
    bad = [i for i, ok in enumerate(flags) if not ok]
    if not bad:
        return dataset, None
    ids = dataset.select(bad[:SHOWN_ROWS])[id_column] if id_column else [i + 1 for i in bad[:SHOWN_ROWS]]
    kept = dataset.select([i for i, ok in enumerate(flags) if ok])
    return kept, {"count": len(bad), "first": [str(v) for v in ids], "by": "id" if id_column else "row"}


def complete_texts_and_labels(text_columns: list[str], label_column: str):
    """is_complete for `drop_bad_rows`: every text non-blank and a label present."""
    def is_complete(batch) -> list[bool]:
        rows = zip(*(batch[c] for c in text_columns), batch[label_column])
        return [all(_present(v) for v in row) for row in rows]
    return is_complete


def _present(value) -> bool:
    return value is not None and value == value and bool(str(value).strip())  # value == value: not NaN


def check_labels_present(dataset, column: str, split: str) -> None:
    values = arrow_column(dataset, column)
    missing = pc.is_null(values)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        missing = pc.or_kleene(missing, pc.equal(pc.utf8_trim_whitespace(values), ""))
    _fail_on_rows(missing, f"labels in {split} column '{column}'", "a label in every row",
                  "missing", "label or remove those rows, or pass --data.bad_rows drop")


def check_classes(names: list[str], train_rows: int) -> None:
    if len(names) < 2:
        raise TunecardError("labels in train", "at least 2 classes",
                            f"a single class ({', '.join(names) or 'none'})",
                            "add examples of other classes")
    if train_rows < len(names):
        raise TunecardError("train split", f"at least one row per class ({len(names)} classes)",
                            f"{train_rows} rows", "add training rows or remove unused classes")


def _fail_on_rows(mask, what: str, expected: str, problem: str, fix: str) -> None:
    count = pc.sum(mask).as_py() or 0
    if count:
        flat = mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask
        rows = pc.indices_nonzero(flat).to_pylist()[:5]
        shown = ", ".join(str(r + 1) for r in rows) + (", ..." if count > len(rows) else "")
        raise TunecardError(what, expected, f"{count} {problem} (data rows {shown})", fix)
