"""The multiple-choice task: MAP@k, the three data layouts and answer forms, clear errors naming the row,
the collator's shapes, context-first truncation, a run that learns, its card, and predict/submission."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from huggingface_hub import ModelCard
from transformers import AutoTokenizer

import tunecard
from conftest import FILLER, NEGATIVE, POSITIVE, tiny_config, write_jsonl
from tunecard.cli import main
from tunecard.config import DataConfig
from tunecard.errors import TunecardError
from tunecard.judging.metrics import map_at_k, map_at_k_from_scores
from tunecard.data import questions
from tunecard.tasks import multiple_choice
from tunecard.tasks.multiple_choice import MultipleChoice

LETTERS = "ABCD"


def make_questions(n: int, seed: int = 0, n_options: int = 4) -> list[dict]:
    """Questions whose right option carries a positive cue word and the others negative ones (learnable),
    in the Kaggle layout: prompt, A..D, answer letter."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        answer = rng.randrange(n_options)
        phrase = lambda cue: " ".join([rng.choice(FILLER), cue, rng.choice(FILLER)])  # noqa: E731
        options = [phrase(rng.choice(POSITIVE if j == answer else NEGATIVE)) for j in range(n_options)]
        rows.append({"id": f"q{i}", "prompt": "which one is " + " ".join(rng.sample(FILLER, 3)) + "?",
                     **dict(zip(LETTERS, options)), "answer": LETTERS[answer]})
    return rows


# ---- MAP@k ------------------------------------------------------------------------------------

def test_map_at_3_hand_worked():
    gold = ["A", "B", "C", "D"]
    ranked = [["A", "B", "C"]] * 4  # ranks 1, 2, 3 and absent
    assert map_at_k(gold, ranked, 3) == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4)


def test_map_at_k_ignores_later_repeats_of_the_gold_label():
    # A repeated correct label counts once, at its first rank; repeated wrong labels still take ranks.
    assert map_at_k(["B"], [["B", "B", "B"]], 3) == 1.0
    assert map_at_k(["C"], [["A", "A", "C"]], 3) == pytest.approx(1 / 3)
    assert map_at_k(["C"], [["A", "C", "C"]], 3) == pytest.approx(1 / 2)
    assert map_at_k(["E"], [["D", "D", "D", "E"]], 3) == 0.0  # rank 4 is past the cut-off
    assert map_at_k(["E"], [["D", "D", "D", "E"]], 4) == pytest.approx(1 / 4)


def test_map_from_scores_ranks_ties_by_option_order_and_k1_is_accuracy():
    scores = np.array([[0.1, 0.5, 0.5, 0.2], [0.9, 0.05, 0.03, 0.02], [0.1, 0.2, 0.3, 0.4]])
    # row 0: ranking 1, 2, 3, 0 -> gold 2 at rank 2; row 1: gold 0 at rank 1; row 2: gold 0 last (rank 4)
    assert map_at_k_from_scores([2, 0, 0], scores, 3) == pytest.approx((1 / 2 + 1) / 3)
    assert map_at_k_from_scores([2, 0, 0], scores, 1) == pytest.approx(1 / 3)


def test_random_ranking_chance_level():
    assert multiple_choice.random_map(5, 3) == pytest.approx((1 + 1 / 2 + 1 / 3) / 5)
    assert multiple_choice.random_map(2, 3) == pytest.approx((1 + 1 / 2) / 2)


def test_majority_ranking_orders_letters_by_training_frequency():
    import datasets

    split = datasets.Dataset.from_dict({"label": [1, 2, 0, 1]},
                                       features=datasets.Features({"label": datasets.ClassLabel(names=list("ABC"))}))
    # B is the commonest training answer, then C, then A: every question gets the ranking B C A
    scores = MultipleChoice().majority_scores(split, {"A": 2, "B": 9, "C": 5})
    assert MultipleChoice().split_metrics(split, scores) == {"map_at_3": pytest.approx((1 + 1 / 2 + 1 / 3 + 1) / 4)}


# ---- data layouts and answers ---------------------------------------------------------------------

QUESTIONS = [("the sun is a", ["star", "planet", "moon"], 0), ("water boils at", ["10 C", "100 C", "1 C"], 1)]


def layouts(tmp_path) -> dict[str, str]:
    """The same two questions in every supported layout and answer form."""
    letters = [{"prompt": q, **dict(zip("ABC", o)), "answer": "ABC"[a]} for q, o, a in QUESTIONS]
    pd.DataFrame(letters).to_csv(tmp_path / "letters.csv", index=False)
    files = {"letters": str(tmp_path / "letters.csv")}
    files["list_index"] = write_jsonl(tmp_path / "list.jsonl",
                                      [{"question": q, "options": o, "label": a} for q, o, a in QUESTIONS])
    files["list_text"] = write_jsonl(tmp_path / "text.jsonl",
                                     [{"question": q, "choices": o, "answer": o[a]} for q, o, a in QUESTIONS])
    files["openbookqa"] = write_jsonl(tmp_path / "obqa.jsonl", [
        {"id": f"7-{i}", "question": {"stem": q, "choices": [{"text": t, "label": "ABC"[j]} for j, t in enumerate(o)]},
         "answerKey": "ABC"[a]} for i, (q, o, a) in enumerate(QUESTIONS)])
    files["arc_numbered"] = write_jsonl(tmp_path / "arc.jsonl", [
        {"question": q, "choices": {"text": o, "label": ["1", "2", "3"]}, "answerKey": str(a + 1)}
        for q, o, a in QUESTIONS])
    return files


def test_every_layout_and_answer_form_reads_the_same_questions(tmp_path):
    for name, path in layouts(tmp_path).items():
        prepared = questions.prepare(DataConfig(train=path, validation=path), seed=42)
        split = prepared.splits["validation"]
        assert prepared.label_names == ["A", "B", "C"], name
        assert split["question"] == [q for q, _, _ in QUESTIONS], name
        assert split["options"] == [o for _, o, _ in QUESTIONS], name
        assert split["label"] == [a for _, _, a in QUESTIONS], name
    assert prepared.splits["validation"]["context"] == ["", ""]


def test_a_missing_option_names_the_row(tmp_path):
    rows = [{"prompt": q, **dict(zip("ABC", o)), "answer": "A"} for q, o, _ in QUESTIONS]
    rows[1]["B"] = None
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(TunecardError) as info:
        questions.prepare(DataConfig(train=path), seed=42)
    assert str(info.value) == ("options in train: expected a non-empty text for every option; found row 2: "
                               "option B is missing. Fix: fill in or remove that row")


def test_rows_with_a_missing_option_can_be_dropped_and_are_reported(tmp_path):
    rows = make_questions(30)
    rows[3]["C"], rows[11]["A"] = None, "  "
    prepared = questions.prepare(DataConfig(train=write_jsonl(tmp_path / "d.jsonl", rows), bad_rows="drop",
                                                  validation_size=0.2), seed=42)
    assert prepared.dropped_rows == {"train": {"count": 2, "first": ["q3", "q11"], "by": "id"}}
    assert sum(len(s) for s in prepared.splits.values()) == 28
    assert not {"q3", "q11"} & {i for s in prepared.splits.values() for i in s["id"]}


def test_an_answer_outside_the_options_names_the_row_and_its_id(tmp_path, capsys, tiny_model):
    rows = make_questions(6)
    rows[4]["answer"] = "F"
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    code = main(["train", "--task", "multiple_choice", "--data.train", path, "--model", tiny_model,
                 "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.strip() == ("tunecard: error: answers in train: expected a letter (A-D), a 0-based index (0-3) or the "
                           "text of one of the row's options; found row 5 (id q4): answer 'F'. "
                           "Fix: correct the answer or remove that row")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_a_row_with_one_option_is_an_error_naming_it(tmp_path):
    rows = [{"id": "q1", "question": "q1", "options": ["a", "b", "c"], "answer": 0},
            {"id": "q2", "question": "q2", "options": ["a"], "answer": 0}]
    with pytest.raises(TunecardError) as info:
        questions.prepare(DataConfig(train=write_jsonl(tmp_path / "d.jsonl", rows)), seed=42)
    assert str(info.value) == ("options in train: expected at least 2 options per question; found row 2 (id q2) has 1. "
                               "Fix: give every question two or more options, or remove that row")


def test_no_option_columns_is_an_error_listing_the_layouts(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "answer": "A"}])
    with pytest.raises(TunecardError) as info:
        questions.prepare(DataConfig(train=path), seed=42)
    assert str(info.value).startswith("multiple-choice train data: expected option columns A, B, ... beside a question "
                                      "column, a list column (options, choices, endings), or OpenBookQA-style")


# ---- tokens and collator ------------------------------------------------------------------------

def test_collator_flattens_pads_per_batch_and_reshapes(tmp_path, minilm_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    path = write_jsonl(tmp_path / "q.jsonl", make_questions(20))
    prepared = questions.prepare(DataConfig(train=path, validation=path), 42)
    tokenized = questions.tokenize(prepared.splits["train"], tokenizer, 64)
    rows = [tokenized[i] for i in range(3)]
    batch = MultipleChoice().data_collator(tokenizer)(rows)
    longest = max(len(ids) for row in rows for ids in row["input_ids"])
    assert batch["input_ids"].shape == (3, 4, longest)
    assert batch["attention_mask"].shape == batch["token_type_ids"].shape == (3, 4, longest)
    assert batch["labels"].tolist() == [[row["label"], 4] for row in rows]  # (answer id, option count)
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "labels"}  # id, text, length... dropped
    assert [row["length"] for row in rows] == [max(len(ids) for ids in row["input_ids"]) for row in rows]


def test_inputs_match_the_tokenizer_and_long_context_is_trimmed_first(minilm_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    question, options = "what is a photon?", ["a particle of light", "a sound wave"]
    encoded = questions.encode_choices(tokenizer, [question], [options], ["light is made of photons"], 64)
    reference = tokenizer("light is made of photons #### " + question, options[0])
    assert encoded["input_ids"][0][0] == reference["input_ids"]
    assert encoded["token_type_ids"][0][0] == reference["token_type_ids"]
    assert encoded["cut_context"] == encoded["cut_question_or_option"] == [False]

    context = " ".join(["background"] * 100) + " final words"
    encoded = questions.encode_choices(tokenizer, [question], [options], [context], 24)
    text = tokenizer.decode(encoded["input_ids"][0][0])
    assert len(encoded["input_ids"][0][0]) == 24 and encoded["cut_context"] == [True]
    assert encoded["cut_question_or_option"] == [False]
    assert text.startswith("[CLS] background") and "final" not in text  # the context lost its end
    assert text.endswith("# # # # what is a photon? [SEP] a particle of light [SEP]")  # question and option kept
    assert encoded["full_length"][0] > 100


def test_question_and_option_share_the_length_when_no_context_fits(minilm_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    long_question = " ".join(["why"] * 40)
    encoded = questions.encode_choices(tokenizer, [long_question], [["yes because " * 10, "no"]], ["ctx"], 32)
    lengths = [len(ids) for ids in encoded["input_ids"][0]]
    assert max(lengths) == 32
    first = tokenizer.decode(encoded["input_ids"][0][0])
    assert "ctx" not in first and first.count("why") == 14 and "yes because" in first  # half the budget each
    assert encoded["cut_context"] == encoded["cut_question_or_option"] == [True]


# ---- a run that learns ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mc_run(tmp_path_factory, _tiny_model_master):
    folder = tmp_path_factory.mktemp("mc")
    write_jsonl(folder / "data" / "train.jsonl", make_questions(160, seed=1))
    write_jsonl(folder / "data" / "test.jsonl", make_questions(40, seed=2))
    config = tiny_config(folder / "data", _tiny_model_master, folder / "run", epochs=5)
    config.update(task="multiple_choice", k=2)
    return tunecard.train(config)


def test_multiple_choice_run_learns_and_reports_map(mc_run):
    test = mc_run.metrics["splits"]["test"]
    assert test["metrics"]["map_at_3"] >= 0.9 and test["metrics"]["accuracy"] >= 0.85
    assert 0.3 < test["baselines"]["stratified"]["map_at_3"] < 0.8  # a random ranking of 4 options: 0.458
    assert 0.2 < test["baselines"]["majority"]["map_at_3"] < 0.8  # one fixed ranking by training frequency
    assert mc_run.metrics["best_metric"] == "map_at_3"
    assert all({"map_at_3", "map_at_2", "accuracy"} <= set(row) for row in mc_run.history)
    assert mc_run.history[-1]["eval_loss"] < mc_run.history[0]["eval_loss"]
    frame = pd.read_csv(mc_run.output / "predictions" / "test.csv")
    assert list(frame.columns) == ["id", "gold", "prediction", "prob_A", "prob_B", "prob_C", "prob_D", "ranked"]
    assert (frame["ranked"].str.split().str[0] == frame["prediction"]).all()
    ranked = [r.split() for r in frame["ranked"]]
    assert map_at_k(frame["gold"].tolist(), ranked, 3) == pytest.approx(test["metrics"]["map_at_3"])


def test_a_run_that_never_leaves_the_chance_loss_is_flagged_and_a_learning_run_is_not(mc_run, tmp_path,
                                                                                       _tiny_model_master):
    write_jsonl(tmp_path / "data" / "train.jsonl", make_questions(80, seed=1))
    config = tiny_config(tmp_path / "data", _tiny_model_master, tmp_path / "run", epochs=2, learning_rate=1e-9)
    stuck = tunecard.train({**config, "task": "multiple_choice"})
    finding = next(f for f in stuck.metrics["diagnostics"] if f["id"] == "collapse.loss_at_chance")
    assert finding["evidence"]["chance_loss"] == round(float(np.log(4)), 4)
    assert "collapse.loss_at_chance" in stuck.card_path.read_text()
    assert not any(f.id == "collapse.loss_at_chance" for f in mc_run.findings)


def test_card_has_map_at_3_in_the_model_index(mc_run):
    card = ModelCard.load(mc_run.card_path)
    assert card.data.pipeline_tag == "multiple-choice"
    results = {(r.dataset_split, r.metric_type): r for r in card.data.eval_results}
    test_map = results[("test", "map_at_3")]
    assert test_map.metric_args == {"k": 3} and test_map.task_type == "multiple-choice"
    assert test_map.metric_value == round(mc_run.metrics["splits"]["test"]["metrics"]["map_at_3"], 4)
    assert results[("test", "map_at_2")].metric_args == {"k": 2}
    assert "| MAP@3 |" in card.text and "MAP@3** (mean average precision at 3)" in card.text
    assert "pipeline(" not in card.text and "tunecard.load" in card.text


def test_predict_writes_ranked_letters_and_a_kaggle_submission(mc_run, tmp_path):
    rows = make_questions(25, seed=7)
    unlabelled = [{k: v for k, v in r.items() if k != "answer"} for r in rows]
    data = write_jsonl(tmp_path / "new.jsonl", unlabelled)
    out, submission = tmp_path / "pred.csv", tmp_path / "submission.csv"
    assert main(["predict", "--model", str(mc_run.output), "--data", data, "--output", str(out),
                 "--submission", str(submission)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["id", "prediction", "ranked", "prob_A", "prob_B", "prob_C", "prob_D"]
    assert np.allclose(frame[[f"prob_{x}" for x in LETTERS]].sum(axis=1), 1, atol=1e-4)
    assert frame["id"].tolist() == [r["id"] for r in rows]
    sub = pd.read_csv(submission)
    assert list(sub.columns) == ["id", "prediction"] and sub["prediction"].tolist() == frame["ranked"].tolist()
    assert all(len(p.split()) == 3 and len(set(p.split())) == 3 for p in sub["prediction"])
    assert map_at_k([r["answer"] for r in rows], [p.split() for p in sub["prediction"]], 3) >= 0.9
    ranker = tunecard.load(mc_run.output)
    assert ranker.predict([r["prompt"] for r in rows], [[r[x] for x in LETTERS] for r in rows]) == \
        frame["prediction"].tolist()


def test_evaluate_reports_map_at_k(mc_run, tmp_path):
    data = write_jsonl(tmp_path / "labelled.jsonl", make_questions(30, seed=8))
    report = tunecard.evaluate(str(mc_run.output), data, k=1)
    metrics = report["splits"]["train"]["metrics"]
    assert metrics["map_at_1"] == pytest.approx(metrics["accuracy"]) and metrics["map_at_3"] >= 0.9


def test_intervals_resample_questions_and_the_run_verifies(mc_run, capsys):
    from tunecard.cli import main

    test = mc_run.metrics["splits"]["test"]
    assert test["intervals"]["unit"] == "questions"
    low, high = test["intervals"]["metrics"]["map_at_3"]
    assert low <= test["metrics"]["map_at_3"] <= high
    assert test["intervals"]["differences"]["majority"]["metric"] == "map_at_3"
    assert main(["verify", str(mc_run.output)]) == 0
    assert capsys.readouterr().out.strip().endswith("all match")
