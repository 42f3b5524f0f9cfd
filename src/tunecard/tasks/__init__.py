"""Task shapes. Each module describes one shape; the registry maps a task name to its module.

A task module provides, as module-level names (no base class; `classification` is the model to copy):

- `PIPELINE_TAG`, `DEFAULT_TRUNCATION_SIDE`, `HOLDOUT` (how held-out splits are drawn, for the card),
  `SCORE_HISTOGRAM` (whether to plot score histograms per gold label)
- `prepare(data_config, seed) -> PreparedData`: read, check and standardise the splits
- `build_model(ref, label_names)`: the model to train, its head named with the labels
- `tokenize(dataset, tokenizer, max_length)`: model inputs plus `length` / `full_length` columns
- `data_collator(tokenizer)`: the Trainer collator for tokenized rows
- `score(model, tokenizer, tokenized, batch_size, desc) -> logits [n_rows, n_labels]` in row order
- `metric_keys(label_names)`, `headline_metric(label_names)`, `compute_metrics_fn(label_names, validation,
  row_order)`, `split_metrics(dataset, probs)`, `baseline_metrics(dataset, seed)`, `card_notes(prepared)`
- `load_predictor(path, batch_size, backend)`: the object `tunecard.load` returns
- `chunk_scorer(predictor, columns, options) -> fn(chunk, ids, bar) -> DataFrame`: rows of a predict file

Optional (only llm_classification has them so far; api checks with hasattr):

- `bind(config)`: for a task whose hooks depend on run options (a prompt, LoRA settings): returns an object
  with the same hook names bound to them; `get_task(name, config)` calls it. A predictor that
  `load_predictor` returns may carry such an object as `.task`, bound to the options it was trained with.
- `preprocess_logits_for_metrics(logits, labels)`: Trainer's hook, to shrink eval outputs (LM logits) per batch
- `comparisons(name, model, tokenizer, dataset, tokenized, probs, batch_size) -> (columns, examples)`: other
  scorers of an evaluated split shown beside the model ({key: {"label", "metrics"}}) and example rows
- `save_model(trainer, tokenizer, folder)`: how the model folder is written (default: trainer.save_model)
- `LIBRARY_NAME`: the card's library_name (default transformers)
"""

from __future__ import annotations

import importlib

from tunecard.errors import TunecardError

TASKS = {"classification": "tunecard.tasks.classification", "preference": "tunecard.tasks.preference",
         "llm_classification": "tunecard.tasks.llm_classification"}


def get_task(name: str, config=None):
    """The task module; with a run's config, bound to it when the task needs its options (`bind`)."""
    if name not in TASKS:
        raise TunecardError("--task", f"one of {', '.join(TASKS)}", f"'{name}'",
                            "choose one of those tasks")
    module = importlib.import_module(TASKS[name])
    return module.bind(config) if config is not None and hasattr(module, "bind") else module
