"""The batched scoring engine: sort by token length, pad each batch to its own longest input, run the model
(torch under inference_mode, or an exported ONNX model through onnxruntime), and put the outputs back in input
order. Also the predictor of a label classifier, which tasks build on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tunecard.console import progress
from tunecard.data import windows as window_rows
from tunecard.errors import TunecardError
from tunecard.judging import abstention, metrics

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
BACKENDS = ("torch", "onnx")
DEFAULT_MAX_LENGTH = 512
"""The longest input scored when a model saved no limit of its own (and its tokenizer's is larger)."""


class TorchRunner:
    """Logits from a transformers model, on its device, under inference_mode."""

    tensor_type = "pt"

    def __init__(self, model):
        self.model = model.eval()
        self.device = next(model.parameters()).device

    def __call__(self, batch) -> np.ndarray:
        with torch.inference_mode():
            return self.model(**{k: v.to(self.device) for k, v in batch.items()}).logits.float().cpu().numpy()


class OnnxRunner:
    """Logits from an exported ONNX model through onnxruntime (CPU, one thread per core torch uses)."""

    tensor_type = "np"

    def __init__(self, path: Path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.path = path

    def __call__(self, batch) -> np.ndarray:
        return self.session.run(["logits"], {k: np.asarray(batch[k], dtype=np.int64) for k in self.inputs})[0]


def open_runner(folder: Path, backend: str, onnx_file=None, loader=None):
    """(runner, tokenizer, model config) for a trained model folder: its torch model (`loader`: the Auto class,
    default sequence classification; on the GPU when there is one), or with backend onnx the exported model
    `onnx_file()` names (a callable: it is looked for only then)."""
    from tunecard.engine import distributed, models

    if backend not in BACKENDS:
        raise TunecardError("--backend", f"one of {', '.join(BACKENDS)}", f"'{backend}'", "choose one of those")
    if backend == "onnx":
        path = onnx_file()
        ref = models.resolve_model(str(path.parent))
        config, tokenizer = models.load_config(path.parent), models.load_tokenizer(ref)
        return OnnxRunner(path), tokenizer, config
    model, tokenizer = models.load_trained(folder, loader)
    if torch.cuda.is_available():
        model = model.to(distributed.device())  # under several processes, this process's GPU
    return TorchRunner(model), tokenizer, model.config


def scoring_length(tokenizer, max_length: int | None, truncation_side: str | None) -> int:
    """Score as the model was trained and evaluated: the same length limit, the same end cut."""
    tokenizer.truncation_side = truncation_side or tokenizer.truncation_side
    return max_length or min(tokenizer.model_max_length, DEFAULT_MAX_LENGTH)


def score_encoded(runner, tokenizer, encoded: dict, batch_size: int, bar=None) -> np.ndarray:
    """Logits [n, n_labels] for tokenized rows (`encoded`: model input name -> list of id lists)."""
    inputs = [c for c in MODEL_INPUTS if c in encoded]
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])

    def batch_of(index):
        return tokenizer.pad({c: [encoded[c][i] for i in index] for c in inputs}, return_tensors=runner.tensor_type)
    return score_by_length(runner, lengths, batch_of, batch_size, bar)


def score_by_length(runner, lengths: np.ndarray, batch_of, batch_size: int, bar=None) -> np.ndarray:
    """Run the rows through `runner` in batches of similar length (`batch_of(row indices)` -> padded
    tensors) and put the logits [n, width] back in row order."""
    # Longest first: a batch that does not fit in memory fails at once, not at the end.
    order = np.argsort(-lengths, kind="stable")
    outputs = None
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        logits = runner(batch_of(index))
        if outputs is None:
            outputs = np.empty((len(order), logits.shape[-1]), dtype=np.float32)
        outputs[index] = logits
        if bar is not None:
            bar.update(len(index))
    return outputs if outputs is not None else np.empty((0, 0), dtype=np.float32)


def predict_logits(model, tokenizer, dataset, batch_size: int = 64, desc: str = "Predicting") -> np.ndarray:
    """Logits [n_rows, n_labels] for a tokenized dataset, in row order."""
    encoded = {c: list(dataset[c]) for c in MODEL_INPUTS if c in dataset.column_names}
    with progress(total=len(dataset), desc=desc, unit="text") as bar:
        return score_encoded(TorchRunner(model), tokenizer, encoded, batch_size, bar)


class Classifier:
    """A trained label classifier for new text, as `tunecard.load(path)` returns it: softmax probabilities,
    with the temperature fitted on validation when the model has one. A model trained on windows
    (model.long_inputs: chunk) reads a long text as its windows and pools their logits, as in training. A model
    saved with an abstention cut-off (`abstain_below`) answers None for a text whose top probability is below it."""

    def __init__(self, runner, tokenizer, labels: list[str], max_length: int, temperature: float | None = None,
                 batch_size: int = 64, encode=None, windows=None, abstain_below: float | None = None):
        self.runner, self.tokenizer, self.labels = runner, tokenizer, list(labels)
        self.max_length, self.temperature, self.batch_size = max_length, temperature, batch_size
        self.windows, self.abstain_below = windows, abstain_below
        if encode is not None:  # a task's own input encoding (e.g. preference's prompt + response budget)
            self.encode = encode

    @property
    def model(self):
        """The torch model (torch back end only)."""
        return self.runner.model

    def encode(self, texts: list[str], text_pairs: list[str] | None = None) -> dict:
        """Model inputs for texts (and pairs), cut as in training, or their windows (a task may replace this)."""
        pairs = list(text_pairs) if text_pairs is not None else None
        if self.windows is not None:
            return window_rows.encode(self.tokenizer, list(texts), pairs, self.max_length, self.windows.stride)
        return dict(self.tokenizer(list(texts), pairs, truncation=True, max_length=self.max_length))

    def predict_logits(self, texts: list[str], text_pairs: list[str] | None = None, bar=None) -> np.ndarray:
        encoded = self.encode(texts, text_pairs)
        if "document" not in encoded:
            return score_encoded(self.runner, self.tokenizer, encoded, self.batch_size, bar)
        logits = score_encoded(self.runner, self.tokenizer, encoded, self.batch_size)
        if bar is not None:
            bar.update(len(texts))  # progress counts texts, not their windows
        return window_rows.pool(logits, encoded["document"], self.windows.pooling)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return metrics.softmax(logits / self.temperature if self.temperature else logits)

    def predict_proba(self, texts: list[str], text_pairs: list[str] | None = None, bar=None) -> np.ndarray:
        return self.probabilities(self.predict_logits(texts, text_pairs, bar))

    def predict(self, texts: list[str], text_pairs: list[str] | None = None) -> list:
        """The top label of each text; None where the model abstains (its saved cut-off)."""
        return abstention.labels_or_none(self.predict_proba(texts, text_pairs), self.labels, self.abstain_below)

    def abstains(self, probs: np.ndarray) -> np.ndarray:
        """Which rows of `predict_proba`'s probabilities abstain (all false for a model without a cut-off)."""
        return abstention.abstains(probs, self.abstain_below)
