"""`tunecard evaluate` on a trained run: a labelled file scored with the tables, intervals and plots of training.
The zero-shot evaluation of untrained models is tested in tasks/test_zero_shot.py."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import assert_cli_error, make_rows, write_jsonl

import tunecard
from tunecard.cli import main


def test_evaluate_scores_a_file_with_the_same_tables(tmp_path, tiny_runs):
    run = tiny_runs("classification")
    data = write_jsonl(tmp_path / "new.jsonl", make_rows(40, seed=9))
    assert main(["evaluate", "--model", str(run.output), "--data", data, "--output", str(tmp_path / "ev")]) == 0
    report = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    split = report["splits"]["new"]  # the file's name, not "train"
    assert split["size"] == 40 and split["metrics"]["accuracy"] >= 0.9
    assert split["baselines"]["majority"]["accuracy"] == pytest.approx(0.5)
    frame = pd.read_csv(tmp_path / "ev" / "predictions" / "new.csv")
    assert (frame["gold"] == frame["prediction"]).mean() == pytest.approx(split["metrics"]["accuracy"])
    markdown = (tmp_path / "ev" / "README.md").read_text()
    assert "| Accuracy |" in markdown and "| Metric | Model | 95% interval | Majority class | Stratified random |" in markdown
    low, high = split["intervals"]["metrics"]["accuracy"]
    assert low <= split["metrics"]["accuracy"] <= high and split["intervals"]["unit"] == "rows"
    assert (tmp_path / "ev" / "plots" / "confusion_matrix_new.png").is_file()


def test_the_evaluated_split_is_named_for_its_file_or_for_split(tmp_path, tiny_runs, capsys):
    run = tiny_runs("classification")
    data = write_jsonl(tmp_path / "holdout.jsonl", make_rows(20, seed=9))
    assert main(["evaluate", "--model", str(run.output), "--data", data]) == 0
    assert "holdout (20 rows)" in capsys.readouterr().out
    report = tunecard.evaluate(str(run.output), data, split="test")
    assert list(report["splits"]) == ["test"]
    folder = run.output.parent / "data"  # train, validation and test files
    assert list(tunecard.evaluate(str(run.output), str(folder), split="validation")["splits"]) == ["validation"]
    capsys.readouterr()
    assert_cli_error(capsys, ["evaluate", "--model", str(run.output), "--data", str(folder), "--split", "dev"],
                     f"--split dev: expected one of the splits of {folder}; found test, train, validation. "
                     "Fix: pass --split test or --split train or --split validation")


def test_a_model_measurably_worse_than_a_baseline_is_a_finding(tmp_path, tiny_runs, capsys):
    """Texts whose labels contradict their cue words: the model is measurably worse than the majority class and
    than random labels; evaluate judges it as train does, and says so."""
    run = tiny_runs("classification")
    flipped = [{**row, "label": {"positive": "negative", "negative": "positive"}[row["label"]]}
               for row in make_rows(60, seed=9)]
    data = write_jsonl(tmp_path / "flipped.jsonl", flipped)
    assert main(["evaluate", "--model", str(run.output), "--data", data]) == 0
    out = capsys.readouterr().out
    assert "ERROR collapse.no_better_than_majority: [flipped] macro F1 " in out
    assert "warn  results.below_baseline: [flipped] on flipped the model is measurably worse than the majority " \
           "class: Accuracy " in out
    assert "headline metric: F1 (the leads over the baselines and the collapse checks are judged on it)" in out
