"""The workflows users call: `train` and `evaluate`. Also owns the run directory.

A run is built in `<output>.partial` and renamed to `<output>` only when every file is
written, so a failed run never leaves a half-written run directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tunecard import metrics
from tunecard.config import Config, config_from_dict, load_config, save_config
from tunecard.errors import TunecardError, TunecardErrors
from tunecard.report.card import CardInputs, SplitReport, build_card

SPLIT_ORDER = ("train", "validation", "test")


@dataclass
class RunResult:
    output: Path
    """The run directory."""
    metrics: dict
    """What metrics.json holds: per split metrics, baselines, per-class report, confusion matrix."""
    history: list[dict]
    model_path: Path
    card_path: Path


def train(config: Config | dict | str | Path) -> RunResult:
    """Fine-tune, evaluate every split, and write the run directory (see README: run directory)."""
    from tunecard import models, training
    from tunecard.tasks import get_task

    config = _as_config(config)
    output = _check_train_config(config)
    task = get_task(config.task)
    ref = models.resolve_model(config.model.name)
    if config.train.learning_rate is None:
        config.train.learning_rate = models.default_learning_rate(config.model.name)
    prepared = task.prepare(config.data, config.train.seed)
    tokenizer = models.load_tokenizer(ref)
    tokenized = {name: task.tokenize(ds, tokenizer, config.model.max_length)
                 for name, ds in prepared.splits.items()}
    from transformers import set_seed

    set_seed(config.train.seed)  # the new head's initial weights come from this seed
    model = models.build_classifier(ref, prepared.label_names)
    model.config.tunecard_train_label_counts = _distribution(prepared.splits["train"], prepared.label_names)
    best_metric = config.train.metric_for_best_model or task.headline_metric(prepared.label_names)

    with run_directory(output, config.overwrite) as workdir:
        trainer, epoch_log = training.build_trainer(
            model, tokenizer, tokenized["train"], tokenized["validation"], config.train,
            str(workdir / "checkpoints"), task.compute_metrics_fn(prepared.label_names), best_metric)
        result = training.train(trainer, epoch_log)
        shutil.rmtree(workdir / "checkpoints", ignore_errors=True)
        if not trainer.is_world_process_zero():
            return None  # only the main process writes the run directory
        splits = [_evaluate_split(trainer.model, tokenizer, name, prepared.splits[name], tokenized[name],
                                  prepared.label_names, config.train.eval_batch_size, workdir,
                                  _distribution(prepared.splits["train"], prepared.label_names))
                  for name in SPLIT_ORDER if name in prepared.splits and name != "train"]
        train_split = SplitReport("train", len(prepared.splits["train"]),
                                  _distribution(prepared.splits["train"], prepared.label_names))
        inputs = _card_inputs(config, ref, prepared, [train_split, *splits], result, best_metric,
                              str(trainer.args.device))
        run_metrics = _run_metrics(inputs, result)
        _write_run(workdir, trainer, tokenizer, config, inputs, result, run_metrics)
    run = RunResult(output, run_metrics, result.history, output / "model", output / "README.md")
    _print_train_summary(run, inputs, result)
    return run


def evaluate(model: str, data: str, output: str | None = None, text_column: str | None = None,
             text_pair_column: str | None = None, label_column: str | None = None,
             batch_size: int = 64, max_length: int | None = None, overwrite: bool = False) -> dict:
    """Score every labelled split in `data` with a trained model; write tables to `output` if given."""
    from tunecard import models
    from tunecard.config import DataConfig
    from tunecard.data.readers import read_splits
    from tunecard.tasks import classification

    if output:
        _check_output(Path(output), overwrite)
    classifier, tokenizer, ref = models.load_classifier(model)
    names = [classifier.config.id2label[i] for i in range(classifier.config.num_labels)]
    data_config = DataConfig(path=data, text_column=text_column, text_pair_column=text_pair_column,
                             label_column=label_column)
    raw = read_splits(data_config)
    first = next(iter(raw.values()))
    columns = classification.resolve_columns(first.column_names, text_column, text_pair_column, label_column)
    by_id = _labels_are_ids(first, columns, names)
    splits = {name: classification.standardise(ds, columns, names, name, by_id) for name, ds in raw.items()}
    train_counts = getattr(classifier.config, "tunecard_train_label_counts", None)
    limit = max_length or min(tokenizer.model_max_length, 512)
    with _maybe_run_directory(output, overwrite) as workdir:
        results = [_evaluate_split(classifier, tokenizer, name, ds, classification.tokenize(ds, tokenizer, limit),
                                   names, batch_size, workdir, train_counts or _distribution(ds, names))
                   for name, ds in splits.items()]
        counts = train_counts or results[0].distribution
        report = {"model": str(model), "data": str(data), "label_names": names,
                  "majority_label": max(names, key=lambda n: counts[n]),
                  "baseline_source": "the training data" if train_counts else "the evaluated data",
                  "splits": {r.name: _split_metrics(r) for r in results}}
        if workdir:
            _write_evaluation(workdir, report, results, names)
    from tunecard.report.summary import format_summary

    print(format_summary(f"tunecard evaluate: {model} on {data}", [], results,
                         metrics.metric_keys(len(names)), None,
                         [f"written to {output}"] if output else []))
    return report


# ---- run directory -------------------------------------------------------------------------

def _check_output(output: Path, overwrite: bool) -> None:
    if output.exists() and not overwrite:
        raise TunecardError(f"output {output}", "a path that does not exist yet",
                            "an existing file or folder", "choose another --output or pass --overwrite")


@contextlib.contextmanager
def run_directory(output: Path, overwrite: bool):
    """Yield `<output>.partial`; on success replace `<output>` with it, on failure remove it."""
    _check_output(output, overwrite)
    partial = output.with_name(output.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # a previous crashed run's leftovers, never user data
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if output.exists():
        shutil.rmtree(output) if output.is_dir() else output.unlink()
    partial.rename(output)


@contextlib.contextmanager
def _maybe_run_directory(output: str | None, overwrite: bool):
    if output is None:
        yield None
        return
    with run_directory(Path(output), overwrite) as workdir:
        yield workdir


# ---- steps ---------------------------------------------------------------------------------

def _as_config(config) -> Config:
    if isinstance(config, Config):
        return dataclasses.replace(config)
    if isinstance(config, (str, Path)):
        return load_config(config)
    return config_from_dict(config)


def _check_train_config(config: Config) -> Path:
    """Every config problem at once, before any work starts."""
    problems = []
    if not config.output:
        problems.append(TunecardError("--output", "a run directory to create", "none", "pass --output runs/NAME"))
    if not (config.data.path or config.data.train):
        problems.append(TunecardError("--data", "a data file, folder or hub id", "none",
                                      "pass --data PATH (or --data.train FILE)"))
    for name, value in (("train.epochs", config.train.epochs), ("train.batch_size", config.train.batch_size),
                        ("model.max_length", config.model.max_length)):
        if value is None or value <= 0:
            problems.append(TunecardError(f"--{name}", "a positive number", repr(value), f"set --{name}"))
    if config.train.learning_rate is not None and config.train.learning_rate <= 0:
        problems.append(TunecardError("--train.learning_rate", "a positive number",
                                      repr(config.train.learning_rate), "set --train.learning_rate"))
    if not 0 < config.data.validation_size < 1:
        problems.append(TunecardError("--data.validation_size", "a share between 0 and 1",
                                      repr(config.data.validation_size), "set e.g. 0.1"))
    if config.output:
        output = Path(config.output)
        try:
            _check_output(output, config.overwrite)
        except TunecardError as exc:
            problems.append(exc)
    if problems:
        raise problems[0] if len(problems) == 1 else TunecardErrors(problems)
    return Path(config.output)


def _labels_are_ids(dataset, columns, names: list[str]) -> bool:
    import datasets

    feature = dataset.features[columns.label]
    if isinstance(feature, datasets.ClassLabel):
        return not columns.label_name
    numeric_names = all(n.lstrip("-").isdigit() for n in names)
    return getattr(feature, "dtype", "").startswith(("int", "uint")) and not numeric_names and not columns.label_name


def _distribution(dataset, names: list[str]) -> dict[str, int]:
    counts = np.bincount(np.asarray(dataset["label"]), minlength=len(names))
    return {name: int(c) for name, c in zip(names, counts)}


def _evaluate_split(model, tokenizer, name, dataset, tokenized, names, batch_size, workdir, train_counts):
    from tunecard.inference import predict_logits
    from tunecard.report.plots import confusion_matrix_plot

    logits = predict_logits(model, tokenizer, tokenized, batch_size, desc=f"Scoring {name}")
    probs = metrics.softmax(logits)
    gold, pred = np.asarray(dataset["label"]), probs.argmax(-1)
    n = len(names)
    majority = max(range(n), key=lambda i: train_counts[names[i]])
    report = SplitReport(
        name=name, size=len(dataset), distribution=_distribution(dataset, names),
        metrics=metrics.classification_metrics(gold, pred, n),
        baseline=metrics.classification_metrics(gold, np.full(len(gold), majority), n),
        per_class=metrics.per_class_report(gold, pred, names), confusion=metrics.confusion(gold, pred, n))
    if workdir is not None:
        _write_predictions(workdir / "predictions" / f"{name}.csv", dataset["id"], gold, pred, probs, names)
        (workdir / "plots").mkdir(exist_ok=True)
        confusion_matrix_plot(report.confusion, names, f"Confusion matrix: {name}",
                              workdir / "plots" / f"confusion_matrix_{name}.png")
    return report


def _write_predictions(path: Path, ids, gold, pred, probs, names) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"id": ids, "gold": [names[i] for i in gold], "prediction": [names[i] for i in pred]})
    for i, label in enumerate(names):
        frame[f"prob_{label}"] = probs[:, i].round(6)
    frame.to_csv(path, index=False)


def _card_inputs(config, ref, prepared, splits, result, best_metric, device) -> CardInputs:
    from tunecard.tasks import classification

    names = prepared.label_names
    train_counts = splits[0].distribution
    pair = prepared.columns.text_pair is not None
    dataset_name = _dataset_name(config)
    return CardInputs(
        model_name=Path(config.output).name, base_model=ref.base_model, dataset_name=dataset_name,
        dataset_description=_dataset_description(config, dataset_name), task=config.task,
        pipeline_tag=classification.PIPELINE_TAG, label_names=names, max_length=config.model.max_length,
        input_description="a text pair" if pair else "a text", splits=splits,
        metric_keys=metrics.metric_keys(len(names)), best_metric=best_metric, best_epoch=result.best_epoch,
        history=result.history, hyperparameters=_hyperparameters(config),
        majority_label=max(names, key=lambda n: train_counts[n]),
        validation_held_out=prepared.validation_held_out, validation_share=config.data.validation_size,
        seed=config.train.seed, train_seconds=result.train_seconds,
        samples_per_second=result.samples_per_second, device=device)


def _dataset_name(config: Config) -> str:
    ref = config.data.path or config.data.train
    path = Path(ref)
    if path.exists():
        return (path if path.is_dir() else path.parent if path.stem in ("train", "data") else path).stem
    return ref


def _dataset_description(config: Config, name: str) -> str:
    ref = config.data.path or config.data.train
    if Path(ref).exists():
        return f"the local dataset `{name}` (`{ref}`)"
    if ref == name and "/" in ref:
        return f"the [{name}](https://huggingface.co/datasets/{name}) dataset"
    return f"the `{name}` dataset"


def _hyperparameters(config: Config) -> dict:
    t = config.train
    return {
        "learning_rate": t.learning_rate, "train_batch_size": t.batch_size, "eval_batch_size": t.eval_batch_size,
        "seed": t.seed, "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "optimizer": f"AdamW (torch) with betas=({t.adam_beta1},{t.adam_beta2}) and epsilon={t.adam_epsilon}",
        "weight_decay": t.weight_decay, "lr_scheduler_type": t.lr_scheduler, "warmup_ratio": t.warmup_ratio,
        "num_epochs": int(t.epochs) if float(t.epochs).is_integer() else t.epochs, **({"max_steps": t.max_steps} if t.max_steps > 0 else {}),
        "max_length": config.model.max_length,
        "batching": "length-grouped, dynamic padding" if t.group_by_length else "random, dynamic padding",
        "precision": _resolved_precision(t.precision),
    }


def _resolved_precision(precision: str) -> str:
    from tunecard.training import precision_flags

    flags = precision_flags(precision)
    return "bf16" if flags.get("bf16") else "fp16" if flags.get("fp16") else "fp32"


def _split_metrics(report: SplitReport) -> dict:
    return {"size": report.size, "label_distribution": report.distribution, "metrics": report.metrics,
            "baselines": {"majority": report.baseline}, "per_class": report.per_class,
            "confusion_matrix": report.confusion}


def _run_metrics(inputs: CardInputs, result) -> dict:
    return {
        "task": inputs.task, "label_names": inputs.label_names, "best_metric": inputs.best_metric,
        "best_epoch": inputs.best_epoch,
        "training": {"seconds": round(result.train_seconds, 2),
                     "samples_per_second": round(result.samples_per_second, 2)},
        "splits": {s.name: _split_metrics(s) if s.metrics else {"size": s.size, "label_distribution": s.distribution}
                   for s in inputs.splits},
    }


def _write_run(workdir: Path, trainer, tokenizer, config, inputs, result, run_metrics) -> None:
    import pandas as pd

    from tunecard.report.plots import learning_curves_plot

    trainer.save_model(str(workdir / "model"))
    tokenizer.save_pretrained(str(workdir / "model"))
    save_config(config, workdir / "config.yaml")
    (workdir / "metrics.json").write_text(json.dumps(run_metrics, indent=2), encoding="utf-8")
    pd.DataFrame(result.history).to_csv(workdir / "history.csv", index=False)
    train_points = [(e["step"], e["loss"]) for e in result.log_history if "loss" in e and "eval_loss" not in e]
    learning_curves_plot(train_points, result.history, inputs.best_metric,
                         metrics.METRIC_INFO.get(inputs.best_metric, (0, inputs.best_metric))[1],
                         workdir / "plots" / "learning_curves.png")
    card = build_card(inputs)
    card.save(workdir / "README.md")
    # model/ is what users upload or load: it carries the card too (its images live in the run's plots/).
    card.save(workdir / "model" / "README.md")


def _write_evaluation(workdir: Path, report: dict, results: list, names: list[str]) -> None:
    from tunecard.report.card import render_evaluation

    (workdir / "metrics.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (workdir / "README.md").write_text(render_evaluation(report, results, names), encoding="utf-8")


def _print_train_summary(run: RunResult, inputs: CardInputs, result) -> None:
    from tunecard.report.summary import format_summary

    evaluated = [s for s in inputs.splits if s.metrics]
    footer = [f"training: {result.train_seconds:.0f} s of steps, {result.samples_per_second:.1f} samples/s",
              f"run directory: {run.output}  (card: {run.card_path}, model: {run.model_path})"]
    print(format_summary(f"tunecard train: {inputs.model_name}", result.history, evaluated,
                         inputs.metric_keys, result.best_epoch, footer))
