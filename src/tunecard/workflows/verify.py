"""`tunecard verify`: recompute every number of a run's metrics.json and card from its predictions files, and
list each one that differs. The truth check a reader of the card can run without the model. Read top to bottom:
open the run, judge each split again from its predictions with the task as the run judged it, compare every
number of metrics.json, then the card's model-index and tables.

The predictions files hold each row's gold label and probabilities (to nine significant digits,
temperature-scaled when a temperature was fitted; the raw ones are recovered as softmax(T log p)). Each split
is judged again by the same code that judged it in the run (the task's `judge`), so a number that differs was
edited, or written from something other than these predictions. Numbers agree when within TOLERANCE: the card shows
four decimals.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from tunecard.errors import TunecardError

TOLERANCE = 1e-4
NOT_RECOMPUTED = ("comparisons", "examples")
"""metrics.json entries that other scorers produced (a base model, free generation): not in the predictions."""


@dataclass
class Verification:
    checked: int = 0
    mismatches: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def compare(self, where: str, reported, recomputed) -> None:
        self.checked += 1
        if not _same(reported, recomputed):
            self.mismatches.append(f"{where}: reported {reported}, recomputed {_shown(recomputed)}")


def verify(run: str, /) -> list[str]:
    """Recompute every number of a run's metrics.json and card from its predictions files; print what was
    checked and each mismatch. Returns the mismatches (none: the run's numbers are what its predictions say).

    Args:
        run: A run directory (written by tunecard train, ensemble or tune).
    """
    result = verify_run(Path(run))
    for line in result.mismatches:
        print(f"MISMATCH {line}")
    for line in result.skipped:
        print(f"not checked: {line}")
    verdict = f"{len(result.mismatches)} differ" if result.mismatches else "all match"
    print(f"tunecard verify {run}: {result.checked} numbers recomputed from predictions/*.csv "
          f"(tolerance {TOLERANCE}): {verdict}")
    return Mismatches(result.mismatches)


class Mismatches(list):
    """The numbers that differ, one line each; the command exits with status 1 when there is any."""

    @property
    def exit_status(self) -> int:
        return 1 if self else 0


def verify_run(run: Path) -> Verification:
    """Recompute metrics.json and the card's numbers of run directory `run` from predictions/<split>.csv."""
    from tunecard.report.inputs import split_metrics
    from tunecard.runs.saved import open_saved

    reported = _read_metrics(run)
    task = open_saved(run).judged_task()
    names = reported["label_names"]
    counts = reported["splits"]["train"]["label_distribution"]
    result, recomputed = Verification(), {}
    for split, values in reported["splits"].items():
        if "metrics" not in values:
            continue
        dataset, logits = task.read_predictions(run / "predictions" / f"{split}.csv", names, reported["temperature"])
        seed = (values.get("intervals") or {}).get("seed", 42)
        judged = _judge(task, split, dataset, logits, names, counts, reported["temperature"], seed)
        recomputed[split] = split_metrics(judged)
        _compare_tree(result, f"metrics.json splits.{split}", values, recomputed[split])
    _check_card(result, run / "README.md", recomputed, task.metric_keys(names), reported)
    _check_eval_results(result, run / "model", recomputed, reported)
    if "abstention" in reported:
        _check_abstention(result, run, reported)
    return result


def _check_abstention(result: Verification, run: Path, reported: dict) -> None:
    """metrics.json's `abstention` fitted again from the same predictions: the cut-off and each split's numbers."""
    import numpy as np

    from tunecard.data.predictions import read_prediction_split
    from tunecard.judging import abstention

    saved = reported["abstention"]
    splits = {}
    for split in saved.get("splits", {"validation": None}):
        dataset, probs = read_prediction_split(run / "predictions" / f"{split}.csv", reported["label_names"])
        splits[split] = (probs, np.asarray(dataset["label"]))
    refit = abstention.fit(splits, saved["target"].get("accuracy"), saved["target"].get("coverage"))
    _compare_tree(result, "metrics.json abstention", saved, refit)


def _judge(task, split, dataset, logits, names, counts, temperature, seed):
    return task.judge(split, dataset, logits, names, counts, temperature, seed).report


def _read_metrics(run: Path) -> dict:
    missing = [name for name in ("metrics.json", "README.md", "predictions") if not (run / name).exists()]
    if missing:
        raise TunecardError(f"run {run}", "a tunecard run directory (metrics.json, README.md, predictions/)",
                            f"no {', '.join(missing)} there", "pass the folder `tunecard train` or `ensemble` wrote")
    return json.loads((run / "metrics.json").read_text(encoding="utf-8"))


def _compare_tree(result: Verification, where: str, reported, recomputed) -> None:
    if isinstance(reported, dict):
        for key, value in reported.items():
            if key in NOT_RECOMPUTED:
                result.skipped.append(f"{where}.{key} (scored by another model, not in the predictions)")
            elif key not in ("seed", "resamples", "confidence", "unit", "metric"):
                _compare_tree(result, f"{where}.{key}", value, (recomputed or {}).get(key))
    elif isinstance(reported, list) and isinstance(recomputed, list) and len(reported) == len(recomputed):
        for i, (a, b) in enumerate(zip(reported, recomputed)):
            _compare_tree(result, f"{where}[{i}]", a, b)
    elif isinstance(reported, (int, float)) or reported is None or isinstance(reported, list):
        result.compare(where, reported, recomputed)


def _same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, abs_tol=TOLERANCE) or (math.isnan(a) and math.isnan(b))
    return a == b


def _shown(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


# ---- the card ----------------------------------------------------------------------------------------------

def _check_card(result: Verification, card_path: Path, recomputed: dict, keys: list[str], reported: dict) -> None:
    """The model-index values, and each split's table of metrics, intervals and baselines in the card's body."""
    from huggingface_hub import ModelCard

    card = ModelCard.load(card_path)
    for entry in card.data.eval_results or []:
        split = recomputed.get(entry.dataset_split, {}).get("metrics", {})
        key = _metric_key(entry, keys, reported)
        result.compare(f"card model-index {entry.dataset_split} {entry.metric_name}", entry.metric_value,
                       split.get(key) if key else None)
    for split, values in recomputed.items():
        rows = _table_rows(card.text, split)
        for key in keys:
            name = _display_name(key, reported)
            if name not in rows:
                result.mismatches.append(f"card {split} table: no row for {name}")
                continue
            cells = rows[name]
            bounds = values["intervals"]["metrics"].get(key)
            shown = {"model": cells[0], "95% interval low": cells[1].split("–")[0],
                     "95% interval high": cells[1].split("–")[-1], "majority class": cells[-2],
                     "stratified random": cells[-1]}
            baselines = values["baselines"]
            expected = {"model": values["metrics"].get(key), "95% interval low": bounds and bounds[0],
                        "95% interval high": bounds and bounds[1], "majority class": baselines["majority"].get(key),
                        "stratified random": baselines["stratified"].get(key)}
            for column, text in shown.items():
                result.compare(f"card {split} table {name} {column}", _number(text), expected[column])


def _check_eval_results(result: Verification, model: Path, recomputed: dict, reported: dict) -> None:
    """model/.eval_results/<split>.yaml (report/eval_results.py): one file per evaluated split, its entry naming
    the data and the split, its value the recomputed metric the run was judged by."""
    from tunecard.report import eval_results

    files = eval_results.read(model)
    if not files:
        result.skipped.append(f"model/{eval_results.FOLDER} (none: the run has no model folder, or was written "
                              "before tunecard wrote them)")
        return
    metric = reported["best_metric"]
    for split, values in recomputed.items():
        name, where = f"{split}.yaml", f"{eval_results.FOLDER}/{split}.yaml"
        entries = files.pop(name, [])
        if len(entries) != 1:
            result.mismatches.append(f"{where}: {len(entries)} entries, expected one (the {split} split's {metric})")
            continue
        (entry,) = entries
        result.compare(f"{where} dataset.id", entry.dataset_id, reported["dataset"])
        result.compare(f"{where} dataset.task_id", entry.task_id, split)
        result.compare(f"{where} value ({metric})", entry.value, values["metrics"].get(metric))
    result.mismatches.extend(f"{eval_results.FOLDER}/{name}: no evaluated split of that name" for name in files)


def _metric_key(entry, keys: list[str], reported: dict) -> str | None:
    return next((k for k in keys if _display_name(k, reported) == entry.metric_name), None)


def _display_name(key: str, reported: dict) -> str:
    from tunecard import tasks
    from tunecard.judging import metrics

    info = {**metrics.METRIC_INFO, **tasks.task_class(reported["task"]).metric_info}
    return info[key][1]


def _table_rows(text: str, split: str) -> dict[str, list[str]]:
    """The first table under the card's `### <split> (N rows)` heading: first cell -> the other cells."""
    match = re.search(rf"^### {re.escape(split)} \(\d+ rows[^)]*\)\n(.*?)(?=^#|\Z)", text, re.M | re.S)
    rows = {}
    for line in (match.group(1).splitlines() if match else []):
        if line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.setdefault(cells[0], cells[1:])
    return rows


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return None if text == "n/a" else text
