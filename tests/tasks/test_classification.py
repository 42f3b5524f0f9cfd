"""The classification task end to end on a tiny random BERT and learnable data: it learns, its card carries the
real numbers, its predictions keep ids and probabilities, the saved model loads in pipeline(), and text pairs
train too. The run is the session's tiny classification run (conftest.py)."""

from __future__ import annotations

import pandas as pd
import pytest
from huggingface_hub import ModelCard


@pytest.fixture
def run(tiny_runs):
    return tiny_runs("classification")


def test_loss_falls_and_the_cue_word_is_learned(run):
    history = run.history
    assert len(history) == 4
    assert history[-1]["train_loss"] < history[0]["train_loss"] * 0.7
    assert run.metrics["splits"]["test"]["metrics"]["accuracy"] >= 0.9


def test_card_round_trips_with_the_real_numbers(run):
    card = ModelCard.load(run.card_path)
    assert card.data.base_model == "tiny-bert"
    assert card.data.pipeline_tag == "text-classification"
    results = {(r.dataset_split, r.metric_type, (r.metric_args or {}).get("average")): r.metric_value
               for r in card.data.eval_results}
    test_accuracy = run.metrics["splits"]["test"]["metrics"]["accuracy"]
    assert results[("test", "accuracy", None)] == round(test_accuracy, 4)
    assert results[("validation", "f1", "binary")] == round(
        run.metrics["splits"]["validation"]["metrics"]["f1"], 4)
    assert {split for split, _, _ in results} == {"validation", "test"}
    assert "No log" not in card.text and "| 4.0 |" in card.text
    assert (run.output / "model" / "README.md").read_text() == run.card_path.read_text()


def test_saved_model_loads_in_pipeline_with_label_names(run):
    from transformers import pipeline

    classifier = pipeline("text-classification", model=str(run.model_path))
    predictions = classifier(["the film was wonderful and lovely", "an awful dreadful plot"])
    assert [p["label"] for p in predictions] == ["positive", "negative"]


def test_predictions_keep_ids_and_probabilities(run):
    frame = pd.read_csv(run.output / "predictions" / "test.csv")
    assert list(frame.columns) == ["id", "gold", "prediction", "prob_negative", "prob_positive"]
    assert sorted(frame["id"]) == list(range(60))
    assert ((frame[["prob_negative", "prob_positive"]].sum(axis=1) - 1).abs() < 1e-4).all()
    accuracy = (frame["gold"] == frame["prediction"]).mean()
    assert accuracy == pytest.approx(run.metrics["splits"]["test"]["metrics"]["accuracy"])


def test_text_pairs_train_and_card_says_pair(tiny_runs):
    result = tiny_runs("text_pair")  # 160 rows of sentence1/sentence2 pairs, 3 epochs
    assert result.metrics["splits"]["validation"]["metrics"]["accuracy"] >= 0.8
    assert "Classifies a text pair" in result.card_path.read_text()
