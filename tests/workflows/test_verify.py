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


# ---- the Hub's evaluation results (.eval_results/) ---------------------------------------------------------------

EVAL_RESULT_FIELDS = {"dataset", "value", "verifyToken", "date", "source", "notes"}
"""The fields of an entry the Hub documents (https://huggingface.co/docs/hub/eval-results); dataset: id, task_id,
revision."""


def test_eval_results_are_in_the_hubs_format_and_match_metrics_json(tiny_runs):
    import yaml
    from huggingface_hub import parse_eval_result_entries

    run = tiny_runs("classification")
    folder = run.model_path / ".eval_results"
    assert sorted(p.name for p in folder.iterdir()) == ["test.yaml", "validation.yaml"]
    for split in ("validation", "test"):
        raw = yaml.safe_load((folder / f"{split}.yaml").read_text())
        assert len(raw) == 1 and set(raw[0]) <= EVAL_RESULT_FIELDS and set(raw[0]["dataset"]) == {"id", "task_id"}
        assert isinstance(raw[0]["date"], str) and raw[0]["date"].endswith("+00:00")  # quoted: stays a string
        (entry,) = parse_eval_result_entries(raw)
        values = run.metrics["splits"][split]
        assert (entry.dataset_id, entry.task_id) == (run.metrics["dataset"], split)
        assert entry.value == round(values["metrics"]["f1"], 4) and run.metrics["best_metric"] == "f1"
        low, high = values["intervals"]["metrics"]["f1"]
        assert entry.notes == (f"F1 (f1) on the {split} split, {values['size']} rows, 95% interval {low:.4f} to "
                               f"{high:.4f} (bootstrap); majority-class baseline "
                               f"{values['baselines']['majority']['f1']:.4f}; tunecard")


def test_an_edited_eval_result_is_caught(run, capsys):
    path = run.model_path / ".eval_results" / "test.yaml"
    value = run.metrics["splits"]["test"]["metrics"]["f1"]
    text = path.read_text()
    path.write_text(text.replace(f"value: {round(value, 4)}", f"value: {round(value, 4) + 0.05:.4f}"))
    assert path.read_text() != text
    (run.model_path / ".eval_results" / "train.yaml").write_text(text)
    assert main(["verify", str(run.output)]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH .eval_results/test.yaml value (f1): reported" in out
    assert "MISMATCH .eval_results/train.yaml: no evaluated split of that name" in out


def test_the_card_states_the_cost_of_a_prediction_on_the_machine_that_measured_it(tiny_runs):
    from tunecard.engine.distributed import machine

    run = tiny_runs("classification")
    cost = run.metrics["cost"]
    assert cost["split"] == "test" and cost["texts"] == run.metrics["splits"]["test"]["size"] == 60
    assert cost["texts_per_second"] > 0 and cost["cpu_seconds_per_1000"] > 0 and cost["seconds"] > 0
    assert cost["machine"] == machine() and cost["processes"] == 1
    # seconds is rounded to the millisecond: the rate lies within what its rounding allows
    assert 60 / (cost["seconds"] + 5e-4) - 0.1 <= cost["texts_per_second"] <= 60 / (cost["seconds"] - 5e-4) + 0.1
    card = run.card_path.read_text()
    assert (f"**Cost.** Scoring the test split (60 texts) took {cost['seconds']} s: **{cost['texts_per_second']} "
            f"texts/s** and\n**{cost['cpu_seconds_per_1000']} CPU-seconds per 1,000 predictions**") in card
    assert f"on {cost['machine']}\n(batch size " in card
