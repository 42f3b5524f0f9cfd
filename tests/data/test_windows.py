"""data/windows.py: a long text becomes overlapping windows made once by the tokenizer, every token of it in some
window; a document's window logits pool to one row; the statistics the card states."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from tunecard.data import windows


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return AutoTokenizer.from_pretrained(minilm_path)


def test_every_token_of_a_long_text_is_in_a_window_and_windows_overlap_by_the_stride(tokenizer):
    words = [f"w{i}" for i in range(40)]  # one token each is not guaranteed: compare ids, not words
    text = " ".join(words)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    encoded = windows.encode(tokenizer, [text, "short text"], None, max_length=16, stride=4)
    mine = [row[1:-1] for row, doc in zip(encoded["input_ids"], encoded["document"]) if doc == 0]  # without [CLS]/[SEP]
    assert all(len(row) + 2 <= 16 for row in mine) and len(mine) >= 2
    joined = mine[0] + [token for row in mine[1:] for token in row[4:]]  # each later window repeats 4 tokens
    assert joined == ids
    assert all(a[-4:] == b[:4] for a, b in zip(mine, mine[1:]))
    assert encoded["document"][-1] == 1 and encoded["document"].count(1) == 1
    assert encoded["length"] == [len(row) for row in encoded["input_ids"]]


def test_a_pair_keeps_its_first_text_in_every_window_and_splits_the_second(tokenizer):
    second = " ".join(f"w{i}" for i in range(60))
    encoded = windows.encode(tokenizer, ["the question"], [second], max_length=24, stride=4)
    assert len(encoded["input_ids"]) >= 3 and set(encoded["document"]) == {0}
    question = tokenizer("the question", add_special_tokens=False)["input_ids"]
    assert all(row[1:1 + len(question)] == question for row in encoded["input_ids"])
    assert all(len(row) <= 24 for row in encoded["input_ids"])


def test_pooling_takes_the_mean_or_the_maximum_of_each_documents_windows():
    logits = np.array([[0.0, 2.0], [2.0, 0.0], [1.0, 1.0], [5.0, -1.0]])
    documents = [0, 0, 1, 1]
    assert windows.pool(logits, documents, "mean").tolist() == [[1.0, 1.0], [3.0, 0.0]]
    assert windows.pool(logits, documents, "max").tolist() == [[2.0, 2.0], [5.0, 1.0]]
    assert windows.first_of_each(["a", "a", "b", "b"], documents) == ["a", "b"]


def test_statistics_say_how_many_documents_span_several_windows():
    stats = windows.statistics([0, 1, 1, 1, 2, 3, 3])
    assert stats == {"documents": 4, "windows": 7, "share_longer_than_one_window": 0.5,
                     "windows_per_document_median": 1.5, "windows_per_document_max": 3}
