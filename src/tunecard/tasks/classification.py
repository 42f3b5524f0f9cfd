"""Single-text and text-pair classification: `AutoModelForSequenceClassification`. Every hook is the Task
protocol's default (tasks/base.py; its data half is data/texts.py); only its facts are set here."""

from __future__ import annotations

from tunecard.tasks.base import Task

MINILM_LEARNING_RATE = 1.5e-4
"""The embedded minilm (6 layers, 384 wide) is under-trained at 5e-5 in 3 epochs (benchmarks/emotion_train.py)."""


class Classification(Task):
    """One text (or a text pair) and a label: `AutoModelForSequenceClassification`."""

    name = "classification"
    exports_onnx = True
    model_learning_rates = {"minilm": MINILM_LEARNING_RATE}
