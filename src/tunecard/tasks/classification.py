"""Single-text and text-pair classification: `AutoModelForSequenceClassification`.

Contract after `prepare`: every split has `id` (str), `text`, optional `text_pair`, and `label`
(a ClassLabel whose names are the real class names).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tunecard import diagnostics, metrics
from tunecard.data import checks, labels
from tunecard.data.columns import Columns, resolve_columns
from tunecard.data.readers import read_splits
from tunecard.data.splits import stratified_holdout
from tunecard.errors import TunecardError

PIPELINE_TAG = "text-classification"
ID_COLUMNS = ("id", "idx", "guid")
DEFAULT_TRUNCATION_SIDE = "right"
HOLDOUT = "stratified by label"
SCORE_HISTOGRAM = False


@dataclass
class PreparedData:
    splits: dict  # split name -> datasets.Dataset in the contract above
    label_names: list[str]
    columns: Columns
    validation_held_out: bool = False
    dropped_empty: dict[str, int] = field(default_factory=dict)
    """Rows removed per split because their text was empty (data.empty_texts: drop)."""
    findings: list = field(default_factory=list)
    """Findings made while preparing the data (diagnostics.Finding)."""
    test_held_out: bool = False


def prepare(data_config, seed: int) -> PreparedData:
    """Read, check and standardise the training data; hold out validation when missing."""
    raw = read_splits(data_config)
    if "train" not in raw:
        raise TunecardError("training data", "a train split (a file, or train.* in a folder)",
                            f"splits {', '.join(raw) or 'none'}", "pass --data or --data.train")
    train = raw["train"]
    columns = resolve_columns(train.column_names, data_config.text_column,
                              data_config.text_pair_column, data_config.label_column)
    raw = {name: ds for name, ds in raw.items() if name in ("train", "validation", "test")}
    dropped = {}
    if data_config.empty_texts == "drop":
        text_columns = [c for c in (columns.text, columns.text_pair) if c]
        kept = {name: checks.drop_blank_texts(ds, text_columns) for name, ds in raw.items()}
        dropped = {name: len(raw[name]) - len(kept[name]) for name in raw if len(raw[name]) != len(kept[name])}
        raw = kept
    names = labels.label_names(raw["train"], columns, data_config.label_names)
    by_id = labels.labels_are_ids(raw["train"], columns, data_config.label_names)
    splits = {name: standardise(ds, columns, names, name, by_id) for name, ds in raw.items()}
    checks.check_classes(names, len(splits["train"]))
    test_held_out = "test" not in splits and bool(data_config.test_size)
    if test_held_out:
        splits["train"], splits["test"] = stratified_holdout(splits["train"], data_config.test_size, seed, "test")
    held_out = "validation" not in splits
    if held_out:
        splits["train"], splits["validation"] = stratified_holdout(
            splits["train"], data_config.validation_size, seed)
    return PreparedData(splits, names, columns, held_out, dropped, test_held_out=test_held_out)


def evaluation_splits(raw: dict, names: list[str], options: dict) -> dict:
    """Labelled splits to evaluate a trained model on, in the contract above, with the model's label
    names (labels given as names or as ids)."""
    first = next(iter(raw.values()))
    columns = resolve_columns(first.column_names, options.get("text_column"), options.get("text_pair_column"),
                              options.get("label_column"))
    by_id = labels.values_are_ids(first.features[columns.label], columns, names)
    return {name: standardise(ds, columns, names, name, by_id) for name, ds in raw.items()}


def standardise(dataset, columns: Columns, names: list[str], split: str, by_id: bool):
    """Check one split and rename its columns to the contract (id, text, text_pair, label)."""
    needed = [c for c in (columns.text, columns.text_pair, columns.label) if c]
    missing = [c for c in needed if c not in dataset.column_names]
    if missing:
        raise TunecardError(f"{split} data", f"the columns found in train ({', '.join(needed)})",
                            f"no {', '.join(missing)} among {', '.join(dataset.column_names)}",
                            "give every split the same columns")
    for column in filter(None, (columns.text, columns.text_pair)):
        checks.check_texts(dataset, column, split)
    checks.check_labels_present(dataset, columns.label_name or columns.label, split)
    dataset = labels.encode_labels(dataset, columns, names, split, by_id)
    return _rename_to_contract(dataset, columns)


def _rename_to_contract(dataset, columns: Columns):
    id_column = next((c for c in ID_COLUMNS if c in dataset.column_names), None)
    if id_column:
        dataset = dataset.map(lambda b: {"id": [str(v) for v in b[id_column]]}, batched=True)
    else:
        dataset = dataset.map(lambda b, idx: {"id": [str(i) for i in idx]}, batched=True,
                              with_indices=True)
    renames = {columns.text: "text", columns.text_pair: "text_pair"}
    keep = [c for c in (columns.text, columns.text_pair, "label", "id") if c]
    dataset = dataset.select_columns(keep)
    return dataset.rename_columns({k: v for k, v in renames.items() if k and k != v})


def tokenize(dataset, tokenizer, max_length: int):
    """Add input_ids/attention_mask, the token `length` used for length-grouped batches, and
    `full_length` (tokens before truncation); for pairs also which side was cut."""
    has_pair = "text_pair" in dataset.column_names
    special = tokenizer.num_special_tokens_to_add(pair=has_pair)

    def encode(batch):
        pairs = batch["text_pair"] if has_pair else None
        encoded = tokenizer(batch["text"], pairs, truncation=True, max_length=max_length)
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        first = _token_counts(tokenizer, batch["text"])
        second = _token_counts(tokenizer, pairs) if has_pair else [0] * len(first)
        encoded["full_length"] = [a + b + special for a, b in zip(first, second)]
        if has_pair:
            kept = [_segment_lengths(encoded.sequence_ids(i)) for i in range(len(first))]
            encoded["cut_text"] = [k[0] < a for k, a in zip(kept, first)]
            encoded["cut_text_pair"] = [k[1] < b for k, b in zip(kept, second)]
        return encoded

    return dataset.map(encode, batched=True, desc="Tokenizing")


def _token_counts(tokenizer, texts) -> list[int]:
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def _segment_lengths(sequence_ids) -> tuple[int, int]:
    return sum(1 for s in sequence_ids if s == 0), sum(1 for s in sequence_ids if s == 1)


def headline_metric(label_names: list[str]) -> str:
    return "f1" if len(label_names) == 2 else "f1_macro"


def metric_keys(label_names: list[str]) -> list[str]:
    return metrics.metric_keys(len(label_names))


def split_metrics(dataset, probs: np.ndarray) -> dict[str, float]:
    """Metrics beyond the per-row ones: none for plain classification."""
    return {}


def baseline_metrics(dataset, seed: int) -> dict[str, float]:
    return {}


def chance_loss(label_names: list[str], train_counts: dict[str, int], validation_labels, train_config) -> float:
    """Validation loss of the best input-blind model, with the class weights the training loss used."""
    counts = [train_counts[name] for name in label_names]
    weights = None
    if train_config.class_weights == "balanced":
        weights = metrics.balanced_class_weights(np.repeat(np.arange(len(counts)), counts), len(counts))
    seen = np.bincount(np.asarray(validation_labels), minlength=len(label_names))
    return diagnostics.prior_cross_entropy(counts, seen, weights)


def card_notes(prepared: PreparedData) -> list[str]:
    return []


# ---- model, collator, scoring ------------------------------------------------------------------

def build_model(ref, label_names: list[str]):
    from tunecard import models

    return models.build_classifier(ref, label_names)


def data_collator(tokenizer):
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)


def trainer_datasets(tokenized: dict) -> tuple:
    """The train and validation sets Trainer sees: the tokenized rows themselves."""
    return tokenized["train"], tokenized["validation"]


def loss_function(train_config):
    """Trainer's own loss (cross-entropy; class weights come from train.class_weights)."""
    return None


def preprocess_logits(logits, labels):
    """Trainer's `preprocess_logits_for_metrics`: the logits as they are."""
    return logits


def score(model, tokenizer, tokenized, batch_size: int, desc: str) -> np.ndarray:
    from tunecard.inference import predict_logits

    return predict_logits(model, tokenizer, tokenized, batch_size, desc=desc)


def load_predictor(path: str, batch_size: int = 64, backend: str = "torch"):
    from tunecard.inference import load_classifier

    return load_classifier(path, batch_size, backend)


def chunk_scorer(classifier, columns: list[str], options: dict):
    """Rows of a predict file: id, prediction, prob_<label> per label, and the top-k labels."""
    from tunecard.data.columns import infer_text_columns

    text, pair = infer_text_columns(columns, options.get("text_column"), options.get("text_pair_column"))

    def score_chunk(chunk, ids, bar):
        probs = classifier.predict_proba(chunk[text], chunk[pair] if pair else None, bar)
        return prediction_frame(ids, probs, classifier.labels, options.get("top_k", 1))
    return score_chunk


def prediction_frame(ids, probs: np.ndarray, labels: list[str], top_k: int):
    import pandas as pd

    frame = pd.DataFrame({"id": list(ids), "prediction": [labels[i] for i in probs.argmax(-1)]})
    for i, label in enumerate(labels):
        frame[f"prob_{label}"] = probs[:, i].round(6)
    if top_k > 1:
        ranked = np.argsort(-probs, axis=1)[:, :top_k]
        frame["top_k"] = [" ".join(labels[i] for i in row) for row in ranked]
    return frame


def compute_metrics_fn(label_names: list[str], validation=None, row_order=None):
    """The `compute_metrics` Trainer calls after each evaluation (row order does not matter here)."""
    def compute(eval_prediction) -> dict:
        logits = eval_prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        return metrics.classification_metrics(eval_prediction.label_ids, np.argmax(logits, -1),
                                              len(label_names))
    return compute
