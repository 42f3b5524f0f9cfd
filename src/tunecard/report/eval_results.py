"""The Hub's evaluation results, beside the card's model-index: `.eval_results/<split>.yaml` in the model folder, in
the format the Hub documents at https://huggingface.co/docs/hub/eval-results (specification:
https://github.com/huggingface/hub-docs/blob/main/eval_results.yaml), written and read with huggingface_hub's
`EvalResultEntry`. Plain data in, YAML text out.

The format files one value per (benchmark dataset, task): a leaderboard ranks models by it. So each evaluated
split gets one file with one entry, the metric the run was judged by (`best_metric`, the card's headline): its
`dataset.id` is the data's name (a Hub benchmark's id when the data is one; the Hub links a result to a
leaderboard only then), its `task_id` the split (a benchmark's task is one split of its data), its `notes` the
metric, the split's size, the 95% interval and the majority-class baseline. Every metric stays in the
model-index."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import EvalResultEntry, eval_result_entries_to_yaml, parse_eval_result_entries
from huggingface_hub.constants import EVAL_RESULTS_FOLDER

from tunecard.judging.judge import SplitReport

FOLDER = EVAL_RESULTS_FOLDER
"""`.eval_results`, the folder the Hub reads them from."""


def eval_results(dataset_id: str, splits: list[SplitReport], metric: str, metric_name: str,
                 date: str | None = None) -> dict[str, list[EvalResultEntry]]:
    """File name -> its entries: `<split>.yaml` for each evaluated split, one entry each (see the module). `date`:
    when the splits were evaluated (ISO-8601), or None (the Hub then takes the commit's time)."""
    files = {}
    for split in (s for s in splits if s.metrics and metric in s.metrics):
        files[f"{split.name}.yaml"] = [EvalResultEntry(
            dataset_id=dataset_id, task_id=split.name, value=round(float(split.metrics[metric]), 4), date=date,
            notes=_notes(split, metric, metric_name))]
    return files


def _notes(split: SplitReport, metric: str, metric_name: str) -> str:
    bounds = ((split.intervals or {}).get("metrics") or {}).get(metric)
    interval = f", 95% interval {bounds[0]:.4f} to {bounds[1]:.4f} (bootstrap)" if bounds else ""
    baseline = (split.baseline or {}).get(metric)
    majority = f"; majority-class baseline {baseline:.4f}" if baseline is not None else ""
    return f"{metric_name} ({metric}) on the {split.name} split, {split.size} rows{interval}{majority}; tunecard"


def to_yaml(entries: list[EvalResultEntry]) -> str:
    """A file's text: the list of entries in the Hub's format (a date quoted, so YAML keeps it a string)."""
    import yaml

    return yaml.safe_dump(eval_result_entries_to_yaml(entries), sort_keys=False, allow_unicode=True)


def write(model_folder: Path, files: dict[str, list[EvalResultEntry]]) -> None:
    folder = model_folder / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, entries in files.items():
        (folder / name).write_text(to_yaml(entries), encoding="utf-8")


def read(model_folder: Path) -> dict[str, list[EvalResultEntry]]:
    """File name -> its entries, as huggingface_hub parses them; {} when the folder has none."""
    import yaml

    folder = model_folder / FOLDER
    return {path.name: parse_eval_result_entries(yaml.safe_load(path.read_text(encoding="utf-8")) or [])
            for path in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}
