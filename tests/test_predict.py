"""Scoring new text: tunecard.load and tunecard predict (order, batch sizes, chunks, formats)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tunecard
from conftest import make_rows, tiny_config, write_jsonl
from tunecard.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory, _tiny_model_master):
    folder = tmp_path_factory.mktemp("predict")
    write_jsonl(folder / "data" / "train.jsonl", make_rows(240, seed=1))
    return tunecard.train(tiny_config(folder / "data", _tiny_model_master, folder / "run"))


@pytest.fixture
def texts_file(tmp_path):
    rows = [{"id": f"r{i}", "text": r["text"]} for i, r in enumerate(make_rows(50, seed=11))]
    return write_jsonl(tmp_path / "new.jsonl", rows), rows


def test_load_predicts_real_labels_with_probabilities(run):
    classifier = tunecard.load(run.output)
    probs = classifier.predict_proba(["what a wonderful lovely film", "awful and dreadful"])
    assert np.allclose(probs.sum(axis=1), 1)
    assert classifier.predict(["what a wonderful lovely film", "awful and dreadful"]) == ["positive", "negative"]
    assert classifier.temperature == run.metrics["temperature"]


def test_outputs_are_identical_across_batch_sizes_and_in_input_order(run):
    texts = [r["text"] for r in make_rows(40, seed=12)]
    one = tunecard.load(run.output, batch_size=1).predict_logits(texts)
    many = tunecard.load(run.output, batch_size=64).predict_logits(texts)
    assert np.allclose(one, many, atol=1e-5)
    from transformers import pipeline

    reference = pipeline("text-classification", model=str(run.model_path))(texts)
    assert tunecard.load(run.output).predict(texts) == [p["label"] for p in reference]


def test_predict_file_keeps_order_ids_and_top_k(run, texts_file, tmp_path, capsys):
    path, rows = texts_file
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(run.output), "--data", path, "--output", str(out), "--top_k", "2"]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["id", "prediction", "prob_negative", "prob_positive", "top_k"]
    assert frame["id"].tolist() == [r["id"] for r in rows]
    assert frame["prediction"].tolist() == tunecard.load(run.output).predict([r["text"] for r in rows])
    assert (frame["top_k"].str.split().str[0] == frame["prediction"]).all()


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_chunked_streaming_matches_one_chunk(run, texts_file, tmp_path, suffix):
    path, _ = texts_file
    whole = tunecard.predict(str(run.output), path, str(tmp_path / f"whole{suffix}"))
    chunked = tunecard.predict(str(run.output), path, str(tmp_path / f"chunked{suffix}"), chunk_size=7)
    read = pd.read_json if suffix == ".jsonl" else pd.read_parquet
    kwargs = {"lines": True} if suffix == ".jsonl" else {}
    pd.testing.assert_frame_equal(read(whole, **kwargs), read(chunked, **kwargs))
    assert len(read(chunked, **kwargs)) == 50 and not (tmp_path / f"chunked{suffix}.partial").exists()


def test_predict_rejects_an_unknown_output_format(run, texts_file, tmp_path, capsys):
    path, _ = texts_file
    assert main(["predict", "--model", str(run.output), "--data", path, "--output", str(tmp_path / "p.xlsx")]) == 2
    assert capsys.readouterr().err.strip() == (
        "tunecard: error: --output: expected a .csv, .jsonl, .parquet file; found '.xlsx'. "
        "Fix: name the output file with one of those extensions")
