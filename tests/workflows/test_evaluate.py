"""`tunecard evaluate` on a trained run: a labelled file scored with the tables, intervals and plots of training.
The zero-shot evaluation of untrained models is tested in tasks/test_zero_shot.py."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import make_rows, write_jsonl
from tunecard.cli import main


def test_evaluate_scores_a_file_with_the_same_tables(tmp_path, tiny_runs):
    run = tiny_runs("classification")
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
