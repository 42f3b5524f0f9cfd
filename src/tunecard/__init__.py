"""tunecard: fine-tune pretrained transformers as text classifiers, with model cards that tell the truth."""

from tunecard.config import Config, DataConfig, IndexConfig, ModelConfig, RetrievalConfig, TrainConfig
from tunecard.errors import TunecardError

__version__ = "0.1.0"
__all__ = ["Config", "DataConfig", "IndexConfig", "ModelConfig", "RetrievalConfig", "TrainConfig", "TunecardError",
           "train", "evaluate", "load", "predict", "index", "verify", "ensemble", "tune"]


def train(config):
    """Fine-tune and write a run directory; see `tunecard.api.train`."""
    from tunecard.api import train as _train

    return _train(config)


def evaluate(model, data, **kwargs):
    """Score labelled data with a trained model; see `tunecard.api.evaluate`."""
    from tunecard.api import evaluate as _evaluate

    return _evaluate(model, data, **kwargs)


def load(path, batch_size: int = 64, backend: str = "torch"):
    """A trained model (run or model folder) with `.predict(texts)` and `.predict_proba(texts)`,
    for whichever task it was trained on; backend `onnx` runs an exported model (`tunecard export`). An
    ensemble (`tunecard ensemble`) loads its members and blends their probabilities."""
    from tunecard import blending

    return blending.load_predictor(blending.task_for(str(path)), str(path), batch_size, backend)


def predict(model, data, output, **kwargs):
    """Score a file of texts and write predictions; see `tunecard.api.predict`."""
    from tunecard.api import predict as _predict

    return _predict(model, data, output, **kwargs)


def index(config):
    """Build a passage index folder for `--retrieval.index` (an IndexConfig or a dict of its fields);
    see `tunecard.api.index`."""
    from tunecard.api import index as _index

    return _index(config)


def verify(run):
    """Recompute a run's numbers from its predictions files; the list of mismatches (see `tunecard.api.verify`)."""
    from tunecard.api import verify as _verify

    return _verify(str(run))


def ensemble(runs, output, **kwargs):
    """Blend trained runs with weights fitted on validation; see `tunecard.api.ensemble`."""
    from tunecard.api import ensemble as _ensemble

    return _ensemble([str(r) for r in runs], str(output), **kwargs)


def tune(config, tune_config=None):
    """Search training options with Optuna; the best trial is trained again as <output>/best (see
    `tunecard.api.tune`). Returns that run directory."""
    from tunecard.api import tune as _tune

    return _tune(config, tune_config)
