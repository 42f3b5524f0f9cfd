"""data/questions.py: multiple-choice questions read from every layout and answer form (letters, a list of options,
OpenBookQA, ARC with letter or digit labels, any number of options), errors naming the row, and the inputs built
for each option (context trimmed first, then question and option sharing the length)."""

from __future__ import annotations

import pandas as pd
import pytest
from transformers import AutoTokenizer

from conftest import make_mixed_questions, make_questions, write_jsonl
from tunecard.config import DataConfig
from tunecard.data import questions
from tunecard.errors import TunecardError


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


# ---- any number of options (the HF/ARC layout) ------------------------------------------------------

def split_of(rows: list[dict], tmp_path, name: str = "d"):
    """`rows` read as the validation split of a prepared run (train is the same file)."""
    path = write_jsonl(tmp_path / f"{name}.jsonl", rows)
    return questions.prepare(DataConfig(train=path, validation=path), seed=42)


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
