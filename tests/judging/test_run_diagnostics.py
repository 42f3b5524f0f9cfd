"""Diagnostics and calibration in a real (tiny) run: the card, metrics.json (the session's tiny classification
run), --strict, class weights, early stopping, an under-trained run and the temperature used by evaluate (runs
of their own settings)."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest
from huggingface_hub import ModelCard

import tunecard
from conftest import make_rows, tiny_config, write_jsonl
from tunecard.cli import main


def unlearnable_imbalanced(folder, n=200, seed=0):
    """Labels independent of the text, 95% one class: a model can only predict the majority."""
    rng = random.Random(seed)
    rows = [{"text": " ".join(rng.choice(["a", "b", "c", "d"]) for _ in range(6)),
             "label": "rare" if i % 20 == 0 else "common"} for i in range(n)]
    write_jsonl(folder / "train.jsonl", rows)
    return folder


def test_card_and_metrics_carry_baselines_calibration_and_diagnostics(tiny_runs):
    run = tiny_runs("classification")
    test = run.metrics["splits"]["test"]
    assert set(test["baselines"]) == {"majority", "stratified"}
    calibration = test["calibration"]
    assert {"ece", "brier", "temperature", "ece_scaled", "brier_scaled"} <= set(calibration)
    assert run.metrics["temperature"] == calibration["temperature"] > 0
    ids = {f["id"] for f in run.metrics["diagnostics"]}
    assert {"truncation", "data.label_noise_candidates"} <= ids
    assert not any(f["severity"] == "error" for f in run.metrics["diagnostics"])
    text = ModelCard.load(run.card_path).text
    for heading in ("## Diagnostics", "### Calibration", "| Metric | Model | 95% interval | Majority class | Stratified random |"):
        assert heading in text
    assert (run.output / "plots" / "reliability_test.png").is_file()
    noise = pd.read_csv(run.output / "diagnostics" / "label_noise_candidates.csv")
    assert list(noise.columns) == ["id", "text", "gold", "predicted", "p_gold", "loss"]
    assert noise["loss"].is_monotonic_decreasing


def test_temperature_is_saved_with_the_model_and_used_by_evaluate(tiny_runs, sentiment_dir):
    run = tiny_runs("classification")
    config = json.loads((run.model_path / "config.json").read_text())
    assert config["tunecard_temperature"] == run.metrics["temperature"]
    report = tunecard.evaluate(str(run.output), str(sentiment_dir / "test.jsonl"))
    evaluated = report["splits"]["test"]["calibration"]
    trained = run.metrics["splits"]["test"]["calibration"]
    assert evaluated["ece_scaled"] == pytest.approx(trained["ece_scaled"], abs=1e-6)


def test_collapse_is_an_error_and_strict_exits_1(tmp_path, tiny_model, capsys):
    data = unlearnable_imbalanced(tmp_path / "data")
    args = ["train", "--data", str(data), "--model", tiny_model, "--output", str(tmp_path / "run"),
            "--train.epochs", "2", "--train.learning_rate", "1e-2", "--model.max_length", "32", "--strict", "true"]
    assert main(args) == 1
    out = capsys.readouterr()
    assert "ERROR collapse.one_class: [validation] the model predicts 'common' for 100.0% of validation inputs" in out.out
    assert "tunecard: error: --strict: expected a run without error-level diagnostic findings; found " in out.err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    collapse = next(f for f in metrics["diagnostics"] if f["id"] == "collapse.one_class")
    assert collapse["evidence"]["share"] == 1.0
    assert "collapse.one_class" in (tmp_path / "run" / "README.md").read_text()
    # The same settings without --strict write the same findings and exit 0.
    assert main(args[:-2] + ["--output", str(tmp_path / "run2")]) == 0


def test_balanced_class_weights_recover_the_minority_class(tmp_path, tiny_model):
    rows = make_rows(400, seed=7)
    rows = [r for i, r in enumerate(rows) if r["label"] == "negative" or i % 10 == 1]  # ~1:9 positive
    write_jsonl(tmp_path / "imb" / "train.jsonl", rows)
    run = tunecard.train(tiny_config(tmp_path / "imb", tiny_model, tmp_path / "run", class_weights="balanced"))
    assert run.metrics["splits"]["validation"]["per_class"]["positive"]["recall"] >= 0.8
    assert "- class_weights: balanced" in run.card_path.read_text()
    assert any(f.id == "data.imbalance" for f in run.findings)


def test_early_stopping_stops_when_the_metric_stops_improving(tmp_path, tiny_model, sentiment_dir):
    run = tunecard.train(tiny_config(sentiment_dir, tiny_model, tmp_path / "run", epochs=6,
                                     early_stopping_patience=1))
    assert len(run.history) < 6
    best = max(row["f1"] for row in run.history)
    assert run.history[-1]["f1"] <= best and run.history[-2]["f1"] == best


CLASS_WORDS = ["apple", "river", "mountain", "guitar", "window", "garden", "pencil", "rocket", "castle",
               "forest", "bottle", "camera", "dragon", "island", "jacket", "ladder"]


def many_classes(n, seed):
    """16 classes, each named by one word among filler words: learnable, but not in two short epochs."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = [rng.choice(["the", "a", "was", "and", "quite", "story"]) for _ in range(rng.randint(3, 8))]
        words.insert(rng.randint(0, len(words)), CLASS_WORDS[i % len(CLASS_WORDS)])
        rows.append({"text": " ".join(words), "label": f"class_{i % len(CLASS_WORDS):02d}"})
    return rows


def test_a_many_class_run_stopped_while_still_learning_is_flagged_under_trained(tmp_path, tiny_model):
    for split, n, seed in (("train", 1200, 1), ("validation", 200, 2), ("test", 200, 3)):
        write_jsonl(tmp_path / "data" / f"{split}.jsonl", many_classes(n, seed))
    config = tiny_config(tmp_path / "data", tiny_model, tmp_path / "run", epochs=2, learning_rate=5e-3)
    run = tunecard.train(config)
    history = pd.read_csv(run.output / "history.csv")
    assert history["eval_loss"].iloc[-1] < 0.9 * history["eval_loss"].iloc[0]  # still falling fast
    finding = next(f for f in run.metrics["diagnostics"] if f["id"] == "training.under_trained")
    assert finding["severity"] == "warning" and finding["advice"] == "train longer: raise --train.epochs, or --train.epochs auto"
    assert "training.under_trained" in ModelCard.load(run.card_path).text
