"""Assemble what the card and metrics.json show from a finished run's plain values: the card inputs, the
hyperparameter list, the dataset's name, and the metrics.json dictionaries. Computes no metric; writes no file."""

from __future__ import annotations

from pathlib import Path

from tunecard.config import AUTO_EPOCHS, Config
from tunecard.judging.judge import SplitReport
from tunecard.judging.metrics import METRIC_INFO
from tunecard.report.card import CardInputs


def card_inputs(run, evaluations, result, findings, args) -> CardInputs:
    """The card of a trained run. `run`: the train workflow's TrainingRun (its config, task, prepared data,
    settings; the task's facts are read, nothing is called that computes); `evaluations`: the judged splits;
    `result`: Trainer's TrainingResult; `args`: its TrainingArguments (device, precision, processes)."""
    config, task, prepared = run.config, run.task, run.prepared
    names, counts = prepared.label_names, run.train_counts
    dataset_name = dataset_name_of(config)
    precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
    manifest = run.index.manifest if run.index is not None else None
    return CardInputs(
        model_name=Path(config.output).name, base_model=run.ref.base_model, dataset_name=dataset_name,
        dataset_description=dataset_description(config, dataset_name), task=config.task,
        pipeline_tag=task.pipeline_tag, library_name=task.library_name, model_index_task=task.model_index_task,
        label_names=names, max_length=config.model.max_length,
        splits=[SplitReport("train", len(prepared.splits["train"]), counts), *(e.report for e in evaluations)],
        metric_keys=task.metric_keys(names), metric_info={**METRIC_INFO, **task.metric_info},
        best_metric=run.best_metric, best_epoch=result.best_epoch, history=result.history,
        hyperparameters={**hyperparameters(config, precision, manifest, args.world_size, _distributed_type(args),
                                           len(result.history), args.num_train_epochs),
                         "long_inputs": long_inputs_text(long_inputs_of(run))},
        majority_label=max(names, key=lambda n: counts[n]), fitted=run.settings.keys(list(task.fitted_settings())),
        baselines=task.baseline_description, baseline_names=dict(task.baseline_names),
        validation_held_out=prepared.validation_held_out, validation_share=config.data.validation_size,
        test_held_out=prepared.test_held_out, test_share=config.data.test_size, holdout=task.holdout,
        card_text=task.card(prepared, run.tokenizer), score_plots=task.score_histogram,
        extra_frameworks=task.extra_frameworks, seed=config.train.seed, train_seconds=result.train_seconds,
        samples_per_second=result.samples_per_second, device=str(args.device),
        findings=[f.as_dict() for f in findings], temperature=run.temperature, dropped_rows=prepared.dropped_rows,
        selection=run.selection, long_inputs=long_inputs_of(run), base_license=run.license,
        extra=run.report_extra or {}, findings_not_applicable=dict(task.findings_not_applicable),
        held_out_together=prepared.held_out_together, cost=run.cost)


def long_inputs_of(run) -> dict:
    """How the run read texts longer than its window: the strategy and, for chunk, each split's windows."""
    from tunecard.data import windows

    window = {"strategy": "truncate", "max_length": run.config.model.max_length}
    if run.task.windows is None:
        return window
    return {**window, **run.task.windows.settings(),
            "splits": {name: windows.statistics(rows["document"]) for name, rows in run.tokenized.items()}}


def long_inputs_text(long_inputs: dict) -> str:
    """The card's line on long inputs."""
    if long_inputs["strategy"] == "truncate":
        return "truncate (an input longer than max_length is cut)"
    train = long_inputs["splits"]["train"]
    return (f"chunk: windows of {long_inputs['max_length']} tokens sharing {long_inputs['stride']}, a text's window "
            f"logits pooled by their {long_inputs['pooling']}; in train {train['share_longer_than_one_window']:.1%} "
            f"of the texts span more than one window, {train['windows_per_document_median']:g} windows per text "
            f"(median), {train['windows_per_document_max']} at most")


def _distributed_type(args) -> str:
    """How the processes ran, in the Trainer cards' words: "multi-GPU", "multi-CPU"... ("single" alone)."""
    value = args.distributed_state.distributed_type.value  # e.g. "MULTI_CPU"
    return "single" if value == "NO" else value.replace("MULTI_", "multi-")


# ---- metrics.json ---------------------------------------------------------------------------------

def run_metrics(inputs: CardInputs, result) -> dict:
    return {
        "task": inputs.task, "base_model": inputs.base_model, "base_license": inputs.base_license,
        "dataset": inputs.dataset_name,
        "label_names": inputs.label_names, "best_metric": inputs.best_metric,
        "best_epoch": inputs.best_epoch, "temperature": inputs.temperature,
        **({"cost": inputs.cost} if inputs.cost else {}),
        "training": {"seconds": round(result.train_seconds, 2),
                     "samples_per_second": round(result.samples_per_second, 2),
                     **({"resumed_from_step": result.resumed_from} if result.resumed_from is not None else {})},
        "splits": {s.name: split_metrics(s) if s.metrics else {"size": s.size, "label_distribution": s.distribution}
                   for s in inputs.splits},
        **({"dropped_rows": inputs.dropped_rows} if inputs.dropped_rows else {}),
        **({"held_out_together": inputs.held_out_together} if inputs.held_out_together else {}),
        **({"long_inputs": inputs.long_inputs} if inputs.long_inputs else {}),
        **inputs.extra,
        **({"fitted": inputs.fitted} if inputs.fitted else {}),
        "diagnostics": inputs.findings,
        **({"diagnostics_not_applicable": inputs.findings_not_applicable} if inputs.findings_not_applicable else {}),
    }


def split_metrics(report: SplitReport) -> dict:
    return {"size": report.size, "label_distribution": report.distribution, "metrics": report.metrics,
            "baselines": {"majority": report.baseline, "stratified": report.stratified},
            "calibration": report.calibration, "intervals": report.intervals, "per_class": report.per_class,
            "confusion_matrix": report.confusion, **({"tables": report.tables} if report.tables else {}),
            **({"comparisons": report.comparisons, "examples": report.examples} if report.comparisons else {})}


def evaluation_report(model: str, data: str, names: list[str], train_counts, results, findings, task) -> dict:
    """metrics.json of `tunecard evaluate` (`task`: its facts are read)."""
    counts = train_counts or results[0].report.distribution
    return {"model": str(model), "data": str(data), "label_names": names,
            "headline_metric": task.headline_metric(names),
            **({"baselines": task.baseline_description, "baseline_names": dict(task.baseline_names)}
               if task.baseline_description else {}),
            "majority_label": max(names, key=lambda n: counts[n]),
            "baseline_source": "the training data" if train_counts else "the evaluated data",
            "splits": {r.report.name: split_metrics(r.report) for r in results},
            "diagnostics": [f.as_dict() for f in findings],
            **({"diagnostics_not_applicable": dict(task.findings_not_applicable)}
               if task.findings_not_applicable else {})}


# ---- card text --------------------------------------------------------------------------------------

def dataset_name_of(config: Config) -> str:
    """The data's name: a hub id as given, a local file by its name (by its folder's when the file is named
    for a split, like train.jsonl), a folder by its name."""
    from tunecard.data.readers import SPLIT_NAMES

    names = []
    for ref in _data_refs(config):
        path = Path(ref)
        if not path.exists():
            names.append(ref)
            continue
        generic = path.is_file() and (path.stem.lower() in SPLIT_NAMES or path.stem == "data")
        names.append((path.parent if generic else path).stem)
    return "+".join(names)


def _data_refs(config: Config) -> list[str]:
    ref = config.data.path or config.data.train
    return [ref] if isinstance(ref, str) else list(ref)


def dataset_description(config: Config, name: str) -> str:
    refs = _data_refs(config)
    if all(Path(ref).exists() for ref in refs):
        return f"the local dataset `{name}` ({', '.join(f'`{ref}`' for ref in refs)})"
    if "/" in refs[0]:
        return f"the [{name}](https://huggingface.co/datasets/{name}) dataset"
    return f"the `{name}` dataset"


def hyperparameters(config: Config, precision: str, retrieval_manifest: dict | None = None,
                    world_size: int = 1, distributed_type: str = "single", epochs_run: int | None = None,
                    planned_epochs: float | None = None) -> dict:
    """The card's list, in the Trainer cards' terms (the batch size is per device; with several devices or
    accumulation the total, as Trainer's cards give it)."""
    t = config.train
    total = t.batch_size * t.gradient_accumulation_steps * world_size
    return {
        "learning_rate": t.learning_rate, "train_batch_size": t.batch_size, "eval_batch_size": t.eval_batch_size,
        "seed": t.seed,
        **({"distributed_type": distributed_type, "num_devices": world_size} if world_size > 1 else {}),
        "gradient_accumulation_steps": t.gradient_accumulation_steps,
        **({"total_train_batch_size": total} if total != t.batch_size else {}),
        "optimizer": f"AdamW (torch) with betas=({t.adam_beta1},{t.adam_beta2}) and epsilon={t.adam_epsilon}",
        "weight_decay": t.weight_decay, "lr_scheduler_type": t.lr_scheduler, "warmup_ratio": t.warmup_ratio,
        "num_epochs": epochs_text(t, epochs_run, planned_epochs),
        **({"max_steps": t.max_steps} if t.max_steps > 0 else {}),
        **({"class_weights": t.class_weights} if t.class_weights else {}),
        **({"early_stopping_patience": t.patience} if t.patience else {}),
        "max_length": config.model.max_length, "truncation_side": config.model.truncation_side,
        **({"retrieval": retrieval_description(config, retrieval_manifest)} if retrieval_manifest else {}),
        "batching": "length-grouped, dynamic padding" if t.group_by_length else "random, dynamic padding",
        "precision": precision,
    }


def epochs_text(t, epochs_run: int | None, planned: float | None = None):
    """The epochs asked for (and how train.min_steps raised them); with `auto`, how many ran and why they stopped
    there. `planned`: the epochs Trainer was asked for."""
    if planned is not None and planned > t.epoch_limit:
        return f"{planned:g} (raised from {t.epochs} to reach train.min_steps {t.min_steps})"
    if t.epochs != AUTO_EPOCHS:
        return int(t.epochs) if float(t.epochs).is_integer() else t.epochs
    if epochs_run is None or epochs_run >= t.epoch_limit:
        return f"auto (ran all {t.epoch_limit}, the most it allows)"
    return (f"auto (stopped after {epochs_run} of at most {t.epoch_limit}: {t.patience} evaluations without a "
            "better kept metric)")


def retrieval_description(config: Config, manifest: dict) -> str:
    """What the card says about retrieved context: the index, its kind and size, passages per question."""
    model = manifest.get("embedding_model", {}).get("base_model")
    return (f"top {config.retrieval.top_k} passages per question (query: the question and its options) from a "
            f"{manifest['kind']} index of {manifest['passages']} passages of at most {manifest['passage_words']} words"
            f"{f' (embeddings: {model})' if model else ''}, built from "
            f"{', '.join(Path(c).name for c in manifest['corpus'])}")
