"""Task shapes. Each module describes one shape; the registry maps a task name to its module.

A task module provides, as module-level names (no base class; `classification` is the model to copy):

- `PIPELINE_TAG`, `DEFAULT_TRUNCATION_SIDE`, `HOLDOUT` (how held-out splits are drawn, for the card),
  `SCORE_HISTOGRAM` (whether to plot score histograms per gold label); optionally
  `DEFAULT_LEARNING_RATE` (used when --train.learning_rate is unset, before the model's own default)
- `prepare(data_config, seed) -> PreparedData`: read, check and standardise the splits
- `build_model(ref, label_names)`: the model to train, its head named with the labels
- `tokenize(dataset, tokenizer, max_length)`: model inputs plus `length` / `full_length` columns
- `trainer_datasets(tokenized) -> (train, validation)`: what Trainer trains and evaluates on
- `data_collator(tokenizer)`: the Trainer collator for those rows
- `loss_function(train_config)`: a Trainer `compute_loss_func`, or None for the model's own loss
- `preprocess_logits(logits, labels)`: Trainer's `preprocess_logits_for_metrics` for per-epoch evaluation
- `score(model, tokenizer, tokenized, batch_size, desc) -> logits [n_rows, n_labels]` in row order
- `metric_keys(label_names)`, `headline_metric(label_names)`, `compute_metrics_fn(label_names, validation,
  row_order)`, `split_metrics(dataset, probs)`, `baseline_metrics(dataset, seed)`, `card_notes(prepared)`
- `load_predictor(path, batch_size, backend)`: the object `tunecard.load` returns
- `chunk_scorer(predictor, columns, options) -> fn(chunk, ids, bar) -> DataFrame`: rows of a predict file
"""

from __future__ import annotations

import importlib

from tunecard.errors import TunecardError

TASKS = {"classification": "tunecard.tasks.classification", "preference": "tunecard.tasks.preference"}


def get_task(name: str):
    if name not in TASKS:
        raise TunecardError("--task", f"one of {', '.join(TASKS)}", f"'{name}'",
                            "choose one of those tasks")
    return importlib.import_module(TASKS[name])
