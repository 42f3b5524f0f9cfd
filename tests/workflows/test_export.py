"""`tunecard export` and the ONNX back end: export (fp32 and int8), predict with onnxruntime, and its errors; the int8
quality gate: a sturdy model passes and its folder's card has the gate's table, a model that int8 breaks is refused
(nothing written) unless accepted with --max_drop 1, a model folder without its run needs rows to gate on, and
`tunecard serve` states the gate of the int8 model it serves."""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import pandas as pd
import pytest
from conftest import make_rows, write_jsonl
from huggingface_hub import ModelCard
from processes import launch

import tunecard
from tunecard.cli import main
from tunecard.config import ServeConfig

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
    assert {"model.onnx", "model_int8.onnx", "config.json", "tokenizer.json", "README.md", "gate.json"} <= names
    assert (folder / "model_int8.onnx").stat().st_size < (folder / "model.onnx").stat().st_size


def test_a_sturdy_model_passes_the_int8_gate_and_its_card_has_the_table(exported):
    folder = exported.output / "model" / "onnx"
    gate = json.loads((folder / "gate.json").read_text())
    assert gate["passed"] and gate["enforced"] and gate["failed"] == [] and gate["collapse"] == []
    assert gate["rows"] == 60 and gate["data"] == f"the validation split of {exported.output}"
    assert list(gate["metrics"]) == ["accuracy", "f1"] and gate["headline"] == "f1"
    # the validation metrics the run reported are the fp32 export's
    reported = exported.metrics["splits"]["validation"]["metrics"]
    assert gate["metrics"]["f1"]["fp32"] == pytest.approx(reported["f1"], abs=1e-6)
    low, high = gate["interval"]
    assert low <= gate["difference"] <= high and gate["agreement"] >= 0.95
    assert sorted(gate["recall"]) == ["negative", "positive"]
    card = ModelCard.load(folder / "README.md")
    model_card = ModelCard.load(exported.output / "model" / "README.md")
    assert card.data.to_dict() == model_card.data.to_dict()  # the model's metadata (model-index) kept
    values = gate["metrics"]["f1"]
    assert "### int8 quality gate" in card.text and "Verdict: **passed**." in card.text
    assert (f"| F1 | {values['fp32']:.4f} | {values['int8']:.4f} | {values['int8'] - values['fp32']:+.4f} "
            f"(95% interval {low:+.4f} to {high:+.4f}) |") in card.text


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


# ---- the int8 gate ------------------------------------------------------------------------------------------

def plant_outliers(folder, size: float = 100.0) -> None:
    """Break int8, not fp32: make the pooler's outputs 0 and 1 one (the same weights), and give every row of the
    classifier a pair of opposite weights of `size` on them. In fp32 the pair cancels exactly, so the model answers
    as before; int8's per-channel scale of each classifier row is set by the pair, and every other weight of the row
    rounds to zero: the int8 model answers the same label for every text (optimum #151's collapse, planted)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        pooler = model.bert.pooler.dense
        pooler.weight[1], pooler.bias[1] = pooler.weight[0], pooler.bias[0]
        model.classifier.weight[:, 0] += size
        model.classifier.weight[:, 1] -= size
    model.save_pretrained(folder)


REFUSED = (
    "tunecard: error: --quantize int8: expected an int8 model whose F1 is within 0.01 of fp32's (--max_drop) and "
    "that no collapse check flags, on 60 rows of the validation split of {run}; found fp32 1.0000, int8 0.6667 "
    "(int8 - fp32 -0.3333, 95% interval -0.4634 to -0.2371; labels agree on 50.0%): F1 fell by 0.3333, more than "
    "--max_drop 0.01; collapse.one_class: the model predicts 'positive' for 100.0% of validation inputs; "
    "collapse.no_better_than_majority: macro F1 0.3333 on validation is no measurable lead over always predicting "
    "the majority class (0.3333): the 95% interval of the lead, -0.1195 to +0.1043, reaches 0; "
    "collapse.class_never_recalled: 1 of 2 classes never predicted correctly on validation: negative. Fix: export "
    "without --quantize (the fp32 model), or accept this int8 model with --max_drop 1 (its card then states the "
    "failed gate)")


def test_a_model_that_int8_breaks_is_refused_and_nothing_is_written(tiny_runs, tmp_path, capsys):
    run = tiny_runs.copy("classification", tmp_path)
    texts = [r["text"] for r in make_rows(40, seed=13)]
    before = tunecard.load(run.output).predict(texts)
    plant_outliers(run.model_path)
    assert tunecard.load(run.output).predict(texts) == before  # fp32 answers as before
    capsys.readouterr()
    assert main(["export", "--model", str(run.output), "--quantize", "int8"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == REFUSED.format(run=run.output)
    assert not (run.model_path / "onnx").exists() and not (run.model_path / "onnx.partial").exists()

    # Accepted on request: written, and its card and gate.json say that it failed and how it was let through.
    assert main(["export", "--model", str(run.output), "--quantize", "int8", "--max_drop", "1"]) == 0
    folder = run.model_path / "onnx"
    gate = json.loads((folder / "gate.json").read_text())
    assert not gate["passed"] and not gate["enforced"] and gate["agreement"] == 0.5
    assert [f.split(":")[0] for f in gate["failed"]] == ["collapse.one_class", "collapse.no_better_than_majority",
                                                        "collapse.class_never_recalled"]
    assert "Verdict: **failed: collapse.one_class: the model predicts 'positive' for 100.0% of validation " \
           "inputs" in ModelCard.load(folder / "README.md").text
    assert "(accepted with --max_drop 1)." in ModelCard.load(folder / "README.md").text
    line = (f"int8 gate failed, accepted with --max_drop 1 on 60 rows of the validation split of {run.output}: F1 "
            "fp32 1.0000, int8 0.6667 (int8 - fp32 -0.3333, 95% interval -0.4634 to -0.2371); labels agree on 50.0%")
    assert capsys.readouterr().out.strip().splitlines()[-1] == line

    # `tunecard serve` states the gate: on its first lines and in /info.
    from tunecard.workflows.serve.engine import ServedModel

    served = ServedModel(str(folder), "onnx")
    assert served.int8_gate["line"] == line and not served.int8_gate["passed"]
    assert served.info(ServeConfig())["int8_gate"]["line"] == line
    assert f"tunecard serve: {line}" in serve_startup(folder)


def serve_startup(folder, timeout: float = 120) -> str:
    """What `tunecard serve --backend onnx` prints before it answers (it is stopped once it says where it listens)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TQDM_DISABLE="1")
    server = launch([sys.executable, "-m", "tunecard", "serve", "--model", str(folder), "--backend", "onnx",
                     "--port", "0"], env)
    deadline = time.monotonic() + timeout
    try:
        while "int8 gate" not in server.stderr() and server.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        return server.stderr()
    finally:
        server.stop()


def test_int8_from_a_model_folder_needs_rows_to_gate_on(tiny_runs, tmp_path, capsys):
    run = tiny_runs("classification")
    model = run.output / "model"
    assert main(["export", "--model", str(model), "--quantize", "int8", "--output", str(tmp_path / "a")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"tunecard: error: --quantize int8: expected labelled rows to gate the int8 model on: the validation split of "
        f"the model's run directory, or --gate_data; found the model folder {model}, without its run directory. Fix: "
        "export the run directory (the folder with config.yaml), add --gate_data a labelled file, or export int8 "
        "ungated with --max_drop 1")
    assert not (tmp_path / "a").exists() and not (tmp_path / "a.partial").exists()

    rows = str(run.output.parent / "data" / "test.jsonl")
    assert main(["export", "--model", str(model), "--quantize", "int8", "--gate_data", rows,
                 "--output", str(tmp_path / "b")]) == 0
    gate = json.loads((tmp_path / "b" / "gate.json").read_text())
    assert gate["passed"] and gate["data"] == rows and gate["rows"] == 60
    assert gate["metrics"]["f1"]["fp32"] == pytest.approx(run.metrics["splits"]["test"]["metrics"]["f1"], abs=1e-6)

    assert main(["export", "--model", str(model), "--quantize", "int8", "--max_drop", "1",
                 "--output", str(tmp_path / "c")]) == 0
    assert "int8 not gated: no labelled rows to judge it on (a model folder without its run directory), exported " \
           "with --max_drop 1" in ModelCard.load(tmp_path / "c" / "README.md").text
