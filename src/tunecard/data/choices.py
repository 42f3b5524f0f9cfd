"""The multiple-choice column contract: find the question, options, context and answer of each row in
any of three layouts, and read a batch of rows into plain lists, naming the row of any bad value.

Layouts (the answer may be a letter, a 0-based index, or the text of one option):

- letter columns `A`, `B`, `C`, ... from A on, beside a question column (Kaggle "LLM Science Exam":
  prompt, A..E, answer)
- a list column (`options`, `choices`, `endings`, `candidates`) of option texts beside a question column
- nested records (OpenBookQA, ARC): a `question` record with `stem` and `choices` (a list of
  {text, label}), or a `choices` column ({text: [...], label: [...]} or a list of {text, label})
  beside a question column; the answer may then also be one of the choice labels

Questions may have different numbers of options (at least MIN_OPTIONS each) in the list and record layouts; in
the letters layout every row has one option per letter column.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from typing import Optional

import numpy as np

from tunecard.data.columns import id_column as find_id_column
from tunecard.errors import TunecardError

QUESTION_COLUMNS = ("prompt", "question", "stem", "query", "sentence", "goal", "text")
ANSWER_COLUMNS = ("answer", "answerKey", "answer_key", "label", "correct", "target")
LIST_COLUMNS = ("options", "choices", "endings", "candidates")
CONTEXT_COLUMNS = ("context", "passage", "article")
LETTERS = string.ascii_uppercase
MIN_OPTIONS = 2
"""Fewer options leave nothing to choose between."""
LAYOUT_HELP = ("option columns A, B, ... beside a question column, a list column (options, choices, endings), "
               "or OpenBookQA-style question.stem + question.choices")


@dataclass(frozen=True)
class ChoiceColumns:
    layout: str
    """letters, list or nested."""
    question: str
    options: tuple[str, ...] | str
    """The letter columns (letters layout) or the one column holding the options."""
    answer: Optional[str] = None
    context: Optional[str] = None
    id: Optional[str] = None


@dataclass
class ChoiceRows:
    """A batch of rows read into plain lists."""
    questions: list[str]
    options: list[list[str]]
    contexts: list[str]
    answers: list[int] | None
    """Answer option ids (0-based), when the data has answers."""


def option_letters(n_options: int) -> list[str]:
    """A, B, ... for the most options a question has; one with fewer options uses the first letters."""
    if n_options > len(LETTERS):
        raise TunecardError("options", f"at most {len(LETTERS)} options per question (one letter each)",
                            f"a question with {n_options}", "split or shorten those questions")
    return list(LETTERS[:n_options])


def option_column(columns: ChoiceColumns) -> str | None:
    """The one column that holds a row's options (list and record layouts); None for letter columns, where every
    row has one option per column."""
    if columns.layout == "letters":
        return None
    return columns.question if columns.layout == "nested" else columns.options


def option_counts(values: list, columns: ChoiceColumns) -> list[int]:
    """How many options each row has, from the values of its `option_column`."""
    if columns.layout == "nested":
        values = [record.get("choices") if record else None for record in values]
    return [len(_choices(value)[0]) for value in values]


def mask_absent_options(scores, counts, width: int | None = None) -> np.ndarray:
    """Option scores [questions, width] where each question keeps its own options' scores (its first `counts[i]`
    columns) and every option it lacks scores -inf: probability exactly 0 after a softmax, ranked after all of
    its real options. Columns past `scores`' own width (a narrower batch) are lacking options too."""
    scores = np.asarray(scores)
    width = width or scores.shape[-1]
    dtype = scores.dtype if np.issubdtype(scores.dtype, np.floating) else np.float64
    masked = np.full((len(scores), width), -np.inf, dtype=dtype)
    kept = min(width, scores.shape[-1]) if scores.ndim == 2 else 0
    masked[:, :kept] = scores[:, :kept]
    masked[np.arange(width)[None, :] >= np.asarray(counts)[:, None]] = -np.inf
    return masked


def find_choice_columns(features, question: str | None = None, answer: str | None = None,
                        require_answer: bool = True, where: str = "train data") -> ChoiceColumns:
    """The layout and columns of multiple-choice rows (`features`: the dataset's datasets.Features)."""
    available = list(features)
    for flag, name in (("text_column", question), ("label_column", answer)):
        if name is not None and name not in available:
            raise TunecardError(f"--data.{flag}", f"a column of the {where}", f"'{name}' among {_list(available)}",
                                f"use one of {_list(available)}")
    answer = answer or next((c for c in ANSWER_COLUMNS if c in available), None)
    if require_answer and answer is None:
        raise TunecardError(f"answer column in the {where}", f"one named {_list(ANSWER_COLUMNS)}",
                            f"columns {_list(available)}", "name it with --data.label_column")
    context = next((c for c in CONTEXT_COLUMNS if c in available), None)
    id_column = find_id_column(available)
    nested = question or "question"
    if _is_record(features.get(nested)) and "stem" in features[nested]:
        return ChoiceColumns("nested", nested, nested, answer, context, id_column)
    letters = _letter_columns(available)
    if letters:
        layout, options = "letters", tuple(letters)
    else:
        options = next((c for c in LIST_COLUMNS if c in available), None)
        if options is None:
            raise TunecardError(f"multiple-choice {where}", LAYOUT_HELP, f"columns {_list(available)}",
                                "rename the columns to one of those layouts")
        layout = "list"
    taken = {answer, context, id_column, *((options,) if isinstance(options, str) else options)}
    question = question or next((c for c in QUESTION_COLUMNS if c in available and c not in taken), None)
    if question is None:
        raise TunecardError(f"question column in the {where}", f"one named {_list(QUESTION_COLUMNS)}",
                            f"columns {_list(available)}", "name it with --data.text_column")
    return ChoiceColumns(layout, question, options, answer, context, id_column)


def _letter_columns(available: list[str]) -> list[str]:
    """A, B, C, ... as long as they run on from A (at least two)."""
    letters = []
    for letter in LETTERS:
        if letter not in available:
            break
        letters.append(letter)
    return letters if len(letters) >= 2 else []


def _is_record(feature) -> bool:
    return isinstance(feature, dict)


def read_rows(batch: dict, columns: ChoiceColumns, row_numbers: list[int], split: str,
              max_options: int | None = None) -> ChoiceRows:
    """Questions, options, contexts and answer ids of a batch; every option must be present, a row has at least
    MIN_OPTIONS options and at most `max_options` (the letters a model names), and answers must name an option."""
    questions, options, labels = _questions_and_options(batch, columns)
    for i, row_options in enumerate(options):
        _check_options(row_options, max_options, _row_name(batch, columns, row_numbers, i), split,
                       columns.options if columns.layout == "letters" else None)
    options = [[str(option) for option in row] for row in options]
    contexts = [str(c or "") for c in batch[columns.context]] if columns.context else [""] * len(questions)
    answers = None
    if columns.answer and columns.answer in batch:
        answers = [answer_index(value, row_options, row_labels, _row_name(batch, columns, row_numbers, i), split)
                   for i, (value, row_options, row_labels) in enumerate(zip(batch[columns.answer], options, labels))]
    return ChoiceRows([str(q or "") for q in questions], options, contexts, answers)


def complete_rows(batch: dict, columns: ChoiceColumns) -> list[bool]:
    """For each row of a batch: are its question, every option and its answer (when the data has answers)
    present (for --data.bad_rows drop)?"""
    questions, options, _ = _questions_and_options(batch, columns)
    answers = batch[columns.answer] if columns.answer and columns.answer in batch else [0] * len(options)
    return [bool(row) and not any(_is_missing(option) for option in row) and not _is_missing(q)
            and not _is_missing(a) for q, row, a in zip(questions, options, answers)]


def _is_missing(option) -> bool:
    return option is None or (isinstance(option, float) and math.isnan(option)) or not str(option).strip()


def _questions_and_options(batch: dict, columns: ChoiceColumns):
    """(questions, options per row, choice labels per row or None) for each layout."""
    if columns.layout == "letters":
        options = [list(row) for row in zip(*(batch[c] for c in columns.options))]
        return batch[columns.question], options, [None] * len(options)
    if columns.layout == "nested":
        records = batch[columns.question]
        parsed = [_choices(record.get("choices") if record else None) for record in records]
        return [record.get("stem") if record else None for record in records], [p[0] for p in parsed], \
            [p[1] for p in parsed]
    parsed = [_choices(value) for value in batch[columns.options]]
    return batch[columns.question], [p[0] for p in parsed], [p[1] for p in parsed]


def _choices(value) -> tuple[list, list | None]:
    """(texts, labels or None) from a list of texts, a list of {text, label} or a {text: [], label: []}."""
    if value is None:
        return [], None
    if isinstance(value, dict):
        return list(value.get("text") or []), [str(x) for x in value.get("label") or []] or None
    if value and isinstance(value[0], dict):
        return [v.get("text") for v in value], [str(v.get("label")) for v in value]
    return list(value), None


def _check_options(row_options: list, max_options: int | None, row: str, split: str, letter_columns) -> None:
    n = len(row_options)
    if n < MIN_OPTIONS:
        raise TunecardError(f"options in {split}", f"at least {MIN_OPTIONS} options per question", f"{row} has {n}",
                            "give every question two or more options, or remove that row")
    if max_options is not None and n > max_options:
        raise TunecardError(f"options in {split}", f"at most {max_options} options per question (the model's letters "
                            f"A-{LETTERS[max_options - 1]})", f"{row} has {n}",
                            f"score questions of up to {max_options} options, or train on data that has {n}")
    for i, option in enumerate(row_options):
        if _is_missing(option):
            name = letter_columns[i] if letter_columns else LETTERS[i]
            raise TunecardError(f"options in {split}", "a non-empty text for every option",
                                f"{row}: option {name} is missing", "fill in or remove that row")


def answer_index(value, row_options: list, choice_labels: list | None, row: str, split: str) -> int:
    """The option id an answer names: a choice label (record layouts), a letter, a 0-based index, or an
    option's exact text, tried in that order. A row with choice labels takes no 0-based index: ARC numbers
    its choices 1, 2, 3, ..., so there a digit is a label or a mistake, never a position."""
    n = len(row_options)
    text = str(value).strip() if value is not None else ""
    if choice_labels and text in choice_labels[:n]:
        return choice_labels.index(text)
    if text in LETTERS[:n]:
        return LETTERS.index(text)
    if text.isdigit() and int(text) < n and not choice_labels:
        return int(text)
    stripped = [str(option).strip() for option in row_options]
    if text and text in stripped:
        return stripped.index(text)
    forms = (f"one of the row's choice labels ({', '.join(choice_labels[:n])}), a letter (A-{LETTERS[n - 1]})"
             if choice_labels else f"a letter (A-{LETTERS[n - 1]}), a 0-based index (0-{n - 1})")
    raise TunecardError(f"answers in {split}", f"{forms} or the text of one of the row's options",
                        f"{row}: answer '{value}'", "correct the answer or remove that row")


def _row_name(batch: dict, columns: ChoiceColumns, row_numbers: list[int], i: int) -> str:
    """'row 7' (1-based, as in the file), with the row's id when the data has one."""
    name = f"row {row_numbers[i] + 1}"
    return f"{name} (id {batch[columns.id][i]})" if columns.id else name


def _list(names) -> str:
    return ", ".join(names) if names else "none"
