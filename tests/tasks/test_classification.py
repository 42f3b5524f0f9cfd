"""End to end on a tiny random BERT and learnable data: it learns, and the run directory is
complete and truthful."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import yaml
from huggingface_hub import ModelCard

import tunecard
from conftest import tiny_config


@pytest.fixture
def run(tmp_path, tiny_model, sentiment_dir):
    return tunecard.train(tiny_config(sentiment_dir, tiny_model, tmp_path / "run"))


def test_loss_falls_and_the_cue_word_is_learned(run):
    history = run.history
    assert len(history) == 4
    assert history[-1]["train_loss"] < history[0]["train_loss"] * 0.7
    assert run.metrics["splits"]["test"]["metrics"]["accuracy"] >= 0.9


def test_run_directory_is_complete(run):
    names = {p.relative_to(run.output).as_posix() for p in run.output.rglob("*") if p.is_file()}
    expected = {"README.md", "config.yaml", "metrics.json", "history.csv", "model/README.md",
                "model/config.json", "model/model.safetensors", "predictions/validation.csv",
                "predictions/test.csv", "plots/confusion_matrix_validation.png",
                "plots/confusion_matrix_test.png", "plots/learning_curves.png"}
    assert expected <= names
    assert not any(n.startswith("checkpoints") for n in names)
    assert not run.output.with_name("run.partial").exists()


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


def test_history_csv_matches_the_card_table(run):
    history = pd.read_csv(run.output / "history.csv")
    assert history["train_loss"].notna().all() and history["eval_loss"].notna().all()
    metrics_json = json.loads((run.output / "metrics.json").read_text())
    assert metrics_json["best_epoch"] in history["epoch"].tolist()
    best = history.loc[history["f1"].idxmax()]
    assert metrics_json["best_epoch"] == best["epoch"]


def test_config_yaml_reproduces_the_run(run, tmp_path):
    config = yaml.safe_load((run.output / "config.yaml").read_text())
    assert config["train"]["learning_rate"] == 1e-2
    config["output"] = str(tmp_path / "again")
    again = tunecard.train(config)
    assert again.metrics["splits"]["test"]["metrics"] == run.metrics["splits"]["test"]["metrics"]


def test_text_pairs_train_and_card_says_pair(tmp_path, tiny_model):
    from conftest import make_rows, write_jsonl

    rows = [{"sentence1": r["text"], "sentence2": "filler words here", "label": r["label"]}
            for r in make_rows(160, seed=5)]
    write_jsonl(tmp_path / "pairs" / "train.jsonl", rows)
    result = tunecard.train(tiny_config(tmp_path / "pairs", tiny_model, tmp_path / "run", epochs=3))
    assert result.metrics["splits"]["validation"]["metrics"]["accuracy"] >= 0.8
    assert "Classifies a text pair" in result.card_path.read_text()


def test_failed_run_leaves_nothing(tmp_path, tiny_model, sentiment_dir, monkeypatch):
    from tunecard.engine import training

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(training, "train", explode)
    with pytest.raises(RuntimeError):
        tunecard.train(tiny_config(sentiment_dir, tiny_model, tmp_path / "run"))
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_progress_bar_shows_the_latest_training_loss(tmp_path, tiny_model, sentiment_dir, capfd):
    run = tunecard.train(tiny_config(sentiment_dir, tiny_model, tmp_path / "run"))
    shown = [float(v) for v in re.findall(r"loss=(\d+\.\d{4})", capfd.readouterr().err)]
    # the bar carries the logged training losses as they come, so the last one shown is below the
    # first one, as the epoch losses in the history are
    assert len(shown) >= 2 and shown[-1] < shown[0]
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]


def test_epoch_history_keeps_the_last_rows_column_order_and_allows_no_epoch():
    from tunecard.engine.training import epoch_history

    log = [{"loss": 0.9, "step": 5, "epoch": 0.5}, {"loss": 0.7, "step": 10, "epoch": 1.0},
           {"eval_accuracy": 0.6, "eval_f1": 0.5, "eval_loss": 0.8, "step": 10, "epoch": 1.0},  # as restored: sorted
           {"loss": 0.5, "step": 20, "epoch": 2.0},
           {"eval_loss": 0.6, "eval_f1": 0.7, "eval_accuracy": 0.8, "step": 20, "epoch": 2.0}]
    rows = epoch_history(log)
    assert [list(r) for r in rows] == [["epoch", "step", "train_loss", "eval_loss", "f1", "accuracy"]] * 2
    assert rows[0]["train_loss"] == 0.8 and rows[1]["f1"] == 0.7
    assert epoch_history(log[:2]) == []  # stopped (Ctrl-C) before the first evaluation


def test_epochs_auto_stops_when_the_kept_metric_stops_improving_and_the_card_says_so(tmp_path, tiny_model,
                                                                                    sentiment_dir):
    config = tiny_config(sentiment_dir, tiny_model, tmp_path / "run", epochs="auto")
    run = tunecard.train(config)
    history = pd.read_csv(run.output / "history.csv")
    kept = run.metrics["best_epoch"]
    # Learned within the first epochs, then two evaluations without a better F1: well before the cap of 20.
    assert len(history) == kept + 2 < 20
    assert history["f1"].max() == history.loc[history["epoch"] == kept, "f1"].item()
    text = ModelCard.load(run.card_path).text
    assert (f"- num_epochs: auto (stopped after {len(history)} of at most 20: 2 evaluations without a better kept "
            "metric)") in text
    assert yaml.safe_load((run.output / "config.yaml").read_text())["train"]["epochs"] == "auto"
