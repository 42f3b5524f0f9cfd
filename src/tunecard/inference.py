"""The batched scoring engine: sort by token length, pad each batch to its own longest text,
run the model (torch under inference_mode, or an exported ONNX model through onnxruntime), and put
the outputs back in input order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from tunecard import metrics
from tunecard.errors import TunecardError

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ONNX_FOLDER = "onnx"
"""Where `tunecard export` writes an ONNX model: inside the model folder, as hub repos do."""
ONNX_FILES = ("model_int8.onnx", "model.onnx")
"""The ONNX back end runs the first of these that exists: the int8 model when one was exported."""
BACKENDS = ("torch", "onnx")


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


def score_encoded(runner, tokenizer, encoded: dict, batch_size: int, bar=None) -> np.ndarray:
    """Logits [n, n_labels] for tokenized rows (`encoded`: model input name -> list of id lists)."""
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])
    # Longest first: a batch that does not fit in memory fails at once, not at the end.
    order = np.argsort(-lengths, kind="stable")
    inputs = [c for c in MODEL_INPUTS if c in encoded]
    outputs = None
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        batch = tokenizer.pad({c: [encoded[c][i] for i in index] for c in inputs}, return_tensors=runner.tensor_type)
        logits = runner(batch)
        if outputs is None:
            outputs = np.empty((len(order), logits.shape[-1]), dtype=np.float32)
        outputs[index] = logits
        if bar is not None:
            bar.update(len(index))
    return outputs if outputs is not None else np.empty((0, 0), dtype=np.float32)


def predict_logits(model, tokenizer, dataset, batch_size: int = 64, desc: str = "Predicting") -> np.ndarray:
    """Logits [n_rows, n_labels] for a tokenized dataset, in row order."""
    encoded = {c: list(dataset[c]) for c in MODEL_INPUTS if c in dataset.column_names}
    with tqdm(total=len(dataset), desc=desc, unit="text") as bar:
        return score_encoded(TorchRunner(model), tokenizer, encoded, batch_size, bar)


class Classifier:
    """A trained classifier for new text, as `tunecard.load(path)` returns it.

    Probabilities use the temperature fitted on validation when the model has one.
    """

    def __init__(self, runner, config, tokenizer, max_length: int, batch_size: int = 64):
        self.runner, self.config, self.tokenizer = runner, config, tokenizer
        self.max_length, self.batch_size = max_length, batch_size
        self.temperature = getattr(config, "tunecard_temperature", None)
        self.labels = [config.id2label[i] for i in range(config.num_labels)]

    @property
    def model(self):
        """The torch model (torch back end only)."""
        return self.runner.model

    def encode(self, texts: list[str], text_pairs: list[str] | None = None) -> dict:
        """Model inputs for texts (and pairs), cut as in training (a task may replace this)."""
        return dict(self.tokenizer(list(texts), list(text_pairs) if text_pairs is not None else None,
                                   truncation=True, max_length=self.max_length))

    def predict_logits(self, texts: list[str], text_pairs: list[str] | None = None, bar=None) -> np.ndarray:
        return score_encoded(self.runner, self.tokenizer, self.encode(texts, text_pairs), self.batch_size, bar)

    def predict_proba(self, texts: list[str], text_pairs: list[str] | None = None, bar=None) -> np.ndarray:
        logits = self.predict_logits(texts, text_pairs, bar)
        return metrics.softmax(logits / self.temperature if self.temperature else logits)

    def predict(self, texts: list[str], text_pairs: list[str] | None = None) -> list[str]:
        return [self.labels[i] for i in self.predict_proba(texts, text_pairs).argmax(-1)]


def load_classifier(path: str, batch_size: int = 64, backend: str = "torch") -> Classifier:
    from tunecard import models

    if backend not in BACKENDS:
        raise TunecardError("--backend", f"one of {', '.join(BACKENDS)}", f"'{backend}'", "choose one of those")
    if backend == "onnx":
        folder = onnx_folder(path)
        runner = OnnxRunner(next(folder / name for name in ONNX_FILES if (folder / name).is_file()))
        config, tokenizer = models.load_config_and_tokenizer(str(folder))
    else:
        model, tokenizer, _ = models.load_classifier(path)
        runner, config = TorchRunner(model.to("cuda") if torch.cuda.is_available() else model), model.config
    # Score as the model was trained and evaluated: same length limit, same end cut.
    max_length = getattr(config, "tunecard_max_length", None) or min(tokenizer.model_max_length, 512)
    tokenizer.truncation_side = getattr(config, "tunecard_truncation_side", None) or tokenizer.truncation_side
    return Classifier(runner, config, tokenizer, max_length, batch_size)


def onnx_folder(path: str) -> Path:
    """The folder with an exported ONNX model: `path` itself, or `<model folder>/onnx`."""
    from tunecard import models

    for folder in (Path(path), models.model_folder(path) / ONNX_FOLDER):
        if any((folder / name).is_file() for name in ONNX_FILES):
            return folder
    raise TunecardError(f"model {path}", "an exported ONNX model (model.onnx) for --backend onnx",
                        "none in the model folder", f"run: tunecard export --model {path} --format onnx")
