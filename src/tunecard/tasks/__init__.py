"""Task shapes. Each module describes one shape (its column contract, preprocessing, collator,
labels and metrics); the registry maps a task name to its module."""

from __future__ import annotations

import importlib

from tunecard.errors import TunecardError

TASKS = {"classification": "tunecard.tasks.classification", "preference": "tunecard.tasks.preference"}


def get_task(name: str):
    if name not in TASKS:
        raise TunecardError("--task", f"one of {', '.join(TASKS)}", f"'{name}'",
                            "choose one of those tasks")
    return importlib.import_module(TASKS[name])
