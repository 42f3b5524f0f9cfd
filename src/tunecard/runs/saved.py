"""A trained run on disk, opened once. `open_saved(path)` resolves what a user passes as `--model` (a run
directory, a model folder, an ensemble, an ONNX export, or a model tunecard never trained: an alias, a hub id, a
folder or a PEFT adapter) into one `SavedRun`: its folders, its saved settings, its task and its members. Every
verb receives that value; nothing else looks inside a run to find these again. `load(path)` is
`tunecard.load`: the run's predictor."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from tunecard.errors import TunecardError
from tunecard.judging.abstention import abstains, labels_or_none, threshold_of
from tunecard.runs.settings import ModelSettings

ENSEMBLE_FILE = "ensemble.json"
"""An ensemble run directory's members (paths relative to it) and weights."""
ONNX_FOLDER = "onnx"
"""Where `tunecard export` writes an ONNX model by default: inside the model folder, as hub repos do."""
ONNX_FILES = ("model_int8.onnx", "model.onnx")
"""The ONNX back end runs the first of these that exists: the int8 model when one was exported."""
KINDS = ("run", "model", "ensemble", "onnx", "adapter", "base")
"""run: a run directory (model/, metrics.json, config.yaml); model: a model folder tunecard wrote; ensemble: an
ensemble run directory; onnx: a folder `tunecard export` wrote; adapter: a PEFT adapter folder tunecard did not
write; base: anything else (an embedded alias, a hub id, a model folder tunecard did not write)."""


@dataclass(frozen=True)
class SavedRun:
    """A path opened once (see KINDS): what every verb receives instead of the path."""

    path: str
    """As the user gave it."""
    kind: str = "base"
    """One of KINDS."""
    folder: Optional[Path] = None
    """The model folder (a run directory's model/, or the folder itself); None for a hub id or an alias."""
    run_dir: Optional[Path] = None
    """The run directory (metrics.json, config.yaml, predictions/) when there is one."""
    settings: Optional[ModelSettings] = None
    """What tunecard saved with the model; None for a model it did not train."""
    members: tuple["SavedRun", ...] = ()
    weights: tuple[float, ...] = ()

    @property
    def trained(self) -> bool:
        """A model tunecard trained (or an ensemble of them), as opposed to a base model."""
        return self.kind in ("run", "model", "ensemble", "onnx")

    @property
    def task_name(self) -> str:
        if self.members:
            return self.members[0].task_name
        if self.settings is not None:
            from tunecard.config import Config

            return self.settings.task or Config.task  # the first models saved no task: classifiers
        return self.run_config().task

    def require_trained(self) -> "SavedRun":
        if not self.trained:
            raise TunecardError(f"model {self.path}", "a tunecard run directory or model folder with config.json",
                                "no config.json there" if self.kind == "base" else "a model tunecard did not train",
                                "point --model at a run directory or its model/ folder")
        return self

    def task(self, **options):
        """The task the model was trained for, bound to its saved settings and the given options (None: not
        given); an ensemble's is its first member's, with the decision rules refit for the blend."""
        from tunecard import tasks

        if self.members:
            return self._refit_for_blend(self.members[0].task(**options))
        self.require_trained()
        if self.settings is None:  # a run directory without its model folder: the options it ran with
            return tasks.bind(self.run_config())
        from tunecard.data.windows import Windows

        task = tasks.task_class(self.task_name).from_model(self.settings, **options)
        return task.with_windows(Windows.from_settings(self.settings.long_inputs))

    def judged_task(self):
        """The task as the run judged its splits: bound from config.yaml (the options it ran with, such as
        MAP@k) with what it fitted on validation (metrics.json); without config.yaml, from the model."""
        if self.members:
            return self._refit_for_blend(self.members[0].judged_task())
        if self.run_dir is None or not (self.run_dir / "config.yaml").is_file():
            return self.task()
        from tunecard import tasks

        fitted = ModelSettings.from_keys(self.metrics().get("fitted", {}))
        task = tasks.bind(self.run_config())
        return task.with_fitted(fitted) if fitted is not None else task

    def _refit_for_blend(self, task):
        """An ensemble's task: what its task fits on validation (multi-label thresholds), as `tunecard ensemble`
        refit it for the blend (metrics.json `fitted`)."""
        fitted = ModelSettings.from_keys(self.metrics().get("fitted", {}))
        return task.with_fitted(fitted) if fitted is not None else task

    def run_config(self):
        from tunecard.config import load_config

        if self.run_dir is None or not (self.run_dir / "config.yaml").is_file():
            raise TunecardError(f"run {self.path}", "a run directory with config.yaml", "none there",
                                "pass the folder `tunecard train` wrote")
        return load_config(self.run_dir / "config.yaml")

    def metrics(self) -> dict:
        """The run's metrics.json ({} when there is none)."""
        path = (self.run_dir or Path(self.path)) / "metrics.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def onnx_folder(self) -> Path:
        """The folder with the exported ONNX model: this one, or `<model folder>/onnx`."""
        candidates = [self.folder] if self.kind == "onnx" else [self.folder, (self.folder or Path()) / ONNX_FOLDER]
        for folder in filter(None, candidates):
            if any((folder / name).is_file() for name in ONNX_FILES):
                return folder
        raise TunecardError(f"model {self.path}", "an exported ONNX model (model.onnx) for --backend onnx",
                            "none in the model folder", f"run: tunecard export --model {self.path} --format onnx")

    def onnx_file(self) -> Path:
        folder = self.onnx_folder()
        return next(folder / name for name in ONNX_FILES if (folder / name).is_file())

    def parameters(self) -> int:
        """The model's parameters, counted from its safetensors files (an ensemble's: all its members')."""
        from safetensors import safe_open

        if self.members:
            return sum(member.parameters() for member in self.members)
        total = 0
        for path in sorted((self.folder or Path(self.path)).glob("*.safetensors")):
            with safe_open(str(path), "np") as weights:
                for key in weights.keys():
                    total += int(np.prod(weights.get_slice(key).get_shape()))
        return total

    def load(self, batch_size: int = 64, backend: str = "torch", **options):
        """The predictor `tunecard.load` returns: the task's, or a Blend of an ensemble's members."""
        if self.members:
            return Blend([m.load(batch_size, backend) for m in self.members], self.weights,
                         threshold_of(self.settings.abstention if self.settings else None), task=self.task(**options))
        return self.task(**options).load_predictor(self.require_trained(), batch_size, backend)


def open_saved(path) -> SavedRun:
    """`path` resolved once into a SavedRun (see KINDS)."""
    given = str(path)
    folder = Path(given).expanduser()
    if (folder / ENSEMBLE_FILE).is_file():
        return _ensemble(given, folder)
    model = folder / "model" if (folder / "model" / "config.json").is_file() else folder
    run_dir = folder if model != folder or (folder / "metrics.json").is_file() else None
    settings = ModelSettings.read(model) if model.is_dir() else None
    if settings is not None:
        onnx = any((folder / name).is_file() for name in ONNX_FILES) and run_dir is None
        return SavedRun(given, "onnx" if onnx else "run" if run_dir else "model", model, run_dir, settings)
    if run_dir is not None and (folder / "config.yaml").is_file():  # a run whose model folder was removed
        return SavedRun(given, "run", None, run_dir)
    if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
        return SavedRun(given, "adapter", folder)
    return SavedRun(given, "base", folder if folder.is_dir() else None)


def _ensemble(given: str, folder: Path) -> SavedRun:
    spec = json.loads((folder / ENSEMBLE_FILE).read_text(encoding="utf-8"))
    members = tuple(open_saved(_member_path(folder, m["path"])) for m in spec["members"])
    # The blend's settings are its first member's, but abstention is the blend's own (fitted on the blended
    # probabilities by `tunecard abstain`), never a member's.
    settings = members[0].settings.updated(abstention=spec.get("abstention")) if members[0].settings else None
    return SavedRun(given, "ensemble", None, folder, settings, members,
                    tuple(float(m["weight"]) for m in spec["members"]))


def _member_path(ensemble: Path, member: str) -> Path:
    """A member as recorded (relative to the ensemble folder when it was written so), checked to exist."""
    path = ensemble / member
    if not (path / "model").is_dir() and not (path / "config.yaml").is_file():
        raise TunecardError(f"ensemble member {member}", "the member's run directory with its model/",
                            f"nothing at {path}", "keep the member runs where they were when the ensemble was made")
    return path


def load(path, batch_size: int = 64, backend: str = "torch"):
    """A trained model (run directory, model folder, ONNX export with backend `onnx`, or ensemble) with
    `.predict(...)` and `.predict_proba(...)` for whichever task it was trained on."""
    return open_saved(path).load(batch_size, backend)


class Blend:
    """What `tunecard.load(<ensemble>)` returns: each member scores, and their probabilities are blended with
    the fitted weights; it answers the calls its members' predictors answer (`predict_proba`, `predict`). It
    abstains by the ensemble's own cut-off (`abstain_below`), fitted on the blend; the members' are not used.
    Multi-label members' sigmoid probabilities blend alike, and a text's labels are those at or above the
    thresholds `tunecard ensemble` refit for the blend on validation (`task`: the ensemble's task)."""

    def __init__(self, members: list, weights, abstain_below: Optional[float] = None, task=None):
        self.members, self.weights, self.task = members, np.asarray(weights, dtype=float), task
        self.abstain_below = abstain_below
        first = members[0]
        self.labels, self.tokenizer, self.max_length = first.labels, first.tokenizer, first.max_length

    def predict_proba(self, *args, bar=None, **kwargs) -> np.ndarray:
        shared = _SharedBar(bar, 1 / len(self.members)) if bar is not None else None  # each member's share
        probs = np.stack([m.predict_proba(*args, bar=shared, **kwargs) for m in self.members])
        return np.tensordot(self.weights, probs, axes=1)

    def predict(self, *args, **kwargs) -> list:
        """The top label of each input; None where the blend abstains. Multi-label: each text's label set."""
        probs = self.predict_proba(*args, **kwargs)
        if self.task is not None and self.task.independent_labels:
            return [[label for label, on in zip(self.labels, row) if on] for row in self.task.predicted(probs)]
        return labels_or_none(probs, self.labels, self.abstain_below)

    def abstains(self, probs: np.ndarray) -> np.ndarray:
        return abstains(probs, self.abstain_below)


class _SharedBar:
    def __init__(self, bar, share: float):
        self.bar, self.share = bar, share

    def update(self, n=1):
        self.bar.update(n * self.share)


def base_ref(name: str, base_model: str | None = None):
    """The model to train from `name` (engine.models.resolve_model's reference), named in the card as
    `base_model` when given (a local folder's hub id), else as a tunecard model trained further names its own
    base."""
    import dataclasses

    from tunecard.engine import models

    ref = models.resolve_model(name)
    folder = Path(ref.location)
    settings = ModelSettings.read(folder) if folder.is_dir() else None
    named = base_model or (settings.base_model if settings is not None else None)
    return dataclasses.replace(ref, base_model=named) if named else ref
