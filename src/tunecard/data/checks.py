"""Checks that run before any training: every problem is a TunecardError naming the rows.

They work on the Arrow columns directly (pyarrow.compute), so they stay fast on large files.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

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
                  "empty or missing", "fill in or remove those rows, or pass --data.empty_texts drop")


def drop_blank_texts(dataset, columns: list[str]):
    """The dataset without rows whose text (in any of `columns`) is empty or missing."""
    def keep(batch):
        return [all(v is not None and str(v).strip() for v in values) for values in zip(*(batch[c] for c in columns))]
    return dataset.filter(keep, batched=True)


def check_labels_present(dataset, column: str, split: str) -> None:
    values = arrow_column(dataset, column)
    missing = pc.is_null(values)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        missing = pc.or_kleene(missing, pc.equal(pc.utf8_trim_whitespace(values), ""))
    _fail_on_rows(missing, f"labels in {split} column '{column}'", "a label in every row",
                  "missing", "label or remove those rows")


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
