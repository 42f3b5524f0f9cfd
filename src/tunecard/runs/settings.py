"""What tunecard saves with a model, beside transformers' own keys in its config.json: one dataclass, written and
read here and nowhere else. Each field is saved as `tunecard_<field>` (what `pipeline()` users can read, e.g.
`model.config.tunecard_thresholds`); a model folder with none of them is not one tunecard trained.

Tasks and predictors never read config.json: they get these typed fields (tasks speak the field names in
`model_settings` and `fitted_settings`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

PREFIX = "tunecard_"


@dataclass
class ModelSettings:
    task: Optional[str] = None
    """The task shape the model was trained for (the first models saved none: the default task, a classifier)."""
    base_model: Optional[str] = None
    """The hub id of the base model (the card's `base_model`)."""
    max_length: Optional[int] = None
    """Longest input in tokens, as in training (unset: the tokenizer's limit, at most 512)."""
    truncation_side: Optional[str] = None
    """Which end of a too-long input training cut (unset: the tokenizer's)."""
    long_inputs: Optional[dict] = None
    """How inputs longer than max_length were read: {"strategy": truncate|chunk, "stride", "pooling"} (unset:
    truncated)."""
    train_label_counts: Optional[dict] = None
    """Rows per label in train: the majority and stratified baselines of an evaluation."""
    temperature: Optional[float] = None
    """The softmax temperature fitted on validation."""
    retrieval: Optional[dict] = None
    """The passage index the model was trained with ({"index", "top_k"})."""
    abstention: Optional[dict] = None
    """The confidence cut-off fitted on validation under which a prediction abstains (judging.abstention.saved_settings:
    {"threshold", "target_accuracy" or "target_coverage", "validation_accuracy", "validation_coverage",
    "validation_accuracy_interval"}); the threshold compares with the top probability after `temperature`."""

    # preference
    text_pair: bool = False
    """The model reads (prompt, response) pairs."""

    # multi_label: what validation fitted, and the label layout the model was trained on
    thresholds: Optional[list] = None
    """The decision threshold of each label id."""
    threshold_kind: Optional[str] = None  # global or per_label
    label_priors: Optional[list] = None  # each label's share of the training rows: the per-label prior baseline
    majority_set: Optional[list] = None  # the most frequent training label set, 0/1 per label: the majority baseline
    label_columns: Optional[str] = None  # data.label_columns
    label_delimiter: Optional[str] = None  # data.label_delimiter
    labels_by_id: bool = False  # the training labels were ids named by data.label_names

    # llm_classification: how to load the tuned model again and prompt it as in training
    base_ref: Optional[str] = None
    """The base model as an alias, a hub id or an absolute folder."""
    labels: Optional[list] = None
    """The label names, in id order."""
    llm: Optional[dict] = None
    """LlmConfig's fields, the label words resolved."""
    lora: Optional[dict] = None
    """LoraConfig's fields."""

    extra: dict = field(default_factory=dict)
    """tunecard_* keys of a newer tunecard that this one does not know: kept, never dropped."""

    @classmethod
    def from_keys(cls, values: dict) -> Optional["ModelSettings"]:
        """The settings among config.json's `values` (`tunecard_<field>` keys); None when there are none."""
        found = {key[len(PREFIX):]: value for key, value in values.items() if key.startswith(PREFIX)}
        if not found:
            return None
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        settings = cls(**{k: v for k, v in found.items() if k in known})
        settings.extra = {k: v for k, v in found.items() if k not in known}
        return settings

    @classmethod
    def read(cls, folder: Path) -> Optional["ModelSettings"]:
        """The settings in `folder`/config.json; None when the file is missing or tunecard wrote none."""
        path = Path(folder) / "config.json"
        if not path.is_file():
            return None
        return cls.from_keys(json.loads(path.read_text(encoding="utf-8")))

    def keys(self, names=None) -> dict[str, Any]:
        """`tunecard_<field>` -> value for the set fields (or only `names`), as config.json holds them."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        if names is not None:
            return {PREFIX + name: values[name] for name in names}
        default = ModelSettings()
        chosen = [k for k, v in values.items() if v != getattr(default, k)]
        return {**{PREFIX + k: v for k, v in self.extra.items()}, **{PREFIX + k: values[k] for k in chosen}}

    def updated(self, **values) -> "ModelSettings":
        """A copy with `values` (field names) set; unknown names are an error (a typo would be lost)."""
        return dataclasses.replace(self, **values)

    def save(self, folder: Path) -> None:
        """Replace the tunecard_* keys of `folder`/config.json with these settings (its other keys kept): a
        saved model's settings changed without loading the model (`tunecard abstain`)."""
        path = Path(folder) / "config.json"
        values = {k: v for k, v in json.loads(path.read_text(encoding="utf-8")).items() if not k.startswith(PREFIX)}
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps({**values, **self.keys()}, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        partial.replace(path)

    def write(self, model_config) -> None:
        """Set every field on a transformers config (saved with it into config.json)."""
        for key, value in self.keys().items():
            setattr(model_config, key, value)
