"""`tunecard ensemble`, read top to bottom: read each member run's metrics and predictions, check they blend
(same task, labels and rows), fit the weights on validation (judging/blending.py), refit on the blend's validation
probabilities what the task fits there (multi-label thresholds), judge the blend on every split beside its
members, and write a run directory that loads and predicts like one run: ensemble.json (members and
weights), predictions, metrics.json and the card."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from tunecard.errors import TunecardError

DEFAULT_SEED = 42
"""The seed of the weight search and the bootstrap (train.seed's default)."""


def ensemble(runs: list[str], /, output: str, objective: Optional[str] = None, folds: int = 0,
             overwrite: bool = False) -> dict:
    """Blend trained runs with weights fitted on validation (docs/best-model.md) and write a run directory: the
    blend's predictions, metrics.json with every member beside it, ensemble.json (members and weights), and the
    card. `tunecard.load` and `predict` on it run each member and blend. Returns metrics.json's content.

    Args:
        runs: Run directories of the same task, labels and data splits.
        output: The ensemble's run directory to create.
        objective: log_loss (default; multiple_choice: headline, its MAP@3), headline or equal.
        folds: K >= 2: report validation out-of-fold (each row's weights fitted on the other folds).
        overwrite: Replace an existing run directory.
    """
    from tunecard.judging import blending
    from tunecard.runs import directory
    from tunecard.runs.saved import open_saved

    members = read_members([str(r) for r in runs])
    task = open_saved(members[0].path).judged_task()
    objective = objective or task.ensemble_objective
    _check_options(objective, folds, len(members[0].splits["validation"].probs))
    directory.check_output(Path(output), overwrite)
    seed = DEFAULT_SEED
    weights, blended = blending.fit_and_blend(task, members, objective, folds, seed)
    validation = [m.splits["validation"] for m in members]
    task = task.refit(blending.blend([v.probs for v in validation], weights), validation[0].dataset)
    with directory.run_directory(Path(output), overwrite) as workdir:
        judged = _judge_blend(task, members, blended, workdir, seed)
        leads = blending.member_leads(task, members, judged, members[0].metrics["label_names"], seed)
        report = write_ensemble(workdir, task, members, weights, blending.mean_confidence(members), objective,
                                folds, judged, leads, Path(output))
    _print_summary(task, members, weights, objective, judged, report, output)
    return report


def _check_options(objective: str, folds: int, validation_rows: int) -> None:
    from tunecard.judging.blending import OBJECTIVES

    if objective not in OBJECTIVES:
        raise TunecardError("--objective", f"one of {', '.join(OBJECTIVES)}", repr(objective),
                            "set --objective to one of those")
    if folds and not 2 <= folds <= validation_rows:
        raise TunecardError("--folds", f"0 (fit on all of validation) or 2 to {validation_rows}", repr(folds),
                            "set --folds (e.g. 5)")


def _judge_blend(task, members: list, blended: dict, workdir: Path, seed: int) -> dict:
    """Each split's blended probabilities judged (as the task judges a run) and written to predictions/."""
    from tunecard.runs import writers

    first = members[0]
    names, counts = first.metrics["label_names"], first.metrics["splits"]["train"]["label_distribution"]
    judged = {}
    for name, probs in blended.items():
        dataset = first.splits[name].dataset
        judged[name] = task.judge(name, dataset, _logits(task, probs), names, counts, None, seed)
        writers.write_split(workdir, task, judged[name], dataset["id"], names,
                            task.prediction_extras(dataset, judged[name].probs))
    return judged


def _logits(task, probs: np.ndarray) -> np.ndarray:
    """Logits whose probabilities, as the task's judge computes them without a temperature, are `probs`: log p
    under a softmax; log(p / (1 - p)) under a sigmoid per label."""
    if task.independent_labels:
        clipped = np.clip(probs, 1e-300, 1 - 1e-16)
        return np.log(clipped) - np.log1p(-clipped)
    return np.log(np.maximum(probs, 1e-300))


def _print_summary(task, members: list, weights, objective: str, judged: dict, report: dict, output: str) -> None:
    from tunecard.judging import metrics
    from tunecard.report.card import metric_names
    from tunecard.report.summary import format_summary

    names = members[0].metrics["label_names"]
    print(format_summary(f"tunecard ensemble: {len(members)} members -> {output}", [],
                         [j.report for j in judged.values()], task.metric_keys(names), None, report["diagnostics"],
                         [f"weights ({objective}): " + ", ".join(f"{m.name} {w:.3f}" for m, w in zip(members, weights)),
                          f"run directory: {output}"], metric_names({**metrics.METRIC_INFO, **task.metric_info})))


@dataclass
class MemberSplit:
    dataset: object
    """The split's rows as the task's metrics read them (data.predictions.read_prediction_split)."""
    probs: np.ndarray


@dataclass
class Member:
    path: Path
    metrics: dict
    """Its metrics.json."""
    splits: dict[str, MemberSplit]
    task: object = None
    """The task as the member's run judged its splits (its own multi-label thresholds)."""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def base_model(self) -> str:
        """From metrics.json, else from the member's card (runs written before metrics.json recorded it)."""
        if self.metrics.get("base_model"):
            return self.metrics["base_model"]
        if (self.path / "README.md").is_file():
            from huggingface_hub import ModelCard

            return str(ModelCard.load(self.path / "README.md").data.base_model or "unknown")
        return "unknown"


def _check_blends(path: Path, task: str) -> None:
    from tunecard import tasks

    if not tasks.task_class(task).blends:
        blendable = [name for name in tasks.TASKS if tasks.task_class(name).blends]
        raise TunecardError(f"member {path}", f"a run of a task whose probabilities blend ({', '.join(blendable)})",
                            f"a {task} run", "evaluate the runs separately")


def read_members(paths: list[str]) -> list[Member]:
    """Each run's metrics and its evaluated splits' predictions, after checking they can be blended."""
    from tunecard.runs.saved import ENSEMBLE_FILE, open_saved

    if len(paths) < 2:
        raise TunecardError("tunecard ensemble", "two or more run directories", f"{len(paths)}",
                            "pass the runs to blend: tunecard ensemble runs/a runs/b ... --output runs/ens")
    members = []
    for path in map(Path, paths):
        ensemble = (path / ENSEMBLE_FILE).is_file()
        if not (path / "metrics.json").is_file() or ensemble:
            raise TunecardError(f"member {path}", "a run directory written by tunecard train (metrics.json)",
                                "an ensemble" if ensemble else "no such run there",
                                "pass run directories of trained models")
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        _check_blends(path, metrics["task"])
        names, task = metrics["label_names"], open_saved(path).judged_task()
        splits = {name: _member_split(task, path / "predictions" / f"{name}.csv", names)
                  for name, values in metrics["splits"].items() if "metrics" in values}
        members.append(Member(path, metrics, splits, task))
    check_members(members)
    return members


def _member_split(task, path: Path, names: list[str]) -> MemberSplit:
    """A predictions file's rows as the task's metrics read them, and the probabilities written there."""
    from tunecard.judging import metrics

    dataset, logits = task.read_predictions(path, names, None)
    return MemberSplit(dataset, metrics.sigmoid(logits) if task.independent_labels else metrics.softmax(logits))


def check_members(members: list[Member]) -> None:
    """Members must share task, labels and splits (the same rows, in order, with the same gold labels)."""
    first = members[0]
    if "validation" not in first.splits:
        raise TunecardError(f"member {first.path}", "an evaluated validation split to fit weights on",
                            f"splits {', '.join(first.splits)}", "train the members with a validation split")
    for other in members[1:]:
        for what, mine, theirs in (("task", first.metrics["task"], other.metrics["task"]),
                                   ("labels", first.metrics["label_names"], other.metrics["label_names"]),
                                   ("evaluated splits", sorted(first.splits), sorted(other.splits))):
            if mine != theirs:
                raise _differs(other, what, first, theirs, mine)
        for name, split in first.splits.items():
            theirs = other.splits[name].dataset
            if split.dataset["id"] != theirs["id"] or split.dataset["label"] != theirs["label"]:
                row = _first_difference(split.dataset, theirs)
                raise TunecardError(f"member {other.path}", f"the {name} rows (ids and gold labels) of {first.path}",
                                    f"other rows (first difference at row {row})",
                                    "blend runs trained on the same data splits for the same task")


def _differs(other: Member, what: str, first: Member, theirs, mine) -> TunecardError:
    return TunecardError(f"member {other.path}", f"the {what} of {first.path}: {mine}", f"{theirs}",
                         "blend runs trained on the same data splits for the same task")


def _first_difference(mine, theirs) -> int:
    pairs = zip(zip(mine["id"], mine["label"]), zip(theirs["id"], theirs["label"]))
    return next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(mine), len(theirs)))


def _fitted(task) -> dict:
    """What the task refit on the blend's validation probabilities (multi-label thresholds), as metrics.json
    `fitted` holds a run's: its ModelSettings keys. Nothing for a task that fits nothing."""
    from tunecard.runs.settings import ModelSettings

    chosen = task.fitted_settings()
    return {"fitted": ModelSettings(**chosen).keys(list(chosen))} if chosen else {}


def write_ensemble(workdir: Path, task, members, weights, confidence: dict, objective: str, folds: int,
                   judged: dict, leads: dict, output: Path) -> dict:
    """ensemble.json (members by path relative to the ensemble, weights), metrics.json and the card."""
    import os

    from tunecard.judging import metrics
    from tunecard.report.ensemble_card import EnsembleCardInputs, build_ensemble_card
    from tunecard.report.inputs import split_metrics
    from tunecard.runs.saved import ENSEMBLE_FILE

    names, counts = members[0].metrics["label_names"], members[0].metrics["splits"]["train"]["label_distribution"]
    headline = task.headline_metric(names)
    described = [{"name": m.name, "path": os.path.relpath(m.path.resolve(), output.resolve()),
                  "weight": round(float(w), 6), "base_model": m.base_model,
                  "mean_top_probability": confidence[m.name],
                  "headline": {s: m.metrics["splits"][s]["metrics"][headline] for s in judged}}
                 for m, w in zip(members, weights)]
    fitting = {"log_loss": "fitted to minimise the validation log-loss", "equal": "equal weights, nothing fitted",
               "headline": f"fitted to maximise validation {headline} by search from the log-loss weights"}[objective]
    fitting += "; the decision rules fitted on validation refit on the blend's validation probabilities " \
        "(metrics.json `fitted`)" if task.fitted_settings() else ""
    spec = {"members": [{k: d[k] for k in ("name", "path", "weight")} for d in described], "objective": objective,
            "folds": folds, "fitting": fitting}
    findings = [f.as_dict() for j in judged.values() for f in j.findings]
    report = {"task": task.name, "label_names": names, "best_metric": headline, "temperature": None,
              "ensemble": {**spec, "members": described, "leads": leads},
              "splits": {"train": {"size": sum(counts.values()), "label_distribution": counts},
                         **{s: split_metrics(j.report) for s, j in judged.items()}},
              "diagnostics": findings, **_fitted(task)}
    (workdir / ENSEMBLE_FILE).write_text(json.dumps(spec, indent=2), encoding="utf-8")
    (workdir / "metrics.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    card = build_ensemble_card(EnsembleCardInputs(
        model_name=output.name, task=task.name, dataset_name=members[0].metrics.get("dataset", "the members' data"),
        model_index_task=task.model_index_task, pipeline_tag=task.pipeline_tag, metric_keys=task.metric_keys(names),
        metric_info={**metrics.METRIC_INFO, **task.metric_info}, headline=headline, members=described,
        fitting=fitting, results=[j.report for j in judged.values()], leads=leads, folds=folds, findings=findings))
    card.save(workdir / "README.md")
    return report
