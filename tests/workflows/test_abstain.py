"""Abstention: a tiny run trained with `--abstain.coverage` saves its cut-off with the model, its card and
metrics.json; the same rows abstain through `tunecard.load`, `tunecard predict`, serve, the ONNX export and the Ray
Data predictor; `tunecard abstain` fits the same cut-off later from the saved predictions, without retraining; and
every refusal says exactly why. The fitting itself: tests/judging/test_abstention.py."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import tunecard
from conftest import FILLER, assert_cli_error, make_rows, run_cli, write_jsonl, write_sentiment
from tunecard.config import ServeConfig
from tunecard.runs.settings import ModelSettings

COVERAGE = 0.75
TRAIN = ["--model.max_length", "32", "--train.epochs", "3", "--train.learning_rate", "1e-2",
         "--train.batch_size", "16", "--train.temperature_scaling", "false"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def trained(tiny_runs, tmp_path_factory):
    """A tiny classifier trained with abstention. Its data is separable: a fitted temperature would push every
    probability to 0 or 1 (the cut-off could only keep all rows), so none is fitted, and 3 epochs spread them."""
    from tunecard.cli import main

    folder = tmp_path_factory.mktemp("abstain")
    data = write_sentiment(folder / "data")
    code = main(["train", "--data", str(data), "--model", tiny_runs.bert, "--output", str(folder / "run"), *TRAIN,
                 "--abstain.coverage", str(COVERAGE)])
    assert code == 0
    return folder / "run"


@pytest.fixture(scope="module")
def texts(trained):
    """The test split's texts and 40 new ones: what every path scores."""
    test = [json.loads(line)["text"] for line in (trained.parent / "data" / "test.jsonl").read_text().splitlines()]
    return test + [r["text"] for r in make_rows(40, seed=9)]


def _metrics(run) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_training_with_abstention_saves_the_cut_off_with_the_model_and_the_card(trained):
    report = _metrics(trained)["abstention"]
    threshold = report["threshold"]
    validation, test = report["splits"]["validation"], report["splits"]["test"]
    assert report["target"] == {"coverage": COVERAGE} and 0 < threshold < 1
    assert validation["coverage"] >= COVERAGE and validation["kept"] + validation["abstained"] == 60
    low, high = test["intervals"]["accuracy"]
    assert test["rows"] == 60 and low <= test["accuracy"] <= high
    saved = ModelSettings.read(trained / "model").abstention
    assert saved == {"threshold": threshold, "target_coverage": COVERAGE,
                     "validation_accuracy": validation["accuracy"], "validation_coverage": validation["coverage"],
                     "validation_accuracy_interval": validation["intervals"]["accuracy"]}
    # the saved validation predictions (calibrated) hold the rows the report counts as kept
    probs = pd.read_csv(trained / "predictions" / "validation.csv").filter(like="prob_").to_numpy()
    assert (probs.max(-1) >= threshold).sum() == validation["kept"]
    card = (trained / "README.md").read_text()
    assert card.count("## Abstention") == 1 and f"below **{threshold:.6g}**" in card
    assert "| test | 60 | " in card and "![Risk–coverage curves](plots/risk_coverage.png)" in card
    for folder in (trained, trained / "model"):
        assert (folder / "plots" / "risk_coverage.png").stat().st_size > 0
    assert "abstain:\n  target_accuracy: null\n  coverage: 0.75" in (trained / "config.yaml").read_text()


def test_the_same_rows_abstain_on_every_path(trained, texts, tmp_path):
    from tunecard.workflows.ray_data import Predictor
    from tunecard.workflows.serve.app import create_app
    from tunecard.workflows.serve.engine import ServedModel

    threshold = _metrics(trained)["abstention"]["threshold"]
    model = tunecard.load(trained)
    probs = model.predict_proba(texts)
    withheld = probs.max(-1) < threshold
    assert 0 < withheld.sum() < len(texts)  # some rows abstain, some do not: the comparison says something
    labels = model.predict(texts)
    assert [label is None for label in labels] == withheld.tolist()
    assert model.abstains(probs).tolist() == withheld.tolist()
    assert [label for label in labels if label is not None] == [model.labels[i] for i in probs.argmax(-1)[~withheld]]

    write_jsonl(tmp_path / "new.jsonl", [{"id": f"r{i}", "text": t} for i, t in enumerate(texts)])
    written = pd.read_csv(tunecard.predict(str(trained), str(tmp_path / "new.jsonl"), str(tmp_path / "p.csv")))
    assert written["abstained"].tolist() == withheld.tolist()
    assert len(written) == len(texts)  # marked, never dropped

    ray_rows = Predictor(str(trained))(pd.DataFrame({"id": written["id"], "text": texts}))
    assert ray_rows["abstained"].tolist() == withheld.tolist()

    served = ServedModel(str(trained))
    with TestClient(create_app(served, ServeConfig(model=str(trained)))) as client:
        answers = [a for start in range(0, len(texts), 32)
                   for a in client.post("/predict", json={"inputs": texts[start:start + 32]}).json()]
        assert client.get("/info").json()["abstention"]["threshold"] == threshold
    assert [answer[0]["abstained"] for answer in answers] == withheld.tolist()
    assert all("abstained" not in entry for answer in answers for entry in answer[1:])


def test_abstain_fits_the_same_cut_off_later_and_the_onnx_export_keeps_it(trained, texts, tmp_path, capsys):
    run = shutil.copytree(trained, tmp_path / "run")
    fitted = _metrics(trained)["abstention"]
    tunecard.export(str(run))  # the exported folder keeps the model's settings, abstention included
    assert ModelSettings.read(run / "model" / "onnx").abstention == ModelSettings.read(run / "model").abstention
    for folder in (run / "model", run / "model" / "onnx"):  # as if trained and exported without abstention
        ModelSettings.read(folder).updated(abstention=None).save(folder)

    code, _ = run_cli(capsys, "abstain", str(run), "--coverage", str(COVERAGE))
    assert code == 0
    report = _metrics(run)["abstention"]
    assert report["threshold"] == pytest.approx(fitted["threshold"], abs=1e-7)  # probabilities read back at 9 digits
    assert report["splits"] == fitted["splits"]
    for folder in (run / "model", run / "model" / "onnx"):
        assert ModelSettings.read(folder).abstention["threshold"] == report["threshold"]
    withheld = tunecard.load(run).predict_proba(texts).max(-1) < report["threshold"]
    onnx = tunecard.load(run / "model" / "onnx", backend="onnx")
    assert [label is None for label in onnx.predict(texts)] == withheld.tolist()

    code, _ = run_cli(capsys, "abstain", str(run), "--target_accuracy", "0.9")  # refitted: replaced everywhere
    assert code == 0
    refitted = _metrics(run)["abstention"]
    assert refitted["target"] == {"accuracy": 0.9}
    assert ModelSettings.read(run / "model" / "onnx").abstention["target_accuracy"] == 0.9
    for card in (run / "README.md", run / "model" / "README.md"):
        text = card.read_text()
        assert text.count("## Abstention") == 1 and "at least 0.9 accurate" in text
    assert "abstain:\n  target_accuracy: 0.9\n  coverage: null" in (run / "config.yaml").read_text()
    assert tunecard.load(run).abstain_below == refitted["threshold"]


def test_an_ensemble_abstains_by_its_own_cut_off_fitted_on_the_blend(trained, texts, tmp_path, capsys):
    members = [shutil.copytree(trained, tmp_path / name) for name in ("a", "b")]
    tunecard.ensemble([str(m) for m in members], output=str(tmp_path / "blend"))
    code, _ = run_cli(capsys, "abstain", str(tmp_path / "blend"), "--coverage", "0.5")
    assert code == 0
    report = _metrics(tmp_path / "blend")["abstention"]
    spec = json.loads((tmp_path / "blend" / "ensemble.json").read_text())
    assert spec["abstention"]["threshold"] == report["threshold"] and report["splits"]["validation"]["coverage"] >= 0.5
    assert report["threshold"] != _metrics(trained)["abstention"]["threshold"]  # not a member's (coverage 0.75)
    blend = tunecard.load(tmp_path / "blend")
    withheld = blend.predict_proba(texts).max(-1) < report["threshold"]
    assert 0 < withheld.sum() < len(texts)
    assert [label is None for label in blend.predict(texts)] == withheld.tolist()
    assert "## Abstention" in (tmp_path / "blend" / "README.md").read_text()


def test_a_target_no_cut_off_reaches_is_refused(trained, tmp_path, capsys):
    run = shutil.copytree(trained, tmp_path / "run")
    # the most confident validation row made wrong: no cut-off keeps only right rows
    path = run / "predictions" / "validation.csv"
    frame = pd.read_csv(path)
    top = frame.filter(like="prob_").to_numpy().max(-1).argmax()
    frame.loc[top, "gold"] = "positive" if frame.loc[top, "prediction"] == "negative" else "negative"
    frame.to_csv(path, index=False)
    accuracy = (frame["gold"] == frame["prediction"]).mean()
    before = {p: p.read_bytes() for p in (run / "metrics.json", run / "model" / "config.json", run / "README.md")}
    assert_cli_error(capsys, ["abstain", str(run), "--target_accuracy", "1"],
                     f"--target_accuracy: expected a validation accuracy some confidence cut-off reaches; found 1; "
                     f"the most accurate cut-off reaches {accuracy:.4f} (keeping 100.0% of the rows). Fix: lower "
                     "--target_accuracy, or set --coverage")
    assert all(p.read_bytes() == content for p, content in before.items())  # nothing written


@pytest.mark.parametrize("task", ["multi_label", "preference", "multiple_choice"])
def test_train_refuses_abstention_for_a_task_it_does_not_apply_to(task, tmp_path, capsys):
    why = {"multi_label": "each label is decided against its own threshold fitted on validation: there is no one "
                          "label whose confidence a cut-off could withhold",
           "preference": "a prediction scores how preferable a response is (P(chosen)), with no label to withhold",
           "multiple_choice": "a prediction ranks every option (MAP@3), and a ranking is given whole"}[task]
    output = tmp_path / "run"
    assert_cli_error(capsys, ["train", "--task", task, "--data", str(tmp_path), "--output", str(output),
                              "--abstain.target_accuracy", "0.97"],
                     "--abstain.target_accuracy: expected a task whose prediction is one label with its probability "
                     f"(classification, llm_classification); found the {task} task, where {why}. Fix: drop "
                     "--abstain.target_accuracy", output)


def test_abstain_refuses_a_run_of_a_task_it_does_not_apply_to(trained, tmp_path, capsys):
    run = shutil.copytree(trained, tmp_path / "run")
    ModelSettings.read(run / "model").updated(task="preference").save(run / "model")
    assert_cli_error(capsys, ["abstain", str(run), "--coverage", "0.9"],
                     "--coverage: expected a task whose prediction is one label with its probability "
                     "(classification, llm_classification); found the preference task, where a prediction scores "
                     "how preferable a response is (P(chosen)), with no label to withhold. Fix: drop --coverage")


@pytest.mark.parametrize("flags, message", [
    (["--abstain.target_accuracy", "0.97", "--abstain.coverage", "0.9"],
     "--abstain.target_accuracy, --abstain.coverage: expected one of them; found both. Fix: drop one of "
     "--abstain.target_accuracy and --abstain.coverage"),
    (["--abstain.coverage", "0"],
     "--abstain.coverage: expected a share above 0, at most 1; found 0.0. Fix: set --abstain.coverage (e.g. 0.9)"),
    (["--abstain.target_accuracy", "1.5"],
     "--abstain.target_accuracy: expected a share above 0, at most 1; found 1.5. Fix: set "
     "--abstain.target_accuracy (e.g. 0.97)"),
])
def test_train_refuses_bad_abstention_options(flags, message, tmp_path, capsys):
    output = tmp_path / "run"
    assert_cli_error(capsys, ["train", "--data", str(tmp_path), "--output", str(output), *flags], message, output)


def test_abstain_refuses_what_it_cannot_fit(trained, tmp_path, capsys):
    assert_cli_error(capsys, ["abstain", str(trained)], "--target_accuracy, --coverage: expected one of them; "
                     "found neither. Fix: add --target_accuracy 0.97 (or --coverage 0.9)")
    assert_cli_error(capsys, ["abstain", str(trained / "model"), "--coverage", "0.9"],
                     f"run {trained / 'model'}: expected a run directory with its saved validation predictions "
                     "(predictions/validation.csv); found no run directory there. Fix: pass the folder tunecard "
                     "train or tunecard ensemble wrote")


def test_an_llm_classifier_abstains_on_the_rows_below_its_cut_off(tiny_runs, tmp_path, capsys):
    run = tiny_runs.copy("llm_lora", tmp_path).output
    code, _ = run_cli(capsys, "abstain", str(run), "--coverage", "0.8")
    assert code == 0
    saved = ModelSettings.read(run / "model")
    assert saved.abstention["threshold"] == _metrics(run)["abstention"]["threshold"]
    # The tiny LM's fitted temperature (0.05) rounds every probability of new texts to 1: without it, and with a
    # cut-off among these texts' confidences, every path must honour the saved cut-off.
    saved = saved.updated(temperature=None)
    saved.save(run / "model")
    texts = [r["text"] for r in make_rows(10, seed=4)] + [" ".join(FILLER[i:i + 4]) for i in range(10)]
    confidence = tunecard.load(run).predict_proba(texts).max(-1)
    threshold = float(np.median(confidence))
    saved.updated(abstention={**saved.abstention, "threshold": threshold}).save(run / "model")
    withheld = confidence < threshold
    assert 0 < withheld.sum() < len(texts)
    assert [label is None for label in tunecard.load(run).predict(texts)] == withheld.tolist()
    write_jsonl(tmp_path / "new.jsonl", [{"text": t} for t in texts])
    written = pd.read_csv(tunecard.predict(str(run), str(tmp_path / "new.jsonl"), str(tmp_path / "p.csv")))
    assert written["abstained"].tolist() == withheld.tolist()


def test_the_try_it_page_says_when_the_model_abstains(trained, texts):
    from test_serve import CHROMIUM, _browser_or_skip, serve_process

    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    model = tunecard.load(trained)
    withheld = model.predict_proba(texts).max(-1) < model.abstain_below
    unsure, sure = texts[int(withheld.argmax())], texts[int((~withheld).argmax())]
    with serve_process(trained) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(server.url + "/")
            page.wait_for_function("document.getElementById('title').textContent.includes('classification')",
                                   timeout=15000)
            for text, abstains in ((unsure, True), (sure, False)):
                page.fill("#input", text)
                page.click("#score")
                page.wait_for_selector("#results .row", timeout=15000)
                assert page.locator("#abstained").count() == int(abstains)
            page.fill("#input", unsure)
            page.click("#score")
            page.wait_for_selector("#abstained", timeout=15000)
            assert page.text_content("#abstained") == ("Abstained: the top probability is below the model's cut-off, "
                                                       "fitted on validation, so it gives no label.")
        finally:
            browser.close()


def test_verify_refits_the_cut_off_from_the_predictions(trained, tmp_path, capsys):
    run = shutil.copytree(trained, tmp_path / "run")
    assert tunecard.verify(str(run)) == []
    metrics = _metrics(run)
    metrics["abstention"]["splits"]["test"]["accuracy"] += 0.01
    (run / "metrics.json").write_text(json.dumps(metrics))
    mismatches = tunecard.verify(str(run))
    assert len(mismatches) == 1 and mismatches[0].startswith("metrics.json abstention.splits.test.accuracy: reported")
