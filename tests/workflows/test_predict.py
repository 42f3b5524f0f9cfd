"""`tunecard predict`: scoring a file keeps its order and ids, adds top-k, streams in chunks to the same rows
(CSV, JSONL, Parquet), and refuses an unknown output format. The run is the session's tiny classification run."""

from __future__ import annotations

import pandas as pd
import pytest

import tunecard
from conftest import make_rows, write_jsonl
from tunecard.cli import main


@pytest.fixture
def run(tiny_runs):
    return tiny_runs("classification")


@pytest.fixture
def texts_file(tmp_path):
    rows = [{"id": f"r{i}", "text": r["text"]} for i, r in enumerate(make_rows(50, seed=11))]
    return write_jsonl(tmp_path / "new.jsonl", rows), rows


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
