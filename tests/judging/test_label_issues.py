"""Label issues from out-of-fold probabilities (--diagnostics.label_issues kfold): planted wrong labels are found
by models that never saw them, ranked with cleanlab; the card says what it cost and found; the refusals."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from huggingface_hub import ModelCard

import tunecard
from conftest import assert_cli_error, make_questions, make_rows, tiny_config, write_jsonl

PLANTED = 12


@pytest.fixture(scope="module")
def noisy(tmp_path_factory, _tiny_model_master):
    """The learnable two-class data with the labels of 12 of its 240 training rows flipped (ids planted-*), and a
    run of it with 3-fold label issues."""
    folder = tmp_path_factory.mktemp("noisy")
    flip = {"negative": "positive", "positive": "negative"}
    rows = [{"id": f"row-{i}", **row} for i, row in enumerate(make_rows(240, seed=1))]
    for row in rows[::20]:
        row.update(id=f"planted-{row['id']}", label=flip[row["label"]])
    write_jsonl(folder / "data" / "train.jsonl", rows)
    write_jsonl(folder / "data" / "validation.jsonl", make_rows(60, seed=2))
    write_jsonl(folder / "data" / "test.jsonl", make_rows(60, seed=3))
    config = tiny_config(folder / "data", _tiny_model_master, folder / "run", epochs=8, learning_rate=5e-3)
    config["diagnostics"] = {"label_issues": "kfold", "folds": 3}
    return tunecard.train(config)


def test_out_of_fold_probabilities_find_the_planted_wrong_labels(noisy):
    issues = pd.read_csv(noisy.output / "diagnostics" / "label_issues.csv")
    assert list(issues.columns) == ["id", "text", "given", "suggested", "score"]
    found = issues["id"].str.startswith("planted-")
    assert found.sum() >= 0.75 * PLANTED, issues.head(20)  # recall of the planted flips
    assert found.mean() >= 0.5, issues.head(20)  # most flagged rows are planted ones
    assert (issues["given"] != issues["suggested"]).all() and issues["score"].is_monotonic_increasing
    report = noisy.metrics["label_issues"]
    assert report["folds"] == 3 and report["rows"] == 240 and report["issues"] == len(issues)
    assert report["seconds"] > 0 and report["out_of_fold_accuracy"] >= 0.85
    finding = next(f for f in noisy.findings if f.id == "data.label_issues")
    assert finding.message.startswith(f"{len(issues)} of 240 training rows look mislabelled to models that never "
                                      "saw them (3-fold out-of-fold probabilities, confident learning)")
    in_sample = next(f for f in noisy.findings if f.id == "data.label_noise_candidates")
    assert "(in-sample: scored by the model trained on them" in in_sample.message


def test_the_card_says_what_the_folds_cost_and_found(noisy):
    card = ModelCard.load(noisy.card_path)
    text = card.text
    assert "### Label issues, out of fold" in text
    report = noisy.metrics["label_issues"]
    assert f"flags **{report['issues']}** rows" in text and "3 more models were trained as this one was" in text
    first = report["top"][0]
    assert f"| {first['id']} |" in text
    assert json.loads((noisy.output / "metrics.json").read_text())["label_issues"]["issues"] == report["issues"]


def test_label_issues_refusals(tmp_path, tiny_model, capsys):
    write_jsonl(tmp_path / "mc" / "train.jsonl", make_questions(40, seed=1))
    assert_cli_error(capsys, ["train", "--task", "multiple_choice", "--data", str(tmp_path / "mc"), "--model",
                              tiny_model, "--output", str(tmp_path / "out"), "--diagnostics.label_issues", "kfold"],
                     "--diagnostics.label_issues kfold: expected a task with one label per row (classification, "
                     "llm_classification); found the multiple_choice task, where the answer is a position among "
                     "options that differ from question to question, not a class. Fix: drop "
                     "--diagnostics.label_issues (the in-sample list is written)", tmp_path / "out")
    rare = [{"text": "a rare one", "label": "rare"}]
    write_jsonl(tmp_path / "few" / "train.jsonl", make_rows(40, seed=1) + rare * 2)
    write_jsonl(tmp_path / "few" / "validation.jsonl", make_rows(20, seed=2) + rare)
    assert_cli_error(capsys, ["train", "--data", str(tmp_path / "few"), "--model", tiny_model, "--output",
                              str(tmp_path / "few-run"), "--diagnostics.label_issues", "kfold"],
                     "--diagnostics.folds: expected at most as many folds as the rarest label's training rows "
                     "('rare': 2); found 5. Fix: set --diagnostics.folds 2 or fewer, or add rows of 'rare'",
                     tmp_path / "few-run")
