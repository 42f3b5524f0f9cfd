"""Task shapes: the registry, and the one place a run's unset defaults are decided.

Each task is a subclass of `tunecard.tasks.base.Task` (see there for the protocol). `TASKS` maps a name
to the class, imported when first asked for; `register` adds a task defined anywhere.
"""

from __future__ import annotations

import copy
import importlib
import json

from tunecard.errors import TunecardError
from tunecard.tasks.base import PreparedData, Task, TaskCard  # noqa: F401 (the protocol's public names)

TASKS: dict[str, object] = {
    "classification": "tunecard.tasks.classification:Classification",
    "preference": "tunecard.tasks.preference:Preference",
    "multiple_choice": "tunecard.tasks.multiple_choice:MultipleChoice",
    "llm_classification": "tunecard.tasks.llm_classification:LlmClassification",
    "multi_label": "tunecard.tasks.multi_label:MultiLabel",
}
"""Task name -> its class, or "module:Class" until first used."""


def register(name: str, task_class: type[Task]) -> None:
    """Make `task_class` available as `--task name` (and to models trained with it)."""
    if not (isinstance(task_class, type) and issubclass(task_class, Task)):
        raise TypeError(f"{task_class!r} is not a subclass of tunecard.tasks.base.Task")
    TASKS[name] = task_class


def task_class(name: str) -> type[Task]:
    if name not in TASKS:
        raise TunecardError("--task", f"one of {', '.join(TASKS)}", f"'{name}'", "choose one of those tasks")
    entry = TASKS[name]
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = TASKS[name] = getattr(importlib.import_module(module), attribute)
    return entry


def resolve_config(config):
    """A new Config with every unset default filled in by the task (model, learning rate, truncation
    side), bound task sections included: what config.yaml records. The caller's config is not changed."""
    from tunecard.config import ModelConfig

    cls = task_class(config.task)
    resolved = copy.deepcopy(config)
    if cls.default_model and resolved.model.name == ModelConfig().name:
        resolved.model.name = cls.default_model
    if resolved.train.learning_rate is None:
        resolved.train.learning_rate = cls.default_learning_rate(resolved.model.name)
    resolved.model.truncation_side = resolved.model.truncation_side or cls.truncation_side
    return resolved


def bind(config) -> Task:
    """The task of a resolved config, configured for the run."""
    return task_class(config.task).bind(config)


def saved_settings(path: str) -> dict:
    """A tunecard model's config.json (the run folder's model/ or the folder itself) as a dict."""
    from tunecard.models import model_folder

    config = model_folder(path) / "config.json"
    if not config.is_file():
        raise TunecardError(f"model {path}", "a tunecard run directory or model folder with config.json",
                            "no config.json there", "point --model at a run directory or its model/ folder")
    return json.loads(config.read_text(encoding="utf-8"))


def for_model(path: str, **options) -> Task:
    """The task a trained model was trained with, bound to its saved settings and the given options."""
    saved = saved_settings(path)
    return task_class(saved.get("tunecard_task", "classification")).from_model(saved, **options)


def trained_task(model: str) -> str | None:
    """The task a tunecard-trained model (a run directory or its model folder) was trained for; None for any
    other model: an embedded alias, a hub id, a folder whose config.json tunecard did not write, or nothing."""
    from tunecard.models import EMBEDDED_MODELS, model_folder

    config = model_folder(model) / "config.json"
    if model in EMBEDDED_MODELS or not config.is_file():
        return None
    saved = json.loads(config.read_text(encoding="utf-8"))
    if not any(key.startswith("tunecard_") for key in saved):
        return None
    return saved.get("tunecard_task", "classification")  # the first models saved no task: classifiers


def zero_shot_tasks() -> list[str]:
    """The tasks `tunecard evaluate --task` can score a model with that tunecard did not train (zero-shot)."""
    return [name for name in TASKS if task_class(name).zero_shot_models]
