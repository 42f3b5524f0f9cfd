"""Held-out splits that do not leak by construction: when tunecard draws validation or test itself, identical texts
(case and whitespace folded; for pairs, the pair) land on the same side; splits the user gives keep the leakage
warning."""

from __future__ import annotations

import random

from conftest import make_mixed_questions, make_pairs, make_rows, write_jsonl

from tunecard.config import DataConfig
from tunecard.data import questions, texts
from tunecard.data.splits import stratified_holdout, text_keys
from tunecard.judging import diagnostics


def with_repeats(n: int, share: float, seed: int = 0) -> list[dict]:
    """`n` rows of which about `share` repeat an earlier row's text (in other case and spacing, some with the
    other label), as an SMS set's "Sorry, I'll call later" does."""
    rows = make_rows(n, seed=seed)
    rng = random.Random(seed)
    for i in rng.sample(range(n // 2, n), int(share * n)):
        source = rows[rng.randrange(n // 2)]
        rows[i] = {"text": "  " + source["text"].upper().replace(" ", "   "), "label": rows[i]["label"]}
    return rows


def overlap(prepared, split: str) -> int:
    train = set(text_keys(prepared.splits["train"]))
    return sum(key in train for key in text_keys(prepared.splits[split]))


def test_drawn_splits_keep_identical_texts_on_one_side(tmp_path):
    rows = with_repeats(600, share=0.08)
    path = write_jsonl(tmp_path / "sms.jsonl", rows)
    repeated = len(rows) - len(set(text_keys_of(rows)))
    assert repeated >= 0.07 * len(rows)
    prepared = texts.prepare(DataConfig(train=path, test_size=0.1), seed=42)
    assert overlap(prepared, "validation") == 0 and overlap(prepared, "test") == 0
    assert not set(text_keys(prepared.splits["validation"])) & set(text_keys(prepared.splits["test"]))
    assert sum(len(ds) for ds in prepared.splits.values()) == 600
    assert 45 <= len(prepared.splits["validation"]) <= 75 and 45 <= len(prepared.splits["test"]) <= 75
    assert prepared.held_out_together == {
        "rule": "identical texts (case and whitespace folded; for pairs, the whole pair) are kept on the same side",
        "repeated_rows": repeated, "repeated_texts": prepared.held_out_together["repeated_texts"]}
    train, validation = prepared.splits["train"]["text"], prepared.splits["validation"]["text"]
    assert diagnostics.leakage_finding("validation", train, validation) is None


def test_the_plain_draw_is_row_for_row_the_same_without_repeated_texts(tmp_path):
    rows = make_rows(200, seed=4)
    assert len(set(text_keys_of(rows))) == 200
    path = write_jsonl(tmp_path / "distinct.jsonl", rows)
    prepared = texts.prepare(DataConfig(train=path), seed=42)
    plain = texts.standardise(texts.read_training_splits(DataConfig(train=path))["train"],
                              prepared.columns, prepared.label_names, "train", False)
    _, expected = stratified_holdout(plain, 0.1, 42)
    assert prepared.splits["validation"]["id"] == expected["id"]
    assert prepared.held_out_together["repeated_rows"] == 0


def test_splits_the_user_gives_still_warn_of_their_overlap(tmp_path):
    train = with_repeats(300, share=0.0, seed=1)
    validation = train[:40] + make_rows(20, seed=7)  # 40 of 60 validation texts are training texts
    prepared = texts.prepare(DataConfig(train=write_jsonl(tmp_path / "train.jsonl", train),
                                        validation=write_jsonl(tmp_path / "validation.jsonl", validation)), seed=42)
    assert prepared.held_out_together is None
    finding = diagnostics.leakage_finding("validation", prepared.splits["train"]["text"],
                                          prepared.splits["validation"]["text"])
    assert finding.severity == "warning" and finding.evidence["shared"] >= 40


def test_pairs_and_questions_are_held_out_whole(tmp_path):
    rows = make_rows(300, seed=2)
    pairs = [{"sentence1": r["text"], "sentence2": "same" if i % 3 else "other", "label": r["label"]}
             for i, r in enumerate(rows)]
    pairs += [dict(p) for p in pairs[:40]]  # 40 repeated pairs
    prepared = texts.prepare(DataConfig(train=write_jsonl(tmp_path / "pairs.jsonl", pairs)), seed=42)
    assert overlap(prepared, "validation") == 0
    mcq = make_mixed_questions(150, seed=3)
    mcq += [{**q, "id": f"again{i}"} for i, q in enumerate(mcq[:30])]
    prepared = questions.prepare(DataConfig(train=write_jsonl(tmp_path / "questions.jsonl", mcq)), seed=42)
    assert overlap(prepared, "validation") == 0 and prepared.held_out_together["repeated_rows"] >= 30


def test_preference_pairs_are_held_out_as_whole_pairs(tmp_path):
    from tunecard.tasks.preference import Preference

    pairs = make_pairs(200, seed=1)
    pairs += [dict(p) for p in pairs[:30]]
    prepared = Preference().prepare(DataConfig(train=write_jsonl(tmp_path / "pairs.jsonl", pairs)), seed=42)
    train = {(a, b) for a, b in zip(prepared.splits["train"]["text"], prepared.splits["train"]["label"])}
    held = list(zip(prepared.splits["validation"]["text"], prepared.splits["validation"]["label"]))
    assert not train & set(held) and prepared.held_out_together["repeated_rows"] == 30


def text_keys_of(rows: list[dict]) -> list[str]:
    return [" ".join(r["text"].lower().split()) for r in rows]


def test_the_card_and_metrics_json_say_how_held_out_texts_were_drawn(tiny_runs):
    run = tiny_runs("classification_train_only")  # validation drawn from its 240 training rows
    together = run.metrics["held_out_together"]
    assert together["rule"].startswith("identical texts (case and whitespace folded")
    assert not any(f["id"] == "data.leakage" for f in run.metrics["diagnostics"])
    card = run.card_path.read_text()
    assert ("In the splits tunecard drew, identical texts (case and whitespace folded; for pairs, the whole pair) are "
            "kept on the same side: no held-out text is also a training text "
            f"({together['repeated_rows']} rows repeated an earlier row's text") in card
    assert "held_out_together" not in tiny_runs("classification").metrics  # every split given: nothing drawn


def test_too_few_distinct_texts_to_hold_out_is_an_error_that_says_so(tmp_path):
    import pytest

    from tunecard.errors import TunecardError

    rows = [{"text": "Sorry, I'll call later", "label": label} for label in ("ham", "spam") * 20]
    with pytest.raises(TunecardError) as info:
        texts.prepare(DataConfig(train=write_jsonl(tmp_path / "same.jsonl", rows)), seed=42)
    assert str(info.value) == (
        "validation split: expected at least 2 distinct texts of every class to hold some out; found class 'ham' "
        "with 1 distinct text (40 rows, 1 distinct texts: identical texts are held out together). Fix: add rows of "
        "that class or give a validation file with --data.validation")
