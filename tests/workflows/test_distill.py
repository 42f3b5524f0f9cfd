"""`tunecard distill`: a student follows a planted teacher rather than contrary gold labels; the card and
metrics.json set teacher and student side by side; the teacher's soft labels are cached in the run and a killed
distillation resumes from them to the same student; every student kind (an encoder, a static one; from a
classification, multi-label or LLM teacher; with unlabelled texts) loads, predicts and serves like any run."""

from __future__ import annotations

import json
import random
import signal

import numpy as np
import pandas as pd
import pytest
import yaml
from huggingface_hub import ModelCard

import tunecard
from conftest import LABEL_NAMES, assert_cli_error, make_rows, write_jsonl, write_label_sets, write_sentiment
from makers import build_word_bert
from processes import finish, run_until_step, tunecard_process

STEPS = 60  # 240 rows / batch 16 = 15 steps per epoch, 4 epochs


def student_config(data, model, output, teacher, **distill) -> dict:
    return {"data": {"path": str(data)}, "model": {"name": model, "max_length": 32}, "output": str(output),
            "train": {"epochs": 4, "learning_rate": 1e-2, "batch_size": 16, "save_steps": 7},
            "distill": {"teacher": str(teacher), **distill}}


def flipped_gold(folder):
    """The sentiment data with every training label flipped: gold says the opposite of the cue word (and of
    the teacher); validation and test keep the true labels."""
    data = write_sentiment(folder)
    rows = [json.loads(line) for line in (data / "train.jsonl").read_text().splitlines()]
    flip = {"positive": "negative", "negative": "positive"}
    write_jsonl(data / "train.jsonl", [{**row, "label": flip[row["label"]]} for row in rows])
    return data


@pytest.fixture(scope="module")
def planted(tmp_path_factory, tiny_runs):
    """A student distilled with alpha 1 (the teacher's term alone) on flipped gold labels, through the CLI: it
    can only learn the cue words from the teacher."""
    folder = tmp_path_factory.mktemp("distill")
    teacher = tiny_runs("classification").output
    config = student_config(flipped_gold(folder / "data"), tiny_runs.bert, folder / "student", teacher, alpha=1.0)
    path = folder / "student.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = finish(tunecard_process("distill", "--config", str(path)))
    assert result.returncode == 0, result.stderr[-2000:]
    return folder / "student", path, teacher


def test_the_student_follows_the_teacher_not_contrary_gold(planted):
    student, _, _ = planted
    metrics = json.loads((student / "metrics.json").read_text())
    test = metrics["distillation"]["splits"]["test"]
    assert metrics["splits"]["test"]["metrics"]["accuracy"] >= 0.9  # the teacher's rule, not the flipped gold
    assert test["agreement"] >= 0.9 and test["teacher"]["accuracy"] >= 0.95
    low, high = test["interval"]
    assert low <= test["difference"] <= high


def test_the_card_sets_teacher_and_student_side_by_side(planted):
    student, _, teacher = planted
    metrics = json.loads((student / "metrics.json").read_text())["distillation"]
    assert (metrics["teacher"], metrics["alpha"], metrics["temperature"]) == (str(teacher), 1.0, 2.0)
    assert metrics["parameters"]["student"] == metrics["parameters"]["teacher"] > 0  # the same tiny BERT
    speed = metrics["speed"]
    assert speed["student_texts_per_second"] > 0 and speed["teacher_texts_per_second"] > 0 and speed["texts"] == 60
    card = ModelCard.load(student / "README.md")
    assert card.data.base_model == "tiny-bert"
    assert "## Distillation" in card.text and f"`{teacher}` (tiny-bert)" in card.text
    assert f"The student scores **{speed['ratio']}x** the teacher's texts per second" in card.text
    assert yaml.safe_load((student / "config.yaml").read_text())["distill"]["teacher"] == str(teacher)
    assert {p.name for p in (student / "teacher").iterdir()} == {"train.npy", "validation.npy", "test.npy"}


def test_a_killed_distillation_resumes_from_its_cached_soft_labels_to_the_same_student(planted, tmp_path):
    student, config_path, _ = planted
    config = yaml.safe_load(config_path.read_text())
    config["output"] = str(tmp_path / "killed")
    path = tmp_path / "killed.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    step = random.Random().randint(9, STEPS - 5)  # after the first checkpoint (step 7)
    run_until_step(tunecard_process("distill", "--config", str(path)), step, STEPS,
                   lambda p: p.send_signal(signal.SIGKILL))
    partial = tmp_path / "killed.partial"
    cached = {p.name: p.stat().st_mtime_ns for p in (partial / "teacher").glob("*.npy")}
    assert set(cached) == {"train.npy", "validation.npy", "test.npy"}, f"killed at step {step}"

    resumed = finish(tunecard_process("distill", "--config", str(path), "--resume"))

    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Teacher scoring" not in resumed.stderr, "the soft labels are read from the cache, not scored again"
    output = tmp_path / "killed"
    assert {p.name: p.stat().st_mtime_ns for p in (output / "teacher").glob("*.npy")} == cached
    assert (output / "model" / "model.safetensors").read_bytes() == \
        (student / "model" / "model.safetensors").read_bytes(), f"killed at step {step}"


def scores_on_every_path(run, texts, tmp_path, names) -> np.ndarray:
    """The run's probabilities from tunecard.load; predict and serve are asserted to give the same."""
    from fastapi.testclient import TestClient

    from tunecard.config import ServeConfig
    from tunecard.workflows.serve.app import create_app
    from tunecard.workflows.serve.engine import ServedModel

    loaded = tunecard.load(run).predict_proba(texts)
    rows = [{"id": f"r{i:02d}", "text": text} for i, text in enumerate(texts)]
    predicted = pd.read_csv(tunecard.predict(str(run), write_jsonl(tmp_path / "in.jsonl", rows),
                                             str(tmp_path / "pred.csv")))
    np.testing.assert_allclose(predicted[[f"prob_{n}" for n in names]].to_numpy(), loaded, atol=1e-4)
    served = ServedModel(str(run))
    with TestClient(create_app(served, ServeConfig(model=served.path))) as client:
        answers = client.post("/predict", json={"inputs": texts})
        assert answers.status_code == 200, answers.text
        scores = [[{e["label"]: e["score"] for e in answer}[n] for n in names] for answer in answers.json()]
    np.testing.assert_allclose(scores, loaded, atol=1e-4)
    return loaded


def test_a_static_student_with_unlabelled_texts_predicts_without_a_transformer(tiny_runs, tmp_path, monkeypatch):
    """Model2Vec's static embeddings of a word-level BERT, a linear head trained on 40 gold rows and 200
    texts only the teacher labelled."""
    monkeypatch.setenv("TUNECARD_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    write_jsonl(data / "train.jsonl", make_rows(40, seed=11))
    write_jsonl(data / "validation.jsonl", make_rows(60, seed=2))
    write_jsonl(data / "test.jsonl", make_rows(60, seed=3))
    unlabeled = write_jsonl(tmp_path / "unlabeled.jsonl", [{"text": r["text"]} for r in make_rows(200, seed=12)])
    config = student_config(data, build_word_bert(tmp_path / "word-bert"), tmp_path / "static",
                            tiny_runs("classification").output, student="static", static_dims=8)
    config["data"]["unlabeled"] = [unlabeled]
    config["train"].pop("learning_rate")  # the static student's own default

    result = tunecard.distill(config)

    distillation = result.metrics["distillation"]
    assert distillation["student"] == "static" and distillation["trained_on"] == {"train": 40, "unlabeled": 200}
    assert result.metrics["splits"]["test"]["metrics"]["accuracy"] >= 0.9
    assert json.loads((result.model_path / "config.json").read_text())["model_type"] == "tunecard-static"
    assert not any("layer" in key for key in _weight_names(result.model_path))  # embeddings and a head alone
    texts = ["a wonderful lovely film", "dreadful boring plot", "the music was superb", "awful acting"]
    probs = scores_on_every_path(result.output, texts, tmp_path, ["negative", "positive"])
    assert list(probs.argmax(-1)) == [1, 0, 1, 0]
    assert "static student" in result.card_path.read_text()


def _weight_names(folder) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "np") as weights:
        return list(weights.keys())


def test_a_multi_label_teacher_teaches_label_sets(tiny_runs, tmp_path):
    teacher = tiny_runs("multi_label")
    result = tunecard.distill(student_config(write_label_sets(tmp_path / "data"), tiny_runs.bert,
                                             tmp_path / "student", teacher.output, temperature=1.0))
    assert result.metrics["task"] == "multi_label"
    side, test = result.metrics["distillation"]["splits"]["test"], result.metrics["splits"]["test"]
    # the tiny teacher itself reaches f1_micro about 0.8: the student learns label sets, well above chance, and
    # the card's paired interval of its difference from the teacher holds the measured difference
    assert side["student"]["f1_micro"] > test["baselines"]["stratified"]["f1_micro"] + 0.1
    low, high = side["interval"]
    assert low <= side["difference"] <= high and side["agreement"] > 0
    probs = scores_on_every_path(result.output, ["happy glad day", "so angry and scared"], tmp_path, LABEL_NAMES)
    assert probs.shape == (2, len(LABEL_NAMES))


def test_an_llm_teacher_teaches_an_encoder(tiny_runs, tmp_path):
    teacher = tiny_runs("llm_lora")
    result = tunecard.distill(student_config(write_sentiment(tmp_path / "data"), tiny_runs.bert,
                                             tmp_path / "student", teacher.output))
    assert result.metrics["task"] == "classification"
    assert result.metrics["distillation"]["splits"]["test"]["agreement"] >= 0.8
    assert json.loads((result.model_path / "config.json").read_text())["model_type"] == "bert"


def test_distill_refusals(tiny_runs, tmp_path, capsys):
    assert_cli_error(capsys, ["distill", "--output", str(tmp_path / "s")],
                     "--teacher: expected a trained run to learn from; found none. "
                     "Fix: pass --teacher runs/NAME")
    preference = tiny_runs("preference").output
    assert_cli_error(capsys, ["distill", "--teacher", str(preference), "--output", str(tmp_path / "s")],
                     f"--teacher {preference}: expected a run of a task whose outputs are label "
                     "probabilities (classification, llm_classification, multi_label); found a preference run. "
                     "Fix: distil a run of classification, llm_classification, multi_label", tmp_path / "s")
    data = write_sentiment(tmp_path / "data")
    assert_cli_error(capsys, ["train", "--data", str(data), "--model", tiny_runs.bert, "--output",
                              str(tmp_path / "t"), "--distill.teacher", str(preference)],
                     f"--distill.teacher: expected no teacher for `tunecard train`; found "
                     f"'{preference}'. Fix: distil with tunecard distill, or drop distill.teacher", tmp_path / "t")
    rows = make_rows(60, seed=4, labels=("a", "b", "c"))
    three = write_jsonl(tmp_path / "three" / "train.jsonl", [{"text": r["text"], "label": r["label"]} for r in rows])
    teacher = tiny_runs("classification").output
    assert_cli_error(capsys, ["distill", "--teacher", str(teacher), "--data", three, "--model", tiny_runs.bert,
                              "--output", str(tmp_path / "u")],
                     f"--teacher {teacher}: expected the labels of the student's data (['a', 'b', "
                     "'c']); found ['negative', 'positive']. Fix: distil on the data the teacher was trained for",
                     tmp_path / "u")
