"""Task shapes: the registry, and the one place a run's unset defaults are decided.

Each task is a subclass of `tunecard.tasks.base.Task` (see there for the protocol). `TASKS` maps a name
to the class, imported when first asked for; `register` adds a task defined anywhere.
"""

from __future__ import annotations

import copy
import importlib

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
ZERO_SHOT: dict[str, object] = {
    "multiple_choice": "tunecard.tasks.choice_likelihood:ChoiceLikelihood",
    "llm_classification": "tunecard.tasks.llm_classification:LlmClassification",
}
"""Task name -> the class that scores a causal LM tunecard never trained as that task (`evaluate --task`)."""


def register(name: str, task_class: type[Task]) -> None:
    """Make `task_class` available as `--task name` (and to models trained with it)."""
    if not (isinstance(task_class, type) and issubclass(task_class, Task)):
        raise TypeError(f"{task_class!r} is not a subclass of tunecard.tasks.base.Task")
    TASKS[name] = task_class


def task_class(name: str) -> type[Task]:
    if name not in TASKS:
        raise TunecardError("--task", f"one of {', '.join(TASKS)}", f"'{name}'", "choose one of those tasks")
    return _imported(TASKS, name)


def _imported(registry: dict, name: str) -> type[Task]:
    entry = registry[name]
    if isinstance(entry, str):
        module, _, attribute = entry.partition(":")
        entry = registry[name] = getattr(importlib.import_module(module), attribute)
    return entry


def resolve_config(config):
    """A new Config with every unset default filled in by the task (model, learning rate, truncation
    side), bound task sections included: what config.yaml records. The caller's config is not changed."""
    from tunecard.config import ModelConfig
    from tunecard.engine import models
    from tunecard.tasks.base import BASE_MODEL_WARMUP, SMALL_MODEL

    cls = task_class(config.task)
    resolved = copy.deepcopy(config)
    if cls.default_model and resolved.model.name == ModelConfig().name:
        resolved.model.name = cls.default_model
    if resolved.train.learning_rate is None or resolved.train.warmup_ratio is None:
        size = models.non_embedding_parameters(resolved.model.name)
        if resolved.train.learning_rate is None:
            resolved.train.learning_rate = cls.default_learning_rate(resolved.model.name, size)
        if resolved.train.warmup_ratio is None:
            resolved.train.warmup_ratio = BASE_MODEL_WARMUP if size is not None and size >= SMALL_MODEL else 0.0
    resolved.model.truncation_side = resolved.model.truncation_side or cls.truncation_side
    return resolved


def bind(config) -> Task:
    """The task of a resolved config, configured for the run (model.long_inputs chunk: reading windows; auto is
    decided by the train workflow once it has counted the training texts' tokens)."""
    from tunecard.data.windows import Windows

    task = task_class(config.task).bind(config)
    if config.model.long_inputs != "chunk":
        return task
    pooling = "mean" if config.model.window_pooling == "auto" else config.model.window_pooling
    return task.with_windows(Windows(config.model.window_stride, pooling))


def zero_shot_class(name: str, model: str) -> type[Task]:
    """The class that scores `model`, a model tunecard never trained, as task `name` (see ZERO_SHOT)."""
    if name not in ZERO_SHOT:
        task_class(name)  # an unknown task: its own error
        raise TunecardError(f"--task {name}", f"a task that scores a model zero-shot ({', '.join(ZERO_SHOT)})",
                            f"{name}, whose models need training ('{model}' is not a tunecard run)",
                            f"train it first (tunecard train --task {name} --model {model}) and evaluate the run")
    return _imported(ZERO_SHOT, name)


def zero_shot_tasks() -> list[str]:
    """The tasks `tunecard evaluate --task` can score a model with that tunecard did not train (zero-shot)."""
    return list(ZERO_SHOT)
