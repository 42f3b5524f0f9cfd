"""`tunecard train`: the run directory is complete and truthful, its config.yaml reproduces it, the progress
lines carry the training loss, --train.epochs auto stops when the kept metric stops improving, and a config file
trains from the command line."""

from __future__ import annotations

import json
import re

import pandas as pd
import yaml
from huggingface_hub import ModelCard

import tunecard
from conftest import tiny_config
from tunecard.cli import main


def test_run_directory_is_complete(tiny_runs):
    run = tiny_runs("classification")
    names = {p.relative_to(run.output).as_posix() for p in run.output.rglob("*") if p.is_file()}
    expected = {"README.md", "config.yaml", "metrics.json", "history.csv", "model/README.md",
                "model/config.json", "model/model.safetensors", "predictions/validation.csv",
                "predictions/test.csv", "plots/confusion_matrix_validation.png",
                "plots/confusion_matrix_test.png", "plots/learning_curves.png"}
    assert expected <= names
    assert not any(n.startswith("checkpoints") for n in names)
    assert not run.output.with_name("run.partial").exists()


def test_history_csv_matches_the_card_table(tiny_runs):
    run = tiny_runs("classification")
    history = pd.read_csv(run.output / "history.csv")
    assert history["train_loss"].notna().all() and history["eval_loss"].notna().all()
    metrics_json = json.loads((run.output / "metrics.json").read_text())
    assert metrics_json["best_epoch"] in history["epoch"].tolist()
    best = history.loc[history["f1"].idxmax()]
    assert metrics_json["best_epoch"] == best["epoch"]


def test_config_yaml_reproduces_the_run(tiny_runs, tmp_path):
    run = tiny_runs("classification")
    config = yaml.safe_load((run.output / "config.yaml").read_text())
    assert config["train"]["learning_rate"] == 1e-2
    config["output"] = str(tmp_path / "again")
    again = tunecard.train(config)
    assert again.metrics["splits"]["test"]["metrics"] == run.metrics["splits"]["test"]["metrics"]


def test_progress_bar_shows_the_latest_training_loss(tiny_runs):
    run = tiny_runs("classification")
    shown = [float(v) for v in re.findall(r"loss=(\d+\.\d{4})", tiny_runs.stderr("classification"))]
    # the bar carries the logged training losses as they come, so the last one shown is below the
    # first one, as the epoch losses in the history are
    assert len(shown) >= 2 and shown[-1] < shown[0]
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]


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


def test_train_from_a_config_file(tmp_path, tiny_model, sentiment_dir, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_config(sentiment_dir, tiny_model, tmp_path / "run", epochs=1)))
    assert main(["train", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "tunecard train: run" in out and "majority  stratified" in out
    assert (tmp_path / "run" / "README.md").is_file()
