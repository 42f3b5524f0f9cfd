"""Blend trained runs (`tunecard ensemble`): weights fitted on their validation probabilities, the blend judged
on every split, and a predictor that runs each member and blends (numpy and scipy; members load through their task).

The blend is a linear pool: sum_i w_i p_i, with w_i >= 0 and sum w_i = 1. Weights are fitted on validation
alone; test is blended with the fitted weights and scored once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunecard.errors import TunecardError

ENSEMBLE_FILE = "ensemble.json"
OBJECTIVES = ("log_loss", "headline", "equal")
"""log_loss: minimise validation log-loss (convex: one optimum); headline: maximise the task's headline metric
(MAP@3 for multiple choice) by search, starting from the log-loss weights; equal: 1/n each."""
SEARCH_CANDIDATES = 2000
"""Weight vectors tried (Dirichlet draws, seeded) when the objective is the headline metric."""


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


def is_ensemble(path) -> bool:
    return (Path(path) / ENSEMBLE_FILE).is_file()


def read_members(paths: list[str]) -> list[Member]:
    """Each run's metrics and its evaluated splits' predictions, after checking they can be blended."""
    from tunecard.data.predictions import read_prediction_split

    if len(paths) < 2:
        raise TunecardError("tunecard ensemble", "two or more run directories", f"{len(paths)}",
                            "pass the runs to blend: tunecard ensemble runs/a runs/b ... --output runs/ens")
    members = []
    for path in map(Path, paths):
        if not (path / "metrics.json").is_file() or is_ensemble(path):
            raise TunecardError(f"member {path}", "a run directory written by tunecard train (metrics.json)",
                                "no such run there" if not is_ensemble(path) else "an ensemble",
                                "pass run directories of trained models")
        metrics = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
        _check_blends(path, metrics["task"])
        names = metrics["label_names"]
        splits = {name: MemberSplit(*read_prediction_split(path / "predictions" / f"{name}.csv", names))
                  for name, values in metrics["splits"].items() if "metrics" in values}
        members.append(Member(path, metrics, splits))
    check_members(members)
    return members


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


# ---- weights ---------------------------------------------------------------------------------------------

def blend(probs: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    return np.tensordot(np.asarray(weights, dtype=float), np.stack(probs), axes=1)


def fit_weights(probs: list[np.ndarray], gold, objective: str, headline=None, seed: int = 42) -> np.ndarray:
    """Non-negative weights summing to 1. `headline(blended_probs) -> float` (higher is better) for
    objective 'headline'."""
    if objective == "equal":
        return np.full(len(probs), 1 / len(probs))
    weights = _log_loss_weights(probs, gold)
    if objective == "log_loss":
        return weights
    rng = np.random.default_rng(seed)
    candidates = [weights, np.full(len(probs), 1 / len(probs)), *np.eye(len(probs)),
                  *rng.dirichlet(np.ones(len(probs)), SEARCH_CANDIDATES)]
    values = [headline(blend(probs, w)) for w in candidates]
    return np.asarray(candidates[int(np.argmax(values))])  # the first best: log-loss weights win ties


def _log_loss_weights(probs: list[np.ndarray], gold) -> np.ndarray:
    from scipy.optimize import minimize

    gold_probs = np.stack([p[np.arange(len(p)), np.asarray(gold)] for p in probs], axis=1)  # [rows, members]
    n = gold_probs.shape[1]

    def loss(w):
        return -np.mean(np.log(np.maximum(gold_probs @ w, 1e-12)))

    def gradient(w):
        return -(gold_probs / np.maximum(gold_probs @ w, 1e-12)[:, None]).mean(0)
    found = minimize(loss, np.full(n, 1 / n), jac=gradient, method="SLSQP", bounds=[(0, 1)] * n,
                     constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}])
    weights = np.clip(found.x, 0, None)
    return weights / weights.sum()


def fit_and_blend(task, members: list[Member], objective: str, folds: int, seed: int):
    """(weights fitted on validation, each split's blended probabilities); with `folds`, validation's are
    out-of-fold."""
    names = members[0].metrics["label_names"]
    validation = members[0].splits["validation"].dataset
    scorer_for = headline_scorer(task, validation, names)
    member_probs = {name: [m.splits[name].probs for m in members] for name in members[0].splits}
    gold = validation["label"]
    weights = fitted(member_probs["validation"], gold, objective, scorer_for, seed)
    blended = {name: blend(probs, weights) for name, probs in member_probs.items()}
    if folds:
        blended["validation"] = out_of_fold(member_probs["validation"], gold, objective, folds, scorer_for, seed)
    return weights, blended


def headline_scorer(task, dataset, names: list[str]):
    """scorer_for(rows) -> fn(probs of those rows) -> the task's headline metric on them (higher is better)."""
    from tunecard import metrics

    headline = task.headline_metric(names)

    def scorer_for(rows):
        subset, gold = dataset.select(rows), np.asarray(dataset["label"])[rows]

        def score(probs: np.ndarray) -> float:
            values = {**metrics.classification_metrics(gold, probs.argmax(-1), len(names)),
                      **task.split_metrics(subset, probs)}
            return values[headline]
        return score
    return scorer_for


def fitted(probs: list[np.ndarray], gold, objective: str, scorer_for, seed: int) -> np.ndarray:
    """Weights fitted on all validation rows; `scorer_for(rows)` gives the headline scorer of those rows."""
    return fit_weights(probs, gold, objective, scorer_for(np.arange(len(gold))), seed)


def out_of_fold(probs: list[np.ndarray], gold, objective: str, folds: int, scorer_for, seed: int) -> np.ndarray:
    """Validation probabilities of the blend where each row's weights were fitted on the other folds: an
    honest validation score for the blend when validation is small."""
    gold = np.asarray(gold)
    order = np.random.default_rng(seed).permutation(len(gold))
    blended = np.zeros_like(probs[0])
    for held in np.array_split(order, folds):
        rest = np.sort(np.setdiff1d(order, held))
        weights = fit_weights([p[rest] for p in probs], gold[rest], objective, scorer_for(rest), seed)
        blended[held] = blend([p[held] for p in probs], weights)
    return blended


# ---- the blended predictor --------------------------------------------------------------------------------

class Blend:
    """What `tunecard.load(<ensemble>)` returns: each member scores, and their probabilities are blended with
    the fitted weights; it answers the calls its members' predictors answer (`predict_proba`, `predict`)."""

    def __init__(self, members: list, weights: list[float]):
        self.members, self.weights = members, np.asarray(weights)
        self.labels = members[0].labels
        self.config = members[0].config

    def predict_proba(self, *args, **kwargs) -> np.ndarray:
        from tqdm.std import tqdm

        share = 1 / len(self.members)  # a progress bar moves by each member's share of a row
        args = [_SharedBar(a, share) if isinstance(a, tqdm) else a for a in args]
        kwargs = {k: _SharedBar(v, share) if isinstance(v, tqdm) else v for k, v in kwargs.items()}
        return blend([m.predict_proba(*args, **kwargs) for m in self.members], self.weights)

    def predict(self, *args) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(*args).argmax(-1)]


class _SharedBar:
    def __init__(self, bar, share: float):
        self.bar, self.share = bar, share

    def update(self, n=1):
        self.bar.update(n * self.share)


def load_predictor(task, path: str, batch_size: int = 64, backend: str = "torch"):
    """The task's predictor of a model, or a Blend of an ensemble's members."""
    if not is_ensemble(path):
        return task.load_predictor(path, batch_size, backend)
    spec = json.loads((Path(path) / ENSEMBLE_FILE).read_text(encoding="utf-8"))
    members = [task.load_predictor(str(_member_path(path, m["path"])), batch_size, backend) for m in spec["members"]]
    return Blend(members, [m["weight"] for m in spec["members"]])


def _member_path(ensemble: str, member: str) -> Path:
    """A member as recorded (relative to the ensemble folder when it was written so), checked to exist."""
    path = Path(ensemble) / member
    if not (path / "model").is_dir():
        raise TunecardError(f"ensemble member {member}", "the member's run directory with its model/",
                            f"nothing at {path}", "keep the member runs where they were when the ensemble was made")
    return path


def task_for(path: str, **options):
    """The task of a model, or of an ensemble's members (all share it), to load and predict with."""
    from tunecard import tasks

    if is_ensemble(path):
        spec = json.loads((Path(path) / ENSEMBLE_FILE).read_text(encoding="utf-8"))
        path = str(_member_path(str(path), spec["members"][0]["path"]))
    return tasks.for_model(path, **options)


def run_task(path) -> object:
    """The task a run directory was judged with: bound from its config.yaml (the options it ran with), else
    from its model's settings; an ensemble's is its first member's."""
    from tunecard import tasks
    from tunecard.config import load_config

    path = Path(path)
    if is_ensemble(path):
        spec = json.loads((path / ENSEMBLE_FILE).read_text(encoding="utf-8"))
        return run_task(path / spec["members"][0]["path"])
    if (path / "config.yaml").is_file():
        return tasks.bind(load_config(path / "config.yaml"))
    return tasks.for_model(str(path))


# ---- the blend against its members ------------------------------------------------------------------------

def mean_confidence(members: list[Member]) -> dict[str, float]:
    """Each member's mean top probability on validation: a member with flat probabilities moves a linear pool
    little whatever its weight, so the card shows it beside the weight."""
    return {m.name: round(float(m.splits["validation"].probs.max(-1).mean()), 4) for m in members}


def member_leads(task, members: list[Member], judged: dict, names: list[str], seed: int) -> dict[str, list[dict]]:
    """Per split, each member's headline value and the blend's paired lead over it (bootstrap interval)."""
    from tunecard import intervals, metrics

    headline = task.headline_metric(names)
    leads = {}
    for split, evaluation in judged.items():
        dataset = members[0].splits[split].dataset
        scorers = {"ensemble": intervals.Scorer(evaluation.probs.argmax(-1), task.unit_terms(dataset, evaluation.probs))}
        values = {}
        for m in members:
            probs = m.splits[split].probs
            scorers[m.name] = intervals.Scorer(probs.argmax(-1), task.unit_terms(dataset, probs))
            values[m.name] = {**metrics.classification_metrics(dataset["label"], probs.argmax(-1), len(names)),
                              **task.split_metrics(dataset, probs)}[headline]
        result = intervals.bootstrap(dataset["label"], task.resampling_units(dataset), len(names), scorers, [],
                                     headline, seed)
        leads[split] = [{"label": name, "value": values[name],
                         "difference": evaluation.report.metrics[headline] - values[name],
                         "interval": result["differences"][name]} for name in values]
    return leads
