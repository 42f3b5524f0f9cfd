"""tunecard: fine-tune pretrained transformers as text classifiers, with model cards that tell the truth."""

from tunecard.config import Config, DataConfig, ModelConfig, TrainConfig
from tunecard.errors import TunecardError

__version__ = "0.1.0"
__all__ = ["Config", "DataConfig", "ModelConfig", "TrainConfig", "TunecardError", "train", "evaluate"]


def train(config):
    """Fine-tune and write a run directory; see `tunecard.api.train`."""
    from tunecard.api import train as _train

    return _train(config)


def evaluate(model, data, **kwargs):
    """Score labelled data with a trained model; see `tunecard.api.evaluate`."""
    from tunecard.api import evaluate as _evaluate

    return _evaluate(model, data, **kwargs)
