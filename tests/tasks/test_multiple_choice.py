"""The multiple-choice task: its chance and majority rankings, the collator's shapes (any number of options, padded
options masked out of the loss), MAP@k with padded options, a run that learns (the session's multiple_choice run:
4 options; multiple_choice_mixed: 3 to 5, tested in ARC digit labels), its card, predict/submission, evaluate,
verify, serve and ensemble. Reading questions is tested in data/test_questions.py, MAP@k in
judging/test_metrics.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from huggingface_hub import ModelCard
from transformers import AutoTokenizer

import tunecard
from conftest import LETTERS, MIXED_COUNTS as COUNTS, make_mixed_questions, make_questions, tiny_config, write_jsonl
from tunecard.cli import main
from tunecard.config import DataConfig
from tunecard.data import questions
from tunecard.errors import TunecardError
from tunecard.judging.metrics import map_at_k
from tunecard.tasks import multiple_choice
from tunecard.tasks.multiple_choice import MultipleChoice


def split_of(rows: list[dict], tmp_path, name: str = "d"):
    """`rows` read as the validation split of a prepared run (train is the same file)."""
    path = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    return questions.prepare(DataConfig(train=path, validation=path), seed=42)


# ---- chance and majority rankings -------------------------------------------------------------------

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


# ---- errors from the command line ---------------------------------------------------------------

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


# ---- the collator and the loss ----------------------------------------------------------------------

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


def test_a_batch_pads_each_question_to_the_most_options_with_a_blank_input(tmp_path, minilm_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    split = split_of(make_mixed_questions(3), tmp_path).splits["validation"]
    tokenized = questions.tokenize(split, tokenizer, 64)
    rows = [tokenized[i] for i in range(3)]  # 3, 4 and 5 options
    batch = MultipleChoice().data_collator(tokenizer)(rows)
    longest = max(len(ids) for row in rows for ids in row["input_ids"])
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (3, 5, longest)
    assert batch["labels"].tolist() == [[row["label"], n] for row, n in zip(rows, COUNTS)]
    blank = tokenizer("", "")["input_ids"]  # [CLS] [SEP] [SEP]
    for question, n in ((0, 3), (0, 4), (1, 4)):  # the options questions 1 and 2 lack
        assert batch["input_ids"][question, n, :len(blank)].tolist() == blank
        assert batch["attention_mask"][question, n].sum() == len(blank)
    assert batch["input_ids"][2, 4, :len(rows[2]["input_ids"][4])].tolist() == rows[2]["input_ids"][4]


def test_the_loss_ignores_padded_options():
    logits = torch.tensor([[2.0, 0.5, 1.0, 50.0, 80.0], [0.1, 0.2, 0.3, 0.4, 0.5]], requires_grad=True)
    labels = torch.tensor([[0, 3], [4, 5]])  # question 1 has 3 options, question 2 all 5
    loss = multiple_choice.choice_loss({"logits": logits}, labels)
    with torch.no_grad():
        own = [torch.nn.functional.cross_entropy(logits[0, :3][None], torch.tensor([0])).item(),
               torch.nn.functional.cross_entropy(logits[1][None], torch.tensor([4])).item()]
    assert loss.item() == pytest.approx(sum(own) / 2, rel=1e-6)
    loss.backward()
    assert logits.grad[0, 3:].tolist() == [0.0, 0.0]  # padded options get no gradient
    # Trainer's num_items_in_batch counts both label entries of every question of the accumulated batch
    assert multiple_choice.choice_loss({"logits": logits}, labels, num_items_in_batch=8).item() == \
        pytest.approx(sum(own) / 4, rel=1e-6)


# ---- metrics and baselines with padded options -------------------------------------------------------

def scored_split(counts: list[int], gold: list[int]):
    import datasets

    features = datasets.Features({"label": datasets.ClassLabel(names=list("ABCDE")),
                                  "n_options": datasets.Value("int32")})
    return datasets.Dataset.from_dict({"label": gold, "n_options": counts}, features=features)


def test_map_at_3_with_padded_options_hand_worked():
    # The padded columns (past each question's count) hold high scores: ranked, they would push the answers down.
    scores = np.array([[0.2, 0.5, 0.3, 0.9, 0.8],     # 3 options: ranking B C A, answer A at rank 3 -> 1/3
                       [0.1, 0.2, 0.3, 0.15, 0.25],   # 5 options: ranking C E B D A, answer E at rank 2 -> 1/2
                       [0.6, 0.4, 0.7, 0.9, 0.1]])    # 2 options: ranking A B, answer B at rank 2 -> 1/2
    split = scored_split([3, 5, 2], [0, 4, 1])
    assert MultipleChoice().split_metrics(split, scores) == {"map_at_3": pytest.approx((1 / 3 + 1 / 2 + 1 / 2) / 3)}
    assert MultipleChoice(k=1).split_metrics(split, scores)["map_at_1"] == 0.0
    assert multiple_choice.ranked_letters(scores, list("ABCDE"), 3, [3, 5, 2]) == ["B C A", "C E B", "A B"]
    terms = MultipleChoice().unit_terms(split, scores)["map_at_3"]
    assert terms.tolist() == pytest.approx([1 / 3, 1 / 2, 1 / 2])


def test_the_baselines_rank_only_each_questions_own_options():
    counts = [2, 3, 4, 5] * 1500
    split = scored_split(counts, [0] * len(counts))
    chance = MultipleChoice().chance_scores(split, seed=3)
    assert np.isneginf(chance[0, 2:]).all() and np.isfinite(chance[3]).all()
    expected = np.mean([multiple_choice.random_map(n, 3) for n in counts])  # 0.55: not 5 options' 0.367
    assert MultipleChoice().split_metrics(split, chance)["map_at_3"] == pytest.approx(expected, abs=0.02)
    majority = MultipleChoice().majority_scores(split, {"A": 1, "B": 2, "C": 3, "D": 40, "E": 50})
    assert multiple_choice.ranked_letters(majority, list("ABCDE"), 3, counts)[:4] == ["B A", "C B A", "D C B",
                                                                                       "E D C"]


def test_the_chance_loss_is_the_mean_log_option_count_of_validation(tmp_path):
    prepared = split_of(make_mixed_questions(6), tmp_path)
    fitted = MultipleChoice().fit(np.zeros((6, 5)), prepared)
    assert fitted.chance_loss(prepared.label_names, {}, None, None) == pytest.approx(np.mean(np.log([3, 4, 5])))
    assert MultipleChoice().chance_loss(list("ABCD"), {}, None, None) == pytest.approx(np.log(4))


# ---- a run that learns ----------------------------------------------------------------------------

@pytest.fixture
def mc_run(tiny_runs):
    """160 questions of 4 options (test 40), 5 epochs, MAP@2 beside MAP@3."""
    return tiny_runs("multiple_choice")


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
    metrics = report["splits"]["labelled"]["metrics"]
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


# ---- a run with 3 to 5 options per question ----------------------------------------------------------------

@pytest.fixture
def mixed_run(tiny_runs):
    """Train in letter labels, test in ARC digit labels; 3, 4 and 5 options in every batch."""
    return tiny_runs("multiple_choice_mixed")


def test_a_run_with_mixed_option_counts_learns(mixed_run):
    test = mixed_run.metrics["splits"]["test"]
    assert mixed_run.metrics["label_names"] == ["A", "B", "C", "D", "E"]
    assert test["metrics"]["accuracy"] >= 0.85 and test["metrics"]["map_at_3"] >= 0.9
    assert mixed_run.history[-1]["eval_loss"] < mixed_run.history[0]["eval_loss"]
    assert mixed_run.history[-1]["map_at_3"] >= 0.9
    # chance: a random ranking of each question's own options (3, 4, 5): 0.611, 0.458, 0.367 -> 0.479 on average
    assert 0.35 < test["baselines"]["stratified"]["map_at_3"] < 0.65


def test_padded_options_get_probability_zero_and_are_never_ranked(mixed_run):
    frame = pd.read_csv(mixed_run.output / "predictions" / "test.csv")
    assert list(frame.columns) == ["id", "gold", "prediction", *(f"prob_{x}" for x in "ABCDE"), "ranked", "n_options"]
    assert frame["n_options"].tolist() == [3, 4, 5] * 15
    for _, row in frame.iterrows():
        own = list("ABCDE"[:row["n_options"]])
        assert all(row[f"prob_{x}"] == 0.0 for x in "ABCDE"[row["n_options"]:])
        assert all(row[f"prob_{x}"] > 0 for x in own)
        assert set(row["ranked"].split()) <= set(own) and len(row["ranked"].split()) == 3
        assert row["prediction"] in own and row["gold"] in own
    assert np.allclose(frame[[f"prob_{x}" for x in "ABCDE"]].sum(axis=1), 1)


def test_the_card_gives_the_range_of_options(mixed_run):
    card = mixed_run.card_path.read_text()
    assert "Ranks the 3 to 5 options (A-E) of a question, best first." in card
    assert "Questions have 3 to 5 options (A-E; a question with fewer options uses the first letters" in card
    assert "A random ranking of a question's own options scores 0.3667 (5 options) to 0.6111 (3) on average" in card


def test_a_mixed_run_verifies(mixed_run, capsys):
    assert main(["verify", str(mixed_run.output)]) == 0
    assert capsys.readouterr().out.strip().endswith("all match")


def test_predict_scores_questions_with_any_number_of_options(mixed_run, tmp_path):
    rows = make_mixed_questions(12, seed=7, counts=(2, 3, 4, 5))
    data = write_jsonl(tmp_path / "new.jsonl", [{k: v for k, v in r.items() if k != "answerKey"} for r in rows])
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(mixed_run.output), "--data", data, "--output", str(out)]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["id", "prediction", "ranked", *(f"prob_{x}" for x in "ABCDE")]
    for (_, row), question in zip(frame.iterrows(), rows):
        n = len(question["choices"]["text"])
        assert all(row[f"prob_{x}"] == 0.0 for x in "ABCDE"[n:])
        ranked = row["ranked"].split()
        assert len(ranked) == min(3, n) and set(ranked) <= set("ABCDE"[:n])
    assert (frame["prediction"] == [q["answerKey"] for q in rows]).mean() >= 0.8
    ranker = tunecard.load(mixed_run.output)
    probs = ranker.predict_proba([q["question"] for q in rows], [q["choices"]["text"] for q in rows])
    assert probs.shape == (12, 5) and probs[0, 2:].tolist() == [0.0, 0.0, 0.0]
    assert np.allclose(probs, frame[[f"prob_{x}" for x in "ABCDE"]].to_numpy(), atol=1e-6)


def test_more_options_than_the_model_has_letters_is_an_error_naming_the_row(mixed_run, tmp_path):
    rows = make_mixed_questions(2, counts=(4, 6))
    with pytest.raises(TunecardError) as info:
        tunecard.evaluate(str(mixed_run.output), write_jsonl(tmp_path / "six.jsonl", rows))
    assert str(info.value) == ("options in six: expected at most 5 options per question (the model's letters A-E); "
                               "found row 2 (id q1) has 6. Fix: score questions of up to 5 options, or train on data "
                               "that has 6")


def test_a_request_mixing_option_counts_is_served(mixed_run):
    from fastapi.testclient import TestClient

    from tunecard.config import ServeConfig
    from tunecard.workflows.serve.app import create_app
    from tunecard.workflows.serve.engine import ServedModel

    questions = make_mixed_questions(3, seed=9)
    inputs = [{"question": q["question"], "options": q["choices"]["text"]} for q in questions]
    ranker = tunecard.load(mixed_run.output)
    probs = ranker.predict_proba([i["question"] for i in inputs], [i["options"] for i in inputs])
    served = ServedModel(str(mixed_run.output))
    with TestClient(create_app(served, ServeConfig(model=served.path))) as client:
        response = client.post("/predict", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    for result, row in zip(response.json(), probs):
        scores = {entry["label"]: entry["score"] for entry in result}
        assert [scores[x] for x in "ABCDE"] == pytest.approx(row.tolist(), abs=1e-6)
    assert {e["label"]: e["score"] for e in response.json()[0]}["D"] == 0.0


def test_an_ensemble_of_mixed_runs_masks_padded_options_and_verifies(mixed_run, tmp_path, capsys):
    out = tmp_path / "ens"
    assert main(["ensemble", str(mixed_run.output), str(mixed_run.output), "--output", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    expected = mixed_run.metrics["splits"]["test"]["metrics"]
    assert report["splits"]["test"]["metrics"] == pytest.approx(expected, abs=1e-4)
    frame = pd.read_csv(out / "predictions" / "test.csv")
    assert (frame.loc[frame["n_options"] == 3, ["prob_D", "prob_E"]] == 0.0).all().all()
    assert main(["verify", str(out)]) == 0


# ---- findings that fit the task: answer positions, not classes ---------------------------------------------------

def test_a_mixed_run_reports_positions_by_option_count_and_no_class_findings(mixed_run):
    """Answer letters are positions: E exists only in five-option questions, so no class-imbalance advice and no
    never-recalled class; the card and metrics.json give accuracy and answer positions per option count."""
    ids = {f["id"] for f in mixed_run.metrics["diagnostics"]}
    assert not ids & {"data.imbalance", "classes.never_recalled", "collapse.class_never_recalled"}
    assert set(mixed_run.metrics["diagnostics_not_applicable"]) == {
        "data.imbalance", "classes.never_recalled", "collapse.class_never_recalled"}
    assert not any("class_weights" in f["advice"] or "class imbalance" in f["advice"]
                   for f in mixed_run.metrics["diagnostics"])  # multiple choice refuses class weights
    table = mixed_run.metrics["splits"]["test"]["tables"][0]
    assert [row[:2] for row in table["rows"]] == [[3, 15], [4, 15], [5, 15]]
    assert [row[3] for row in table["rows"]] == pytest.approx([1 / 3, 1 / 4, 1 / 5], abs=1e-6)
    assert all(0.6 <= row[2] <= 1 for row in table["rows"])  # a model that learned, on every size
    assert table["rows"][0][4].split()[::2] == ["A", "B", "C"]  # three-option questions: positions A-C only
    finding = next(f for f in mixed_run.metrics["diagnostics"]
                   if f["id"] == "positions.by_option_count" and f["split"] == "test")
    assert finding["message"].startswith("test: 3 options (15 questions): accuracy ")
    assert set(finding["evidence"]["by_option_count"]) == {"3", "4", "5"}
    card = mixed_run.card_path.read_text()
    assert "| Options | Questions | Accuracy | Chance | Gold answer at | Model's answer at |" in card
    assert "| 5 | 15 |" in card and "| 0.2000 |" in card
    assert "Checks that do not fit this task and were not run: `data.imbalance` (answer letters are positions" in card


def test_a_model_answering_one_position_is_told_so_per_option_count():
    from tunecard.judging import positions

    rng = np.random.default_rng(0)
    counts = np.array([4] * 200 + [5] * 10)
    gold = np.array([rng.integers(n) for n in counts])
    leaning = np.where(rng.random(len(gold)) < 0.5, 0, gold)  # half the answers pulled to A
    groups = positions.by_option_count(gold, leaning, counts, list("ABCDE"))
    found = positions.position_findings("test", groups, gold, leaning, counts)
    assert [f.id for f in found] == ["positions.by_option_count", "positions.bias"]
    assert found[1].message.startswith("on test questions with 4 options the model answers 'A' more often than the "
                                       "gold answers stand there (model: A ")
    assert found[1].evidence["options"] == 4  # five-option questions: too few to test (10 < MIN_QUESTIONS)
    fair = positions.position_findings("test", positions.by_option_count(gold, gold, counts, list("ABCDE")), gold,
                                       gold, counts)
    assert [f.id for f in fair] == ["positions.by_option_count"]
