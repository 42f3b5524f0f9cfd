"""Single-text and text-pair classification: `AutoModelForSequenceClassification`. Every hook is the Task
protocol's default (tasks/base.py; its data half is data/texts.py); only its facts are set here."""

from __future__ import annotations

from tunecard.tasks.base import Task

SMALL_MODEL_LEARNING_RATE = 1.5e-4
"""Small models (tasks.base.SMALL_MODEL) are under-trained at 5e-5 in 3 epochs: all-MiniLM-L6-v2 on emotion
(benchmarks/emotion_train.py) and multilingual-e5-small on TNEWS (benchmarks/base_models.py)."""


class Classification(Task):
    """One text (or a text pair) and a label: `AutoModelForSequenceClassification`."""

    name = "classification"
    student_task = "classification"
    exports_onnx = True
    small_model_learning_rate = SMALL_MODEL_LEARNING_RATE
