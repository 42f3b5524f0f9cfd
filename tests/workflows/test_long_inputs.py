"""model.long_inputs: texts whose label cue sits after the first window score at chance when truncated and are
learned when read whole as windows (auto decides so from the training texts); the card and metrics.json say how
the texts were read; a chunked model gives the same labels and probabilities on every path that scores it."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

import tunecard
from conftest import FILLER, NEGATIVE, POSITIVE, write_jsonl
from tunecard.runs.saved import open_saved

WINDOW = 24
STRIDE = 4


def late_cue_rows(n: int, seed: int) -> list[dict]:
    """About 30 filler words, then the one word that decides the label: past the first window of 24 tokens."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = ("negative", "positive")[i % 2]
        words = [rng.choice(FILLER) for _ in range(rng.randint(26, 30))]
        words.append(rng.choice(POSITIVE if label == "positive" else NEGATIVE))
        words += [rng.choice(FILLER) for _ in range(rng.randint(0, 3))]
        rows.append({"text": " ".join(words), "label": label})
    return rows


@pytest.fixture(scope="module")
def late_cue_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("late-cue")
    for split, n, seed in (("train", 240, 1), ("validation", 60, 2), ("test", 60, 3)):
        write_jsonl(folder / f"{split}.jsonl", late_cue_rows(n, seed))
    return folder


def config(data, model, output, long_inputs: str) -> dict:
    return {"data": {"path": str(data)}, "output": str(output),
            "model": {"name": model, "max_length": WINDOW, "stride": STRIDE, "long_inputs": long_inputs},
            "train": {"epochs": 4, "learning_rate": 1e-2, "batch_size": 16, "temperature_scaling": False}}


@pytest.fixture(scope="module")
def chunked(tmp_path_factory, _tiny_model_master, late_cue_data):
    """`auto` on texts all longer than the window: read as windows."""
    return tunecard.train(config(late_cue_data, _tiny_model_master, tmp_path_factory.mktemp("chunked") / "run",
                                 "auto"))


def test_a_cue_after_the_first_window_is_chance_when_cut_and_learned_when_read_whole(tmp_path, _tiny_model_master,
                                                                                      late_cue_data, chunked):
    cut = tunecard.train(config(late_cue_data, _tiny_model_master, tmp_path / "cut", "truncate"))
    assert cut.metrics["splits"]["test"]["metrics"]["accuracy"] <= 0.65  # the cue is never seen: chance
    assert chunked.metrics["splits"]["test"]["metrics"]["accuracy"] >= 0.95
    truncation = next(f for f in cut.findings if f.id == "truncation" and f.split == "train")
    assert truncation.severity == "warning" and "--model.long_inputs chunk" in truncation.advice


def test_the_card_and_metrics_say_how_long_texts_were_read(chunked):
    long_inputs = chunked.metrics["long_inputs"]
    assert (long_inputs["strategy"], long_inputs["stride"], long_inputs["pooling"]) == ("chunk", STRIDE, "mean")
    train = long_inputs["splits"]["train"]
    assert train["documents"] == 240 and train["share_longer_than_one_window"] == 1.0
    assert train["windows_per_document_median"] >= 2
    card = chunked.card_path.read_text(encoding="utf-8")
    assert f"chunk: windows of {WINDOW} tokens sharing {STRIDE}" in card and "100.0% of the texts span more" in card
    assert any(f.id == "long_inputs.windows" for f in chunked.findings)
    settings = open_saved(chunked.output).settings
    assert settings.long_inputs == {"strategy": "chunk", "stride": STRIDE, "pooling": "mean"}


def test_every_path_gives_the_same_probabilities_for_a_chunked_model(chunked, tmp_path):
    from fastapi.testclient import TestClient

    from tunecard.config import ServeConfig
    from tunecard.workflows.serve.app import create_app
    from tunecard.workflows.serve.engine import ServedModel

    rows = [{"id": f"r{i:03d}", "text": r["text"]} for i, r in enumerate(late_cue_rows(200, seed=7))]
    texts = [r["text"] for r in rows]
    loaded = tunecard.load(chunked.output).predict_proba(texts)
    assert loaded.shape == (200, 2) and np.ptp(loaded[:, 1]) > 0.01 and len(set(loaded.argmax(-1))) == 2

    data = write_jsonl(tmp_path / "long.jsonl", rows)
    predicted = pd.read_csv(tunecard.predict(str(chunked.output), data, str(tmp_path / "pred.csv")))
    np.testing.assert_allclose(predicted[["prob_negative", "prob_positive"]].to_numpy(), loaded, atol=1e-4)

    served = ServedModel(str(chunked.output))
    with TestClient(create_app(served, ServeConfig(model=served.path))) as client:
        answers = client.post("/predict", json={"inputs": texts[:32], "truncate": False})
        assert answers.status_code == 200 and "X-Truncated-Inputs" not in answers.headers  # read whole, not cut
        scores = np.array([[{e["label"]: e["score"] for e in answer}[name] for name in ("negative", "positive")]
                           for answer in answers.json()])
    np.testing.assert_allclose(scores, loaded[:32], atol=1e-4)

    tunecard.export(str(chunked.output), output=str(tmp_path / "onnx"))
    onnx = tunecard.load(tmp_path / "onnx", backend="onnx").predict_proba(texts)
    np.testing.assert_allclose(onnx, loaded, atol=1e-4)


def test_a_task_that_cannot_read_windows_refuses_chunk(tmp_path, _tiny_model_master, capsys):
    from tunecard.cli import main

    pairs = [{"chosen": "a good answer", "rejected": "a bad one"}] * 20
    data = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    assert main(["train", "--task", "preference", "--data", data, "--model", _tiny_model_master,
                 "--output", str(tmp_path / "run"), "--model.long_inputs", "chunk"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tunecard: error: --model.long_inputs chunk: expected a task whose inputs are single texts or text pairs "
        "(classification, multi_label); found the preference task. Fix: drop --model.long_inputs (or set it to "
        "truncate)")
    assert not (tmp_path / "run").exists()
