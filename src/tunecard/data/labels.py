"""Label names, kept end to end: string labels, ClassLabel names, a label/label_text pair,
or numeric ids with a mapping file."""

from __future__ import annotations

import json
from pathlib import Path

from tunecard.data.columns import Columns
from tunecard.errors import TunecardError


def label_names(train, columns: Columns, mapping_file: str | None) -> list[str]:
    """The class names in id order, from the training split."""
    import datasets

    feature = train.features[columns.label]
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names)
    if mapping_file:
        return read_mapping_file(Path(mapping_file))
    if columns.label_name:
        return _names_from_pairs(train, columns)
    values = sorted(set(train.unique(columns.label)), key=_sort_key)
    return [str(v) for v in values]


def read_mapping_file(path: Path) -> list[str]:
    if not path.is_file():
        raise TunecardError("--data.label_names", "a file of label names", f"nothing at {path}",
                            "check the path")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        mapping = json.loads(text)
        return [mapping[k] for k in sorted(mapping, key=int)]
    return [line.strip() for line in text.splitlines() if line.strip()]


def _names_from_pairs(train, columns: Columns) -> list[str]:
    pairs = train.select_columns([columns.label, columns.label_name]).to_pandas().drop_duplicates()
    names: dict = {}
    for label, name in pairs.itertuples(index=False):
        if names.setdefault(label, name) != name:
            raise TunecardError(f"columns {columns.label}/{columns.label_name}",
                                "one name per label id", f"id {label} named '{names[label]}' and '{name}'",
                                "fix the names, or drop one column with --data.label_column")
    return [str(names[k]) for k in sorted(names, key=_sort_key)]


def encode_labels(dataset, columns: Columns, names: list[str], split: str, by_id: bool):
    """Map labels to ids 0..n-1 as a ClassLabel column named `label`.

    by_id: the values are already ids into `names` (ClassLabel or a mapping file); otherwise
    they are names (with a label/label_text pair, the name column is what gets mapped).
    """
    import datasets

    source = columns.label_name or columns.label
    lookup = {str(i) if by_id else name: i for i, name in enumerate(names)}
    unseen = sorted({str(v) for v in dataset.unique(source)} - set(lookup), key=_sort_key)
    if unseen:
        expected = f"ids 0..{len(names) - 1}" if by_id else f"only labels seen in train ({', '.join(names)})"
        raise TunecardError(f"labels in {split}", expected, f"{', '.join(unseen[:5])} not in train",
                            "add examples of them to train, or remove those rows")
    dropped = [c for c in dict.fromkeys([columns.label, source, "label"]) if c in dataset.column_names]
    dataset = dataset.map(lambda b: {"label": [lookup[str(v)] for v in b[source]]},
                          batched=True, remove_columns=dropped)
    return dataset.cast_column("label", datasets.ClassLabel(names=names))


def labels_are_ids(train, columns: Columns, mapping_file: str | None) -> bool:
    import datasets

    return bool(mapping_file) or (
        isinstance(train.features[columns.label], datasets.ClassLabel) and not columns.label_name)


def values_are_ids(feature, columns: Columns, names: list[str]) -> bool:
    """For data scored against a trained model's names: are the label values ids into `names`?
    Integers are ids unless the names are themselves numbers (then values are names)."""
    import datasets

    if columns.label_name:
        return False
    if isinstance(feature, datasets.ClassLabel):
        return True
    numeric_names = all(n.lstrip("-").isdigit() for n in names)
    return getattr(feature, "dtype", "").startswith(("int", "uint")) and not numeric_names


def _sort_key(value):
    text = str(value)
    return (0, int(text), "") if text.lstrip("-").isdigit() else (1, 0, text)
