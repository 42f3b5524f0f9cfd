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

Optional names (absent means no):

- `USES_CONTEXT`: rows have `question`, `options` and `context`, so `--retrieval.index` can add passages
- `COLLATOR_DROPS_COLUMNS`: Trainer keeps every column (the length-grouped sampler reads `length`) and
  the task's collator keeps only the model inputs
- `DEFAULT_TOP_K`, `SUBMISSION_COLUMN`: `predict`'s ranked-label count and what `--submission` writes as
  `prediction` (default: 1 and the `prediction` column)
- `prediction_extras(dataset, probs) -> {column: values}`: columns added to predictions/<split>.csv
- `chance_loss(label_names, train_counts, validation_labels, train_config)`: the validation loss of the best
  model that ignores its inputs, for the `collapse.loss_at_chance` diagnostic (absent: the loss has no such level)
- `majority_metrics(dataset, train_counts)`: the task's own metrics (MAP@3) for the majority-class baseline
- `with_options(**options)`: the task with options applied (multiple_choice: `k` for MAP@k); `get_task`
  calls it when options are given
- `bind(config)`: for a task whose hooks depend on run options (a prompt, LoRA settings): returns an object
  with the same hook names bound to them; `get_task(name, config)` calls it. A predictor that
  `load_predictor` returns may carry such an object as `.task`, bound to the options it was trained with.
- `comparisons(name, model, tokenizer, dataset, tokenized, probs, batch_size) -> (columns, examples)`: other
  scorers of an evaluated split shown beside the model ({key: {"label", "metrics"}}) and example rows
- `save_model(trainer, tokenizer, folder)`: how the model folder is written (default: trainer.save_model)
- `LIBRARY_NAME`: the card's library_name (default transformers)
"""

from __future__ import annotations

import importlib

from tunecard.errors import TunecardError

TASKS = {"classification": "tunecard.tasks.classification", "preference": "tunecard.tasks.preference",
         "multiple_choice": "tunecard.tasks.multiple_choice",
         "llm_classification": "tunecard.tasks.llm_classification"}


def get_task(name: str, config=None, **options):
    """The task's module; with a run's config, bound to it when the task needs its options (`bind`);
    with options (those not None), the module's `with_options(**options)`."""
    if name not in TASKS:
        raise TunecardError("--task", f"one of {', '.join(TASKS)}", f"'{name}'",
                            "choose one of those tasks")
    module = importlib.import_module(TASKS[name])
    if config is not None and hasattr(module, "bind"):
        module = module.bind(config)
    options = {k: v for k, v in options.items() if v is not None}
    if not options:
        return module
    if not hasattr(module, "with_options"):
        shown = ", ".join(f"--{k}" for k in options)
        values = ", ".join(f"--{k} {v}" for k, v in options.items())
        raise TunecardError(shown, "an option of this task", f"{values}, which the {name} task does not take",
                            f"drop {shown}")
    return module.with_options(**options)
