"""The Task protocol: one frozen dataclass base with default hooks, which every task shape subclasses once.

A task never subclasses another task: what two tasks share is a function in `data/` (or a plain helper in
one task's module that the other calls). Everything task-specific lives on the task, so the workflows, the saved
run (`runs/`), the card (`report/`) and the engine never name a task and never probe one with `hasattr`.

- Facts (class variables): what the card, the CLI and the workflows need to know about the shape.
- Construction: `bind(config)` for a run (the task's options become dataclass fields) and
  `from_model(settings, **options)` for a trained model (`settings`: its runs.settings.ModelSettings). Nothing
  is set later as a side effect: a task is immutable.
- Hooks: the defaults below are those of single-text (or text-pair) classification with
  `AutoModelForSequenceClassification` (its data half is data/texts.py); a task overrides what its shape
  changes.

This module is torch-free: hooks import what they need when they run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import numpy as np

from tunecard.data import texts
from tunecard.data import windows as window_rows
from tunecard.data.splits import PreparedData
from tunecard.data.windows import Windows
from tunecard.errors import TunecardError
from tunecard.judging.abstention import abstains, threshold_of
from tunecard.tasks.cards import TaskCard, classifier_card

DEFAULT_LEARNING_RATE = 5e-5
"""The Trainer and seed-card default: used for any model a task has no measured default for."""
SMALL_MODEL = 30_000_000
"""Models with fewer non-embedding parameters than this are small (all-MiniLM-L6-v2: 11M, multilingual-e5-small:
21M; all-mpnet-base-v2 and BERT-base: 85M): they take a task's small-model learning rate, and no warm-up."""
BASE_MODEL_WARMUP = 0.1
"""The warm-up ratio for models at or above SMALL_MODEL when train.warmup_ratio is unset (BERT's recipe)."""


@dataclass(frozen=True)
class Task:
    """Base of every task shape: the facts, the two constructors and the hooks, with defaults."""

    name: ClassVar[str]
    pipeline_tag: ClassVar[str] = "text-classification"
    model_index_task: ClassVar[tuple[str, str]] = ("text-classification", "Text Classification")
    """The model-index `task` (type, name) the metrics are filed under."""
    truncation_side: ClassVar[str] = "right"
    """Which end of a too-long input is cut when model.truncation_side is unset."""
    holdout: ClassVar[str] = "stratified by label"
    """How held-out splits are drawn, in the card's words."""
    score_histogram: ClassVar[bool] = False
    """Plot a histogram of the positive-class score per gold label for each evaluated split."""
    uses_context: ClassVar[bool] = False
    """Rows carry `question`, `options` and `context`, which `--retrieval.index` fills with passages."""
    collator_drops_columns: ClassVar[bool] = False
    """Trainer keeps every column (its length-grouped sampler reads `length`); the collator drops the rest."""
    model_loss_sums_items: ClassVar[bool] = False
    """The model's own loss (when `loss_function` gives none) is a sum over Trainer's `num_items_in_batch`,
    as a causal LM's is. Sequence-classification and multiple-choice heads take that argument but return a
    mean over their micro-batch; Trainer would then skip dividing by the accumulation steps and multiply by
    the process count, so for them it is told they do not (see training.build_trainer)."""
    predict_top_k: ClassVar[int] = 1
    """How many ranked labels `predict` writes when --top_k is unset."""
    submission_column: ClassVar[str] = "prediction"
    """The predictions column `predict --submission` writes as Kaggle's `prediction`."""
    exports_onnx: ClassVar[bool] = False
    """`tunecard export --format onnx` supports this task's models."""
    extra_frameworks: ClassVar[tuple[str, ...]] = ()
    """Packages whose versions the card lists beside the usual ones."""
    serve_example: ClassVar[Any] = "I can't wait to see you again!"
    """One input of a `tunecard serve` request (`{"inputs": ...}`), shown on its try-it page and /info."""
    config_sections: ClassVar[tuple[str, ...]] = ()
    """Task-specific config sections this task reads (kept in config.yaml; others are left out)."""
    metric_info: ClassVar[dict[str, tuple]] = {}
    """Task-specific metric key -> (model-index type, display name, args), beside metrics.METRIC_INFO."""
    default_model: ClassVar[Optional[str]] = None
    """The model when model.name is left at its generic default; None keeps that default."""
    tune_space: ClassVar[dict] = {}
    """Options `tunecard tune` searches beside the generic ones (tuning.default_space), e.g. the LoRA rank."""
    baseline_description: ClassVar[str] = ""
    """What the two baselines are, in the card's words, when not the majority class and stratified random labels."""
    baseline_names: ClassVar[dict[str, str]] = {}
    """The baselines' names in the card's lead lines (by metrics.json key), where not the usual ones."""
    blends: ClassVar[bool] = True
    """`tunecard ensemble` can blend this task's runs (their predictions are one probability row per input)."""
    independent_labels: ClassVar[bool] = False
    """Each label has its own sigmoid probability (multi-label), not a share of one softmax."""
    ensemble_objective: ClassVar[str] = "log_loss"
    """What `tunecard ensemble` fits its weights to by default (ensemble.OBJECTIVES)."""
    interval_unit: ClassVar[str] = "rows"
    """What a bootstrap resample draws (intervals.py): rows, or the groups whose rows are scored together."""
    learning_rate: ClassVar[float] = DEFAULT_LEARNING_RATE
    """The default peak learning rate."""
    zero_shot_models: ClassVar[str] = ""
    """What models `tunecard evaluate --task NAME` scores zero-shot (never trained for the task), in the error
    that lists such tasks; empty: none, this task's models need training (`zero_shot` refuses)."""
    model_learning_rates: ClassVar[dict[str, float]] = {}
    """Measured defaults for particular (embedded) models, overriding the others."""
    small_model_learning_rate: ClassVar[Optional[float]] = None
    """The default peak learning rate of small models (SMALL_MODEL); None: `learning_rate` for every size."""
    reads_windows: ClassVar[bool] = True
    """Texts longer than the window can be read whole, as overlapping windows (model.long_inputs: chunk)."""
    abstention: ClassVar[str] = ""
    """Why abstention (`--abstain.*`) does not apply to the task, in its refusal's words; empty: it applies (a
    prediction is one label whose top probability is its confidence, which a cut-off fitted on validation withholds)."""
    findings_not_applicable: ClassVar[dict[str, str]] = {}
    """Diagnostic findings (their ids, docs/diagnostics.md) that do not fit this task shape -> why, in the card's
    words. Every other finding applies; `applicable` drops these wherever findings are collected."""
    takes_class_weights: ClassVar[bool] = True
    """`--train.class_weights` applies (false: refused, and no finding advises it)."""
    out_of_fold_issues: ClassVar[str] = ""
    """Why `--diagnostics.label_issues kfold` does not apply, in its refusal's words; empty: it applies."""
    student_task: ClassVar[str] = ""
    """The task a `tunecard distill` student of this task's run learns as; empty: its runs cannot teach."""

    windows: Optional[Windows] = None
    """How a text longer than max_length is read: None cuts it (truncate); Windows splits it (chunk)."""

    # ---- construction --------------------------------------------------------------------------

    @classmethod
    def bind(cls, config) -> "Task":
        """The task configured for a run (`config` is a resolved tunecard.Config)."""
        return cls()

    @classmethod
    def from_model(cls, settings, **options) -> "Task":
        """The task a trained model was trained with (`settings`: its ModelSettings), with evaluate/predict
        options (those given; None means not given). A task that takes none refuses any."""
        given = {k: v for k, v in options.items() if v is not None}
        if given:
            shown = ", ".join(f"--{k}" for k in given)
            values = ", ".join(f"--{k} {v}" for k, v in given.items())
            raise TunecardError(shown, "an option of this task", f"{values}, which the {cls.name} task does not take",
                                f"drop {shown}")
        return cls()

    @classmethod
    def zero_shot(cls, model: str, raw: dict, columns: dict, batch_size: int, **options) -> tuple["Task", Any]:
        """(the task, a predictor like `load_predictor`'s) to score `model`, a model tunecard never trained (an
        alias, a local folder or a hub id), zero-shot on `raw` (the evaluated data's splits as read; `columns`:
        the evaluate column options) with the evaluate options (None: not given). The predictor's labels come
        from the data. Only the tasks of `tasks.ZERO_SHOT` score zero-shot."""
        raise NotImplementedError(f"{cls.__name__}.zero_shot")

    def zero_shot_description(self, predictor, splits: dict) -> dict:
        """For a `zero_shot` evaluation, what metrics.json (`zero_shot`) and the card say: the model, the prompt,
        how answers are scored, the chance level of each metric, and `notes` (the card's paragraphs)."""
        raise NotImplementedError(f"{type(self).__name__}.zero_shot_description")

    def with_windows(self, windows: Optional[Windows]) -> "Task":
        """The task reading long texts as `windows` (None: cut at max_length); a task that cannot refuses."""
        if windows is not None and not self.reads_windows:
            raise TunecardError("--model.long_inputs chunk", "a task whose inputs are single texts or text pairs "
                                "(classification, multi_label)", f"the {self.name} task",
                                "drop --model.long_inputs (or set it to truncate)")
        return dataclasses.replace(self, windows=windows)

    @classmethod
    def abstention_problems(cls, abstain, prefix: str = "abstain.") -> list[TunecardError]:
        """Abstention asked of a task it does not apply to (`abstain`: an AbstainConfig; `prefix`: of its flags)."""
        if abstain.asked is None or not cls.abstention:
            return []
        flag = f"--{prefix}{abstain.asked}"
        return [TunecardError(flag, "a task whose prediction is one label with its probability (classification, "
                              "llm_classification)", f"the {cls.name} task, where {cls.abstention}", f"drop {flag}")]

    @classmethod
    def label_issues_problems(cls, diagnostics) -> list[TunecardError]:
        """Out-of-fold label issues asked of a task they do not apply to (`diagnostics`: a DiagnosticsConfig)."""
        if diagnostics.label_issues != "kfold" or not cls.out_of_fold_issues:
            return []
        return [TunecardError("--diagnostics.label_issues kfold", "a task with one label per row (classification, "
                              "llm_classification)", f"the {cls.name} task, where {cls.out_of_fold_issues}",
                              "drop --diagnostics.label_issues (the in-sample list is written)")]

    @classmethod
    def default_learning_rate(cls, model_name: str, parameters: Optional[int] = None) -> float:
        """The peak learning rate when train.learning_rate is unset, for a model of `parameters` non-embedding
        parameters (None: unknown)."""
        if model_name in cls.model_learning_rates:
            return cls.model_learning_rates[model_name]
        small = parameters is not None and parameters < SMALL_MODEL
        return cls.small_model_learning_rate if small and cls.small_model_learning_rate else cls.learning_rate

    @property
    def library_name(self) -> str:
        """The card's library_name."""
        return "transformers"

    # ---- data ----------------------------------------------------------------------------------

    def prepare(self, data_config, seed: int) -> PreparedData:
        """Read, check and standardise the training data; hold out validation (and test) when missing."""
        return texts.prepare(data_config, seed)

    def evaluation_splits(self, raw: dict, names: list[str], options: dict) -> dict:
        """Labelled splits to evaluate a trained model on, in the task's contract."""
        return texts.evaluation_splits(raw, names, options)

    def tokenize(self, dataset, tokenizer, max_length: int):
        """Model inputs plus `length` (for length-grouped batches) and `full_length` (before truncation); with
        `windows`, one row per window, with its `document`."""
        return texts.tokenize(dataset, tokenizer, max_length, self.windows)

    # ---- model and training --------------------------------------------------------------------

    def build_model(self, ref, label_names: list[str]):
        """The model to train, its head named with the labels."""
        from tunecard.engine import models

        return models.build_classifier(ref, label_names)

    def trainer_datasets(self, tokenized: dict) -> tuple:
        """The (train, validation) sets Trainer sees: by default the tokenized rows themselves."""
        return tokenized["train"], tokenized["validation"]

    def data_collator(self, tokenizer):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    def loss_function(self, train_config, train):
        """A Trainer `compute_loss_func`, or None for the model's own loss (class weights come from
        train.class_weights). `train`: the rows Trainer trains on (for weights drawn from them)."""
        return None

    # ---- distillation (tunecard distill): the student's targets and loss ----------------------------------------

    def teacher_logits(self, probabilities: np.ndarray) -> np.ndarray:
        """A teacher's predictions as the logits the student's distillation term softens: log-probabilities, whose
        softmax gives the teacher's (temperature-scaled) probabilities back, whatever the teacher is."""
        return np.log(np.maximum(np.asarray(probabilities, dtype=np.float64), 1e-12))

    def packed_targets(self, gold, teacher: np.ndarray) -> list[list[float]]:
        """The `labels` a distilled student trains on: per row [gold label id (-1: none), teacher logits...]."""
        return [[float(g), *row] for g, row in zip(gold, np.asarray(teacher, dtype=float).tolist())]

    def unpacked_gold(self, labels: np.ndarray) -> np.ndarray:
        return np.asarray(labels)[:, 0].astype(int)

    def distillation_loss(self, temperature: float, alpha: float):
        """A Trainer `compute_loss_func` on packed targets: alpha T^2 KL(teacher_T || student_T) + (1 - alpha)
        CE(gold), the CE term only where there is a gold label; normalised per row of the accumulated batch."""
        import torch.nn.functional as F

        def loss(outputs, labels, num_items_in_batch=None):
            logits, labels = outputs["logits"].float(), labels.float()
            gold, teacher = labels[:, 0].long(), labels[:, 1:]
            student = F.log_softmax(logits / temperature, -1)
            kl = F.kl_div(student, F.log_softmax(teacher / temperature, -1), log_target=True,
                          reduction="none").sum(-1) * temperature ** 2
            ce = F.cross_entropy(logits, gold.clamp(min=0), reduction="none") * (gold >= 0)
            rows = num_items_in_batch / labels.shape[1] if num_items_in_batch is not None else len(labels)
            return (alpha * kl + (1 - alpha) * ce).sum() / rows  # Trainer counts every packed entry as an item
        return loss

    def preprocess_logits(self, tokenizer, label_names: list[str]):
        """Trainer's `preprocess_logits_for_metrics` for per-epoch validation; None keeps the logits."""
        return None

    def compute_metrics_fn(self, label_names: list[str], validation, row_order: np.ndarray):
        """The `compute_metrics` Trainer calls after each evaluation (`row_order`: the order in which
        Trainer visited the validation rows)."""
        from tunecard.judging import metrics

        def compute(eval_prediction) -> dict:
            logits, labels = self.documents_of(eval_prediction, validation, row_order)
            return metrics.classification_metrics(labels, np.argmax(logits, -1), len(label_names))
        return compute

    def documents_of(self, eval_prediction, validation, row_order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits, labels) of Trainer's evaluation per document: as they come, or each document's windows
        pooled (the windows arrive in `row_order`, the order Trainer visited the validation rows)."""
        logits = eval_prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        if self.windows is None:
            return logits, np.asarray(eval_prediction.label_ids)
        documents = np.asarray(validation["document"])[row_order]
        labels = window_rows.first_of_each(list(eval_prediction.label_ids), documents)
        return window_rows.pool(logits, documents, self.windows.pooling), np.asarray(labels)

    def temperature(self, validation_logits: np.ndarray, validation) -> Optional[float]:
        """The softmax temperature fitted on validation (train.temperature_scaling)."""
        from tunecard.judging import judge

        return judge.fit_temperature(validation_logits, validation["label"])

    def fit(self, validation_logits: np.ndarray, prepared: PreparedData) -> "Task":
        """The task with its decision rules fitted after training (e.g. thresholds on validation); by default
        there are none to fit."""
        return self

    def refit(self, probs: np.ndarray, validation) -> "Task":
        """The task with the decision rules `fit` chooses refit on other validation probabilities (an ensemble's
        blend); by default there are none."""
        return self

    def fitted_settings(self) -> dict[str, Any]:
        """What `fit` chose, as ModelSettings fields (saved with the model, and in metrics.json under `fitted`)."""
        return {}

    def with_fitted(self, settings) -> "Task":
        """The task with what `fit` chose restored from a ModelSettings (a saved model's, or a run's metrics)."""
        return self

    def model_settings(self, prepared: PreparedData, ref) -> dict[str, Any]:
        """Task-specific ModelSettings fields saved with the model for its predictor."""
        return {}

    def save_model(self, trainer, tokenizer, folder, settings) -> None:
        """Write the trained model folder."""
        trainer.save_model(str(folder))
        tokenizer.save_pretrained(str(folder))

    # ---- scoring and metrics -------------------------------------------------------------------

    def score(self, model, tokenizer, tokenized, batch_size: int, desc: str) -> np.ndarray:
        """Logits [n_rows, n_labels] in row order."""
        from tunecard.engine.inference import predict_logits

        return predict_logits(model, tokenizer, tokenized, batch_size, desc=desc)

    def pool(self, logits: np.ndarray, tokenized) -> np.ndarray:
        """Logits per document from `score`'s logits per tokenized row: a document's windows pooled."""
        if self.windows is None:
            return logits
        return window_rows.pool(logits, tokenized["document"], self.windows.pooling)

    def metric_keys(self, label_names: list[str]) -> list[str]:
        from tunecard.judging import metrics

        return metrics.metric_keys(len(label_names))

    def headline_metric(self, label_names: list[str]) -> str:
        return "f1" if len(label_names) == 2 else "f1_macro"

    def lead_metric(self, label_names: list[str]) -> Optional[str]:
        """The metric collapse.no_better_than_majority judges the model's lead over the majority class on; None:
        macro F1 of the labels (a model that predicts one class cannot score on it, whichever class that is)."""
        return None

    def applicable(self, findings: list) -> list:
        """The findings that fit this task (`findings_not_applicable` dropped; None entries too), their advice
        without class weights where the task takes none."""
        from tunecard.judging.diagnostics import without_class_weights

        kept = [f for f in findings if f is not None and f.id not in self.findings_not_applicable]
        return kept if self.takes_class_weights else [without_class_weights(f) for f in kept]

    def judge(self, name: str, dataset, logits: np.ndarray, names: list[str], train_counts: dict[str, int],
              temperature: Optional[float], seed: int):
        """One split's evaluation (evaluation.SplitEvaluation): metrics beside baselines, intervals, findings."""
        from tunecard.judging import judge

        return judge.judge_split(self, name, dataset, logits, names, train_counts, temperature, seed)

    def predicted(self, probs: np.ndarray) -> np.ndarray:
        """The label each row is given from its probabilities (judged splits' `probs`)."""
        return np.asarray(probs).argmax(-1)

    def paired(self, dataset, scored: dict[str, tuple], names: list[str], seed: int) -> dict:
        """Bootstrap intervals of the first scorer's metrics and of its headline lead over each other one, on the
        same resampled units. `scored`: name -> (predictions as `predicted` gives them, probabilities)."""
        from tunecard.judging import intervals

        scorers = {key: intervals.Scorer(np.asarray(pred), self.unit_terms(dataset, probs))
                   for key, (pred, probs) in scored.items()}
        return intervals.bootstrap(dataset["label"], self.resampling_units(dataset), len(names), scorers,
                                   self.metric_keys(names), self.headline_metric(names), seed)

    def label_noise_candidates(self, train, logits: np.ndarray, names: list[str], path):
        """A finding listing the training rows the model finds least likely under their label (written to
        `path`); None where the task has no such list."""
        from tunecard.judging import judge

        return judge.label_noise_candidates(train, logits, names, path)

    def prediction_frame(self, ids, judged, names: list[str]):
        """The rows of predictions/<split>.csv for a judged split: id, gold, prediction, prob_<label> per label."""
        from tunecard.data.predictions import prediction_frame

        frame = prediction_frame(ids, judged.probs, names, top_k=1, decimals=None)
        frame.insert(1, "gold", [names[i] for i in judged.gold])
        return frame

    def read_predictions(self, path, names: list[str], temperature: Optional[float]):
        """(dataset, logits) from predictions/<split>.csv: the rows as the task's metrics read them, and logits
        whose judged probabilities are the ones written (softmax(logits / T) = probs)."""
        from tunecard.data.predictions import read_prediction_split

        dataset, probs = read_prediction_split(path, names)
        return dataset, np.log(np.maximum(probs, 1e-300)) * (temperature or 1.0)

    def split_metrics(self, dataset, probs: np.ndarray) -> dict[str, float]:
        """Metrics beyond the per-row ones (e.g. pairwise accuracy)."""
        return {}

    def chance_scores(self, dataset, seed: int) -> Optional[np.ndarray]:
        """Scores (shaped like the model's probabilities) of the task's own chance-level scorer, from which
        `split_metrics` gives the stratified baseline its task metrics; None when the task has none."""
        return None

    def majority_scores(self, dataset, train_counts: dict[str, int]) -> Optional[np.ndarray]:
        """Scores of the task's own input-blind scorer for the majority baseline's task metrics; None: none."""
        return None

    def resampling_units(self, dataset) -> np.ndarray:
        """The unit id (0..n-1) of each row: a bootstrap resample draws units, a unit's rows together."""
        return np.arange(len(dataset))

    def unit_terms(self, dataset, scores: np.ndarray) -> dict[str, np.ndarray]:
        """The task's own metrics (`split_metrics`) as per-unit terms whose mean is the metric, in unit-id
        order: how the bootstrap recomputes them on a resample."""
        return {}

    def chance_loss(self, label_names: list[str], train_counts: dict[str, int], validation_labels,
                    train_config) -> Optional[float]:
        """The validation loss of the best model that ignores its inputs (collapse.loss_at_chance), with the class
        weights the training loss used; None when the loss has no such level."""
        from tunecard.judging import diagnostics, metrics

        counts = [train_counts[name] for name in label_names]
        weights = None
        if train_config.class_weights == "balanced":
            weights = metrics.balanced_class_weights(np.repeat(np.arange(len(counts)), counts), len(counts))
        seen = np.bincount(np.asarray(validation_labels), minlength=len(label_names))
        return diagnostics.prior_cross_entropy(counts, seen, weights)

    def comparisons(self, name: str, model, tokenizer, dataset, tokenized, probs: np.ndarray,
                    batch_size: int) -> tuple[dict, list[dict]]:
        """Other scorers of the held-out split shown beside the model ({key: {"label", "metrics"}}) and
        example rows; none by default."""
        return {}, []

    def prediction_extras(self, dataset, probs: np.ndarray) -> dict[str, list]:
        """Columns added to predictions/<split>.csv."""
        return {}

    # ---- the card ------------------------------------------------------------------------------

    def card(self, prepared: PreparedData, tokenizer) -> TaskCard:
        kind = "text-pair" if prepared.columns.text_pair else "text"
        return classifier_card(prepared, f"{kind} classification")

    # ---- trained models ------------------------------------------------------------------------

    def load_predictor(self, saved, batch_size: int = 64, backend: str = "torch"):
        """The object `tunecard.load` returns (`saved`: the runs.saved.SavedRun)."""
        from tunecard.engine import inference

        runner, tokenizer, config = inference.open_runner(saved.folder, backend, saved.onnx_file)
        settings = saved.settings
        max_length = inference.scoring_length(tokenizer, settings.max_length, settings.truncation_side)
        labels = [config.id2label[i] for i in range(config.num_labels)]
        return inference.Classifier(runner, tokenizer, labels, max_length, settings.temperature, batch_size,
                                    windows=self.windows, abstain_below=threshold_of(settings.abstention))

    def input_lengths(self, predictor, rows: dict[str, list]) -> list[list[int]]:
        """For each row (columns as `chunk_scorer` reads them), the token count of every sequence the model
        reads for it, before truncation: `tunecard serve` budgets its batches with these and reports the
        inputs longer than the model's limit (`predictor`: what `load_predictor` returns). By default one
        sequence: the text (and its pair)."""
        from tunecard.data.columns import infer_text_columns

        text, pair = infer_text_columns(list(rows), None, None)
        if self.windows is not None:  # the windows the model reads
            encoded = predictor.encode(rows[text], rows[pair] if pair else None)
            counts = [[] for _ in rows[text]]
            for document, length in zip(encoded["document"], encoded["length"]):
                counts[document].append(length)
            return counts
        encoded = predictor.tokenizer(list(rows[text]), list(rows[pair]) if pair else None)["input_ids"]
        return [[len(ids)] for ids in encoded]

    def chunk_scorer(self, predictor, columns: list[str], options: dict):
        """fn(chunk, ids, bar) -> DataFrame: the rows `predict` writes for a chunk of its input. By default a
        label classifier's: id, prediction, prob_<label> per label, top-k labels."""
        from tunecard.data.columns import infer_text_columns
        from tunecard.data.predictions import prediction_frame

        text, pair = infer_text_columns(columns, options.get("text_column"), options.get("text_pair_column"))

        def score_chunk(chunk, ids, bar):
            probs = predictor.predict_proba(chunk[text], chunk[pair] if pair else None, bar=bar)
            return with_abstained(prediction_frame(ids, probs, predictor.labels, options.get("top_k", 1)), probs,
                                  predictor.abstain_below)
        return score_chunk


def with_abstained(frame, probs: np.ndarray, abstain_below: Optional[float]):
    """A prediction frame with its `abstained` column (true where the top probability is below the saved cut-off),
    when the model abstains; the rows are kept, their prediction still the top label."""
    if abstain_below is not None:
        frame["abstained"] = abstains(probs, abstain_below)
    return frame
