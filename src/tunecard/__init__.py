"""tunecard: fine-tune pretrained transformers as text classifiers, with model cards that tell the truth.

The verbs are `tunecard.<verb>` (each in its own module under workflows/, imported when first used, so
`import tunecard` stays light) and `tunecard.load` (runs/saved.py)."""

import importlib

from tunecard.config import Config, DataConfig, IndexConfig, ModelConfig, RetrievalConfig, TrainConfig
from tunecard.errors import TunecardError

__version__ = "0.1.0"
VERBS = {"train": "tunecard.workflows.train", "evaluate": "tunecard.workflows.evaluate",
         "predict": "tunecard.workflows.predict", "export": "tunecard.workflows.export",
         "index": "tunecard.workflows.index", "tune": "tunecard.workflows.tune",
         "ensemble": "tunecard.workflows.ensemble", "verify": "tunecard.workflows.verify",
         "abstain": "tunecard.workflows.abstain",
         "distill": "tunecard.workflows.distill",
         "push": "tunecard.workflows.push", "serve": "tunecard.workflows.serve", "load": "tunecard.runs.saved"}
"""Public name -> the module that defines it (a function of the same name)."""
__all__ = ["Config", "DataConfig", "IndexConfig", "ModelConfig", "RetrievalConfig", "TrainConfig", "TunecardError",
           *VERBS]


def __getattr__(name: str):
    if name in VERBS:
        return getattr(importlib.import_module(VERBS[name]), name)
    raise AttributeError(f"module 'tunecard' has no attribute {name!r}")
