"""Multiple-choice questions: read, checked and standardised to the contract every multiple-choice model trains on,
and tokenized. The data half of the multiple_choice task (tasks/multiple_choice.py).

Contract after `prepare`: every split has `id` (str), `question`, `options` (a list of texts: each question its
own, at least two), `n_options` (their count), `context` (text; "" when there is none), `text` (the question and
its options: what the duplicate and leakage checks compare) and `label` (a ClassLabel over the option letters A,
B, ... up to the most options any question has).
Retrieval (`retrieval.passages.attach_context`) fills `context` and adds `retrieved` (the passages and scores).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tunecard.data import checks, choices
from tunecard.data.columns import Columns
from tunecard.data.splits import PreparedData, hold_out_missing, read_training_splits
from tunecard.data.texts import map_fingerprint
from tunecard.errors import TunecardError

CONTEXT_SEPARATOR = " #### "
"""Between the context and the question (the public LLM Science Exam notebooks' `context #### prompt`)."""
COUNT_BATCH = 10_000
"""Rows read at once when counting options."""
UNCUT = 10**9
"""A max_length no input reaches: encode_choices then cuts nothing."""


def prepare(data_config, seed: int) -> PreparedData:
    """Read and check the question splits; hold out validation (and test) when missing."""
    raw = read_training_splits(data_config)
    if not len(raw["train"]):
        raise TunecardError("train data", "at least one question", "no rows", "add rows")
    columns = {name: choices.find_choice_columns(dataset.features, data_config.text_column, data_config.label_column,
                                                 where=f"{name} data") for name, dataset in raw.items()}
    dropped = {}
    if data_config.bad_rows == "drop":
        raw, dropped = _drop_bad_rows(raw, columns)
    # Every split the run reads counts: a validation question with more options than any training question
    # still gets a letter for each of them.
    names = choices.option_letters(largest_option_count(raw, columns))
    splits = {name: standardise(dataset, columns[name], names, name) for name, dataset in raw.items()}
    splits, held_out, test_held_out, together = hold_out_missing(splits, data_config, seed)
    return PreparedData(splits, names, Columns(text=columns["train"].question, label=columns["train"].answer),
                        held_out, dropped_rows=dropped, test_held_out=test_held_out, held_out_together=together)


def _drop_bad_rows(raw: dict, columns: dict) -> tuple[dict, dict]:
    """(the splits without rows missing a question, option or answer, what was dropped per split)."""
    kept, dropped = {}, {}
    for name, dataset in raw.items():
        kept[name], report = checks.drop_bad_rows(
            dataset, lambda batch, c=columns[name]: choices.complete_rows(batch, c))
        dropped.update({name: report} if report else {})
    return kept, dropped


def largest_option_count(splits: dict, columns: dict) -> int:
    """The most options a question has in any of `splits` (`columns`: each split's ChoiceColumns); reads only
    the column that holds the options."""
    largest = 0
    for name, dataset in splits.items():
        column = choices.option_column(columns[name])
        if column is None:  # letter columns: every row has one option per column
            largest = max(largest, len(columns[name].options))
            continue
        for batch in dataset.select_columns([column]).iter(batch_size=COUNT_BATCH):
            largest = max([largest, *choices.option_counts(batch[column], columns[name])])
    return largest


def option_count(dataset, columns: choices.ChoiceColumns) -> int:
    """The most options a question of `dataset` has: the option letters a model of it names."""
    if not len(dataset):
        raise TunecardError("train data", "at least one question", "no rows", "add rows")
    return largest_option_count({"data": dataset}, {"data": columns})


def standardise(dataset, columns: choices.ChoiceColumns, names: list[str], split: str, require_answer: bool = True,
                first_row: int = 0):
    """Rows in the contract above; a missing option, fewer than two options or more than `names` letters, or
    an answer outside the options names its row (`first_row`: the file row number of the dataset's first row,
    for files read in chunks)."""
    import datasets

    def convert(batch, indices):
        indices = [first_row + i for i in indices]
        rows = choices.read_rows(batch, columns, indices, split, len(names))
        ids = [str(v) for v in batch[columns.id]] if columns.id else [str(i) for i in indices]
        return {"id": ids, "question": rows.questions, "options": rows.options,
                "n_options": [len(o) for o in rows.options], "context": rows.contexts,
                "text": [question_text(q, o) for q, o in zip(rows.questions, rows.options)],
                **({"label": rows.answers} if require_answer else {})}

    features = {"id": datasets.Value("string"), "question": datasets.Value("string"),
                "options": datasets.List(datasets.Value("string")), "n_options": datasets.Value("int32"),
                "context": datasets.Value("string"), "text": datasets.Value("string")}
    if require_answer:
        features["label"] = datasets.ClassLabel(names=names)
    return dataset.map(convert, batched=True, with_indices=True, remove_columns=dataset.column_names,
                       features=datasets.Features(features), desc=f"Reading {split} questions")


def question_text(question: str, options: list[str]) -> str:
    """One text per question for the duplicate and leakage checks: the same question with the same options."""
    return question + " || " + " | ".join(options)


def evaluation_splits(raw: dict, names: list[str], options: dict) -> dict:
    """Labelled question files to evaluate a trained model on; a question may have up to the model's letters."""
    splits = {}
    for name, dataset in raw.items():
        columns = choices.find_choice_columns(dataset.features, options.get("text_column"),
                                              options.get("label_column"), where="data to evaluate")
        splits[name] = standardise(dataset, columns, names, name)
    return splits


def predict_columns(chunk: dict, options: dict) -> choices.ChoiceColumns:
    """The question and option columns of a file to score (an answer column, if any, is ignored)."""
    import datasets

    features = datasets.Dataset.from_dict({k: v[:1] for k, v in chunk.items()}).features
    columns = choices.find_choice_columns(features, options.get("text_column"), None, require_answer=False,
                                          where="data to score")
    return dataclasses.replace(columns, answer=None)


def option_counts(dataset) -> np.ndarray:
    """Each question's number of options: the contract's `n_options`. Rows read back from a predictions file
    carry it only where some question lacks letters (`prediction_extras`); without it every question has
    them all."""
    if "n_options" in dataset.column_names:
        return np.asarray(dataset["n_options"], dtype=int)
    return np.full(len(dataset), len(dataset.features["label"].names))


def own_options(dataset, scores: np.ndarray) -> np.ndarray:
    """`scores` with every option a question lacks at -inf (choices.mask_absent_options)."""
    return choices.mask_absent_options(scores, option_counts(dataset))


# ---- tokens -----------------------------------------------------------------------------------


def tokenize(dataset, tokenizer, max_length: int):
    """Per question, one input per option (input_ids etc. hold a list per option), plus `length` (the
    longest option's tokens, for length-grouped batches), `full_length` (before trimming), and whether
    the context (`cut_context`) or the question or an option (`cut_question_or_option`) lost tokens."""
    def encode(batch):
        return encode_choices(tokenizer, batch["question"], batch["options"], batch["context"], max_length)
    return dataset.map(encode, batched=True, desc="Tokenizing",
                       new_fingerprint=map_fingerprint(dataset, encode, tokenizer))


def encode_choices(tokenizer, questions: list[str], options: list[list[str]], contexts: list[str],
                   max_length: int) -> dict:
    """Encode `context #### question` with each option, trimming the context first (from the tokenizer's
    truncation side), then the question, then the option, to fit max_length. The
    pieces are encoded once without special tokens and joined by the tokenizer's own post-processor."""
    from tokenizers import Encoding

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TunecardError("tokenizer", "a fast (tokenizers-backed) tokenizer for multiple_choice",
                            type(tokenizer).__name__, "use a model that ships a tokenizer.json")
    flat = [o for row in options for o in row]
    starts = np.cumsum([0] + [len(row) for row in options])  # row i's options are flat[starts[i]:starts[i + 1]]
    pieces = tokenizer(list(contexts) + list(questions) + flat + [CONTEXT_SEPARATOR],
                       add_special_tokens=False).encodings
    n, separator = len(questions), pieces[-1]
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    out = {"input_ids": [], "attention_mask": [], "token_type_ids": [], "length": [], "full_length": [],
           "cut_context": [], "cut_question_or_option": []}
    for i in range(n):
        context, question = pieces[i], pieces[n + i]
        row_options = pieces[2 * n + starts[i]: 2 * n + starts[i + 1]]
        whole = len(question.ids) + sum(len(o.ids) for o in row_options)  # before any in-place truncation
        first, full, cut = _first_segment(context, separator, question, row_options, budget, tokenizer.truncation_side)
        encoded = [_join(backend, first, option, budget, Encoding) for option in row_options]
        out["input_ids"].append([e.ids for e in encoded])
        out["attention_mask"].append([e.attention_mask for e in encoded])
        out["token_type_ids"].append([e.type_ids for e in encoded])
        out["length"].append(max(len(e.ids) for e in encoded))
        out["full_length"].append(full + max_length - budget)
        out["cut_context"].append(cut)
        out["cut_question_or_option"].append(len(question.ids) + sum(len(o.ids) for o in row_options) < whole)
    if "token_type_ids" not in tokenizer.model_input_names:
        del out["token_type_ids"]
    return out


def _first_segment(context, separator, question, row_options, budget: int, side: str):
    """(context #### question as one encoding, untrimmed token count of the longest input, context trimmed?).
    The context loses its end (`side` right: retrieved passages come best first) or its start (left)."""
    from tokenizers import Encoding

    longest = max(len(o.ids) for o in row_options)
    has_context = bool(context.ids)
    full = (len(context.ids) + len(separator.ids) if has_context else 0) + len(question.ids) + longest
    room = budget - len(question.ids) - longest - len(separator.ids)
    if has_context and room > 0:
        cut = len(context.ids) > room
        if cut:
            context.truncate(room, direction=side)
        return Encoding.merge([context, separator, question], growing_offsets=True), full, cut
    if len(question.ids) + longest > budget:
        # No room even without context: the question keeps at least half the budget, options the rest.
        question.truncate(max(budget // 2, budget - longest))
    return question, full, has_context


def _join(backend, first, option, budget: int, encoding_type):
    """first + option with the tokenizer's special tokens ([CLS] a [SEP] b [SEP] for BERT)."""
    if len(first.ids) + len(option.ids) > budget:
        option.truncate(max(budget - len(first.ids), 1))
    if backend.post_processor is None:
        return encoding_type.merge([first, option], growing_offsets=True)
    return backend.post_processor.process(first, option, add_special_tokens=True)
