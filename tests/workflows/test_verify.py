"""`tunecard verify` recomputes a run's numbers from its predictions: an honest run passes, an edited number in
metrics.json or the card is named, and intervals in the card cover the numbers they bound."""

import json

import pytest
from huggingface_hub import ModelCard

from tunecard.cli import main


@pytest.fixture
def run(tiny_runs, tmp_path):
    """A private copy of the session's tiny classification run (temperature scaling on, the default): the tests
    edit its card and metrics.json."""
    return tiny_runs.copy("classification", tmp_path)


def test_an_untouched_run_verifies(run, capsys):
    assert main(["verify", str(run.output)]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("all match") and "MISMATCH" not in out
    checked = int(out.split(": ")[1].split()[0])
    assert checked > 100  # metrics, baselines, intervals, calibration, per-class, confusion, card cells


def test_an_edited_card_number_is_caught(run, capsys):
    test = run.metrics["splits"]["test"]["metrics"]
    card = ModelCard.load(run.card_path)
    entry = next(e for e in card.data.eval_results if e.dataset_split == "test" and e.metric_type == "accuracy")
    entry.metric_value = round(test["accuracy"] - 0.05, 4)
    card.save(run.card_path)
    assert main(["verify", str(run.output)]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH card model-index test Accuracy: reported" in out and out.strip().endswith("1 differ")


def test_an_edited_table_cell_and_metrics_json_are_caught(run, capsys):
    metrics = json.loads((run.output / "metrics.json").read_text())
    metrics["splits"]["validation"]["baselines"]["majority"]["f1"] += 0.1
    (run.output / "metrics.json").write_text(json.dumps(metrics))
    text = run.card_path.read_text()
    low, high = run.metrics["splits"]["test"]["intervals"]["metrics"]["accuracy"]
    edited = text.replace(f"| {low:.4f}–{high:.4f} |", f"| {low - 0.01:.4f}–{high:.4f} |", 1)
    assert edited != text
    run.card_path.write_text(edited)
    assert main(["verify", str(run.output)]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH metrics.json splits.validation.baselines.majority.f1" in out
    assert "table Accuracy 95% interval low" in out


def test_card_and_metrics_carry_intervals_that_bound_the_point_values(run):
    for split in ("validation", "test"):
        values = run.metrics["splits"][split]
        for key, (low, high) in values["intervals"]["metrics"].items():
            assert low <= values["metrics"][key] <= high
        lead = values["intervals"]["differences"]["majority"]
        assert lead["metric"] == "f1" and lead["interval"][0] <= lead["difference"] <= lead["interval"][1]
    text = run.card_path.read_text()
    assert "| Metric | Model | 95% interval |" in text and "- Lead over the majority class on F1:" in text


def test_verify_refuses_a_folder_that_is_no_run(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tunecard: error: run {tmp_path}: expected a tunecard run directory") and err.count("\n") == 1
