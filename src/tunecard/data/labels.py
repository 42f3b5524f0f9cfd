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
    values = sorted(set(train.unique(columns.label)), key=sort_key)
    return [str(v) for v in values]


def read_mapping_file(path: Path) -> list[str]:
    if not path.is_file():
        raise TunecardError("--data.label_names", "a file of label names", f"nothing at {path}",
                            "check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise TunecardError("--data.label_names", "a UTF-8 text file of label names", f"{path} is not UTF-8",
                            "re-save it as UTF-8") from None
    names = _json_names(path, text) if path.suffix.lower() == ".json" else \
        [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise TunecardError("--data.label_names", "one name per label id", f"no names in {path}",
                            "write one name a line (line i names id i)")
    counts = {name: names.count(name) for name in dict.fromkeys(names)}
    repeated = ", ".join(f"'{name}' " + ("twice" if n == 2 else f"{n} times") for name, n in counts.items() if n > 1)
    if repeated:
        raise TunecardError("--data.label_names", "a different name for each label id",
                            f"{repeated} in {path.name}", "give each id its own name")
    return names


def _json_names(path: Path, text: str) -> list[str]:
    """Names from a JSON object of id -> name ({"0": "negative", ...}, ids 0..n-1) or a list of names."""
    try:
        mapping = json.loads(text)
    except ValueError as exc:
        raise TunecardError("--data.label_names", "a JSON object of label id -> name, or a list of names",
                            f"{path.name} does not parse ({exc})", "fix the JSON, or write one name a line in "
                            "a .txt file") from None
    if isinstance(mapping, list):
        return [str(name).strip() for name in mapping]
    if not isinstance(mapping, dict):
        raise TunecardError("--data.label_names", "a JSON object of label id -> name, or a list of names",
                            f"a JSON {type(mapping).__name__} in {path.name}", 'write e.g. {"0": "negative", '
                            '"1": "positive"}')
    ids = {}
    for key in mapping:
        try:
            ids[int(key)] = key
        except ValueError:
            ids = None
            break
    if ids is None or sorted(ids) != list(range(len(mapping))):
        shown = ", ".join(list(mapping)[:8]) + (", ..." if len(mapping) > 8 else "")
        raise TunecardError("--data.label_names", f"the label ids 0..{len(mapping) - 1} as keys",
                            f"keys {shown} in {path.name}", "key each name by its id, counting from 0")
    return [str(mapping[ids[i]]).strip() for i in range(len(mapping))]


def _names_from_pairs(train, columns: Columns) -> list[str]:
    pairs = train.select_columns([columns.label, columns.label_name]).to_pandas().drop_duplicates()
    names: dict = {}
    for label, name in pairs.itertuples(index=False):
        if names.setdefault(label, name) != name:
            raise TunecardError(f"columns {columns.label}/{columns.label_name}",
                                "one name per label id", f"id {label} named '{names[label]}' and '{name}'",
                                "fix the names, or drop one column with --data.label_column")
    return [str(names[k]) for k in sorted(names, key=sort_key)]


def encode_labels(dataset, columns: Columns, names: list[str], split: str, by_id: bool):
    """Map labels to ids 0..n-1 as a ClassLabel column named `label`.

    by_id: the values are already ids into `names` (ClassLabel or a mapping file); otherwise
    they are names (with a label/label_text pair, the name column is what gets mapped).
    """
    import datasets

    source = columns.label_name or columns.label
    lookup = {str(i) if by_id else name: i for i, name in enumerate(names)}
    unseen = sorted({str(v) for v in dataset.unique(source)} - set(lookup), key=sort_key)
    if unseen and by_id:
        shown = ", ".join(unseen[:5]) + (", ..." if len(unseen) > 5 else "")
        ids = f"label ids 0..{len(names) - 1} ({_shown(names)})"
        if not all(value.lstrip("-").isdigit() for value in unseen):
            raise TunecardError(f"labels in {split}", ids, f"label names ({shown})",
                                "give the labels as ids, or drop --data.label_names if they are names already")
        raise TunecardError(f"labels in {split}", ids, f"{shown}, which have no name",
                            "name every id (line i of --data.label_names names id i), or remove those rows")
    if unseen:
        raise TunecardError(f"labels in {split}", f"only labels seen in train ({', '.join(names)})",
                            f"{', '.join(unseen[:5])} not in train",
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


def _shown(names: list[str], most: int = 8) -> str:
    return ", ".join(names[:most]) + (f", ... ({len(names)} in all)" if len(names) > most else "")


def sort_key(value):
    text = str(value)
    return (0, int(text), "") if text.lstrip("-").isdigit() else (1, 0, text)
