"""Open-book runs: open the passage index a run names (checked against the task), add each question's
retrieved passages to its context (a run's splits, or `predict`'s chunks), and say when a model trained
with retrieval is scored without it.

Between the workflows and `retrieval/` (the index itself): tasks never call retrieval; a task that declares
`uses_context` gets its rows' `context` filled here.
"""

from __future__ import annotations

import sys
import time

from tunecard.config import RetrievalConfig
from tunecard.errors import TunecardError


def as_retrieval(value) -> RetrievalConfig | None:
    if value is None or isinstance(value, RetrievalConfig):
        return value
    return RetrievalConfig(**value)


def open_index(task, retrieval: RetrievalConfig | None):
    """The passage index `retrieval` names (None without one), checked against the task first."""
    if retrieval is None or not retrieval.index:
        return None
    from tunecard.retrieval import passages

    if not task.uses_context:
        from tunecard import tasks

        takers = ", ".join(name for name in tasks.TASKS if tasks.task_class(name).uses_context)
        raise TunecardError("--retrieval.index", f"a task whose inputs take a context ({takers})",
                            f"the {task.name} task", "drop --retrieval.index")
    if retrieval.top_k < 1:
        raise TunecardError("--retrieval.top_k", "a positive number", str(retrieval.top_k), "set --retrieval.top_k")
    return passages.load_index(retrieval.index, retrieval.query_model)


def with_retrieved_context(splits: dict, index, top_k: int) -> dict:
    """Each split with its questions' top passages added to their context (unchanged without an index)."""
    if index is None:
        return splits
    from tunecard.retrieval import passages

    result = {}
    for name, dataset in splits.items():
        start = time.perf_counter()
        result[name] = passages.attach_context(dataset, index, top_k)
        seconds = time.perf_counter() - start
        print(f"retrieval: {name}: top {top_k} of {index.manifest['passages']} passages ({index.kind}) "
              f"for {len(dataset)} questions in {seconds:.1f} s ({len(dataset) / max(seconds, 1e-9):.0f} questions/s)")
    return result


def chunk_retriever(index, retrieval: RetrievalConfig | None):
    """For predict: a function adding retrieved context to a chunk of rows, or None."""
    if index is None:
        return None
    from tunecard.retrieval import passages

    return lambda rows: passages.attach_context(rows, index, retrieval.top_k)


def note_missing_retrieval(settings, retrieval: RetrievalConfig | None) -> None:
    """Say when a model trained with retrieved context (`settings`: its ModelSettings) is scored without it."""
    trained_with = settings.retrieval if settings is not None else None
    if trained_with and (retrieval is None or not retrieval.index):
        print(f"tunecard: note: this model was trained with retrieved context (index {trained_with['index']}, "
              f"top_k {trained_with['top_k']}); pass --retrieval.index to score it the same way", file=sys.stderr)
