"""Multiple-choice question answering: `AutoModelForMultipleChoice` scores each (context #### question,
option) input, and the options of a question compete in one softmax.

Contract after `prepare`: every split has `id` (str), `question`, `options` (a list of texts: each question its
own, at least two), `n_options` (their count), `context` (text; "" when there is none), `text` (the question and
its options: what the duplicate and leakage checks compare) and `label` (a ClassLabel over the option letters A,
B, ... up to the most options any question has).
Retrieval (`retrieval.attach_context`) fills `context` and adds `retrieved` (the passages and scores).

Questions with different option counts train and score together: a batch pads each question's options to the
batch's most with a blank input, and every score of an option a question lacks is -inf (probability 0), in the
loss, the per-epoch metrics, the judged splits, the baselines and the ranked letters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import numpy as np

from tunecard import metrics
from tunecard.data import checks, choices
from tunecard.data.columns import Columns
from tunecard.data.predictions import prediction_frame
from tunecard.data.splits import hold_out_missing, read_training_splits
from tunecard.errors import TunecardError
from tunecard.tasks.base import PreparedData, Task, TaskCard

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
CONTEXT_SEPARATOR = " #### "
"""Between the context and the question (the public LLM Science Exam notebooks' `context #### prompt`)."""
HEADLINE_K = 3
COUNT_BATCH = 10_000
"""Rows read at once when counting options."""
LABEL_FIELDS = 2
"""The collator's `labels` per question: (answer id, option count). Trainer counts label entries for
`num_items_in_batch`, so a batch's questions are that count / LABEL_FIELDS."""


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
    splits, held_out, test_held_out = hold_out_missing(splits, data_config, seed)
    return PreparedData(splits, names, Columns(text=columns["train"].question, label=columns["train"].answer),
                        held_out, dropped_rows=dropped, test_held_out=test_held_out)


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


def card_notes(prepared: PreparedData) -> list[str]:
    names = prepared.label_names
    fewest, most = option_range(prepared)
    if fewest == most:
        options = f"Each question has {most} options ({', '.join(names)})."
        chance = f"A random ranking of {most} options scores {random_map(most, HEADLINE_K):.4f} on average"
    else:
        options = (f"Questions have {fewest} to {most} options ({names[0]}-{names[-1]}; a question with fewer "
                   "options uses the first letters, and a letter it lacks gets probability 0 and is never ranked).")
        chance = (f"A random ranking of a question's own options scores {random_map(most, HEADLINE_K):.4f} "
                  f"({most} options) to {random_map(fewest, HEADLINE_K):.4f} ({fewest}) on average")
    return [
        f"**Inputs.** {options} The model reads "
        f"`context{CONTEXT_SEPARATOR}question` paired with each option and gives each option a score; a softmax "
        "over a question's options gives their probabilities. When an input is too long, the context is "
        "trimmed first, then the question, and an option last.",
        f"**MAP@3** (mean average precision at 3) scores a question 1, 1/2 or 1/3 when the correct option is "
        f"ranked first, second or third, else 0; accuracy is the same with only the first rank. {chance} (the "
        "Stratified random column draws one); the Majority class column ranks the letters the same way for every "
        "question, by how often each is the answer in train. Precision, recall and F1 are per answer letter: "
        "they show whether the model favours a position.",
    ]


def option_range(prepared: PreparedData) -> tuple[int, int]:
    """(fewest, most) options a question has across the prepared splits."""
    counts = np.concatenate([option_counts(split) for split in prepared.splits.values()])
    return int(counts.min()), int(counts.max())


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


def random_map(n_options: int, k: int) -> float:
    """Expected MAP@k of a uniformly random ranking: each rank r <= k holds the answer with chance 1/n."""
    return sum(1 / r for r in range(1, min(n_options, k) + 1)) / n_options


# ---- metrics ----------------------------------------------------------------------------------

def metric_keys(label_names: list[str], k: int | None = None) -> list[str]:
    keys = ["accuracy", f"map_at_{HEADLINE_K}"]
    return keys + [f"map_at_{k}"] if k and k != HEADLINE_K else keys


def headline_metric(label_names: list[str]) -> str:
    return f"map_at_{HEADLINE_K}"


def ranking_terms(gold, scores: np.ndarray, k: int | None = None) -> dict[str, np.ndarray]:
    """Each question's AP@k term for MAP@3 (and MAP@k): MAP is their mean."""
    return {f"map_at_{cut}": metrics.average_precision_at_k(gold, scores, cut)
            for cut in dict.fromkeys([HEADLINE_K, k or HEADLINE_K])}


def ranking_metrics(gold, scores: np.ndarray, k: int | None = None) -> dict[str, float]:
    return {key: float(terms.mean()) if len(terms) else 0.0 for key, terms in ranking_terms(gold, scores, k).items()}


def split_metrics(dataset, probs: np.ndarray, k: int | None = None) -> dict[str, float]:
    return ranking_metrics(dataset["label"], own_options(dataset, probs), k)


def chance_scores(dataset, seed: int) -> np.ndarray:
    """A random ranking of each question's own options (seeded): the chance level."""
    n_options = len(dataset.features["label"].names)
    return own_options(dataset, np.random.default_rng(seed).random((len(dataset), n_options)))


def majority_scores(dataset, train_counts: dict[str, int]) -> np.ndarray:
    """One fixed ranking for every question, the letters by how often they answer a training question: what
    position bias alone scores (the ranking form of the majority class); a question ranks only its own letters."""
    frequency = np.array([train_counts.get(name, 0) for name in dataset.features["label"].names], dtype=float)
    return own_options(dataset, np.tile(frequency, (len(dataset), 1)))


def chance_loss(label_names: list[str], train_counts: dict[str, int], validation_labels, train_config,
                level: float | None = None) -> float:
    """ln(options), averaged over the validation questions (`level`, from MultipleChoice.fit; ln(letters) when
    unset): each option is scored on its own with shared weights, so a model blind to the text gives every
    option of a question the same logit, whatever the letter frequencies."""
    return float(np.log(len(label_names))) if level is None else level


def validation_chance_loss(validation) -> float:
    """The loss of a text-blind model on `validation`: mean ln(options) over its questions."""
    return float(np.mean(np.log(option_counts(validation))))


def compute_metrics_fn(label_names: list[str], validation=None, row_order=None, k: int | None = None):
    """The `compute_metrics` Trainer calls after each evaluation (row order does not matter here). Label ids
    are the collator's (answer id, option count) per question; the logits of options a question lacks (and
    Trainer's -100 fill where a batch had fewer options than the widest) are masked before ranking."""
    def compute(eval_prediction) -> dict:
        logits = eval_prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        labels = np.asarray(eval_prediction.label_ids)
        gold, counts = labels[:, 0], labels[:, 1]
        scores = choices.mask_absent_options(logits, counts)
        return {"accuracy": float(np.mean(np.argmax(scores, -1) == gold)), **ranking_metrics(gold, scores, k)}
    return compute


# ---- tokens -----------------------------------------------------------------------------------

def tokenize(dataset, tokenizer, max_length: int):
    """Per question, one input per option (input_ids etc. hold a list per option), plus `length` (the
    longest option's tokens, for length-grouped batches), `full_length` (before trimming), and whether
    the context (`cut_context`) or the question or an option (`cut_question_or_option`) lost tokens."""
    def encode(batch):
        return encode_choices(tokenizer, batch["question"], batch["options"], batch["context"], max_length)
    return dataset.map(encode, batched=True, desc="Tokenizing")


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


# ---- model, collator, scoring ------------------------------------------------------------------

def build_model(ref, label_names: list[str]):
    from tunecard import models

    return models.build_multiple_choice(ref, label_names)


def data_collator(tokenizer):
    """[questions, options, tokens] batches (inference.ChoiceBatcher: each question's options padded to the
    batch's most with a blank input) of the model inputs alone (Trainer keeps the other columns for length
    grouping), and `labels` [questions, 2]: each question's (answer id, option count), from which the loss
    (`choice_loss`) and the per-epoch metrics mask the padded options."""
    import torch

    from tunecard.inference import ChoiceBatcher

    batcher = ChoiceBatcher(tokenizer)

    def collate(features):
        batch, counts = batcher([{k: f[k] for k in MODEL_INPUTS if k in f} for f in features])
        batch["labels"] = torch.tensor([[f["label"], n] for f, n in zip(features, counts)])
        return batch
    return collate


def choice_loss(outputs, labels, num_items_in_batch=None):
    """Trainer's `compute_loss_func`: cross-entropy over each question's own options (`labels` from the
    collator: answer id, option count; the options a question lacks get logit -inf, so no probability and no
    gradient), summed and divided by the questions of the whole accumulated batch, as Trainer expects of it."""
    import torch

    logits = outputs["logits"].float()
    answers, counts = labels[:, 0], labels[:, 1]
    lacking = torch.arange(logits.shape[-1], device=logits.device)[None, :] >= counts[:, None]
    total = torch.nn.functional.cross_entropy(logits.masked_fill(lacking, float("-inf")), answers, reduction="sum")
    return total / (num_items_in_batch / LABEL_FIELDS if num_items_in_batch is not None else len(answers))


def score(model, tokenizer, tokenized, batch_size: int, desc: str) -> np.ndarray:
    """Option logits [n_questions, model letters] in row order, -inf for the options a question lacks;
    `batch_size` counts option inputs, so a batch holds batch_size / letters questions."""
    from tunecard.inference import predict_choice_logits

    return predict_choice_logits(model, tokenizer, tokenized, batch_size, desc=desc)


def load_predictor(path: str, batch_size: int = 64, backend: str = "torch"):
    from tunecard.inference import load_choice_ranker

    return load_choice_ranker(path, batch_size, backend, encode_choices)


# ---- predictions --------------------------------------------------------------------------------

def prediction_extras(dataset, probs: np.ndarray) -> dict[str, list]:
    """Columns added to predictions/<split>.csv: the ranked letters, each question's option count where some
    question lacks letters (so `tunecard verify` and `ensemble` know which zero probabilities are no option),
    and what retrieval gave as context."""
    names = dataset.features["label"].names
    counts = option_counts(dataset)
    extras = {"ranked": ranked_letters(probs, names, HEADLINE_K, counts)}
    if (counts < len(names)).any():
        extras["n_options"] = counts.tolist()
    if "retrieved" in dataset.column_names:
        extras["retrieved"] = dataset["retrieved"]
    return extras


def ranked_letters(probs: np.ndarray, names: list[str], k: int, counts=None) -> list[str]:
    """The top k letters of each question, best first; never a letter the question lacks (`counts`: each
    question's option count; None: every question has every letter)."""
    counts = np.full(len(probs), len(names)) if counts is None else np.asarray(counts)
    ranked = metrics.rank_options(choices.mask_absent_options(probs, counts, len(names)), k)
    return [" ".join(names[i] for i in row[:n]) for row, n in zip(ranked, counts)]


def chunk_scorer(ranker, columns: list[str], options: dict):
    """Rows of a predict file: id, prediction (best letter), ranked (the top-k letters, best first),
    prob_<letter> per option, and with retrieval the passages and their scores."""
    import datasets

    top_k = options.get("top_k") or HEADLINE_K
    retrieve = options.get("retrieve")
    names = ranker.labels
    rows_seen = [0]

    def score_chunk(chunk, ids, bar):
        rows = standardise(datasets.Dataset.from_dict(chunk), _predict_columns(chunk, options), names, "data to score",
                           require_answer=False, first_row=rows_seen[0])
        rows_seen[0] += len(rows)
        if retrieve:
            rows = retrieve(rows)
        probs = ranker.predict_proba(rows["question"], rows["options"], rows["context"], bar)
        frame = prediction_frame(ids, probs, names, top_k=1)
        frame.insert(2, "ranked", ranked_letters(probs, names, top_k, rows["n_options"]))
        if "retrieved" in rows.column_names:
            frame["retrieved"] = rows["retrieved"]
        return frame
    return score_chunk


def input_lengths(ranker, rows: dict[str, list]) -> list[list[int]]:
    """Token counts of each question's option sequences (context, question, option) before truncation."""
    parsed = choices.read_rows(rows, _predict_columns(rows, {}), list(range(len(next(iter(rows.values()))))),
                               "request")
    encoded = encode_choices(ranker.tokenizer, parsed.questions, parsed.options, parsed.contexts, UNCUT)
    return [[len(ids) for ids in row] for row in encoded["input_ids"]]


UNCUT = 10**9
"""A max_length no input reaches: encode_choices then cuts nothing."""


def _predict_columns(chunk: dict, options: dict) -> choices.ChoiceColumns:
    """The question and option columns of a file to score (an answer column, if any, is ignored)."""
    import datasets

    features = datasets.Dataset.from_dict({k: v[:1] for k, v in chunk.items()}).features
    columns = choices.find_choice_columns(features, options.get("text_column"), None, require_answer=False,
                                          where="data to score")
    return dataclasses.replace(columns, answer=None)


@dataclass(frozen=True)
class MultipleChoice(Task):
    """A question, its options (+ context) and an answer: `AutoModelForMultipleChoice`; MAP@3 headline."""

    name = "multiple_choice"
    pipeline_tag = "multiple-choice"
    serve_example = {"question": "Which gas do plants take in for photosynthesis?",
                     "options": ["oxygen", "carbon dioxide", "nitrogen", "helium"]}
    model_index_task = ("multiple-choice", "Multiple Choice")
    holdout = "stratified by answer letter"
    uses_context = True
    collator_drops_columns = True
    """A row's input_ids hold one sequence per option, so their count says nothing of its length: Trainer
    keeps the `length` column for length-grouped batches and the collator keeps only the model inputs."""
    predict_top_k = HEADLINE_K
    submission_column = "ranked"
    config_sections = ("retrieval", "k")
    metric_info = {f"map_at_{k}": (f"map_at_{k}", f"MAP@{k}", {"k": k}) for k in range(1, metrics.MAX_MAP_K + 1)}
    model_learning_rates = {"minilm": 1.5e-4}
    interval_unit = "questions"
    ensemble_objective = "headline"
    """MAP@3, the metric the field ranks multiple-choice ensembles by (log_loss on request)."""

    k: Optional[int] = None
    """Also report MAP@k for this cut-off (MAP@3 is always reported)."""
    chance_level: Optional[float] = None
    """The validation loss of a text-blind model, mean ln(options) over the validation questions (set by `fit`;
    where unset, ln(letters))."""

    def __post_init__(self):
        if self.k is not None and not 1 <= self.k <= metrics.MAX_MAP_K:
            raise TunecardError("--k", f"a cut-off between 1 and {metrics.MAX_MAP_K}", str(self.k), "set --k")

    @classmethod
    def bind(cls, config) -> "MultipleChoice":
        return cls(k=config.k)

    @classmethod
    def from_model(cls, saved: dict, k: Optional[int] = None, **options) -> "MultipleChoice":
        super().from_model(saved, **options)  # refuses any other option
        return cls(k=k)

    def prepare(self, data_config, seed: int) -> PreparedData:
        return prepare(data_config, seed)

    def evaluation_splits(self, raw: dict, names: list[str], options: dict) -> dict:
        return evaluation_splits(raw, names, options)

    def tokenize(self, dataset, tokenizer, max_length: int):
        return tokenize(dataset, tokenizer, max_length)

    def build_model(self, ref, label_names: list[str]):
        return build_model(ref, label_names)

    def data_collator(self, tokenizer):
        return data_collator(tokenizer)

    def loss_function(self, train_config, train):
        if train_config.class_weights:
            raise TunecardError("--train.class_weights", "unset for multiple_choice", f"'{train_config.class_weights}'",
                                "drop --train.class_weights: each option is scored on its own, so answer-letter "
                                "weights would only reweight questions by where their answer stands")
        return choice_loss

    def fit(self, validation_logits: np.ndarray, prepared: PreparedData) -> "MultipleChoice":
        return dataclasses.replace(self, chance_level=validation_chance_loss(prepared.splits["validation"]))

    def compute_metrics_fn(self, label_names: list[str], validation, row_order):
        return compute_metrics_fn(label_names, validation, row_order, self.k)

    def score(self, model, tokenizer, tokenized, batch_size: int, desc: str) -> np.ndarray:
        return score(model, tokenizer, tokenized, batch_size, desc)

    def metric_keys(self, label_names: list[str]) -> list[str]:
        return metric_keys(label_names, self.k)

    def headline_metric(self, label_names: list[str]) -> str:
        return headline_metric(label_names)

    def split_metrics(self, dataset, probs: np.ndarray) -> dict[str, float]:
        return split_metrics(dataset, probs, self.k)

    def chance_scores(self, dataset, seed: int) -> np.ndarray:
        return chance_scores(dataset, seed)

    def majority_scores(self, dataset, train_counts: dict[str, int]) -> np.ndarray:
        return majority_scores(dataset, train_counts)

    def unit_terms(self, dataset, scores: np.ndarray) -> dict[str, np.ndarray]:
        return ranking_terms(dataset["label"], own_options(dataset, scores), self.k)

    def chance_loss(self, label_names, train_counts, validation_labels, train_config) -> float:
        return chance_loss(label_names, train_counts, validation_labels, train_config, self.chance_level)

    def judge(self, name: str, dataset, logits: np.ndarray, names: list[str], train_counts: dict[str, int],
              temperature: Optional[float], seed: int):
        """The usual judgement, of logits where every option a question lacks is -inf: exactly 0 probability in
        the metrics, the calibration and the written predictions, whatever scored them (the model, a blend, or
        the probabilities `tunecard verify` reads back)."""
        from tunecard import evaluation

        return evaluation.judge_split(self, name, dataset, own_options(dataset, np.asarray(logits, dtype=np.float64)),
                                      names, train_counts, temperature, seed)

    def prediction_extras(self, dataset, probs: np.ndarray) -> dict[str, list]:
        return prediction_extras(dataset, probs)

    def card(self, prepared: PreparedData, tokenizer) -> TaskCard:
        names = prepared.label_names
        fewest, most = option_range(prepared)
        options = f"{most} options ({', '.join(names)})" if fewest == most else \
            f"{fewest} to {most} options ({names[0]}-{names[-1]})"
        return TaskCard(
            description="multiple-choice question answering",
            intended_use=f"Ranks the {options} of a question, best first.",
            usage=USAGE, notes=card_notes(prepared))

    def load_predictor(self, path: str, batch_size: int = 64, backend: str = "torch"):
        return load_predictor(path, batch_size, backend)

    def chunk_scorer(self, predictor, columns: list[str], options: dict):
        return chunk_scorer(predictor, columns, options)

    def input_lengths(self, predictor, rows: dict[str, list]) -> list[list[int]]:
        """One sequence per option: context, question and the option, uncut."""
        return input_lengths(predictor, rows)

    # ---- zero-shot: a causal LM that was never trained for the task ---------------------------

    zero_shot_models = "a causal language model (each option scored by its log-likelihood)"

    @classmethod
    def zero_shot(cls, model: str, raw: dict, columns: dict, batch_size: int, **options):
        """A causal LM scoring each option by its log-likelihood as the answer, lm-evaluation-harness's way
        (tasks/choice_likelihood.py); takes --k like a trained model, refuses any other option."""
        from tunecard.tasks import choice_likelihood

        return choice_likelihood.zero_shot(cls.from_model({}, **options), model, raw, columns, batch_size)


USAGE = """import tunecard

ranker = tunecard.load("{model_path}")
ranker.predict_proba(["Your question?"], [["option A", "option B"]], contexts=[""])  # [questions, options]"""
