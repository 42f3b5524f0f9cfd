"""Multiple choice with any number of options: questions with 3, 4 and 5 options in one batch (the HF/ARC layout,
letter and digit choice labels), padded options masked out of the loss, the metrics, the baselines and the
ranked letters, and a run that learns, verifies, predicts and serves such questions."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoTokenizer

import tunecard
from conftest import FILLER, NEGATIVE, POSITIVE, tiny_config, write_jsonl
from tunecard.cli import main
from tunecard.config import DataConfig
from tunecard.errors import TunecardError
from tunecard.data import questions
from tunecard.tasks import multiple_choice
from tunecard.tasks.multiple_choice import MultipleChoice

COUNTS = (3, 4, 5)


def make_mixed_questions(n: int, seed: int = 0, digit_labels: bool = False, counts=COUNTS) -> list[dict]:
    """Learnable questions (the right option carries a positive cue word) whose option counts cycle through
    `counts`, in the HF/ARC layout: a question string, `choices` {text, label}, `answerKey` naming a label
    (letters A, B, ... or, as ARC sometimes has them, digits 1, 2, ...)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        n_options = counts[i % len(counts)]
        answer = rng.randrange(n_options)
        phrase = lambda cue: " ".join([rng.choice(FILLER), cue, rng.choice(FILLER)])  # noqa: E731
        texts = [phrase(rng.choice(POSITIVE if j == answer else NEGATIVE)) for j in range(n_options)]
        labels = [str(j + 1) for j in range(n_options)] if digit_labels else list("ABCDE"[:n_options])
        rows.append({"id": f"q{i}", "question": "which one is " + " ".join(rng.sample(FILLER, 3)) + "?",
                     "choices": {"text": texts, "label": labels}, "answerKey": labels[answer]})
    return rows


def split_of(rows: list[dict], tmp_path, name: str = "d"):
    """`rows` read as the validation split of a prepared run (train is the same file)."""
    path = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    return questions.prepare(DataConfig(train=path, validation=path), seed=42)


# ---- reading ---------------------------------------------------------------------------------------

def test_the_hf_layout_with_letter_and_digit_labels_is_read_as_is(tmp_path):
    rows = make_mixed_questions(6) + make_mixed_questions(6, seed=1, digit_labels=True)
    prepared = split_of(rows, tmp_path)
    split = prepared.splits["validation"]
    assert prepared.label_names == ["A", "B", "C", "D", "E"]
    assert split["options"] == [r["choices"]["text"] for r in rows]
    assert split["n_options"] == [3, 4, 5] * 4
    assert split["label"] == [r["choices"]["label"].index(r["answerKey"]) for r in rows]


def test_the_letters_cover_the_most_options_of_any_split(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", make_mixed_questions(12, counts=(3, 4)))
    validation = write_jsonl(tmp_path / "validation.jsonl", make_mixed_questions(6, seed=1, counts=(2, 5)))
    prepared = questions.prepare(DataConfig(train=train, validation=validation), seed=42)
    assert prepared.label_names == ["A", "B", "C", "D", "E"]
    assert sorted(set(prepared.splits["train"]["n_options"])) == [3, 4]


def test_a_digit_answer_in_a_row_with_letter_labels_is_no_position(tmp_path):
    rows = make_mixed_questions(3)
    rows[1]["answerKey"] = "2"  # labels A-D: "2" names no choice (a 0-based index would silently pick C)
    with pytest.raises(TunecardError) as info:
        questions.prepare(DataConfig(train=write_jsonl(tmp_path / "d.jsonl", rows)), seed=42)
    assert str(info.value) == ("answers in train: expected one of the row's choice labels (A, B, C, D), a letter (A-D) "
                               "or the text of one of the row's options; found row 2 (id q1): answer '2'. "
                               "Fix: correct the answer or remove that row")


# ---- batches and the loss ------------------------------------------------------------------------------

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


# ---- metrics and baselines ----------------------------------------------------------------------------

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


# ---- a run that learns ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory, _tiny_model_master):
    """Train in letter labels, test in ARC digit labels; 3, 4 and 5 options in every batch."""
    folder = tmp_path_factory.mktemp("mc-mixed")
    write_jsonl(folder / "data" / "train.jsonl", make_mixed_questions(180, seed=1))
    write_jsonl(folder / "data" / "test.jsonl", make_mixed_questions(45, seed=2, digit_labels=True))
    config = tiny_config(folder / "data", _tiny_model_master, folder / "run", epochs=5)
    config["task"] = "multiple_choice"
    return tunecard.train(config)


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
    assert str(info.value) == ("options in train: expected at most 5 options per question (the model's letters A-E); "
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
