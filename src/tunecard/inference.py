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
    inputs = [c for c in MODEL_INPUTS if c in encoded]
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])

    def batch_of(index):
        return tokenizer.pad({c: [encoded[c][i] for i in index] for c in inputs}, return_tensors=runner.tensor_type)
    return _score_by_length(runner, lengths, batch_of, batch_size, bar)


class ChoiceBatcher:
    """Multiple-choice rows (each: model input name -> one id list per option) as one [questions, options,
    tokens] batch whose questions may have different option counts: each question's options are padded to the
    batch's most with a blank input (the tokenizer's special tokens around two empty texts: [CLS] [SEP] [SEP]
    for BERT, a well-formed input whose score is masked anyway), then every input to the longest."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        blank = tokenizer("", "")
        self.blank = {k: list(v) for k, v in blank.items() if k in MODEL_INPUTS}

    def __call__(self, rows: list[dict]) -> tuple[dict, list[int]]:
        """(the padded batch of torch tensors, each question's own option count)."""
        counts = [len(row["input_ids"]) for row in rows]
        width = max(counts)
        inputs = [c for c in MODEL_INPUTS if c in rows[0]]
        flat = [{c: row[c][j] for c in inputs} if j < n else {c: self.blank[c] for c in inputs}
                for row, n in zip(rows, counts) for j in range(width)]
        batch = self.tokenizer.pad(flat, return_tensors="pt")
        return {k: v.view(len(rows), width, -1) for k, v in batch.items()}, counts


def score_choices(runner, tokenizer, encoded: dict, batch_size: int, bar=None,
                  n_options: int | None = None) -> np.ndarray:
    """Option logits [n_questions, n_options] for multiple-choice rows (`encoded`: model input name -> per
    question one id list per option; questions may have different counts). An option a question lacks scores
    -inf (probability 0). `n_options`: the width (a model's letters; by default the most options a question
    has here), the same for every batch and share. `batch_size` counts option inputs."""
    from tunecard.data.choices import mask_absent_options

    counts = np.array([len(row) for row in encoded["input_ids"]], dtype=int)
    width = n_options or int(counts.max(initial=0))
    if counts.max(initial=0) > width:
        raise TunecardError("options", f"at most {width} options per question (one per letter the model names)",
                            f"a question with {counts.max()}", f"score questions of up to {width} options")
    if not len(counts):
        return np.empty((0, width), dtype=np.float32)
    inputs = [c for c in MODEL_INPUTS if c in encoded]
    lengths = np.array([max(len(ids) for ids in row) for row in encoded["input_ids"]])
    batcher = ChoiceBatcher(tokenizer)

    def batch_of(index):
        return batcher([{c: encoded[c][i] for c in inputs} for i in index])[0], counts[index]

    def run(batch_and_counts) -> np.ndarray:
        batch, batch_counts = batch_and_counts
        return mask_absent_options(runner(batch), batch_counts, width)
    return _score_by_length(run, lengths, batch_of, max(1, batch_size // width), bar)


def _score_by_length(runner, lengths: np.ndarray, batch_of, batch_size: int, bar=None) -> np.ndarray:
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
    with tqdm(total=len(dataset), desc=desc, unit="text") as bar:
        return score_encoded(TorchRunner(model), tokenizer, encoded, batch_size, bar)


def predict_choice_logits(model, tokenizer, dataset, batch_size: int = 64, desc: str = "Predicting") -> np.ndarray:
    """Option logits [n_questions, the model's letters] for a tokenized multiple-choice dataset, in row order;
    -inf for the options a question lacks."""
    encoded = {c: list(dataset[c]) for c in MODEL_INPUTS if c in dataset.column_names}
    with tqdm(total=len(dataset), desc=desc, unit="question") as bar:
        return score_choices(TorchRunner(model), tokenizer, encoded, batch_size, bar, model.config.num_labels)


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
        runner, tokenizer = _torch_runner(path)
        config = runner.model.config
    return Classifier(runner, config, tokenizer, _scoring_length(config, tokenizer), batch_size)


def _torch_runner(path: str, loader=None) -> tuple[TorchRunner, object]:
    from tunecard import models

    from tunecard import distributed

    model, tokenizer, _ = models.load_classifier(path, loader)
    return TorchRunner(model.to(distributed.device()) if torch.cuda.is_available() else model), tokenizer


def _scoring_length(config, tokenizer) -> int:
    """Score as the model was trained and evaluated: same length limit, same end cut."""
    tokenizer.truncation_side = getattr(config, "tunecard_truncation_side", None) or tokenizer.truncation_side
    return getattr(config, "tunecard_max_length", None) or min(tokenizer.model_max_length, 512)


def onnx_folder(path: str) -> Path:
    """The folder with an exported ONNX model: `path` itself, or `<model folder>/onnx`."""
    from tunecard import models

    for folder in (Path(path), models.model_folder(path) / ONNX_FOLDER):
        if any((folder / name).is_file() for name in ONNX_FILES):
            return folder
    raise TunecardError(f"model {path}", "an exported ONNX model (model.onnx) for --backend onnx",
                        "none in the model folder", f"run: tunecard export --model {path} --format onnx")


class ChoiceRanker:
    """A trained multiple-choice model, as `tunecard.load(path)` returns it: option probabilities per
    question (with the temperature fitted on validation when the model has one)."""

    def __init__(self, runner, tokenizer, max_length: int, encode, batch_size: int = 64):
        self.runner, self.tokenizer, self.encode = runner, tokenizer, encode
        self.max_length, self.batch_size = max_length, batch_size
        self.config = runner.model.config
        self.temperature = getattr(self.config, "tunecard_temperature", None)
        self.labels = [self.config.id2label[i] for i in range(self.config.num_labels)]

    @property
    def model(self):
        return self.runner.model

    def predict_logits(self, questions: list[str], options: list[list[str]], contexts: list[str] | None = None,
                       bar=None) -> np.ndarray:
        contexts = list(contexts) if contexts is not None else [""] * len(questions)
        encoded = self.encode(self.tokenizer, list(questions), [list(o) for o in options], contexts, self.max_length)
        return score_choices(self.runner, self.tokenizer, encoded, self.batch_size, bar, len(self.labels))

    def predict_proba(self, questions: list[str], options: list[list[str]], contexts: list[str] | None = None,
                      bar=None) -> np.ndarray:
        logits = self.predict_logits(questions, options, contexts, bar)
        return metrics.softmax(logits / self.temperature if self.temperature else logits)

    def predict(self, questions: list[str], options: list[list[str]], contexts: list[str] | None = None) -> list[str]:
        """The most likely option's letter for each question."""
        return [self.labels[i] for i in self.predict_proba(questions, options, contexts).argmax(-1)]


def load_choice_ranker(path: str, batch_size: int = 64, backend: str = "torch", encode=None) -> ChoiceRanker:
    """`encode(tokenizer, questions, options, contexts, max_length)`: the task's input encoding."""
    from transformers import AutoModelForMultipleChoice

    if backend != "torch":
        raise TunecardError("--backend", "torch for a multiple-choice model", f"'{backend}'", "leave out --backend")
    runner, tokenizer = _torch_runner(path, AutoModelForMultipleChoice)
    return ChoiceRanker(runner, tokenizer, _scoring_length(runner.model.config, tokenizer), encode, batch_size)


class LabelSetClassifier(Classifier):
    """A trained multi-label classifier (config.problem_type multi_label_classification), as `tunecard.load`
    returns it: an independent sigmoid probability per label, and the labels at or above the decision
    thresholds fitted on validation (config.json `tunecard_thresholds`; 0.5 without them)."""

    def __init__(self, runner, config, tokenizer, max_length: int, batch_size: int = 64):
        super().__init__(runner, config, tokenizer, max_length, batch_size)
        self.temperature = None  # label probabilities are not temperature-scaled
        self.thresholds = np.asarray(getattr(config, "tunecard_thresholds", None) or [0.5] * len(self.labels))

    def predict_proba(self, texts: list[str], text_pairs: list[str] | None = None, bar=None) -> np.ndarray:
        return metrics.sigmoid(self.predict_logits(texts, text_pairs, bar))

    def predict(self, texts: list[str], text_pairs: list[str] | None = None) -> list[list[str]]:
        """Each text's predicted label set, in label order."""
        chosen = self.predict_proba(texts, text_pairs) >= self.thresholds
        return [[label for label, on in zip(self.labels, row) if on] for row in chosen]


def load_label_set_classifier(path: str, batch_size: int = 64, backend: str = "torch") -> LabelSetClassifier:
    if backend != "torch":
        raise TunecardError("--backend", "torch for a multi_label model", f"'{backend}'", "leave out --backend")
    runner, tokenizer = _torch_runner(path)
    config = runner.model.config
    return LabelSetClassifier(runner, config, tokenizer, _scoring_length(config, tokenizer), batch_size)
