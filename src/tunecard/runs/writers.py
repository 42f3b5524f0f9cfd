"""Write what a run or an evaluation produced: predictions, metrics.json, history.csv, plots and the
card. Takes finished results; computes nothing new."""

from __future__ import annotations

import json
from pathlib import Path

from tunecard.config import save_config
from tunecard.judging.judge import SplitReport
from tunecard.report.card import CardInputs, build_card, metric_names, render_evaluation

# ---- per split -----------------------------------------------------------------------------

def write_split(workdir: Path, task, judged, ids, names: list[str], extras: dict | None = None) -> None:
    """predictions/<split>.csv (the task's rows plus its `extras` columns) and the split's confusion matrix (where
    it has one) and reliability diagram; for a task with score histograms, the positive-class score per gold label."""
    from tunecard.report.plots import confusion_matrix_plot, reliability_plot, score_histogram_plot

    report = judged.report
    (workdir / "predictions").mkdir(parents=True, exist_ok=True)
    (workdir / "plots").mkdir(exist_ok=True)
    frame = task.prediction_frame(ids, judged, names)
    for column, values in (extras or {}).items():
        frame[column] = list(values)
    # nine significant digits: the smallest probabilities keep their logits (tunecard verify recomputes from these)
    frame.to_csv(workdir / "predictions" / f"{report.name}.csv", index=False, float_format="%.9g")
    if report.confusion:
        confusion_matrix_plot(report.confusion, names, f"Confusion matrix: {report.name}",
                              workdir / "plots" / f"confusion_matrix_{report.name}.png")
    reliability_plot(report.calibration["reliability"], f"Reliability: {report.name}",
                     workdir / "plots" / f"reliability_{report.name}.png")
    if task.score_histogram:
        score_histogram_plot({names[i]: judged.probs[judged.gold == i, 1] for i in (1, 0)}, f"P({names[1]})",
                             f"Score distribution: {report.name}", workdir / "plots" / f"scores_{report.name}.png")


def write_risk_coverage(plots: Path, report: dict, curves: dict) -> None:
    """plots/risk_coverage.png: each split's risk–coverage curve (`curves`), the point at the fitted cut-off and
    the target risk (`report`: judging.abstention.fit's)."""
    from tunecard.report.plots import risk_coverage_plot

    marks = {name: (split["coverage"], 1 - split["accuracy"]) for name, split in report.get("splits", {}).items()
             if split["accuracy"] is not None}
    target = report["target"].get("accuracy")
    plots.mkdir(parents=True, exist_ok=True)
    risk_coverage_plot(curves, marks, 1 - target if target is not None else None, plots / "risk_coverage.png")


# ---- predict ------------------------------------------------------------------------------

class PredictionWriter:
    """Append prediction chunks to a CSV, JSONL or Parquet file (chosen by extension)."""

    def __init__(self, path: Path):
        self.path, self.kind = path, path.name.removesuffix(".partial").rsplit(".", 1)[-1].lower()
        self._parquet = None
        self._first = True

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        return self

    def write(self, frame) -> None:
        if self.kind == "csv":
            frame.to_csv(self.path, mode="a", header=self._first, index=False)
        elif self.kind == "jsonl":
            with open(self.path, "a", encoding="utf-8") as handle:
                frame.to_json(handle, orient="records", lines=True, force_ascii=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            self._parquet = self._parquet or pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table)
        self._first = False

    def __exit__(self, *exc) -> None:
        if self._parquet is not None:
            self._parquet.close()


def submission_rows(frame, column: str):
    """Kaggle's `id,prediction` rows from a predictions frame (`column` holds what is submitted)."""
    return frame[["id", column]].rename(columns={column: "prediction"})


# ---- run -----------------------------------------------------------------------------------

def write_run(workdir: Path, trainer, run, inputs: CardInputs, result, run_metrics: dict) -> None:
    """The model folder (written by the task), config.yaml, metrics.json, history.csv, the learning
    curves and the card (in the run folder and in model/). `run`: the train workflow's TrainingRun."""
    import pandas as pd

    from tunecard.report.plots import learning_curves_plot

    run.task.save_model(trainer, run.tokenizer, workdir / "model", run.settings)
    save_config(run.config, workdir / "config.yaml")
    (workdir / "metrics.json").write_text(json.dumps(run_metrics, indent=2), encoding="utf-8")
    pd.DataFrame(result.history).to_csv(workdir / "history.csv", index=False)
    train_points = [(e["step"], e["loss"]) for e in result.log_history if "loss" in e and "eval_loss" not in e]
    best_name = metric_names(inputs.metric_info).get(inputs.best_metric, inputs.best_metric)
    learning_curves_plot(train_points, result.history, inputs.best_metric, best_name,
                         workdir / "plots" / "learning_curves.png", inputs.best_epoch,
                         epoch_band(inputs.splits, result.history, inputs.best_metric))
    card = build_card(inputs)
    card.save(workdir / "README.md")
    write_eval_results(workdir / "model", inputs.dataset_name, inputs.splits, inputs.best_metric, best_name)
    _self_contained_model_folder(workdir / "model", workdir / "plots")
    card.save(workdir / "model" / "README.md")


def write_eval_results(model: Path, dataset: str, splits: list[SplitReport], metric: str, name: str) -> None:
    """model/.eval_results/<split>.yaml, the Hub's evaluation results (report/eval_results.py), dated now: the
    splits were just evaluated."""
    from datetime import datetime, timezone

    from tunecard.report import eval_results

    date = datetime.now(timezone.utc).isoformat(timespec="seconds")
    eval_results.write(model, eval_results.eval_results(dataset, splits, metric, name, date))


def epoch_band(splits: list[SplitReport], history: list[dict], metric: str) -> dict | None:
    """The learning curves' 95% band of `metric` at each epoch (intervals.epoch_bands, from the kept model's
    validation interval and the validation size), with its legend; None where validation has no interval of it."""
    from tunecard.judging.intervals import epoch_bands

    validation = next((s for s in splits if s.name == "validation" and s.intervals), None)
    bounds = validation.intervals["metrics"].get(metric) if validation else None
    values = [row.get(metric) for row in history]
    if bounds is None or metric not in (validation.metrics or {}) or None in values:
        return None
    low, high = epoch_bands(values, validation.size, {"low": bounds[0], "high": bounds[1],
                                                      "value": validation.metrics[metric]})
    return {"low": low, "high": high, "label": f"95% band: the wider of the binomial interval over\n{validation.size} "
                                                "validation rows and the kept model's bootstrap interval"}


def _self_contained_model_folder(model: Path, plots: Path) -> None:
    """model/ is what users upload (`tunecard push`) or load, so it holds the card with its images (a copy of
    plots/, which the card links as plots/...), no pickle (Trainer's training_args.bin: the arguments are in
    config.yaml and the card), and files readable like any other the user writes (safetensors writes 0600)."""
    import os
    import shutil

    (model / "training_args.bin").unlink(missing_ok=True)
    shutil.copytree(plots, model / "plots", dirs_exist_ok=True)
    umask = os.umask(0)
    os.umask(umask)
    for path in model.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


# ---- evaluate ------------------------------------------------------------------------------

def write_evaluation(workdir: Path, report: dict, results: list[SplitReport], names: list[str],
                     metric_keys: list[str], metric_info: dict) -> None:
    (workdir / "metrics.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (workdir / "README.md").write_text(render_evaluation(report, results, names, metric_keys, metric_info),
                                       encoding="utf-8")
