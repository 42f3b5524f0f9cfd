"""A static student: a text's vector is the mean of its tokens' static embeddings (Model2Vec distils them from an
encoder once, with no data), and a linear head classifies it. No transformer runs at prediction time.

It is a transformers model (`StaticForSequenceClassification`, model type `tunecard-static`) with a fast tokenizer,
so it trains with Trainer, saves, loads and scores through the same code as every other tunecard model;
`import tunecard.engine.static` registers it with the Auto classes (runs/saved.py does before loading one)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from tunecard import console
from tunecard.errors import TunecardError

MODEL_TYPE = "tunecard-static"


class StaticConfig(PretrainedConfig):
    model_type = MODEL_TYPE

    def __init__(self, vocab_size: int = 1, hidden_size: int = 256, pad_token_id: int = 0, normalize: bool = True,
                 **kwargs):
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self.vocab_size, self.hidden_size, self.normalize = vocab_size, hidden_size, normalize


class StaticForSequenceClassification(PreTrainedModel):
    """Mean of the tokens' embeddings (padding left out; L2-normalised, as Model2Vec encodes), then a linear layer:
    logits [batch, labels]."""

    config_class = StaticConfig
    base_model_prefix = "static"

    def __init__(self, config: StaticConfig):
        super().__init__(config)
        self.embeddings = torch.nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.classifier = torch.nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs) -> SequenceClassifierOutput:
        mask = (attention_mask if attention_mask is not None else torch.ones_like(input_ids)).unsqueeze(-1).float()
        pooled = (self.embeddings(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        if self.config.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        logits = self.classifier(pooled)
        loss = None
        if labels is not None:  # the model's own loss, as sequence classifiers have it
            if self.config.problem_type == "multi_label_classification":
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels.float())
            else:
                loss = torch.nn.functional.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(MODEL_TYPE, StaticConfig, exist_ok=True)
AutoModelForSequenceClassification.register(StaticConfig, StaticForSequenceClassification, exist_ok=True)


def distil(encoder: str, folder: Path, dims: int) -> Path:
    """Model2Vec's static embeddings of `encoder` (a local folder or hub id), reduced to `dims` by PCA, saved in
    `folder` as a StaticForSequenceClassification base (a head is added when a task builds the model) with its
    tokenizer. Done once: a folder that holds one is kept."""
    if (folder / "config.json").is_file():
        return folder
    try:
        from model2vec.distill import distill, inference
    except ImportError as exc:
        raise TunecardError("--distill.student static", "model2vec and skeletoken installed", f"{exc.name} missing",
                            'pip install -e ".[distill]"') from None

    # Model2Vec draws its own bar as it encodes the vocabulary: tunecard's progress keeps a log to lines
    inference.tqdm = console.progress
    static = distill(model_name=encoder, pca_dims=dims)
    padding = static.tokenizer.padding or {}
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=static.tokenizer, pad_token=padding.get("pad_token"),
                                        unk_token=getattr(static.tokenizer.model, "unk_token", None),
                                        model_max_length=512)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    weights = torch.as_tensor(static.embedding, dtype=torch.float32)
    model = StaticForSequenceClassification(StaticConfig(vocab_size=weights.shape[0], hidden_size=weights.shape[1],
                                                         pad_token_id=pad, normalize=bool(static.normalize)))
    with torch.no_grad():
        model.embeddings.weight.copy_(weights)
    partial = folder.with_name(folder.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(folder)
    return folder
