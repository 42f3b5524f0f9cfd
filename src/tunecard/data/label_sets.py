"""The multi-label column contract: find where each row's set of labels is, in any of three layouts, and
read it as a 0/1 row over the label names.

Layouts:

- a list column (`labels: ["joy", "love"]`, or ids with data.label_names);
- a delimited string column (`"joy,love"`; data.label_delimiter, default `,`), the layout of GoEmotions' TSV
  files (ids with data.label_names);
- one 0/1 column per label, named by data.label_columns (names, or a prefix ending in `*`).

A row may carry no label (`[]`, `""`, or all zeros): a real case, kept and counted. A missing value (null) in a
list or 0/1 column is a bad row (data.bad_rows); in a delimited column it is an empty set (an empty CSV field
reads as null).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tunecard.data.columns import Columns, infer_text_columns, resolve_columns
from tunecard.data.labels import read_mapping_file, sort_key
from tunecard.errors import TunecardError


@dataclass(frozen=True)
class LabelSetColumns:
    layout: str
    """list, delimited or indicators."""
    text: str
    text_pair: Optional[str]
    sources: tuple[str, ...]
    """The one label column (list, delimited), or the 0/1 columns in label order (indicators)."""
    delimiter: str = ","
    by_id: bool = False
    """Values are ids into data.label_names rather than names."""

    def as_columns(self) -> Columns:
        return Columns(text=self.text, label=",".join(self.sources), text_pair=self.text_pair)


def find_label_set_columns(dataset, data_config) -> LabelSetColumns:
    """The label layout of the train split, from data.label_columns or the label column's type."""
    import datasets

    available = dataset.column_names
    if data_config.label_columns:
        sources = _indicator_columns(available, data_config.label_columns)
        rest = [c for c in available if c not in sources]
        text, pair = infer_text_columns(rest, data_config.text_column, data_config.text_pair_column)
        return LabelSetColumns("indicators", text, pair, tuple(sources))
    columns = resolve_columns(available, data_config.text_column, data_config.text_pair_column,
                              data_config.label_column)
    feature = dataset.features[columns.label]
    layout = "list" if isinstance(feature, (datasets.List, datasets.Sequence)) else "delimited"
    return LabelSetColumns(layout, columns.text, columns.text_pair, (columns.label,), data_config.label_delimiter,
                           by_id=bool(data_config.label_names))


def _indicator_columns(available: list[str], spec: str) -> list[str]:
    if spec.endswith("*"):
        found = [c for c in available if c.startswith(spec[:-1]) and len(c) > len(spec) - 1]
    else:
        found = [c.strip() for c in spec.split(",") if c.strip()]
        missing = [c for c in found if c not in available]
        if missing:
            raise TunecardError("--data.label_columns", "columns of the train data",
                                f"no {', '.join(missing)} among {', '.join(available)}", "name existing columns")
    if len(found) < 2:
        raise TunecardError("--data.label_columns", "at least 2 label columns", f"{len(found)} for '{spec}'",
                            "name every 0/1 label column, or a prefix they share (e.g. emotion_*)")
    return found


def label_names(train, columns: LabelSetColumns, data_config) -> list[str]:
    """Label names in id order: the indicator columns, the mapping file, or the sorted values seen in train."""
    if columns.layout == "indicators":
        prefix = data_config.label_columns[:-1] if data_config.label_columns.endswith("*") else ""
        return [c[len(prefix):] for c in columns.sources]
    if data_config.label_names:
        return read_mapping_file(Path(data_config.label_names))
    seen = {value for batch in train.iter(batch_size=10_000) for row in read_sets(batch, columns) if row
            for value in row}
    return [str(v) for v in sorted(seen, key=sort_key)]


def read_sets(batch: dict, columns: LabelSetColumns) -> list[Optional[list[str]]]:
    """Each row's labels as strings (ids or names as written); None for a missing value."""
    if columns.layout == "indicators":
        rows = zip(*(batch[c] for c in columns.sources))
        return [None if any(v is None for v in row) else [c for c, v in zip(columns.sources, row) if _on(v)]
                for row in rows]
    values = batch[columns.sources[0]]
    if columns.layout == "list":
        return [None if v is None else [str(x).strip() for x in v] for v in values]
    # An empty CSV field reads as null: in this layout a null is an empty set, as CSV cannot tell them apart
    return [[] if v is None or v != v else _split(v, columns.delimiter) for v in values]


def _on(value) -> bool:
    text = str(value).strip().lower()
    if text in ("1", "1.0", "true"):
        return True
    if text in ("0", "0.0", "false", ""):
        return False
    raise TunecardError("label columns", "0 or 1 in every label column", f"the value '{value}'",
                        "give one 0/1 column per label, or name the label column with --data.label_column")


def _split(value, delimiter: str) -> list[str]:
    return [part.strip() for part in str(value).split(delimiter) if part.strip()]


def complete_rows(columns: LabelSetColumns):
    """is_complete for checks.drop_bad_rows: the texts present and a label value (possibly empty) present."""
    def is_complete(batch) -> list[bool]:
        texts = [batch[c] for c in (columns.text, columns.text_pair) if c]
        sets = read_sets(batch, columns)
        return [labels is not None and all(t is not None and str(t).strip() for t in row)
                for labels, *row in zip(sets, *texts)]
    return is_complete


def encode(batch: dict, columns: LabelSetColumns, names: list[str], split: str, first_row: int) -> list[list[float]]:
    """The 0/1 rows over `names`; a missing value or a label not among the names is an error naming its row."""
    index = {str(i) if columns.by_id else name: i for i, name in enumerate(names)}
    if columns.layout == "indicators":
        index = {source: i for i, source in enumerate(columns.sources)}
    rows = []
    for offset, labels in enumerate(read_sets(batch, columns)):
        row = first_row + offset + 1
        if labels is None:
            raise TunecardError(f"labels in {split}", "a label value in every row (an empty one for no label)",
                                f"a missing value in row {row}", "fill it in, or pass --data.bad_rows drop")
        unknown = [v for v in labels if v not in index]
        if unknown:
            expected = f"ids 0..{len(names) - 1}" if columns.by_id else "only labels seen in train"
            raise TunecardError(f"labels in {split}", expected, f"'{unknown[0]}' in row {row}",
                                "add examples of it to train, or remove it")
        hot = [0.0] * len(names)
        for value in labels:
            hot[index[value]] = 1.0
        rows.append(hot)
    return rows
