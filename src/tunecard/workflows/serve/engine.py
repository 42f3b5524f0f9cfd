"""The served model: a request's inputs become the columns the task's `predict` scorer reads, are
measured in tokens (the batch budget, the truncation report) and are scored in batches by that scorer:
the same length-sorted engine, the same columns and the same probabilities as `tunecard predict`."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Hashable

from tunecard.config import ServeConfig
from tunecard.errors import TunecardError
from tunecard.workflows.serve.batcher import Batch

TEXT_FIELD = "text"
"""The column a plain-string input becomes."""


@dataclass(frozen=True)
class Request:
    """A validated request, ready for the queue."""
    rows: dict[str, list]
    key: Hashable
    tokens: int
    size: int
    truncated: list[int]
    """Positions of the inputs longer than the model's limit (cut as `predict` cuts them)."""


class ServedModel:
    """A trained model loaded once for serving (`path`: a run directory, model folder, ONNX export or ensemble)."""

    def __init__(self, path: str, backend: str = ServeConfig.backend, batch_size: int = ServeConfig.batch_size):
        from tunecard.runs.saved import open_saved

        self.path = path
        self.saved = open_saved(path).require_trained()
        self.task = self.saved.task()
        self.predictor = self.saved.load(batch_size, backend)
        self.backend = backend
        self.int8_gate = int8_gate(self.saved) if backend == "onnx" else None
        self.labels = list(self.predictor.labels)
        self.max_length = self.predictor.max_length
        # Token counting runs on the event loop's thread while a batch is scored on another: a fast
        # tokenizer's settings are shared state ("Already borrowed"), so counting gets its own copy.
        self._counter = copy.copy(self.predictor)
        self._counter.tokenizer = copy.deepcopy(self.predictor.tokenizer)

    def request(self, inputs: Any) -> Request:
        """Check and measure a request's `inputs` (one input or a list); bad shapes raise TunecardError."""
        items = inputs if isinstance(inputs, list) else [inputs]
        if not items:
            raise TunecardError("inputs", "one input or a non-empty list of inputs", "an empty list",
                                "send at least one input")
        rows = input_columns(items)
        try:  # the task names what is missing before the request is queued
            self._scorer(tuple(rows))
            lengths = self.task.input_lengths(self._counter, rows)
        except TunecardError as exc:  # said of a file's columns: a request's fix is its fields
            raise TunecardError("inputs", exc.expected, exc.found, self._fields_fix()) from None
        except (ValueError, TypeError, IndexError) as exc:  # a field of the wrong kind, met by the tokenizer
            raise TunecardError("inputs", "text fields (options: a non-empty list of texts)",
                                f"a field the model cannot read ({str(exc).splitlines()[0]})",
                                self._fields_fix()) from None
        return Request(rows=rows, key=(tuple(rows), len(lengths[0])), size=len(items),
                       tokens=sum(min(n, self.max_length) for row in lengths for n in row),
                       truncated=[i for i, row in enumerate(lengths) if max(row) > self.max_length])

    def score(self, batch: Batch) -> list[list]:
        """One list of results per request of the batch: per input, the labels with their probabilities,
        most likely first (text-embeddings-inference's shape), or the task's predict columns when its
        rows have no per-label probabilities (a preference pair's two scores)."""
        from tunecard.console import NoProgress

        columns = tuple(batch.requests[0].rows)
        merged = {c: [v for r in batch.requests for v in r.rows[c]] for c in columns}
        frame = self._scorer(columns)(merged, range(batch.size), NoProgress())
        rows, results, start = self._results(frame), [], 0
        for request in batch.requests:
            results.append(rows[start:start + request.size])
            start += request.size
        return results

    def _scorer(self, columns: tuple):
        """The task's predict scorer for these columns: made per batch (cheap), since a scorer counts the
        rows it has seen for its error messages."""
        return self.task.chunk_scorer(self.predictor, list(columns), {"top_k": 1})

    def _fields_fix(self) -> str:
        return f"send inputs with the model's fields, e.g. {json.dumps(self.task.serve_example)}"

    def _results(self, frame) -> list:
        """Per input, its labels with scores, most likely first; a model that abstains marks the top label with
        `"abstained": true|false` (the `abstained` column `predict` writes)."""
        prob_columns = [f"prob_{label}" for label in self.labels]
        if all(c in frame.columns for c in prob_columns):
            probs = frame[prob_columns].to_numpy()
            results = [sorted(({"label": label, "score": float(p)} for label, p in zip(self.labels, row)),
                              key=lambda entry: -entry["score"]) for row in probs]
            if "abstained" in frame.columns:
                for result, withheld in zip(results, frame["abstained"]):
                    result[0]["abstained"] = bool(withheld)
            return results
        return [{k: _plain(v) for k, v in row.items() if k != "id"} for row in frame.to_dict("records")]

    def info(self, settings) -> dict:
        """What GET /info returns: the model, its task and labels, the server's limits, the card's metrics."""
        from importlib import metadata

        return {"model_id": self.path, "task": self.task.name, "labels": self.labels,
                "max_input_length": self.max_length, "backend": self.backend,
                "max_batch_tokens": settings.max_batch_tokens, "max_wait_ms": settings.max_wait_ms,
                "max_client_batch_size": settings.max_client_batch_size, "max_queue": settings.max_queue,
                "input_example": self.task.serve_example, "fitted": self.task.fitted_settings(),
                **({"int8_gate": self.int8_gate} if self.int8_gate is not None else {}),
                "abstention": self.saved.settings.abstention if self.saved.settings else None,
                "metrics": card_metrics(self.saved.folder or self.saved.run_dir),
                "version": metadata.version("tunecard")}


def int8_gate(saved) -> dict | None:
    """The quality gate `tunecard export` judged the served int8 model by (its gate.json, with `line`: the verdict
    in one line); None when the model served is not int8."""
    from tunecard.report.export_card import gate_line
    from tunecard.workflows.export import GATE_FILE

    if saved.members or saved.onnx_file().name != "model_int8.onnx":
        return None
    path = saved.onnx_file().parent / GATE_FILE
    gate = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    return {**(gate or {"reason": "exported before tunecard gated int8 exports"}), "line": gate_line(gate)}


def input_columns(items: list) -> dict[str, list]:
    """Inputs (each a string, or an object of named fields) as columns: a string is the `text` field."""
    records = [{TEXT_FIELD: item} if isinstance(item, str) else item for item in items]
    fields = list(records[0])
    for i, record in enumerate(records):
        if list(record) != fields and set(record) != set(fields):
            raise TunecardError(f"inputs[{i}]", f"the fields of the first input ({', '.join(fields) or 'none'})",
                                f"{', '.join(record) or 'no fields'}", "send inputs of one shape in a request")
        if not record:
            raise TunecardError(f"inputs[{i}]", "a text or an object with the model's input fields",
                                "an empty object", "send the text, or fields such as {\"text\": ...}")
    return {f: [record[f] for record in records] for f in fields}


def card_metrics(folder: Path) -> list[dict]:
    """The model-index results of the model folder's card (split, metric, value), for /info and the try-it page;
    empty for a folder without a card."""
    from huggingface_hub import ModelCard

    card_file = folder / "README.md"
    if not Path(card_file).is_file():
        return []
    results = ModelCard.load(card_file).data.eval_results or []
    return [{"dataset": r.dataset_name, "split": r.dataset_split, "metric": r.metric_name or r.metric_type,
             "value": r.metric_value} for r in results]


def _plain(value):
    """numpy scalars as JSON numbers and booleans."""
    import numpy as np

    return value.item() if isinstance(value, np.generic) else value
