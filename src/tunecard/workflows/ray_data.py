"""Score a Ray Data dataset with a trained tunecard model: `ds.map_batches(Predictor, ...)` on an actor pool.

Each actor loads the model (and the passage index, for open-book models) once, in `Predictor.__init__`,
and then scores pandas batches with the task's own chunk scorer, the same function `tunecard predict`
calls for each chunk of a file: the rows are those `predict` writes, with the same columns and values.

Ray batches do not know their rows' positions in the dataset, so the row-number ids `predict` gives a
file without an `id` column cannot be reproduced here: the input must carry an `id` column.

Torch-free and Ray-free at import: the model loads inside the actor, and Ray is imported only by
`predict_dataset` (install it with `pip install "tunecard[ray]"`).
"""

from __future__ import annotations

import numpy as np

from tunecard.console import NoProgress
from tunecard.errors import TunecardError

ID_COLUMN = "id"
"""The input column whose values become the output's `id` (predict's own id column)."""


class Predictor:
    """A callable class for `ray.data.Dataset.map_batches(..., batch_format="pandas")`: loads a trained
    model once per actor and maps each batch of input rows to the rows `tunecard predict` writes for them.

    The options mean what `tunecard.predict`'s do: `batch_size` texts per forward pass (the batch Ray
    hands over is cut into these, sorted by token length), `backend` torch or onnx, `retrieval` the
    passage index of an open-book multiple-choice model (a RetrievalConfig or its dict).
    """

    def __init__(self, model: str, top_k: int | None = None, text_column: str | None = None,
                 text_pair_column: str | None = None, batch_size: int = 64, backend: str = "torch",
                 retrieval=None):
        from tunecard.runs.saved import open_saved
        from tunecard.workflows import open_book

        saved = open_saved(model)
        self.task = saved.task()
        retrieval = open_book.as_retrieval(retrieval)
        index = open_book.open_index(self.task, retrieval)
        self.predictor = saved.load(batch_size, backend)
        open_book.note_missing_retrieval(saved.settings, retrieval)
        self.options = {"top_k": _checked_top_k(top_k or self.task.predict_top_k, len(self.predictor.labels)),
                        "text_column": text_column, "text_pair_column": text_pair_column,
                        "retrieve": open_book.chunk_retriever(index, retrieval)}
        self._scorers: dict[tuple, object] = {}

    def __call__(self, batch):
        """The predictions for a pandas batch, one row per input row, in the batch's order."""
        columns = [str(c) for c in batch.columns]
        if ID_COLUMN not in columns:
            raise _missing_id_error(columns)
        chunk = _as_chunk(batch)
        return self._scorer(columns)(chunk, chunk[ID_COLUMN], NoProgress())

    def _scorer(self, columns: list[str]):
        """The task's chunk scorer for these input columns, built once per column set: it decides which
        columns hold the texts, as `predict` does once per file."""
        key = tuple(columns)
        if key not in self._scorers:
            self._scorers[key] = self.task.chunk_scorer(self.predictor, columns, self.options)
        return self._scorers[key]


def predict_dataset(ds, model: str, concurrency: int = 2, chunk_size: int = 1024, top_k: int | None = None,
                    text_column: str | None = None, text_pair_column: str | None = None, batch_size: int = 64,
                    backend: str = "torch", retrieval=None, **map_batches_options):
    """`ds` scored by `concurrency` actors, each loading `model` once: a lazy ray.data.Dataset of the
    rows `tunecard predict` writes (in no particular order unless Ray's DataContext preserves it).

    `chunk_size`: rows per Ray batch (predict's --chunk_size); `batch_size`: texts per forward pass.
    `map_batches_options` go to `map_batches` as they are, e.g. `num_gpus=1` for one GPU per actor.
    """
    import ray.data

    _check_known_columns(ds)
    constructor = {"model": model, "top_k": top_k, "text_column": text_column,
                   "text_pair_column": text_pair_column, "batch_size": batch_size, "backend": backend,
                   "retrieval": retrieval}
    return ds.map_batches(Predictor, fn_constructor_kwargs=constructor, batch_size=chunk_size,
                          batch_format="pandas", compute=ray.data.ActorPoolStrategy(size=concurrency),
                          **map_batches_options)


def _check_known_columns(ds) -> None:
    """Refuse a dataset without an id column on the driver, before any actor starts, when Ray knows its
    columns without reading (pandas, Parquet); otherwise the first batch an actor scores refuses it."""
    schema = ds.schema(fetch_if_missing=False)
    if schema is not None and ID_COLUMN not in schema.names:
        raise _missing_id_error(list(schema.names))


def _as_chunk(batch) -> dict[str, list]:
    """A pandas batch as the column -> list dict that `predict` hands to a chunk scorer (what
    `datasets.Dataset.iter` yields): Python values, lists where Arrow lists became numpy arrays, and
    None for missing values."""
    frame = batch.astype(object).where(batch.notna(), None)
    return {str(name): [_plain(value) for value in frame[name]] for name in frame.columns}


def _plain(value):
    return value.tolist() if isinstance(value, np.ndarray) else value


def _checked_top_k(top_k: int, n_labels: int) -> int:
    if top_k < 1 or top_k > n_labels:
        raise TunecardError("top_k", f"between 1 and {n_labels}", str(top_k), "set top_k")
    return top_k


def _missing_id_error(columns: list[str]) -> TunecardError:
    return TunecardError(
        "data to score with Ray", f"an '{ID_COLUMN}' column (Ray batches do not know their rows' positions, so "
        "predict's row-number ids cannot be given)", f"columns {', '.join(columns) or 'none'}",
        f"add an '{ID_COLUMN}' column to the data, or rename the key column: "
        f"ds.rename_columns({{'your_key': '{ID_COLUMN}'}})")
