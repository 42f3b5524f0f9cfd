"""`tunecard abstain`, read top to bottom: open a trained run, check that abstention applies to its task, read the
calibrated probabilities its training saved for validation and test (predictions/<split>.csv), fit the confidence
cut-off on validation, measure it on every split, and save it with the model without retraining: config.json (and
the ONNX export beside it, which `tunecard export` wrote), metrics.json, config.yaml, the card and its risk–coverage
plot. An ensemble's cut-off is fitted on the blend's own predictions and saved in its ensemble.json.

`tunecard train --abstain.target_accuracy 0.97` fits the same cut-off as the run is written (workflows/train.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tunecard.config import AbstainConfig
from tunecard.errors import TunecardError

SPLITS = ("validation", "test")


def abstain(run: str, /, config: AbstainConfig) -> dict:
    """Fit the confidence cut-off under which a trained run abstains, from its saved validation predictions (no
    retraining), and save it with the model: `load().predict`, predict, serve, the ONNX export and Ray Data then
    mark the inputs below it abstained (docs/predict-export.md#abstention). Returns metrics.json's `abstention`.

    Args:
        run: A run directory (or an ensemble's) with its predictions/validation.csv.
        config: target_accuracy or coverage (an AbstainConfig or a dict of its fields).
    """
    from tunecard.errors import raise_all
    from tunecard.judging import abstention
    from tunecard.runs.saved import open_saved

    asked = config if isinstance(config, AbstainConfig) else AbstainConfig(**config)
    saved = open_saved(run)
    raise_all(_problems(saved, asked))
    splits = _saved_splits(saved)
    report = abstention.fit(splits, asked.target_accuracy, asked.coverage)
    if report["threshold"] is None:
        best = report["best"]
        raise TunecardError("--target_accuracy", "a validation accuracy some confidence cut-off reaches",
                            f"{asked.target_accuracy:g}; the most accurate cut-off reaches {best['accuracy']:.4f} "
                            f"(keeping {best['coverage']:.1%} of the rows)", "lower --target_accuracy, or set "
                            "--coverage")
    _save(saved, asked, report, abstention.risk_coverage(splits), abstention.findings(report))
    _print_summary(run, report)
    return report


def _problems(saved, asked: AbstainConfig) -> list[TunecardError]:
    from tunecard import tasks

    if asked.asked is None:
        return [TunecardError("--target_accuracy, --coverage", "one of them", "neither",
                              "add --target_accuracy 0.97 (or --coverage 0.9)")]
    problems = asked.problems(prefix="")
    if saved.run_dir is None or not (saved.run_dir / "predictions" / "validation.csv").is_file():
        found = "no predictions/validation.csv there" if saved.run_dir is not None else "no run directory there"
        return problems + [TunecardError(f"run {saved.path}", "a run directory with its saved validation "
                                         "predictions (predictions/validation.csv)", found,
                                         "pass the folder tunecard train or tunecard ensemble wrote")]
    if saved.kind != "ensemble" and saved.folder is None:
        return problems + [TunecardError(f"run {saved.path}", "a run directory with its model/ folder",
                                         "no model folder", "restore the run's model/ folder")]
    return problems + tasks.task_class(saved.task_name).abstention_problems(asked, prefix="")


def _saved_splits(saved) -> dict:
    """The evaluated splits' calibrated probabilities and gold label ids, as the run wrote them."""
    import numpy as np

    from tunecard.data.predictions import read_prediction_split

    metrics = saved.metrics()
    names = metrics["label_names"]
    splits = {}
    for name in (s for s in SPLITS if "metrics" in metrics["splits"].get(s, {})):
        dataset, probs = read_prediction_split(saved.run_dir / "predictions" / f"{name}.csv", names)
        splits[name] = (probs, np.asarray(dataset["label"]))
    return splits


def _save(saved, asked: AbstainConfig, report: dict, curves: dict, findings: list) -> None:
    """Everything changed is prepared first, then written file by file (each replaced whole)."""
    from tunecard.config import config_to_dict
    from tunecard.judging import abstention
    from tunecard.report.card import with_abstention_section
    from tunecard.runs import writers
    from tunecard.runs.settings import ModelSettings

    run_dir, settings = saved.run_dir, abstention.saved_settings(report)
    metrics = saved.metrics()
    metrics["abstention"] = report
    metrics["diagnostics"] = ([f for f in metrics.get("diagnostics", []) if not f["id"].startswith("abstention.")]
                              + [f.as_dict() for f in findings])
    files = {run_dir / "metrics.json": json.dumps(metrics, indent=2)}
    cards = [run_dir / "README.md", *([saved.folder / "README.md"] if saved.folder is not None else [])]
    files.update({card: with_abstention_section(card.read_text(encoding="utf-8"), report)
                  for card in cards if card.is_file()})
    if saved.kind == "ensemble":
        files[run_dir / "ensemble.json"] = json.dumps({**_ensemble_spec(run_dir), "abstention": settings}, indent=2)
    elif (run_dir / "config.yaml").is_file():
        import yaml

        config = saved.run_config()
        config.abstain = asked
        files[run_dir / "config.yaml"] = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    for folder in _model_folders(saved):
        ModelSettings.read(folder).updated(abstention=settings).save(folder)
    for path, text in files.items():
        _replace(path, text)
    for plots in [run_dir / "plots", *([saved.folder / "plots"] if saved.folder is not None else [])]:
        writers.write_risk_coverage(plots, report, curves)


def _model_folders(saved) -> list[Path]:
    """The folders whose config.json carries the model's settings: the model folder and its ONNX export."""
    from tunecard.runs.saved import ONNX_FOLDER
    from tunecard.runs.settings import ModelSettings

    if saved.kind == "ensemble":
        return []
    onnx = saved.folder / ONNX_FOLDER
    return [saved.folder, *([onnx] if ModelSettings.read(onnx) is not None else [])]


def _ensemble_spec(run_dir: Path) -> dict:
    from tunecard.runs.saved import ENSEMBLE_FILE

    return json.loads((run_dir / ENSEMBLE_FILE).read_text(encoding="utf-8"))


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def _print_summary(run: str, report: dict) -> None:
    (key, target), = report["target"].items()
    lines = [f"tunecard abstain: {run} abstains below confidence {report['threshold']:.6g} ({key} target {target:g},"
             f" fitted on validation)"]
    for name, split in report["splits"].items():
        low, high = split["intervals"]["accuracy"]
        accuracy = "n/a" if split["accuracy"] is None else f"{split['accuracy']:.4f} ({low:.4f}–{high:.4f})"
        verdict = "" if "target" not in split else "; reaches the target" if split["target"]["met"] else (
            f"; short of the target ({'within' if split['target']['within_interval'] else 'outside'} its interval)")
        lines.append(f"  {name}: keeps {split['kept']} of {split['rows']} ({split['coverage']:.1%}), accuracy of the "
                     f"kept rows {accuracy}{verdict}")
    lines.append("  saved with the model (config.json: tunecard_abstention), in metrics.json, the card and "
                 "plots/risk_coverage.png")
    print("\n".join(lines))
