"""Zero-shot evaluation from the CLI: `tunecard evaluate --task T --model <a model tunecard did not train>` on
the session's tiny random Llama (conftest.py), saved to a folder. Multiple choice (each option by its log-likelihood,
lm-evaluation-harness's acc and acc_norm) and llm_classification (each label by the likelihood of its words),
their numbers recomputed by hand from the same model's scores, and the errors, exactly."""

from __future__ import annotations

import copy
import json
import random

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import make_rows, write_jsonl
from tunecard.engine import causal_lm, prompting
from tunecard.cli import main
from tunecard.config import LlmConfig
from tunecard.tasks import choice_likelihood
from tunecard.tasks import llm_classification as llm

OPTIONS = ["great", "awful", "very good", "not bad", "superb", "boring", "quite lovely", "really terrible"]
QUESTION_WORDS = ["the", "film", "plot", "was", "acting", "story", "music", "really"]


def question_rows(n: int = 12, seed: int = 0) -> list[dict]:
    """Questions of known words, four options of different lengths (in characters and in tokens)."""
    rng = random.Random(seed)
    return [{"id": f"q{i}", "question": " ".join(rng.choice(QUESTION_WORDS) for _ in range(rng.randint(3, 6))),
             "options": rng.sample(OPTIONS, 4), "answer": "ABCD"[rng.randrange(4)]} for i in range(n)]


def only_split(report: dict) -> dict:
    (split,) = report["splits"].values()
    return split


# ---- multiple choice ------------------------------------------------------------------------------

def test_multiple_choice_zero_shot_is_lm_eval_acc_and_acc_norm(tiny_lm, loaded, tmp_path, capsys):
    rows = question_rows()
    data = write_jsonl(tmp_path / "questions.jsonl", rows)
    out = tmp_path / "eval"
    assert main(["evaluate", "--task", "multiple_choice", "--model", tiny_lm, "--data", data,
                 "--output", str(out)]) == 0
    summary = capsys.readouterr().out
    report = json.loads((out / "metrics.json").read_text())
    metrics = only_split(report)["metrics"]
    assert {"accuracy", "map_at_3", "accuracy_norm"} <= set(metrics)

    # by hand, from the same model's score_options with lm-evaluation-harness's prompt
    model, tokenizer = loaded
    loglik = causal_lm.score_options(model, tokenizer, [r["question"] for r in rows], [r["options"] for r in rows],
                               **choice_likelihood.PROMPT)
    gold = np.array(["ABCD".index(r["answer"]) for r in rows])
    chars = np.array([[len(o) for o in r["options"]] for r in rows])
    assert metrics["accuracy"] == pytest.approx(np.mean(loglik.argmax(-1) == gold))
    assert metrics["accuracy_norm"] == pytest.approx(np.mean((loglik / chars).argmax(-1) == gold))
    predictions = pd.read_csv(next((out / "predictions").glob("*.csv")))
    np.testing.assert_allclose(predictions[[f"loglik_{x}" for x in "ABCD"]], loglik, atol=1e-4)
    interval = only_split(report)["intervals"]["metrics"]["accuracy_norm"]
    assert interval[0] <= metrics["accuracy_norm"] <= interval[1]

    zero_shot = report["zero_shot"]
    assert zero_shot["training"] == "none (zero-shot)" and zero_shot["prompt"]["chat_template"] is False
    assert next(iter(zero_shot["chance"].values())) == {"accuracy": 0.25, "map_at_3": 0.458333, "accuracy_norm": 0.25}
    card = (out / "README.md").read_text()
    assert card.startswith(f"# Zero-shot evaluation of {tiny_lm}\n")
    assert "**Zero-shot: no training.**" in card and "lm-evaluation-harness's multiple-choice prompt" in card
    assert "Accuracy 0.2500, MAP@3 0.4583, Normalized accuracy 0.2500" in card
    assert "| Normalized accuracy |" in card
    assert "training none (zero-shot)" in summary and "Normalized accuracy" in summary


def test_zero_shot_multiple_choice_is_judged_on_its_headline_normalized_accuracy(tiny_lm, tmp_path, capsys):
    """The split is named for its file; the headline is acc_norm (stated so), the leads over the baselines and the
    collapse check are judged on it, and the blind baselines' normalized accuracy is their accuracy."""
    data = write_jsonl(tmp_path / "openbook_test.jsonl", question_rows(16, seed=5))
    out = tmp_path / "eval"
    assert main(["evaluate", "--task", "multiple_choice", "--model", tiny_lm, "--data", data,
                 "--output", str(out)]) == 0
    summary = capsys.readouterr().out
    report = json.loads((out / "metrics.json").read_text())
    assert list(report["splits"]) == ["openbook_test"] and report["headline_metric"] == "accuracy_norm"
    split = report["splits"]["openbook_test"]
    for baseline in ("majority", "stratified"):
        assert split["baselines"][baseline]["accuracy_norm"] == split["baselines"][baseline]["accuracy"]
        lead = split["intervals"]["differences"][baseline]
        assert lead["metric"] == "accuracy_norm" and lead["difference"] == pytest.approx(
            split["metrics"]["accuracy_norm"] - split["baselines"][baseline]["accuracy_norm"], abs=1e-6)
        assert set(split["intervals"]["differences_by_metric"][baseline]) == {"accuracy", "map_at_3", "accuracy_norm"}
    collapse = [f for f in report["diagnostics"] if f["id"] == "collapse.no_better_than_majority"]
    assert all(f["evidence"]["metric"] == "accuracy_norm" for f in collapse)
    assert "openbook_test (16 rows)" in summary and "headline metric: Normalized accuracy" in summary
    card = (out / "README.md").read_text()
    assert "The headline metric is **Normalized accuracy**" in card and "## openbook_test (16 rows)" in card
    assert "their normalized accuracy is their accuracy" in card


def test_questions_with_fewer_options_from_the_cli(tiny_lm, loaded, tmp_path):
    rows = question_rows(8, seed=3)
    for row in rows[::2]:  # every other question has three options, its answer among them
        row["options"], row["answer"] = row["options"][:3], "ABC"[random.Random(row["id"]).randrange(3)]
    out = tmp_path / "eval"
    assert main(["evaluate", "--task", "multiple_choice", "--model", tiny_lm, "--data",
                 write_jsonl(tmp_path / "mixed.jsonl", rows), "--output", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())

    model, tokenizer = loaded
    loglik = causal_lm.score_options(model, tokenizer, [r["question"] for r in rows], [r["options"] for r in rows],
                               **choice_likelihood.PROMPT)
    assert np.isinf(loglik[::2, 3]).all() and np.isfinite(loglik[1::2]).all()
    gold = np.array(["ABCD".index(r["answer"]) for r in rows])
    chars = np.array([[len(o) for o in r["options"]] + [1] * (4 - len(r["options"])) for r in rows])
    metrics = only_split(report)["metrics"]
    assert metrics["accuracy"] == pytest.approx(np.mean(loglik.argmax(-1) == gold))
    assert metrics["accuracy_norm"] == pytest.approx(np.mean((loglik / chars).argmax(-1) == gold))
    chance = next(iter(report["zero_shot"]["chance"].values()))
    assert chance["accuracy"] == pytest.approx(round((1 / 3 + 1 / 4) / 2, 6))


def test_a_lora_adapter_folder_is_scored_merged_into_its_base(tiny_lm, loaded, tmp_path):
    """A LoRA adapter as peft saves it (adapter_config.json naming the base, no config.json, no tokenizer)."""
    from peft import LoraConfig, get_peft_model

    base, tokenizer = loaded
    torch.manual_seed(1)
    tuned = get_peft_model(copy.deepcopy(base), LoraConfig(r=4, target_modules=["q_proj", "v_proj", "o_proj"],
                                                            init_lora_weights=False))  # random B: a changed model
    tuned.save_pretrained(tmp_path / "adapter")
    assert not (tmp_path / "adapter" / "config.json").exists()
    rows = question_rows(6, seed=5)
    out = tmp_path / "eval"
    assert main(["evaluate", "--task", "multiple_choice", "--model", str(tmp_path / "adapter"), "--data",
                 write_jsonl(tmp_path / "q.jsonl", rows), "--output", str(out)]) == 0

    predictions = pd.read_csv(next((out / "predictions").glob("*.csv")))
    scored = predictions[[f"loglik_{x}" for x in "ABCD"]].to_numpy()
    questions, options = [r["question"] for r in rows], [r["options"] for r in rows]
    merged = causal_lm.score_options(tuned.merge_and_unload().eval(), tokenizer, questions, options, **choice_likelihood.PROMPT)
    np.testing.assert_allclose(scored, merged, atol=1e-4)
    untouched = causal_lm.score_options(base, tokenizer, questions, options, **choice_likelihood.PROMPT)
    assert np.abs(scored - untouched).max() > 1e-2  # the adapter, not the bare base, was scored
    report = json.loads((out / "metrics.json").read_text())["zero_shot"]
    assert report["training"] == "none here (a PEFT adapter trained elsewhere, merged into its base)"
    assert report["base_model"] == tiny_lm and "**No training here.**" in (out / "README.md").read_text()


# ---- llm_classification ------------------------------------------------------------------------

def test_llm_classification_zero_shot_scores_label_words_with_the_given_prompt(tiny_lm, loaded, tmp_path):
    rows = make_rows(12, seed=5)
    data = write_jsonl(tmp_path / "texts.jsonl", rows)
    out = tmp_path / "eval"
    system = "answer with one of these labels: {labels}"
    assert main(["evaluate", "--task", "llm_classification", "--model", tiny_lm, "--data", data,
                 "--llm.system_prompt", system, "--output", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    metrics = only_split(report)["metrics"]

    model, tokenizer = loaded
    task = llm.LlmClassification(llm=LlmConfig(system_prompt=system))
    fmt = task.prompt_format(tokenizer, ["negative", "positive"])
    prompts = [fmt.prompt(tokenizer(r["text"], add_special_tokens=False)["input_ids"])[len(fmt.prefix):] for r in rows]
    scores = causal_lm.score_candidates(model, prompts, fmt.answers, fmt.prefix, pad_id=prompting.pad_id(tokenizer))
    gold = np.array([["negative", "positive"].index(r["label"]) for r in rows])
    assert metrics["accuracy"] == pytest.approx(np.mean(scores.argmax(-1) == gold))
    predictions = pd.read_csv(next((out / "predictions").glob("*.csv")))
    assert predictions["prediction"].tolist() == [["negative", "positive"][i] for i in scores.argmax(-1)]

    assert report["zero_shot"]["prompt"]["system_prompt"] == system
    assert report["zero_shot"]["prompt"]["label_words"] == {"negative": "negative", "positive": "positive"}
    card = (out / "README.md").read_text()
    assert "**Zero-shot: no training.**" in card
    assert "System prompt: `answer with one of these labels: negative, positive`" in card
    assert "accuracy 0.5000" in card


# ---- errors ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_elsewhere(tiny_lm, tmp_path_factory):
    """The tiny LM's folder as a tunecard llm_classification model folder says it is (no training needed)."""
    import shutil

    folder = tmp_path_factory.mktemp("trained") / "model"
    shutil.copytree(tiny_lm, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "tunecard_task": "llm_classification"}))
    return str(folder)


ERRORS = {
    "classification": (
        ["--task", "classification"],
        "--task classification: expected a task that scores a model zero-shot (multiple_choice, llm_classification); "
        "found classification, whose models need training ('{lm}' is not a tunecard run). Fix: train it first "
        "(tunecard train --task classification --model {lm}) and evaluate the run"),
    "no task": (
        [],
        "--model {lm}: expected a tunecard run directory or model folder (or --task, to score another model "
        "zero-shot); found a model folder tunecard did not train. Fix: pass --task multiple_choice or --task "
        "llm_classification to score it zero-shot, or train it first"),
    "llm option with multiple choice": (
        ["--task", "multiple_choice", "--llm.template", "question: {text}"],
        "--llm.template: expected an option of this task; found --llm.template question: {text}, which the "
        "multiple_choice task does not take. Fix: drop --llm.template"),
    "k with llm_classification": (
        ["--task", "llm_classification", "--k", "2"],
        "--k: expected an option of this task; found --k 2, which the llm_classification task does not take. "
        "Fix: drop --k"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_zero_shot_errors_are_one_line_and_write_nothing(case, tiny_lm, tmp_path, capsys):
    flags, message = ERRORS[case]
    data = write_jsonl(tmp_path / "questions.jsonl", question_rows(4))
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", tiny_lm, "--data", data, "--output", str(out), *flags]) == 2
    assert capsys.readouterr().err.strip() == "tunecard: error: " + message.replace("{lm}", tiny_lm)
    assert not out.exists() and not out.with_name("eval.partial").exists()


def test_an_encoder_cannot_score_options_zero_shot(tiny_model, tmp_path, capsys):
    data = write_jsonl(tmp_path / "questions.jsonl", question_rows(4))
    out = tmp_path / "eval"
    assert main(["evaluate", "--task", "multiple_choice", "--model", tiny_model, "--data", data,
                 "--output", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"tunecard: error: model '{tiny_model}': expected a causal language model (config.json architectures ending "
        "in ForCausalLM or LMHeadModel); found BertModel. Fix: pass a causal LM (e.g. smollm2-135m) to score zero-shot")
    assert not out.exists()


def test_a_run_of_another_task_is_not_rescored_zero_shot(trained_elsewhere, tmp_path, capsys):
    data = write_jsonl(tmp_path / "questions.jsonl", question_rows(4))
    out = tmp_path / "eval"
    assert main(["evaluate", "--task", "multiple_choice", "--model", trained_elsewhere, "--data", data,
                 "--output", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        "tunecard: error: --task multiple_choice: expected the task the model was trained for (llm_classification); "
        f"found a tunecard llm_classification run at {trained_elsewhere}. Fix: drop --task to evaluate it as "
        "llm_classification, or pass a base model to score it zero-shot")
    assert not out.exists()


def test_prompt_options_are_refused_for_a_trained_run(trained_elsewhere, tmp_path, capsys):
    data = write_jsonl(tmp_path / "texts.jsonl", make_rows(4))
    assert main(["evaluate", "--model", trained_elsewhere, "--data", data, "--llm.chat_template", "false"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tunecard: error: --llm.chat_template: expected prompt options only with --task and a model tunecard did "
        f"not train; found the tunecard run {trained_elsewhere}, which keeps the prompt it was trained with. "
        "Fix: drop --llm.chat_template")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the embedded model is checked on CPU")
def test_the_embedded_alias_needs_task(tmp_path, capsys):
    data = write_jsonl(tmp_path / "questions.jsonl", question_rows(4))
    assert main(["evaluate", "--model", "smollm2-135m", "--data", data]) == 2
    assert capsys.readouterr().err.strip().startswith(
        "tunecard: error: --model smollm2-135m: expected a tunecard run directory or model folder (or --task, to "
        "score another model zero-shot); found an embedded base model.")
