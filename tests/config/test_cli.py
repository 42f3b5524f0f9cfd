"""The command line: help, printed config, and evaluate on a trained model."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

import tunecard
from conftest import make_rows, tiny_config, write_jsonl
from tunecard.cli import main


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_help(command):
    result = subprocess.run([sys.executable, "-m", "tunecard", command, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "--output" in result.stdout


def test_train_help_documents_the_defaults():
    result = subprocess.run([sys.executable, "-m", "tunecard", "train", "--help"], capture_output=True, text=True)
    assert "--train.learning_rate" in result.stdout and "Peak learning rate" in result.stdout


def test_print_config_applies_shortcuts_and_overrides(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--data", "d.csv", "--model", "m", "--train.learning_rate", "3e-5", "--print-config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["data"]["path"] == "d.csv" and printed["model"]["name"] == "m"
    assert printed["train"]["learning_rate"] == 3e-5 and printed["train"]["seed"] == 42


def test_train_from_a_config_file(tmp_path, tiny_model, sentiment_dir, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(tiny_config(sentiment_dir, tiny_model, tmp_path / "run", epochs=1)))
    assert main(["train", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "tunecard train: run" in out and "majority  stratified" in out
    assert (tmp_path / "run" / "README.md").is_file()


def test_evaluate_scores_a_file_with_the_same_tables(tmp_path, tiny_model, sentiment_dir, capsys):
    run = tunecard.train(tiny_config(sentiment_dir, tiny_model, tmp_path / "run"))
    data = write_jsonl(tmp_path / "new.jsonl", make_rows(40, seed=9))
    assert main(["evaluate", "--model", str(run.output), "--data", data, "--output", str(tmp_path / "ev")]) == 0
    report = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    split = report["splits"]["train"]
    assert split["size"] == 40 and split["metrics"]["accuracy"] >= 0.9
    assert split["baselines"]["majority"]["accuracy"] == pytest.approx(0.5)
    frame = pd.read_csv(tmp_path / "ev" / "predictions" / "train.csv")
    assert (frame["gold"] == frame["prediction"]).mean() == pytest.approx(split["metrics"]["accuracy"])
    markdown = (tmp_path / "ev" / "README.md").read_text()
    assert "| Accuracy |" in markdown and "| Metric | Model | 95% interval | Majority class | Stratified random |" in markdown
    low, high = split["intervals"]["metrics"]["accuracy"]
    assert low <= split["metrics"]["accuracy"] <= high and split["intervals"]["unit"] == "rows"
    assert (tmp_path / "ev" / "plots" / "confusion_matrix_train.png").is_file()


def test_a_bare_switch_means_true(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--data", "d.csv", "--overwrite", "--strict", "--train.group_by_length", "false",
              "--print-config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["overwrite"] is True and printed["strict"] is True and printed["train"]["group_by_length"] is False
