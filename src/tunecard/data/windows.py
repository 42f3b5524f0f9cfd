"""Texts longer than a model's window, read whole: each text is split into windows of at most max_length tokens
that overlap by `stride` tokens, made once by the tokenizer (`return_overflowing_tokens`); a text pair keeps its
first text in every window (cut to half the window at most) and splits the second. A document's prediction pools
the logits of its windows. Numpy only; the tokenizer is passed in.

What a windowed row holds: the model inputs of one window, `document` (the index of the text it came from, in
the order the texts were given), and whatever per-text columns the caller copies onto every window (its label)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

POOLINGS = ("mean", "max")
"""How a document's window logits become one: their mean (every window has a say), or per label their
maximum (one window holding the cue is enough)."""


@dataclass(frozen=True)
class Windows:
    """How inputs longer than the window are read (model.long_inputs: chunk)."""
    stride: int
    """Tokens shared by consecutive windows of a text."""
    pooling: str = "mean"
    """mean or max (POOLINGS)."""

    def settings(self) -> dict:
        """As ModelSettings.long_inputs saves it."""
        return {"strategy": "chunk", "stride": self.stride, "pooling": self.pooling}

    @classmethod
    def from_settings(cls, long_inputs: dict | None) -> "Windows | None":
        if not long_inputs or long_inputs.get("strategy") != "chunk":
            return None
        return cls(int(long_inputs["stride"]), long_inputs.get("pooling", "mean"))


def encode(tokenizer, texts: list[str], pairs: list[str] | None, max_length: int, stride: int) -> dict:
    """Model inputs of every window of every text (with `document`: its text's position in `texts`), and
    `length` (tokens of the window)."""
    if pairs is not None:
        texts = _cut(tokenizer, texts, max_length // 2)
        # the second text's room in a window is at least max_length // 2 - specials: the stride must stay under it
        stride = min(stride, max_length // 2 - tokenizer.num_special_tokens_to_add(pair=True) - 1)
    encoded = tokenizer(list(texts), list(pairs) if pairs is not None else None, max_length=max_length,
                        truncation="only_second" if pairs is not None else True, stride=stride,
                        return_overflowing_tokens=True)
    windows = {key: list(value) for key, value in encoded.items() if key != "overflow_to_sample_mapping"}
    windows["document"] = list(encoded["overflow_to_sample_mapping"])
    windows["length"] = [len(ids) for ids in windows["input_ids"]]
    return windows


def _cut(tokenizer, texts: list[str], most: int) -> list[str]:
    """Texts whose tokens exceed `most`, cut to their first `most` tokens (a pair's first text in every window)."""
    encoded = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=most,
                        return_offsets_mapping=True)
    return [text[:offsets[-1][1]] if offsets else text for text, offsets in zip(texts, encoded["offset_mapping"])]


def pool(logits: np.ndarray, documents, pooling: str = "mean") -> np.ndarray:
    """One row of logits per document (documents 0..n-1, each with at least one window) from the window rows."""
    logits, documents = np.asarray(logits, dtype=np.float64), np.asarray(documents)
    n = int(documents.max()) + 1 if len(documents) else 0
    if pooling == "max":
        pooled = np.full((n, logits.shape[-1]), -np.inf)
        np.maximum.at(pooled, documents, logits)
        return pooled
    sums = np.zeros((n, logits.shape[-1]))
    np.add.at(sums, documents, logits)
    return sums / np.bincount(documents, minlength=n)[:, None]


def first_of_each(values, documents) -> list:
    """Per document, the value its first window carries (a label copied onto every window)."""
    documents = np.asarray(documents)
    _, first = np.unique(documents, return_index=True)
    return [values[i] for i in first]


def statistics(documents) -> dict:
    """The share of documents read as more than one window, and windows per document (median, maximum)."""
    counts = np.bincount(np.asarray(documents)) if len(documents) else np.zeros(0, dtype=int)
    counts = counts[counts > 0]
    return {"documents": int(len(counts)), "windows": int(counts.sum()),
            "share_longer_than_one_window": round(float((counts > 1).mean()), 4) if len(counts) else 0.0,
            "windows_per_document_median": float(np.median(counts)) if len(counts) else 0.0,
            "windows_per_document_max": int(counts.max()) if len(counts) else 0}
