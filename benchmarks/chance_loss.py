"""The `collapse.loss_at_chance` detector on every committed benchmark run: which runs' validation loss
never left the chance level of their task (the loss of a model that ignores its inputs).

    python benchmarks/chance_loss.py

Reads each benchmarks/results/**/history.csv with its metrics.json (and config.yaml where the run wrote
one), computes the chance level with the task's own `chance_loss` hook and applies
`diagnostics.history_findings` as a new run would. No training: it checks the detector against real runs,
healthy and broken, most of them trained before it existed. Writes benchmarks/results/chance_loss.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tunecard.judging import diagnostics
from tunecard.config import TrainConfig
from tunecard.runs.settings import ModelSettings
from tunecard.tasks import task_class

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    runs = {}
    for history_file in sorted(RESULTS.rglob("history.csv")):
        run = history_file.parent
        metrics = json.loads((run / "metrics.json").read_text())
        if metrics["task"] == "multi_label":  # its chance level needs every row's label set, not the counts here
            continue
        chance = chance_level(judged_task(run, metrics), metrics, train_config(run))
        if chance is None:  # a language model's token loss has no such level
            continue
        history = pd.read_csv(history_file).replace({np.nan: None}).to_dict("records")
        findings = diagnostics.history_findings(history, metrics["best_metric"], metrics["best_epoch"], chance)
        runs[str(run.relative_to(RESULTS))] = {
            "task": metrics["task"], "chance_loss": round(chance, 4),
            "eval_loss": [round(row["eval_loss"], 4) for row in history],
            "loss_at_chance": any(f.id == "collapse.loss_at_chance" for f in findings)}
    out = {"share": diagnostics.CHANCE_LOSS_SHARE, "runs": runs}
    (RESULTS / "chance_loss.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


def judged_task(run: Path, metrics: dict):
    """The task with what the run fitted on validation (e.g. multi-label priors), from its metrics.json (results
    written by older versions carry config.yaml keys this one no longer reads)."""
    fitted = ModelSettings.from_keys(metrics.get("fitted", {}))
    task = task_class(metrics["task"])()
    return task.with_fitted(fitted) if fitted is not None else task


def chance_level(task, metrics: dict, config: TrainConfig) -> float | None:
    names = metrics["label_names"]
    train = metrics["splits"]["train"]["label_distribution"]
    seen = metrics["splits"]["validation"]["label_distribution"]
    validation_labels = np.repeat(np.arange(len(names)), [seen.get(name, 0) for name in names])
    return task.chance_loss(names, train, validation_labels, config)


def train_config(run: Path) -> TrainConfig:
    """The run's class weighting (the only training option a chance level depends on)."""
    config = run / "config.yaml"
    weights = yaml.safe_load(config.read_text())["train"].get("class_weights") if config.is_file() else None
    return TrainConfig(class_weights=weights)


if __name__ == "__main__":
    main()
