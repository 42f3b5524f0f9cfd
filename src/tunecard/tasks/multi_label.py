"""Multi-label classification: any number of labels per text (none, one or several), with
`AutoModelForSequenceClassification` and `problem_type="multi_label_classification"` (an independent sigmoid
and binary cross-entropy per label), so `pipeline("text-classification", top_k=None)` returns every label's
score. Decision thresholds are fitted on validation and saved in config.json.

Contract after `prepare`: every split has `id` (str), `text`, optional `text_pair`, and `label`: a 0/1 float
per label name (a list as long as the label names). The three input layouts: data/label_sets.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import numpy as np

from tunecard.data import checks, label_sets
from tunecard.data.columns import id_column as find_id_column
from tunecard.data.splits import PreparedData, hold_out_missing, random_holdout, read_training_splits
from tunecard.errors import TunecardError
from tunecard.judging import diagnostics, intervals, metrics
from tunecard.tasks.base import Task
from tunecard.tasks.cards import TaskCard, input_description
from tunecard.tasks.classification import SMALL_MODEL_LEARNING_RATE

HEADLINE = "f1_micro"
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)
"""Decision thresholds tried on validation."""
GOLD_DELIMITER = ","
"""Between the labels of a set in predictions files (gold and prediction columns)."""
USAGE = """from transformers import pipeline

tagger = pipeline("text-classification", model="{model_path}", top_k=None)  # every label's sigmoid score
scores = tagger("Your text here")[0]
thresholds = tagger.model.config.tunecard_thresholds  # fitted on validation, one per label id
labels = [s["label"] for s in scores if s["score"] >= thresholds[tagger.model.config.label2id[s["label"]]]]"""


# ---- data -------------------------------------------------------------------------------------

def _prepare(data_config, seed: int) -> PreparedData:
    """Read the splits, find the label layout, encode every row's label set, hold out what is missing."""
    raw = read_training_splits(data_config)
    columns = label_sets.find_label_set_columns(raw["train"], data_config)
    dropped = {}
    if data_config.bad_rows == "drop":
        raw, dropped = checks.drop_bad_rows_in(raw, label_sets.complete_rows(columns))
    names = label_sets.label_names(raw["train"], columns, data_config)
    _check_names(names, len(raw["train"]))
    splits = {name: standardise(ds, columns, names, name) for name, ds in raw.items()}
    splits, held_out, test_held_out, together = hold_out_missing(splits, data_config, seed, random_holdout)
    return PreparedData(splits, names, columns.as_columns(), held_out, dropped_rows=dropped,
                        findings=[f for f in (_unlabelled_finding(splits),) if f], test_held_out=test_held_out,
                        held_out_together=together)


def _check_names(names: list[str], train_rows: int) -> None:
    checks.check_classes(names, train_rows)
    joined = [n for n in names if GOLD_DELIMITER in n]
    if joined:
        raise TunecardError("label names", f"names without '{GOLD_DELIMITER}' (it separates a set's labels in "
                            "predictions files)", f"'{joined[0]}'", "rename those labels")


def standardise(dataset, columns: label_sets.LabelSetColumns, names: list[str], split: str):
    """Check one split and rename it to the contract (id, text, text_pair, label as 0/1 per name)."""
    import datasets

    missing = [c for c in (columns.text, columns.text_pair, *columns.sources) if c and c not in dataset.column_names]
    if missing:
        raise TunecardError(f"{split} data", "the columns found in train", f"no {', '.join(missing)} among "
                            f"{', '.join(dataset.column_names)}", "give every split the same columns")
    for column in filter(None, (columns.text, columns.text_pair)):
        checks.check_texts(dataset, column, split)
    id_column = find_id_column(dataset.column_names)

    def convert(batch, indices):
        return {"id": [str(v) for v in (batch[id_column] if id_column else indices)],
                "label": label_sets.encode(batch, columns, names, split, indices[0])}

    features = {"id": datasets.Value("string"), "label": datasets.List(datasets.Value("float32"))}
    kept = [c for c in (columns.text, columns.text_pair) if c]
    features.update({c: dataset.features[c] for c in kept})
    dataset = dataset.map(convert, batched=True, with_indices=True, features=datasets.Features(features),
                          remove_columns=[c for c in dataset.column_names if c not in kept])
    renames = {columns.text: "text", columns.text_pair: "text_pair"}
    return dataset.rename_columns({k: v for k, v in renames.items() if k and k != v})


def _unlabelled_finding(splits: dict):
    counts = {name: int((np.asarray(ds["label"]).sum(-1) == 0).sum()) for name, ds in splits.items()}
    if not any(counts.values()):
        return None
    shown = ", ".join(f"{name} {n} of {len(splits[name])}" for name, n in counts.items())
    return diagnostics.Finding("data.rows_without_labels", "info", f"rows that carry no label: {shown}",
                               {"rows": counts}, "kept: the model learns to predict no label for texts like them")


# ---- decisions fitted on validation -----------------------------------------------------------

def fit_thresholds(probs: np.ndarray, gold: np.ndarray) -> tuple[list[float], str]:
    """(one threshold per label, "global" or "per_label"): the grid value best on the headline for every
    label, against each label's own F1-best value (a label without validation support keeps the global one);
    per-label thresholds are kept only when they beat the global one on the headline."""
    gold = np.asarray(gold, dtype=bool)
    scores = [metrics.multi_label_metrics(gold, probs >= t)[HEADLINE] for t in THRESHOLD_GRID]
    best = float(THRESHOLD_GRID[int(np.argmax(scores))])
    hits = probs[None] >= THRESHOLD_GRID[:, None, None]  # [grid, rows, labels]
    tp, fp = (hits & gold).sum(1), (hits & ~gold).sum(1)
    f1 = 2 * tp / np.maximum(tp + fp + gold.sum(0), 1)
    per_label = np.where(gold.sum(0) > 0, THRESHOLD_GRID[f1.argmax(0)], best)
    if metrics.multi_label_metrics(gold, probs >= per_label)[HEADLINE] > max(scores):
        return [float(t) for t in per_label], "per_label"
    return [best] * gold.shape[1], "global"


def majority_set(train_labels: np.ndarray) -> list[int]:
    """The most frequent label set of the training rows (0/1 per label; the first such set on a tie)."""
    rows, counts = np.unique(np.asarray(train_labels, dtype=int), axis=0, return_counts=True)
    return [int(v) for v in rows[int(counts.argmax())]]


# ---- judging ----------------------------------------------------------------------------------

def _judge(task: "MultiLabel", name: str, dataset, logits: np.ndarray, names: list[str], seed: int):
    """One split's evaluation: the model (sigmoid, fitted thresholds) beside the most frequent training label
    set and per-label prior draws, with bootstrap intervals over rows and the paired lead."""
    from tunecard.judging.judge import BASELINE_NAMES, SplitEvaluation, SplitReport, with_leads

    gold = np.asarray(dataset["label"], dtype=bool).reshape(len(dataset), len(names))
    probs = metrics.sigmoid(logits)
    predictions = {"model": probs >= np.asarray(task.thresholds),
                   "majority": np.tile(np.asarray(task.majority_set, dtype=bool), (len(gold), 1)),
                   "stratified": np.random.default_rng(seed).random(gold.shape) < np.asarray(task.priors)}
    scored = {key: metrics.multi_label_metrics(gold, pred) for key, pred in predictions.items()}
    terms = {key: metrics.multi_label_terms(gold, pred) for key, pred in predictions.items()}
    bounds = intervals.bootstrap_row_terms(terms, metrics.multi_label_from_sums, metrics.MULTI_LABEL_KEYS,
                                           HEADLINE, seed)
    report = SplitReport(
        name=name, size=len(gold), distribution=metrics.label_counts(gold, names), metrics=scored["model"],
        baseline=scored["majority"], stratified=scored["stratified"],
        per_class=metrics.multi_label_report(gold, predictions["model"], names),
        calibration=_calibration(probs, gold), intervals={"unit": "rows", **with_leads(bounds, scored, HEADLINE)})
    findings = diagnostics.label_set_collapse_findings(name, gold, predictions["model"], names)
    findings += diagnostics.below_baseline_findings(
        name, report, HEADLINE, {k: info[1] for k, info in {**metrics.METRIC_INFO, **task.metric_info}.items()},
        {**BASELINE_NAMES, **task.baseline_names})
    return SplitEvaluation(report, gold, probs, findings)


def _calibration(probs: np.ndarray, gold: np.ndarray) -> dict:
    """ECE, Brier and reliability over every (row, label) decision, each a binary probability."""
    flat = probs.reshape(-1)
    binary, truth = np.stack([1 - flat, flat], -1), gold.reshape(-1).astype(int)
    return {"ece": diagnostics.expected_calibration_error(binary, truth),
            "brier": diagnostics.brier_score(binary, truth),
            "reliability": diagnostics.reliability_bins(binary, truth)}


def prediction_frame(ids, probs: np.ndarray, names: list[str], thresholds, gold=None, top_k: int = 1,
                     decimals: int | None = None):
    """id, (gold,) prediction (the label set, comma-separated), prob_<label> per label, top-k ranked labels."""
    import pandas as pd

    chosen = probs >= np.asarray(thresholds)
    frame = pd.DataFrame({"id": list(ids)})
    if gold is not None:
        frame["gold"] = [_joined(row, names) for row in gold]
    frame["prediction"] = [_joined(row, names) for row in chosen]
    for i, label in enumerate(names):
        frame[f"prob_{label}"] = probs[:, i] if decimals is None else probs[:, i].round(decimals)
    if top_k > 1:
        frame["top_k"] = [" ".join(names[i] for i in row) for row in np.argsort(-probs, axis=1)[:, :top_k]]
    return frame


def _joined(row, names: list[str]) -> str:
    return GOLD_DELIMITER.join(n for n, on in zip(names, row) if on)


def _read_predictions(path, names: list[str]):
    """(dataset, logits) from a run's predictions/<split>.csv: gold label sets and the logits of the
    probabilities written (logit(p), so sigmoid gives them back)."""
    import datasets
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    probs = frame[[f"prob_{n}" for n in names]].astype(float).to_numpy()
    index = {n: i for i, n in enumerate(names)}
    gold = np.zeros((len(frame), len(names)), dtype=np.float32)
    for row, value in enumerate(frame["gold"]):
        gold[row, [index[v] for v in value.split(GOLD_DELIMITER) if v]] = 1.0
    dataset = datasets.Dataset.from_dict({"id": frame["id"].tolist(), "label": gold.tolist()})
    probs = np.clip(probs, 1e-300, 1 - 1e-16)
    return dataset, np.log(probs) - np.log1p(-probs)


# ---- loss ---------------------------------------------------------------------------------------

def balanced_weights(priors) -> tuple[np.ndarray, np.ndarray]:
    """Per label, the weights of its positive and negative rows under `train.class_weights: balanced`:
    scikit-learn's "balanced" for each label's own yes/no problem, n / (2 * count), so that both sides of a
    label weigh alike however rare it is."""
    p = np.clip(np.asarray(priors, dtype=float), 1e-6, 1 - 1e-6)
    return 0.5 / p, 0.5 / (1 - p)


def weighted_bce(positive_weights, negative_weights):
    """A Trainer `compute_loss_func`: binary cross-entropy per (row, label), weighted by the label's weight
    for the side the row is on."""
    import torch

    positive, negative = (torch.tensor(w, dtype=torch.float32) for w in (positive_weights, negative_weights))

    def loss(outputs, labels, num_items_in_batch=None):
        logits, labels = outputs["logits"].float(), labels.float()
        weight = torch.where(labels > 0.5, positive.to(logits.device), negative.to(logits.device))
        summed = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, weight=weight, reduction="sum")
        # Trainer counts every (row, label) entry as an item and expects the loss normalised over them.
        return summed / (num_items_in_batch if num_items_in_batch is not None else labels.numel())
    return loss


def blind_bce(priors, validation_labels, balanced: bool = False) -> float:
    """Validation BCE (mean over every row and label) of the best input-blind model: each label's training
    prior, or, under balanced weights, 0.5 (where the weighted yes and no rows balance), weighted alike."""
    p = np.clip(np.asarray(priors, dtype=float), 1e-12, 1 - 1e-12)
    gold = np.asarray(validation_labels, dtype=float)
    positive, negative = balanced_weights(p) if balanced else (np.ones_like(p), np.ones_like(p))
    guess = positive * p / (positive * p + negative * (1 - p))
    return float(-(positive * gold * np.log(guess) + negative * (1 - gold) * np.log(1 - guess)).mean())


# ---- the task ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class MultiLabel(Task):
    """Any number of labels per text: one sigmoid per label, thresholds fitted on validation."""

    name = "multi_label"
    student_task = "multi_label"
    baseline_description = ("the most frequent training label set (always predicting it) and per-label prior draws "
                            "(each label drawn independently with its training share)")
    baseline_names = {"majority": "most frequent label set", "stratified": "per-label prior draws"}
    out_of_fold_issues = "a row's labels are a set decided label by label, not one label among the others"
    abstention = ("each label is decided against its own threshold fitted on validation: there is no one label "
                  "whose confidence a cut-off could withhold")
    independent_labels = True
    exports_onnx = True
    holdout = "at random (seeded; label sets are not stratified)"
    metric_info = {
        "f1_micro": ("f1", "F1 (micro)", {"average": "micro"}),
        "precision_micro": ("precision", "Precision (micro)", {"average": "micro"}),
        "recall_micro": ("recall", "Recall (micro)", {"average": "micro"}),
        "f1_samples": ("f1", "F1 (samples)", {"average": "samples"}),
        "precision_samples": ("precision", "Precision (samples)", {"average": "samples"}),
        "recall_samples": ("recall", "Recall (samples)", {"average": "samples"}),
        "subset_accuracy": ("accuracy", "Subset accuracy", {"subset": True}),
        "hamming_loss": ("hamming_loss", "Hamming loss", None),
        "label_cardinality": ("label_cardinality", "Labels per text", None),
    }
    small_model_learning_rate = SMALL_MODEL_LEARNING_RATE
    label_columns: Optional[str] = None
    label_delimiter: str = ","
    labels_by_id: bool = False
    thresholds: tuple[float, ...] = ()
    """Per label id, fitted on validation (`fit`); 0.5 each until then."""
    threshold_kind: str = "global"
    priors: tuple[float, ...] = ()
    """Each label's share of the training rows (the per-label prior baseline)."""
    majority_set: tuple[int, ...] = ()
    """The most frequent training label set, 0/1 per label (the majority baseline)."""

    @classmethod
    def bind(cls, config) -> "MultiLabel":
        return cls(label_columns=config.data.label_columns, label_delimiter=config.data.label_delimiter,
                   labels_by_id=bool(config.data.label_names))

    @classmethod
    def from_model(cls, settings, **options) -> "MultiLabel":
        super().from_model(settings, **options)  # refuses options this task does not take
        return cls().with_fitted(settings)

    def prepare(self, data_config, seed: int) -> PreparedData:
        return _prepare(data_config, seed)

    def evaluation_splits(self, raw: dict, names: list[str], options: dict) -> dict:
        from tunecard.config import DataConfig

        first = next(iter(raw.values()))
        config = DataConfig(text_column=options.get("text_column"), text_pair_column=options.get("text_pair_column"),
                            label_column=options.get("label_column"), label_columns=self.label_columns,
                            label_delimiter=self.label_delimiter)
        columns = dataclasses.replace(label_sets.find_label_set_columns(first, config), by_id=self.labels_by_id)
        return {name: standardise(ds, columns, names, name) for name, ds in raw.items()}

    def build_model(self, ref, label_names: list[str]):
        from tunecard.engine import models

        model = models.build_classifier(ref, label_names)
        model.config.problem_type = "multi_label_classification"  # BCE in training; sigmoid in pipeline()
        return model

    def compute_metrics_fn(self, label_names: list[str], validation, row_order: np.ndarray):
        def compute(eval_prediction) -> dict:  # per epoch, at threshold 0.5: the fitted ones come after training
            logits, labels = self.documents_of(eval_prediction, validation, row_order)
            return metrics.multi_label_metrics(np.asarray(labels) > 0.5, logits >= 0)
        return compute

    def model_settings(self, prepared: PreparedData, ref) -> dict:
        return {"label_columns": self.label_columns, "label_delimiter": self.label_delimiter,
                "labels_by_id": self.labels_by_id}

    def metric_keys(self, label_names: list[str]) -> list[str]:
        return list(metrics.MULTI_LABEL_KEYS)

    def headline_metric(self, label_names: list[str]) -> str:
        return HEADLINE

    # ---- fitted on validation

    def fit(self, validation_logits: np.ndarray, prepared: PreparedData) -> "MultiLabel":
        train = np.asarray(prepared.splits["train"]["label"])
        fitted = self.refit(metrics.sigmoid(validation_logits), prepared.splits["validation"])
        return dataclasses.replace(fitted, priors=tuple(float(p) for p in train.mean(0)),
                                   majority_set=tuple(majority_set(train)))

    def refit(self, probs: np.ndarray, validation) -> "MultiLabel":
        """The thresholds fitted on these validation probabilities (an ensemble's blend: thresholds for it)."""
        thresholds, kind = fit_thresholds(probs, np.asarray(validation["label"]))
        return dataclasses.replace(self, thresholds=tuple(thresholds), threshold_kind=kind)

    def fitted_settings(self) -> dict:
        return {"thresholds": list(self.thresholds), "threshold_kind": self.threshold_kind,
                "label_priors": list(self.priors), "majority_set": list(self.majority_set)}

    def with_fitted(self, settings) -> "MultiLabel":
        """What `fit` chose, from a ModelSettings (a saved model's, or a run's metrics.json `fitted`); the
        label layout too when it is there (a saved model's)."""
        layout = {"label_columns": settings.label_columns, "labels_by_id": settings.labels_by_id or self.labels_by_id,
                  "label_delimiter": settings.label_delimiter or self.label_delimiter}
        return dataclasses.replace(
            self, thresholds=tuple(settings.thresholds or self.thresholds),
            threshold_kind=settings.threshold_kind or self.threshold_kind,
            priors=tuple(settings.label_priors or self.priors),
            majority_set=tuple(settings.majority_set or self.majority_set),
            **{k: v for k, v in layout.items() if v is not None})

    def temperature(self, validation_logits: np.ndarray, validation) -> None:
        return None  # label probabilities are judged against thresholds, not a softmax temperature

    # ---- scoring

    def judge(self, name: str, dataset, logits: np.ndarray, names: list[str], train_counts: dict, temperature,
              seed: int):
        return _judge(self, name, dataset, logits, names, seed)

    def loss_function(self, train_config, train):
        if train_config.class_weights != "balanced":
            return None  # the model's own BCE (problem_type multi_label_classification)
        return weighted_bce(*balanced_weights(np.asarray(train["label"], dtype=float).mean(0)))

    def predicted(self, probs: np.ndarray) -> np.ndarray:
        """Each row's label set (0/1 per label) at the fitted thresholds."""
        return np.asarray(probs) >= np.asarray(self.thresholds or [0.5] * np.asarray(probs).shape[-1])

    def paired(self, dataset, scored: dict[str, tuple], names: list[str], seed: int) -> dict:
        gold = np.asarray(dataset["label"], dtype=bool).reshape(len(dataset), len(names))
        terms = {key: metrics.multi_label_terms(gold, np.asarray(pred, dtype=bool))
                 for key, (pred, _) in scored.items()}
        return intervals.bootstrap_row_terms(terms, metrics.multi_label_from_sums, metrics.MULTI_LABEL_KEYS,
                                             HEADLINE, seed)

    def teacher_logits(self, probabilities: np.ndarray) -> np.ndarray:
        """Per label, the logit of the teacher's sigmoid probability."""
        p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-7, 1 - 1e-7)
        return np.log(p) - np.log1p(-p)

    def packed_targets(self, gold, teacher: np.ndarray) -> list[list[float]]:
        """Per row [gold 0/1 per label (-1 each: none)..., teacher logits per label...]."""
        return [[*map(float, g), *row] for g, row in zip(gold, np.asarray(teacher, dtype=float).tolist())]

    def unpacked_gold(self, labels: np.ndarray) -> np.ndarray:
        labels = np.asarray(labels)
        return labels[:, :labels.shape[1] // 2]

    def distillation_loss(self, temperature: float, alpha: float):
        """alpha T^2 BCE(student_T, sigmoid(teacher_T)) + (1 - alpha) BCE(gold), per label, the gold term only
        where there is a gold label set; normalised per (row, label), as the model's own BCE is."""
        import torch.nn.functional as F

        def loss(outputs, labels, num_items_in_batch=None):
            logits, labels = outputs["logits"].float(), labels.float()
            width = logits.shape[-1]
            gold, teacher = labels[:, :width], labels[:, width:]
            soft = F.binary_cross_entropy_with_logits(logits / temperature, (teacher / temperature).sigmoid(),
                                                      reduction="none") * temperature ** 2
            hard = F.binary_cross_entropy_with_logits(logits, gold.clamp(min=0), reduction="none") * (gold >= 0)
            rows = num_items_in_batch / labels.shape[1] if num_items_in_batch is not None else len(labels)
            return (alpha * soft + (1 - alpha) * hard).sum() / (rows * width)
        return loss

    def chance_loss(self, label_names, train_counts, validation_labels, train_config) -> float:
        return blind_bce(self.priors, validation_labels, balanced=train_config.class_weights == "balanced")

    def label_noise_candidates(self, train, logits: np.ndarray, names: list[str], path):
        return None

    def prediction_frame(self, ids, judged, names: list[str]):
        return prediction_frame(ids, judged.probs, names, self.thresholds, gold=judged.gold)

    def read_predictions(self, path, names: list[str], temperature):
        return _read_predictions(path, names)

    # ---- the card and trained models

    def card(self, prepared: PreparedData, tokenizer) -> TaskCard:
        names = prepared.label_names
        return TaskCard(
            description="multi-label text classification",
            intended_use=f"Tags {input_description(prepared)} with any number (none, one or several) "
                         f"of {len(names)} labels: {', '.join(names)}.",
            usage=USAGE,
            metrics_note="Precision, recall and F1 are averaged three ways: micro (over every text-label decision), "
                         "macro (each label counts the same) and samples (each text counts the same). Subset accuracy "
                         "is the share of texts whose whole label set is right; Hamming loss the share of wrong "
                         "text-label decisions (lower is better).",
            notes=[self._threshold_note(names)])

    def _threshold_note(self, names: list[str]) -> str:
        if not self.thresholds:
            return "Decision threshold: 0.5 per label."
        if self.threshold_kind == "global":
            shown = f"one global threshold, {self.thresholds[0]:g}"
        else:
            shown = "per-label thresholds (" + ", ".join(f"{n} {t:g}" for n, t in zip(names, self.thresholds)) + ")"
        return (f"A label is predicted when its probability reaches its decision threshold: {shown}, fitted on "
                f"validation for {MultiLabel.metric_info[HEADLINE][1]} and saved in `config.json` as "
                "`tunecard_thresholds`. The validation numbers are optimistic for that reason; test is the honest "
                "measure.")

    def load_predictor(self, saved, batch_size: int = 64, backend: str = "torch") -> "LabelSetClassifier":
        from tunecard.engine import inference

        runner, tokenizer, config = inference.open_runner(saved.folder, backend, saved.onnx_file)
        max_length = inference.scoring_length(tokenizer, saved.settings.max_length, saved.settings.truncation_side)
        labels = [config.id2label[i] for i in range(config.num_labels)]
        return LabelSetClassifier(runner, tokenizer, labels, max_length, self.thresholds, batch_size, self.windows)

    def chunk_scorer(self, predictor, columns: list[str], options: dict):
        from tunecard.data.columns import infer_text_columns

        text, pair = infer_text_columns(columns, options.get("text_column"), options.get("text_pair_column"))

        def score_chunk(chunk, ids, bar):
            probs = predictor.predict_proba(chunk[text], chunk[pair] if pair else None, bar=bar)
            return prediction_frame(ids, probs, predictor.labels, self.thresholds or 0.5, top_k=options.get("top_k", 1),
                                    decimals=6)
        return score_chunk


class LabelSetClassifier:
    """A trained multi-label classifier, as `tunecard.load` returns it: an independent sigmoid probability per
    label, and the labels at or above the decision thresholds fitted on validation (0.5 without them)."""

    def __init__(self, runner, tokenizer, labels: list[str], max_length: int, thresholds=(), batch_size: int = 64,
                 windows=None):
        from tunecard.engine.inference import Classifier

        self.texts = Classifier(runner, tokenizer, labels, max_length, None, batch_size, windows=windows)
        self.encode = self.texts.encode
        self.runner, self.tokenizer, self.labels, self.max_length = runner, tokenizer, list(labels), max_length
        self.temperature = None  # label probabilities are judged against thresholds, not a softmax temperature
        self.thresholds = np.asarray(thresholds or [0.5] * len(self.labels))

    @property
    def model(self):
        return self.runner.model

    def predict_logits(self, texts: list[str], text_pairs: list[str] | None = None, bar=None) -> np.ndarray:
        return self.texts.predict_logits(texts, text_pairs, bar)

    def predict_proba(self, texts: list[str], text_pairs: list[str] | None = None, bar=None) -> np.ndarray:
        return metrics.sigmoid(self.predict_logits(texts, text_pairs, bar))

    def predict(self, texts: list[str], text_pairs: list[str] | None = None) -> list[list[str]]:
        """Each text's predicted label set, in label order."""
        chosen = self.predict_proba(texts, text_pairs) >= self.thresholds
        return [[label for label, on in zip(self.labels, row) if on] for row in chosen]
