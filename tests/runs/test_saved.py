"""runs/saved.py: tunecard.load opens a saved run and scores texts: real labels with probabilities and the run's
temperature, outputs identical across batch sizes, in input order, as pipeline() labels them."""

from __future__ import annotations

import numpy as np
import pytest

import tunecard
from conftest import make_rows


@pytest.fixture
def run(tiny_runs):
    return tiny_runs("classification")


def test_load_predicts_real_labels_with_probabilities(run):
    classifier = tunecard.load(run.output)
    probs = classifier.predict_proba(["what a wonderful lovely film", "awful and dreadful"])
    assert np.allclose(probs.sum(axis=1), 1)
    assert classifier.predict(["what a wonderful lovely film", "awful and dreadful"]) == ["positive", "negative"]
    assert classifier.temperature == run.metrics["temperature"]


def test_outputs_are_identical_across_batch_sizes_and_in_input_order(run):
    texts = [r["text"] for r in make_rows(40, seed=12)]
    one = tunecard.load(run.output, batch_size=1).predict_logits(texts)
    many = tunecard.load(run.output, batch_size=64).predict_logits(texts)
    assert np.allclose(one, many, atol=1e-5)
    from transformers import pipeline

    reference = pipeline("text-classification", model=str(run.model_path))(texts)
    assert tunecard.load(run.output).predict(texts) == [p["label"] for p in reference]
