"""The preference task: pairs split whole, expanded to labelled texts, a run that learns (the session's preference
run) with pairwise accuracy, its card and score plots, and predict on pair files and single texts. Pairwise
accuracy itself is tested in judging/test_metrics.py."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest
from huggingface_hub import ModelCard

from conftest import make_pairs, write_jsonl
from tunecard.cli import main
from tunecard.config import DataConfig
from tunecard.errors import TunecardError
from tunecard.tasks import preference


def test_split_prompt_cuts_at_the_last_assistant_turn_of_the_shared_history():
    chosen = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: help?\n\nAssistant: Sure, here is how."
    rejected = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: help?\n\nAssistant: No."
    prompt, good, bad = preference.split_prompt(chosen, rejected)
    assert prompt == "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: help?\n\nAssistant:"
    assert (good, bad) == ("Sure, here is how.", "No.")
    assert preference.split_prompt("plain one", "plain two") == ("", "plain one", "plain two")


def test_pair_splitting_never_separates_a_pair(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", make_pairs(101, seed=1))
    prepared = preference.Preference().prepare(DataConfig(train=path, test_size=0.2, validation_size=0.1), seed=42)
    assert set(prepared.splits) == {"train", "validation", "test"}
    seen = {}
    for name, split in prepared.splits.items():
        counts = Counter(split["pair_id"])
        assert set(counts.values()) == {2}
        for pair_id in counts:
            assert pair_id not in seen, f"pair {pair_id} in {seen.get(pair_id)} and {name}"
            seen[pair_id] = name
        rows = split.to_pandas()
        assert (rows.groupby("pair_id")["label"].apply(sorted).map(tuple) == (0, 1)).all()
    assert len(seen) == 101
    assert [len(prepared.splits[n]) // 2 for n in ("train", "validation", "test")] == [72, 8, 21]
    assert prepared.columns.text_pair == "text_pair"  # the shared history became the prompt


def test_a_pair_file_missing_a_column_is_a_clear_error(tmp_path):
    path = write_jsonl(tmp_path / "pairs.jsonl", [{"chosen": "a good reply", "response": "x"}] * 4)
    with pytest.raises(TunecardError) as info:
        preference.Preference().prepare(DataConfig(train=path), seed=42)
    assert str(info.value) == (
        "train data: expected preference pairs: a chosen and a rejected text column (and optionally a prompt); "
        "found no 'rejected' column among chosen, response. Fix: rename the columns, or name them with "
        "--data.chosen_column/--data.rejected_column")


def test_missing_column_in_cli_exits_2_without_traceback(tmp_path, capsys, tiny_model):
    path = write_jsonl(tmp_path / "pairs.jsonl", [{"good": "a", "bad": "b"}] * 4)
    code = main(["train", "--task", "preference", "--data.train", path, "--model", tiny_model,
                 "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert "no 'chosen' or 'rejected' column among good, bad" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_identical_pairs_are_dropped_and_reported(tmp_path):
    rows = make_pairs(20, seed=3) + [{"chosen": "same text", "rejected": "same text"}] * 2
    prepared = preference.Preference().prepare(DataConfig(train=write_jsonl(tmp_path / "p.jsonl", rows)), seed=42)
    assert sum(len(s) for s in prepared.splits.values()) == 40
    assert [f.id for f in prepared.findings] == ["data.identical_pairs"]


@pytest.fixture
def preference_run(tiny_runs):
    """200 pairs, 15% held out as test, 5 epochs."""
    return tiny_runs("preference")


def test_preference_run_learns_and_reports_pairwise_accuracy(preference_run):
    run = preference_run
    test = run.metrics["splits"]["test"]
    assert test["metrics"]["pairwise_accuracy"] >= 0.9
    assert 0.3 < test["baselines"]["stratified"]["pairwise_accuracy"] < 0.7  # random scores
    assert all("pairwise_accuracy" in row for row in run.history)
    assert run.metrics["best_metric"] == "pairwise_accuracy"
    card = ModelCard.load(run.card_path)
    results = {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert results[("test", "pairwise_accuracy")] == round(test["metrics"]["pairwise_accuracy"], 4)
    assert ("test", "f1") in results and ("test", "accuracy") in results
    assert "P(label = chosen)" in card.text
    assert "plots/scores_test.png" in card.text and (run.output / "plots" / "scores_test.png").is_file()
    assert (run.output / "plots" / "confusion_matrix_test.png").is_file()
    assert "held out as test, by pair" in card.text


def test_predict_scores_pair_files_and_single_texts(preference_run, tmp_path):
    pairs = make_pairs(30, seed=9)
    pair_file = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    out = tmp_path / "pairs_scored.csv"
    assert main(["predict", "--model", str(preference_run.output), "--data", pair_file, "--output", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["id", "score_chosen", "score_rejected", "prefers_chosen"]
    assert frame["prefers_chosen"].mean() >= 0.9
    assert (frame["prefers_chosen"] == (frame["score_chosen"] > frame["score_rejected"])).all()

    texts = [{"text": p["chosen"]} for p in pairs] + [{"text": p["rejected"]} for p in pairs]
    single = tmp_path / "single.jsonl"
    assert main(["predict", "--model", str(preference_run.output), "--data", write_jsonl(single, texts),
                 "--output", str(tmp_path / "single.csv")]) == 0
    scored = pd.read_csv(tmp_path / "single.csv")
    assert list(scored.columns) == ["id", "prediction", "score"]
    # The same texts scored alone give the same numbers as inside their pair.
    assert scored["score"][:30].round(5).tolist() == frame["score_chosen"].round(5).tolist()
    assert (scored["score"][:30].to_numpy() > scored["score"][30:].to_numpy()).mean() >= 0.9


def test_intervals_resample_pairs_and_the_run_verifies(preference_run, capsys):
    from tunecard.cli import main

    test = preference_run.metrics["splits"]["test"]
    assert test["intervals"]["unit"] == "pairs"
    low, high = test["intervals"]["metrics"]["pairwise_accuracy"]
    assert low <= test["metrics"]["pairwise_accuracy"] <= high
    assert test["intervals"]["differences"]["stratified"]["metric"] == "pairwise_accuracy"
    assert main(["verify", str(preference_run.output)]) == 0
    assert capsys.readouterr().out.strip().endswith("all match")
