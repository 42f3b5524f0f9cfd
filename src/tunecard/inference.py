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
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])
    # Longest first: a batch that does not fit in memory fails at once, not at the end.
    order = np.argsort(-lengths, kind="stable")
    inputs = [c for c in MODEL_INPUTS if c in encoded]
    device = next(model.parameters()).device
    model.eval()
    outputs = np.empty((len(order), model.config.num_labels), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            batch = tokenizer.pad({c: [encoded[c][i] for i in index] for c in inputs}, return_tensors="pt")
            outputs[index] = model(**{k: v.to(device) for k, v in batch.items()}).logits.float().cpu().numpy()
            if bar is not None:
                bar.update(len(index))
    return outputs


def predict_logits(model, tokenizer, dataset, batch_size: int = 64, desc: str = "Predicting") -> np.ndarray:
    """Logits [n_rows, n_labels] for a tokenized dataset, in row order."""
    encoded = {c: dataset[c] for c in MODEL_INPUTS if c in dataset.column_names}
    with tqdm(total=len(dataset), desc=desc, unit="text") as bar:
        return score_encoded(model, tokenizer, {c: list(v) for c, v in encoded.items()}, batch_size, bar)


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
    from tunecard import models

    model, tokenizer, _ = models.load_classifier(path)
    if torch.cuda.is_available():
        model = model.to("cuda")
    # Score as the model was trained and evaluated: same length limit, same end cut.
    max_length = getattr(model.config, "tunecard_max_length", None) or min(tokenizer.model_max_length, 512)
    tokenizer.truncation_side = getattr(model.config, "tunecard_truncation_side", None) or tokenizer.truncation_side
    return Classifier(model, tokenizer, max_length, getattr(model.config, "tunecard_temperature", None), batch_size)
