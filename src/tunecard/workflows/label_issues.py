"""Label issues from out-of-fold probabilities (`--diagnostics.label_issues kfold`), read top to bottom: split the
training rows into K folds (stratified by label, by the run's seed); for each fold, train a fresh copy of the base
model on the other folds exactly as the run itself is trained (same options, validation choosing its epoch) and
score the held-out fold. Every training row then has probabilities from a model that never saw it, and confident
learning (cleanlab's `find_label_issues`, ranked by self-confidence) lists the rows whose given label is unlikely:
diagnostics/label_issues.csv, a finding, and the card's section.

The in-sample list (diagnostics/label_noise_candidates.csv) comes from the model trained on those very rows: it
cannot flag the noise it memorised, and flags rows that are merely hard (cleanlab #25). This one costs K trainings.

The out-of-fold probabilities are cached in the run's folder (diagnostics/out_of_fold.npy), so a stopped run
resumed with --resume does not train the folds again."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tunecard.errors import TunecardError

CARD_ROWS = 10
"""The flagged rows the card shows (all are in the CSV)."""
CACHE = "out_of_fold.npy"


def out_of_fold(run, workdir: Path, setup_trainer) -> dict | None:
    """The training rows' out-of-fold probabilities and what they cost, or None unless kfold was asked (a task it
    does not apply to was refused with the config: Task.label_issues_problems). Called before the run trains, so
    too many folds for the data stops it early. `setup_trainer(run, folder, callbacks)`: train's, which builds
    Trainer for a run (passed in: train calls this module)."""
    options = run.config.diagnostics
    if options.label_issues != "kfold":
        return None
    gold = np.asarray(run.prepared.splits["train"]["label"])
    folds = _folds(gold, options.folds, run.config.train.seed, run.prepared.label_names)
    cache = workdir / "diagnostics" / CACHE
    started = time.perf_counter()
    if cache.is_file() and len(np.load(cache)) == len(gold):
        return {"probs": np.load(cache), "folds": options.folds, "seconds": None}
    probs = np.zeros((len(gold), len(run.prepared.label_names)))
    for k, (kept, held) in enumerate(folds):
        print(f"label issues: fold {k + 1} of {options.folds} ({len(kept)} rows to train on, {len(held)} to score)",
              flush=True)
        probs[held] = _fold_probabilities(run, workdir / "folds" / str(k), kept, held, setup_trainer)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, probs)
    return {"probs": probs, "folds": options.folds, "seconds": round(time.perf_counter() - started, 1)}


def _folds(gold: np.ndarray, k: int, seed: int, names: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(gold, minlength=len(names))
    rarest = int(np.argmin(np.where(counts > 0, counts, np.iinfo(int).max)))
    if counts[rarest] < k:
        raise TunecardError("--diagnostics.folds", f"at most as many folds as the rarest label's training rows "
                            f"({names[rarest]!r}: {counts[rarest]})", str(k),
                            f"set --diagnostics.folds {max(int(counts[rarest]), 2)} or fewer, or add rows of "
                            f"{names[rarest]!r}")
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(gold)), gold))


def _fold_probabilities(run, folder: Path, kept: np.ndarray, held: np.ndarray, setup_trainer) -> np.ndarray:
    """Train a fresh model on the `kept` training rows as the run is trained; the `held` rows' probabilities."""
    import dataclasses
    import shutil

    from transformers import set_seed

    from tunecard.engine import distributed, training
    from tunecard.judging import metrics

    tokenized = run.tokenized["train"]
    set_seed(run.config.train.seed)
    model = run.task.build_model(run.ref, run.prepared.label_names)
    fold = dataclasses.replace(run, model=model, extension=None,
                               tokenized={**run.tokenized, "train": tokenized.select(_rows(tokenized, kept))})
    trainer, epoch_log = setup_trainer(fold, folder, ())
    training.train(trainer, epoch_log, None)
    held_rows = tokenized.select(_rows(tokenized, held))
    logits = distributed.score_in_shares(
        lambda rows: run.task.score(trainer.model, run.tokenizer, rows, run.config.train.eval_batch_size,
                                    "Scoring the held-out fold"), held_rows)
    shutil.rmtree(folder, ignore_errors=True)
    return metrics.softmax(run.task.pool(logits, held_rows))


def _rows(tokenized, documents: np.ndarray) -> list[int]:
    """The tokenized rows of these training documents (their windows, when the task reads windows)."""
    if "document" not in tokenized.column_names:
        return sorted(int(i) for i in documents)
    wanted = set(int(i) for i in documents)
    return [i for i, d in enumerate(tokenized["document"]) if d in wanted]


def report(train, probs: np.ndarray, names: list[str], folds: int, seconds, path: Path):
    """Rank the training rows with confident learning on their out-of-fold probabilities; write `path` (the
    flagged rows, least likely first). Returns (the finding, the card's and metrics.json's report)."""
    import cleanlab
    import pandas as pd
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    from tunecard.judging.diagnostics import Finding

    gold = np.asarray(train["label"])
    flagged = find_label_issues(gold, probs, return_indices_ranked_by="self_confidence")
    quality = get_label_quality_scores(gold, probs, method="self_confidence")
    frame = pd.DataFrame({"id": [train[int(i)]["id"] for i in flagged],
                          "text": [train[int(i)]["text"] for i in flagged],
                          "given": [names[gold[i]] for i in flagged],
                          "suggested": [names[probs[i].argmax()] for i in flagged],
                          "score": quality[flagged].round(6)})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    accuracy = float((probs.argmax(-1) == gold).mean())
    summary = {"folds": folds, "rows": len(gold), "issues": len(flagged), "seconds": seconds,
               "out_of_fold_accuracy": round(accuracy, 4), "method": "cleanlab find_label_issues (self_confidence)",
               "cleanlab": cleanlab.__version__, "top": frame.head(CARD_ROWS).to_dict("records")}
    finding = Finding("data.label_issues", "warning" if len(flagged) else "info",
                      f"{len(flagged)} of {len(gold)} training rows look mislabelled to models that never saw them "
                      f"({folds}-fold out-of-fold probabilities, confident learning); listed in "
                      f"diagnostics/{path.name}", {k: v for k, v in summary.items() if k != "top"},
                      "review the listed rows, most doubtful first; relabel or drop the wrong ones and train again")
    return finding, summary
