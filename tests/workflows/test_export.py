"""`tunecard export` and the ONNX back end: export (fp32 and int8), predict with onnxruntime, and its errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tunecard
from conftest import make_rows, write_jsonl
from tunecard.cli import main

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def exported(tiny_runs, tmp_path_factory):
    """A copy of the session's tiny classification run, exported to ONNX (fp32 and int8) in its model folder."""
    run = tiny_runs.copy("classification", tmp_path_factory.mktemp("onnx"))
    assert main(["export", "--model", str(run.output), "--format", "onnx", "--quantize", "int8"]) == 0
    return run


def test_export_writes_a_self_contained_folder(exported):
    folder = exported.output / "model" / "onnx"
    names = {p.name for p in folder.iterdir()}
    assert {"model.onnx", "model_int8.onnx", "config.json", "tokenizer.json"} <= names
    assert (folder / "model_int8.onnx").stat().st_size < (folder / "model.onnx").stat().st_size


def test_onnx_fp32_matches_torch_and_int8_keeps_the_labels(exported, tmp_path):
    import shutil

    texts = [r["text"] for r in make_rows(60, seed=12)]
    torch_logits = tunecard.load(exported.output).predict_logits(texts)
    int8 = tunecard.load(exported.output, backend="onnx")
    assert int8.runner.path.name == "model_int8.onnx"
    # Without the int8 file the back end runs the fp32 export: the same logits as torch.
    fp32_only = shutil.copytree(exported.output / "model" / "onnx", tmp_path / "fp32")
    (fp32_only / "model_int8.onnx").unlink()
    fp32 = tunecard.load(str(fp32_only), backend="onnx")
    assert np.allclose(fp32.predict_logits(texts), torch_logits, atol=1e-4)
    agree = np.mean(int8.predict_logits(texts).argmax(-1) == torch_logits.argmax(-1))
    assert agree >= 0.95
    assert int8.labels == ["negative", "positive"] and int8.temperature == exported.metrics["temperature"]


def test_predict_with_the_onnx_backend_writes_the_same_columns(exported, tmp_path):
    rows = [{"id": f"r{i}", "text": r["text"]} for i, r in enumerate(make_rows(30, seed=11))]
    data = write_jsonl(tmp_path / "new.jsonl", rows)
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(exported.output), "--data", data, "--output", str(out),
                 "--backend", "onnx", "--batch_size", "8"]) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["id", "prediction", "prob_negative", "prob_positive"]
    assert frame["id"].tolist() == [r["id"] for r in rows]
    assert np.allclose(frame[["prob_negative", "prob_positive"]].sum(axis=1), 1, atol=1e-5)


def test_onnx_backend_without_an_export_is_a_clear_error(tiny_runs, tmp_path, capsys):
    run = tiny_runs("classification")  # never exported
    data = write_jsonl(tmp_path / "new.jsonl", [{"text": "a"}])
    capsys.readouterr()
    assert main(["predict", "--model", str(run.output), "--data", data, "--output", str(tmp_path / "p.csv"),
                 "--backend", "onnx"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"tunecard: error: model {run.output}: expected an exported ONNX model (model.onnx) for --backend onnx; "
        f"found none in the model folder. Fix: run: tunecard export --model {run.output} --format onnx")
    assert main(["export", "--model", str(run.output), "--quantize", "int4"]) == 2
    assert capsys.readouterr().err.strip() == (
        "tunecard: error: --quantize: expected int8 or nothing; found 'int4'. Fix: use --quantize int8 or leave it out")
    assert not (tmp_path / "p.csv").exists()
