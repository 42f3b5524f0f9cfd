"""`tunecard predict`, read top to bottom: open the model once, read the file, score it chunk by chunk (memory
stays bounded; under several processes each scores its share of every chunk) and write the task's rows in input
order to `<output>.partial`, renamed when complete."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

from tunecard import console
from tunecard.config import RetrievalConfig
from tunecard.errors import TunecardError

PREDICTION_FORMATS = (".csv", ".jsonl", ".parquet")


def predict(model: str, data: str, output: str, top_k: Optional[int] = None, text_column: Optional[str] = None,
            text_pair_column: Optional[str] = None, batch_size: int = 64, chunk_size: int = 8192,
            backend: str = "torch", overwrite: bool = False, retrieval: Optional[RetrievalConfig] = None,
            submission: Optional[str] = None) -> Path | None:
    """Score every row of a file and write, in input order, the rows the model's task defines (for classifiers:
    id, prediction, prob_<label> per label, top-k labels; for multiple choice: id, prediction, ranked letters,
    prob_<letter>, retrieved passages). Returns the path written (None on a process other than the main one).

    Args:
        model: A run directory, model folder or ensemble.
        data: A CSV, TSV, JSONL, JSON, Parquet or .txt file of texts.
        output: The predictions file to write: .csv, .jsonl or .parquet.
        top_k: Also write the K most likely labels, ranked (unset: 1; multiple_choice: 3 letters).
        text_column: The column with the text (unset: inferred).
        text_pair_column: The column with the second text of a pair (unset: inferred).
        batch_size: Inputs per forward pass.
        chunk_size: Rows read, scored and written at a time.
        backend: torch, or onnx: the model written by `tunecard export` (int8 when exported so).
        overwrite: Replace existing output files.
        retrieval: multiple_choice: an index whose passages are added as context (index, top_k).
        submission: Also write a Kaggle id,prediction CSV (multiple_choice: the ranked letters, "D B E").
    """
    from tunecard.data.readers import read_file
    from tunecard.engine import distributed
    from tunecard.runs.saved import open_saved
    from tunecard.workflows import open_book

    console.quiet_library_progress()
    out = _checked_output(output, overwrite)
    targets = [out] + ([_submission_path(submission, overwrite)] if submission else [])
    dataset = read_file(Path(data))
    saved = open_saved(model)
    task = saved.task()
    retrieval = open_book.as_retrieval(retrieval)
    index = open_book.open_index(task, retrieval)
    predictor = saved.load(batch_size, backend)
    open_book.note_missing_retrieval(saved.settings, retrieval)
    options = {"top_k": checked_top_k(top_k or task.predict_top_k, len(predictor.labels)), "text_column": text_column,
               "text_pair_column": text_pair_column, "retrieve": open_book.chunk_retriever(index, retrieval)}
    score_chunk = task.chunk_scorer(predictor, dataset.column_names, options)
    if not distributed.is_main():  # another process of several: it scores its shares for the main one
        for _ in scored_chunks(dataset, chunk_size, score_chunk, None):
            pass
        distributed.finish()
        return None
    _write(dataset, chunk_size, score_chunk, targets, task.submission_column)
    distributed.finish()
    print(f"predictions written to {out}")
    return out


def checked_top_k(top_k: int, n_labels: int) -> int:
    if top_k < 1 or top_k > n_labels:
        raise TunecardError("--top_k", f"between 1 and {n_labels}", str(top_k), "set --top_k")
    return top_k


def _checked_output(output: str, overwrite: bool) -> Path:
    from tunecard.runs import directory

    out = Path(output)
    if out.suffix.lower() not in PREDICTION_FORMATS:
        raise TunecardError("--output", f"a {', '.join(PREDICTION_FORMATS)} file", f"'{out.suffix or out.name}'",
                            "name the output file with one of those extensions")
    directory.check_output(out, overwrite)
    return out


def _submission_path(submission: str, overwrite: bool) -> Path:
    from tunecard.runs import directory

    path = Path(submission)
    if path.suffix.lower() != ".csv":
        raise TunecardError("--submission", "a .csv file (Kaggle's id,prediction format)",
                            f"'{path.suffix or path.name}'", "name the submission file with .csv")
    directory.check_output(path, overwrite)
    return path


def _write(dataset, chunk_size: int, score_chunk, targets: list[Path], submission_column: str) -> None:
    """Each chunk's rows appended to `<target>.partial` (the predictions, and the submission when asked), renamed
    when every chunk is written; on any failure the partial files are removed."""
    from tunecard.console import progress
    from tunecard.runs import writers

    partials = [t.with_name(t.name + ".partial") for t in targets]
    try:
        with contextlib.ExitStack() as stack:
            files = [stack.enter_context(writers.PredictionWriter(p)) for p in partials]
            bar = stack.enter_context(progress(total=len(dataset), desc="Predicting", unit="row"))
            for frame in scored_chunks(dataset, chunk_size, score_chunk, bar):
                files[0].write(frame)
                if len(files) > 1:
                    files[1].write(writers.submission_rows(frame, submission_column))
    except BaseException:
        for partial in partials:
            partial.unlink(missing_ok=True)
        raise
    for partial, target in zip(partials, targets):
        partial.replace(target)


def scored_chunks(dataset, chunk_size: int, score_chunk, bar):
    """The prediction frame of each chunk of rows, in input order. Under several processes each scores its
    share of every chunk and the main one receives all shares in row order (others get None)."""
    import pandas as pd

    from tunecard.console import NoProgress
    from tunecard.engine import distributed

    bar = bar or NoProgress()
    for start, chunk in zip(range(0, len(dataset), chunk_size), dataset.iter(batch_size=chunk_size)):
        n = len(next(iter(chunk.values())))
        ids = chunk["id"] if "id" in chunk else range(start, start + n)
        mine = distributed.share(n)
        frame = score_chunk({k: v[mine.start:mine.stop] for k, v in chunk.items()}, ids[mine.start:mine.stop],
                            bar)
        shares = distributed.gather(frame)
        bar.update(n - len(mine))  # the other processes' rows
        yield pd.concat(shares, ignore_index=True) if distributed.is_main() else None
