"""The batched scoring engine: sort by token length, pad each batch to its own longest text,
run under inference_mode, and put the outputs back in input order."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from tunecard import metrics

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def score_encoded(model, tokenizer, encoded: dict, batch_size: int, bar=None) -> np.ndarray:
    """Logits [n, n_labels] for tokenized rows (`encoded`: model input name -> list of id lists)."""
    inputs = [c for c in MODEL_INPUTS if c in encoded]
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])

    def batch_of(index):
        return tokenizer.pad({c: [encoded[c][i] for i in index] for c in inputs}, return_tensors="pt")
    return _score_by_length(model, lengths, batch_of, model.config.num_labels, batch_size, bar)


def score_choices(model, tokenizer, encoded: dict, batch_size: int, bar=None) -> np.ndarray:
    """Option logits [n_questions, n_options] for multiple-choice rows (`encoded`: model input name ->
    per question one id list per option). `batch_size` counts option inputs."""
    from transformers import DataCollatorForMultipleChoice

    if not encoded["input_ids"]:
        return np.empty((0, 0), dtype=np.float32)
    inputs = [c for c in MODEL_INPUTS if c in encoded]
    n_options = len(encoded["input_ids"][0])
    lengths = np.array([max(len(ids) for ids in row) for row in encoded["input_ids"]])
    collator = DataCollatorForMultipleChoice(tokenizer)

    def batch_of(index):
        # The collator (flatten, pad, reshape to [questions, options, tokens]) needs a label; scoring has none.
        batch = collator([{**{c: encoded[c][i] for c in inputs}, "label": 0} for i in index])
        batch.pop("labels")
        return batch
    return _score_by_length(model, lengths, batch_of, n_options, max(1, batch_size // n_options), bar)


def _score_by_length(model, lengths: np.ndarray, batch_of, width: int, batch_size: int, bar=None) -> np.ndarray:
    """Run the rows in batches of similar length (`batch_of(row indices)` -> padded tensors) and put the
    logits [n, width] back in row order."""
    # Longest first: a batch that does not fit in memory fails at once, not at the end.
    order = np.argsort(-lengths, kind="stable")
    device = next(model.parameters()).device
    model.eval()
    outputs = np.empty((len(order), width), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            batch = batch_of(index)
            outputs[index] = model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu().numpy()
            if bar is not None:
                bar.update(len(index))
    return outputs


def predict_logits(model, tokenizer, dataset, batch_size: int = 64, desc: str = "Predicting") -> np.ndarray:
    """Logits [n_rows, n_labels] for a tokenized dataset, in row order."""
    encoded = {c: dataset[c] for c in MODEL_INPUTS if c in dataset.column_names}
    with tqdm(total=len(dataset), desc=desc, unit="text") as bar:
        return score_encoded(model, tokenizer, {c: list(v) for c, v in encoded.items()}, batch_size, bar)


def predict_choice_logits(model, tokenizer, dataset, batch_size: int = 64, desc: str = "Predicting") -> np.ndarray:
    """Option logits [n_questions, n_options] for a tokenized multiple-choice dataset, in row order."""
    encoded = {c: list(dataset[c]) for c in MODEL_INPUTS if c in dataset.column_names}
    with tqdm(total=len(dataset), desc=desc, unit="question") as bar:
        return score_choices(model, tokenizer, encoded, batch_size, bar)


class Classifier:
    """A trained classifier for new text, as `tunecard.load(path)` returns it.

    Probabilities use the temperature fitted on validation when the model has one.
    """

    def __init__(self, model, tokenizer, max_length: int, temperature: float | None = None,
                 batch_size: int = 64):
        self.model, self.tokenizer = model, tokenizer
        self.max_length, self.temperature, self.batch_size = max_length, temperature, batch_size
        self.config = model.config
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]

    def predict_logits(self, texts: list[str], text_pairs: list[str] | None = None, bar=None) -> np.ndarray:
        encoded = self.tokenizer(list(texts), list(text_pairs) if text_pairs is not None else None,
                                 truncation=True, max_length=self.max_length)
        return score_encoded(self.model, self.tokenizer, dict(encoded), self.batch_size, bar)

    def predict_proba(self, texts: list[str], text_pairs: list[str] | None = None, bar=None) -> np.ndarray:
        logits = self.predict_logits(texts, text_pairs, bar)
        return metrics.softmax(logits / self.temperature if self.temperature else logits)

    def predict(self, texts: list[str], text_pairs: list[str] | None = None) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts, text_pairs).argmax(-1)]


def load_classifier(path: str, batch_size: int = 64, backend: str = "torch") -> Classifier:
    model, tokenizer, max_length = _load_for_scoring(path)
    return Classifier(model, tokenizer, max_length, getattr(model.config, "tunecard_temperature", None), batch_size)


def _load_for_scoring(path: str, loader=None):
    from tunecard import models

    model, tokenizer, _ = models.load_classifier(path, loader)
    if torch.cuda.is_available():
        model = model.to("cuda")
    # Score as the model was trained and evaluated: same length limit, same end cut.
    max_length = getattr(model.config, "tunecard_max_length", None) or min(tokenizer.model_max_length, 512)
    tokenizer.truncation_side = getattr(model.config, "tunecard_truncation_side", None) or tokenizer.truncation_side
    return model, tokenizer, max_length


class ChoiceRanker:
    """A trained multiple-choice model, as `tunecard.load(path)` returns it: option probabilities per
    question (with the temperature fitted on validation when the model has one)."""

    def __init__(self, model, tokenizer, max_length: int, encode, temperature: float | None = None,
                 batch_size: int = 64):
        self.model, self.tokenizer, self.encode = model, tokenizer, encode
        self.max_length, self.temperature, self.batch_size = max_length, temperature, batch_size
        self.config = model.config
        self.labels = [model.config.id2label[i] for i in range(model.config.num_labels)]

    def predict_logits(self, questions: list[str], options: list[list[str]], contexts: list[str] | None = None,
                       bar=None) -> np.ndarray:
        contexts = list(contexts) if contexts is not None else [""] * len(questions)
        encoded = self.encode(self.tokenizer, list(questions), [list(o) for o in options], contexts, self.max_length)
        return score_choices(self.model, self.tokenizer, encoded, self.batch_size, bar)

    def predict_proba(self, questions: list[str], options: list[list[str]], contexts: list[str] | None = None,
                      bar=None) -> np.ndarray:
        logits = self.predict_logits(questions, options, contexts, bar)
        return metrics.softmax(logits / self.temperature if self.temperature else logits)

    def predict(self, questions: list[str], options: list[list[str]], contexts: list[str] | None = None) -> list[str]:
        """The most likely option's letter for each question."""
        return [self.labels[i] for i in self.predict_proba(questions, options, contexts).argmax(-1)]


def load_choice_ranker(path: str, batch_size: int = 64, backend: str = "torch", encode=None) -> ChoiceRanker:
    """`encode(tokenizer, questions, options, contexts, max_length)`: the task's input encoding."""
    from transformers import AutoModelForMultipleChoice

    model, tokenizer, max_length = _load_for_scoring(path, AutoModelForMultipleChoice)
    return ChoiceRanker(model, tokenizer, max_length, encode, getattr(model.config, "tunecard_temperature", None),
                        batch_size)
