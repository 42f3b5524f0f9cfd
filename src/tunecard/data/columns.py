"""Find the text, text-pair and label columns by name, or check the ones the user named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from tunecard.errors import TunecardError

PAIR_COLUMNS = [("sentence1", "sentence2"), ("premise", "hypothesis"), ("question", "sentence"),
                ("question1", "question2"), ("text", "text_pair"), ("query", "passage")]
TEXT_COLUMNS = ["text", "sentence", "content", "review", "document", "tweet", "body",
                "utterance", "comment"]
LABEL_COLUMNS = ["label", "labels", "label_text", "category", "class", "target", "sentiment"]
ID_COLUMNS = ("id", "idx", "guid")
"""Columns that name a row (kept as its id in predictions files and in the names of dropped rows)."""
# A numeric label column next to a column of its names (the HF `emotion` layout).
NAME_COLUMNS = {"label": ["label_text", "label_name"], "labels": ["labels_text"]}


def id_column(available: list[str]) -> str | None:
    """The column that names each row, if the data has one."""
    return next((c for c in ID_COLUMNS if c in available), None)


@dataclass(frozen=True)
class Columns:
    """The source columns of a text dataset, as found (or named by the data.*_column options)."""

    text: str
    label: str
    text_pair: Optional[str] = None
    label_name: Optional[str] = None
    """A column holding the names of the numeric ids in `label`, when the data has one."""


def resolve_columns(available: list[str], text: str | None, pair: str | None,
                    label: str | None, split: str = "train") -> Columns:
    for flag, name in (("text_column", text), ("text_pair_column", pair), ("label_column", label)):
        if name is not None and name not in available:
            raise TunecardError(f"--data.{flag}", f"a column of the {split} data",
                                f"'{name}' among {_list(available)}", f"use one of {_list(available)}")
    label = label or _infer_label(available)
    if text is None:
        text, pair = _infer_text(available, label, pair)
    names = [c for c in NAME_COLUMNS.get(label, []) if c in available]
    return Columns(text=text, label=label, text_pair=pair, label_name=names[0] if names else None)


def _infer_label(available: list[str]) -> str:
    found = [c for c in LABEL_COLUMNS if c in available]
    named_pairs = [n for c in found for n in NAME_COLUMNS.get(c, []) if n in found]
    found = [c for c in found if c not in named_pairs]
    if len(found) == 1:
        return found[0]
    if not found:
        raise TunecardError("label column", f"one named {_list(LABEL_COLUMNS)}",
                            f"columns {_list(available)}", "name it with --data.label_column")
    raise TunecardError("label column", "exactly one label column", f"several: {_list(found)}",
                        "choose one with --data.label_column")


def _infer_text(available: list[str], label: str, pair: str | None) -> tuple[str, str | None]:
    if pair is None:
        for first, second in PAIR_COLUMNS:
            if first in available and second in available:
                return first, second
    found = [c for c in TEXT_COLUMNS if c in available and c not in (label, pair)]
    if len(found) == 1:
        return found[0], pair
    if not found:
        raise TunecardError("text column", f"one named {_list(TEXT_COLUMNS)}",
                            f"columns {_list(available)}", "name it with --data.text_column")
    raise TunecardError("text column", "exactly one text column", f"several: {_list(found)}",
                        "choose one with --data.text_column")


def infer_text_columns(available: list[str], text: str | None, pair: str | None) -> tuple[str, str | None]:
    """The text (and pair) columns of unlabelled data, named or inferred."""
    for flag, name in (("text_column", text), ("text_pair_column", pair)):
        if name is not None and name not in available:
            raise TunecardError(f"--{flag}", "a column of the data", f"'{name}' among {_list(available)}",
                                f"use one of {_list(available)}")
    return (text, pair) if text else _infer_text(available, "", pair)


def _list(names: list[str]) -> str:
    return ", ".join(names) if names else "none"
