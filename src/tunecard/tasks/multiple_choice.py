"""Multiple-choice question answering: `AutoModelForMultipleChoice` scores each (context #### question,
option) input, and the options of a question compete in one softmax. The data contract and tokens are
data/questions.py's.

Questions with different option counts train and score together: a batch pads each question's options to the
batch's most with a blank input, and every score of an option a question lacks is -inf (probability 0), in the
loss, the per-epoch metrics, the judged splits, the baselines and the ranked letters.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import numpy as np

from tunecard.data import choices, questions
from tunecard.data.predictions import prediction_frame
from tunecard.data.questions import encode_choices
from tunecard.data.splits import PreparedData
from tunecard.errors import TunecardError
from tunecard.judging import metrics
from tunecard.tasks.base import Task
from tunecard.tasks.cards import TaskCard

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
HEADLINE_K = 3
LABEL_FIELDS = 2
"""The collator's `labels` per question: (answer id, option count). Trainer counts label entries for
`num_items_in_batch`, so a batch's questions are that count / LABEL_FIELDS."""
USAGE = """import tunecard

ranker = tunecard.load("{model_path}")
ranker.predict_proba(["Your question?"], [["option A", "option B"]], contexts=[""])  # [questions, options]"""


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
        f"`context{questions.CONTEXT_SEPARATOR}question` paired with each option and gives each option a score; a "
        "softmax "
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
    counts = np.concatenate([questions.option_counts(split) for split in prepared.splits.values()])
    return int(counts.min()), int(counts.max())


def random_map(n_options: int, k: int) -> float:
    """Expected MAP@k of a uniformly random ranking: each rank r <= k holds the answer with chance 1/n."""
    return sum(1 / r for r in range(1, min(n_options, k) + 1)) / n_options


# ---- metrics ----------------------------------------------------------------------------------


def ranking_terms(gold, scores: np.ndarray, k: int | None = None) -> dict[str, np.ndarray]:
    """Each question's AP@k term for MAP@3 (and MAP@k): MAP is their mean."""
    return {f"map_at_{cut}": metrics.average_precision_at_k(gold, scores, cut)
            for cut in dict.fromkeys([HEADLINE_K, k or HEADLINE_K])}


def ranking_metrics(gold, scores: np.ndarray, k: int | None = None) -> dict[str, float]:
    return {key: float(terms.mean()) if len(terms) else 0.0 for key, terms in ranking_terms(gold, scores, k).items()}


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


def ranked_letters(probs: np.ndarray, names: list[str], k: int, counts=None) -> list[str]:
    """The top k letters of each question, best first; never a letter the question lacks (`counts`: each
    question's option count; None: every question has every letter)."""
    counts = np.full(len(probs), len(names)) if counts is None else np.asarray(counts)
    ranked = metrics.rank_options(choices.mask_absent_options(probs, counts, len(names)), k)
    return [" ".join(names[i] for i in row[:n]) for row, n in zip(ranked, counts)]


# ---- scoring and the trained model's predictor ---------------------------------------------------


class ChoiceBatcher:
    """Multiple-choice rows (each: model input name -> one id list per option) as one [questions, options,
    tokens] batch whose questions may have different option counts: each question's options are padded to the
    batch's most with a blank input (the tokenizer's special tokens around two empty texts: [CLS] [SEP] [SEP]
    for BERT, a well-formed input whose score is masked anyway), then every input to the longest."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        blank = tokenizer("", "")
        self.blank = {k: list(v) for k, v in blank.items() if k in MODEL_INPUTS}

    def __call__(self, rows: list[dict]) -> tuple[dict, list[int]]:
        """(the padded batch of torch tensors, each question's own option count)."""
        counts = [len(row["input_ids"]) for row in rows]
        width = max(counts)
        inputs = [c for c in MODEL_INPUTS if c in rows[0]]
        flat = [{c: row[c][j] for c in inputs} if j < n else {c: self.blank[c] for c in inputs}
                for row, n in zip(rows, counts) for j in range(width)]
        batch = self.tokenizer.pad(flat, return_tensors="pt")
        return {k: v.view(len(rows), width, -1) for k, v in batch.items()}, counts


def score_choices(runner, tokenizer, encoded: dict, batch_size: int, bar=None,
                  n_options: int | None = None) -> np.ndarray:
    """Option logits [n_questions, n_options] for multiple-choice rows (`encoded`: model input name -> per
    question one id list per option; questions may have different counts). An option a question lacks scores
    -inf (probability 0). `n_options`: the width (a model's letters; by default the most options a question
    has here), the same for every batch and share. `batch_size` counts option inputs."""
    from tunecard.engine import inference

    counts = np.array([len(row) for row in encoded["input_ids"]], dtype=int)
    width = n_options or int(counts.max(initial=0))
    if counts.max(initial=0) > width:
        raise TunecardError("options", f"at most {width} options per question (one per letter the model names)",
                            f"a question with {counts.max()}", f"score questions of up to {width} options")
    if not len(counts):
        return np.empty((0, width), dtype=np.float32)
    inputs = [c for c in MODEL_INPUTS if c in encoded]
    lengths = np.array([max(len(ids) for ids in row) for row in encoded["input_ids"]])
    batcher = ChoiceBatcher(tokenizer)

    def batch_of(index):
        return batcher([{c: encoded[c][i] for c in inputs} for i in index])[0], counts[index]

    def run(batch_and_counts) -> np.ndarray:
        batch, batch_counts = batch_and_counts
        return choices.mask_absent_options(runner(batch), batch_counts, width)
    return inference.score_by_length(run, lengths, batch_of, max(1, batch_size // width), bar)


class ChoiceRanker:
    """A trained multiple-choice model, as `tunecard.load(path)` returns it: option probabilities per
    question (with the temperature fitted on validation when the model has one)."""

    def __init__(self, runner, tokenizer, labels: list[str], max_length: int, temperature: float | None = None,
                 batch_size: int = 64):
        self.runner, self.tokenizer, self.labels = runner, tokenizer, list(labels)
        self.max_length, self.temperature, self.batch_size = max_length, temperature, batch_size

    @property
    def model(self):
        return self.runner.model

    def predict_logits(self, questions: list[str], options: list[list[str]], contexts: list[str] | None = None,
                       bar=None) -> np.ndarray:
        contexts = list(contexts) if contexts is not None else [""] * len(questions)
        encoded = encode_choices(self.tokenizer, list(questions), [list(o) for o in options], contexts, self.max_length)
        return score_choices(self.runner, self.tokenizer, encoded, self.batch_size, bar, len(self.labels))

    def predict_proba(self, questions: list[str], options: list[list[str]], contexts: list[str] | None = None,
                      bar=None) -> np.ndarray:
        logits = self.predict_logits(questions, options, contexts, bar)
        return metrics.softmax(logits / self.temperature if self.temperature else logits)

    def predict(self, questions: list[str], options: list[list[str]], contexts: list[str] | None = None) -> list[str]:
        """The most likely option's letter for each question."""
        return [self.labels[i] for i in self.predict_proba(questions, options, contexts).argmax(-1)]


def with_positions(judged, dataset, names: list[str]):
    """A judged split with its accuracy and answer positions by option count: a table for the card and findings
    (judging/positions.py), what is true of answer letters where the class findings are not."""
    from tunecard.judging import positions

    counts, predicted = questions.option_counts(dataset), judged.probs.argmax(-1)
    groups = positions.by_option_count(judged.gold, predicted, counts, names)
    judged.report.tables = [positions.position_table(groups)]
    judged.findings.extend(positions.position_findings(judged.report.name, groups, judged.gold, predicted, counts))
    return judged


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
    reads_windows = False
    out_of_fold_issues = "the answer is a position among options that differ from question to question, not a class"
    abstention = "a prediction ranks every option (MAP@3), and a ranking is given whole"
    collator_drops_columns = True
    """A row's input_ids hold one sequence per option, so their count says nothing of its length: Trainer
    keeps the `length` column for length-grouped batches and the collator keeps only the model inputs."""
    predict_top_k = HEADLINE_K
    submission_column = "ranked"
    config_sections = ("retrieval", "k")
    metric_info = {f"map_at_{k}": (f"map_at_{k}", f"MAP@{k}", {"k": k}) for k in range(1, metrics.MAX_MAP_K + 1)}
    small_model_learning_rate = 1.5e-4
    """Measured with all-MiniLM-L6-v2 on the LLM Science Exam (benchmarks/multiple_choice.py)."""
    interval_unit = "questions"
    ensemble_objective = "headline"
    """MAP@3, the metric the field ranks multiple-choice ensembles by (log_loss on request)."""
    takes_class_weights = False
    findings_not_applicable = {
        "data.imbalance": "answer letters are positions, not classes (E exists only in five-option questions), and "
                          "class weights do not apply: the answer positions by option count are reported instead",
        "classes.never_recalled": "answer letters are positions, not classes: accuracy by option count is reported "
                                  "instead",
        "collapse.class_never_recalled": "answer letters are positions, not classes: a model answering one position "
                                         "is caught by collapse.one_class and positions.bias"}

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
    def from_model(cls, settings, k: Optional[int] = None, **options) -> "MultipleChoice":
        super().from_model(settings, **options)  # refuses any other option
        return cls(k=k)

    def prepare(self, data_config, seed: int) -> PreparedData:
        return questions.prepare(data_config, seed)

    def evaluation_splits(self, raw: dict, names: list[str], options: dict) -> dict:
        return questions.evaluation_splits(raw, names, options)

    def tokenize(self, dataset, tokenizer, max_length: int):
        """Per question, one input per option (input_ids etc. hold a list per option), plus `length` (the
        longest option's tokens, for length-grouped batches), `full_length` (before trimming), and whether
        the context (`cut_context`) or the question or an option (`cut_question_or_option`) lost tokens."""
        return questions.tokenize(dataset, tokenizer, max_length)

    def build_model(self, ref, label_names: list[str]):
        from tunecard.engine import models

        return models.build_multiple_choice(ref, label_names)

    def data_collator(self, tokenizer):
        """[questions, options, tokens] batches (ChoiceBatcher: each question's options padded to the
        batch's most with a blank input) of the model inputs alone (Trainer keeps the other columns for length
        grouping), and `labels` [questions, 2]: each question's (answer id, option count), from which the loss
        (`choice_loss`) and the per-epoch metrics mask the padded options."""
        import torch

        batcher = ChoiceBatcher(tokenizer)

        def collate(features):
            batch, counts = batcher([{k: f[k] for k in MODEL_INPUTS if k in f} for f in features])
            batch["labels"] = torch.tensor([[f["label"], n] for f, n in zip(features, counts)])
            return batch
        return collate

    def loss_function(self, train_config, train):
        if train_config.class_weights:
            raise TunecardError("--train.class_weights", "unset for multiple_choice", f"'{train_config.class_weights}'",
                                "drop --train.class_weights: each option is scored on its own, so answer-letter "
                                "weights would only reweight questions by where their answer stands")
        return choice_loss

    def fit(self, validation_logits: np.ndarray, prepared: PreparedData) -> "MultipleChoice":
        """The validation loss of a text-blind model: mean ln(options) over the validation questions."""
        level = float(np.mean(np.log(questions.option_counts(prepared.splits["validation"]))))
        return dataclasses.replace(self, chance_level=level)

    def compute_metrics_fn(self, label_names: list[str], validation, row_order):
        """The `compute_metrics` Trainer calls after each evaluation (row order does not matter here). Label ids
        are the collator's (answer id, option count) per question; the logits of options a question lacks (and
        Trainer's -100 fill where a batch had fewer options than the widest) are masked before ranking."""
        def compute(eval_prediction) -> dict:
            logits = eval_prediction.predictions
            logits = logits[0] if isinstance(logits, tuple) else logits
            labels = np.asarray(eval_prediction.label_ids)
            gold, counts = labels[:, 0], labels[:, 1]
            scores = choices.mask_absent_options(logits, counts)
            return {"accuracy": float(np.mean(np.argmax(scores, -1) == gold)), **ranking_metrics(gold, scores, self.k)}
        return compute

    def score(self, model, tokenizer, tokenized, batch_size: int, desc: str) -> np.ndarray:
        """Option logits [n_questions, model letters] in row order, -inf for the options a question lacks;
        `batch_size` counts option inputs, so a batch holds batch_size / letters questions."""
        from tunecard.console import progress
        from tunecard.engine.inference import TorchRunner

        encoded = {c: list(tokenized[c]) for c in MODEL_INPUTS if c in tokenized.column_names}
        with progress(total=len(tokenized), desc=desc, unit="question") as bar:
            return score_choices(TorchRunner(model), tokenizer, encoded, batch_size, bar, model.config.num_labels)

    def metric_keys(self, label_names: list[str]) -> list[str]:
        keys = ["accuracy", f"map_at_{HEADLINE_K}"]
        return keys + [f"map_at_{self.k}"] if self.k and self.k != HEADLINE_K else keys

    def headline_metric(self, label_names: list[str]) -> str:
        return f"map_at_{HEADLINE_K}"

    def lead_metric(self, label_names: list[str]) -> str:
        """The headline: answer letters are positions, and the majority baseline ranks them by how often each
        answers a training question, so the lead over it is measured on what the card leads with."""
        return self.headline_metric(label_names)

    def split_metrics(self, dataset, probs: np.ndarray) -> dict[str, float]:
        return ranking_metrics(dataset["label"], questions.own_options(dataset, probs), self.k)

    def chance_scores(self, dataset, seed: int) -> np.ndarray:
        """A random ranking of each question's own options (seeded): the chance level."""
        n_options = len(dataset.features["label"].names)
        return questions.own_options(dataset, np.random.default_rng(seed).random((len(dataset), n_options)))

    def majority_scores(self, dataset, train_counts: dict[str, int]) -> np.ndarray:
        """One fixed ranking for every question, the letters by how often they answer a training question: what
        position bias alone scores (the ranking form of the majority class); a question ranks only its own letters."""
        frequency = np.array([train_counts.get(name, 0) for name in dataset.features["label"].names], dtype=float)
        return questions.own_options(dataset, np.tile(frequency, (len(dataset), 1)))

    def unit_terms(self, dataset, scores: np.ndarray) -> dict[str, np.ndarray]:
        return ranking_terms(dataset["label"], questions.own_options(dataset, scores), self.k)

    def chance_loss(self, label_names, train_counts, validation_labels, train_config) -> float:
        """ln(options), averaged over the validation questions (`chance_level`, from `fit`; ln(letters) when
        unset): each option is scored on its own with shared weights, so a model blind to the text gives every
        option of a question the same logit, whatever the letter frequencies."""
        return float(np.log(len(label_names))) if self.chance_level is None else self.chance_level

    def judge(self, name: str, dataset, logits: np.ndarray, names: list[str], train_counts: dict[str, int],
              temperature: Optional[float], seed: int):
        """The usual judgement, of logits where every option a question lacks is -inf: exactly 0 probability in
        the metrics, the calibration and the written predictions, whatever scored them (the model, a blend, or
        the probabilities `tunecard verify` reads back)."""
        from tunecard.judging import judge

        own = questions.own_options(dataset, np.asarray(logits, dtype=np.float64))
        return with_positions(judge.judge_split(self, name, dataset, own, names, train_counts, temperature, seed),
                              dataset, names)

    def prediction_extras(self, dataset, probs: np.ndarray) -> dict[str, list]:
        """Columns added to predictions/<split>.csv: the ranked letters, each question's option count where some
        question lacks letters (so `tunecard verify` and `ensemble` know which zero probabilities are no option),
        and what retrieval gave as context."""
        names = dataset.features["label"].names
        counts = questions.option_counts(dataset)
        extras = {"ranked": ranked_letters(probs, names, HEADLINE_K, counts)}
        if (counts < len(names)).any():
            extras["n_options"] = counts.tolist()
        if "retrieved" in dataset.column_names:
            extras["retrieved"] = dataset["retrieved"]
        return extras

    def card(self, prepared: PreparedData, tokenizer) -> TaskCard:
        names = prepared.label_names
        fewest, most = option_range(prepared)
        options = f"{most} options ({', '.join(names)})" if fewest == most else \
            f"{fewest} to {most} options ({names[0]}-{names[-1]})"
        return TaskCard(
            description="multiple-choice question answering",
            intended_use=f"Ranks the {options} of a question, best first.",
            usage=USAGE, notes=card_notes(prepared))

    def load_predictor(self, saved, batch_size: int = 64, backend: str = "torch") -> "ChoiceRanker":
        from transformers import AutoModelForMultipleChoice

        from tunecard.engine import inference

        if backend != "torch":
            raise TunecardError("--backend", "torch for a multiple-choice model", f"'{backend}'", "leave out --backend")
        runner, tokenizer, config = inference.open_runner(saved.folder, backend, loader=AutoModelForMultipleChoice)
        max_length = inference.scoring_length(tokenizer, saved.settings.max_length, saved.settings.truncation_side)
        labels = [config.id2label[i] for i in range(config.num_labels)]
        return ChoiceRanker(runner, tokenizer, labels, max_length, saved.settings.temperature, batch_size)

    def chunk_scorer(self, predictor, columns: list[str], options: dict):
        """Rows of a predict file: id, prediction (best letter), ranked (the top-k letters, best first),
        prob_<letter> per option, and with retrieval the passages and their scores."""
        import datasets

        top_k = options.get("top_k") or HEADLINE_K
        retrieve = options.get("retrieve")
        names = predictor.labels
        rows_seen = [0]

        def score_chunk(chunk, ids, bar):
            found = questions.predict_columns(chunk, options)
            rows = questions.standardise(datasets.Dataset.from_dict(chunk), found, names, "data to score",
                               require_answer=False, first_row=rows_seen[0])
            rows_seen[0] += len(rows)
            if retrieve:
                rows = retrieve(rows)
            probs = predictor.predict_proba(rows["question"], rows["options"], rows["context"], bar=bar)
            frame = prediction_frame(ids, probs, names, top_k=1)
            frame.insert(2, "ranked", ranked_letters(probs, names, top_k, rows["n_options"]))
            if "retrieved" in rows.column_names:
                frame["retrieved"] = rows["retrieved"]
            return frame
        return score_chunk

    def input_lengths(self, predictor, rows: dict[str, list]) -> list[list[int]]:
        """One sequence per option: context, question and the option, uncut."""
        count = len(next(iter(rows.values())))
        parsed = choices.read_rows(rows, questions.predict_columns(rows, {}), list(range(count)), "request")
        encoded = questions.encode_choices(predictor.tokenizer, parsed.questions, parsed.options, parsed.contexts,
                                           questions.UNCUT)
        return [[len(ids) for ids in row] for row in encoded["input_ids"]]
