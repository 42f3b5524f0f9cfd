"""`tunecard train`, read top to bottom: check the config, prepare the data, tokenizer and model, train with
Trainer, score every split with the kept model, fit what validation decides (temperature, thresholds), judge the
splits beside their baselines, and write the run directory. It is built in <output>.partial and renamed when
complete (runs/directory.py); under several processes every one trains and scores its share, and only the main
one judges, writes and prints.

An extension (`train`'s keyword `extension`; `tunecard distill` passes one) may change a run at three points:
`prepare(run, workdir)` once the data, tokenizer and model are set up and the run directory exists (what it
computes can be cached there, and is found again on --resume); `trainer_parts(parts, run)` and
`compute_metrics(fn)` as Trainer is built; `report(run, evaluations)` once every split is judged: a dict that
metrics.json and the card carry under the extension's `name`."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from tunecard import console
from tunecard.config import Config, as_config
from tunecard.errors import Failed, Stopped, TunecardError

SPLIT_ORDER = ("train", "validation", "test")


@dataclass
class RunResult:
    output: Path
    """The run directory."""
    metrics: dict
    """What metrics.json holds: per split metrics, baselines, calibration, per-class report,
    confusion matrix; the diagnostic findings."""
    history: list[dict]
    model_path: Path
    card_path: Path
    findings: list

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


@dataclass
class TrainingRun:
    """Everything known about a run before training starts; the steps below read and extend it."""
    config: Config
    task: Any
    ref: Any
    """The base model (engine.models.ModelRef)."""
    prepared: Any
    """The task's PreparedData: its splits and label names."""
    tokenizer: Any
    tokenized: dict
    model: Any
    settings: Any
    """The ModelSettings saved with the model (runs.settings)."""
    best_metric: str
    headline: str
    train_counts: dict
    findings: list
    index: Any = None
    """The open-book passage index, when the run retrieves context."""
    temperature: Optional[float] = None
    selection: Optional[str] = None
    """How the hyperparameters were chosen (for `tune`), in the card's words."""
    license: Optional[str] = None
    """The base model's licence: model.license, else what its card states."""
    extension: Any = None
    report_extra: Optional[dict] = None
    """What the extension reports (metrics.json and the card, under its name)."""
    cost: Optional[dict] = None
    """What scoring the held-out split cost (prediction_cost): the card's cost line and metrics.json's `cost`."""
    out_of_fold: Optional[dict] = None
    """The training rows' out-of-fold probabilities (--diagnostics.label_issues kfold; workflows/label_issues.py)."""


def train(config: Config, *, callbacks: tuple = (), score_test: bool = True, selection: str | None = None,
          extension=None) -> RunResult | None:
    """Fine-tune, evaluate every split, and write the run directory (docs: the run directory). `config` (a Config,
    a nested dict or a YAML path) is not changed: the run works on a resolved copy, which config.yaml records.
    Returns the run on the main process (None on the others). For `tune`: `callbacks` are added to Trainer's;
    `score_test=False` leaves the test split unread; `selection` says in the card how the options were chosen."""
    from tunecard import tasks
    from tunecard.engine import distributed, training
    from tunecard.runs import directory
    from tunecard.workflows import label_issues, open_book

    console.quiet_library_progress()
    config = checked_config(config)
    if config.distill.teacher and extension is None:
        raise TunecardError("--distill.teacher", "no teacher for `tunecard train`", repr(config.distill.teacher),
                            "distil with tunecard distill, or drop distill.teacher")
    resume_from = directory.resume_point(config) if config.resume else None
    task = tasks.bind(config)
    index = open_book.open_index(task, config.retrieval)  # before any work: a bad index stops the run here
    run = _setup(config, task, index, score_test, selection)
    run.extension = extension
    with directory.training_directory(config, resume_from) as workdir:
        run.out_of_fold = label_issues.out_of_fold(run, workdir, setup_trainer)
        if extension is not None:
            extension.prepare(run, workdir)
        trainer, epoch_log = setup_trainer(run, workdir, callbacks)
        result = training.train(trainer, epoch_log, resume_from)
        _stop_if_interrupted(result, run, workdir)
        logits = _score_splits(trainer.model, run)  # every process scores its share
        main = distributed.is_main()
        if main:  # only the main process judges, writes files and prints
            shutil.rmtree(workdir / directory.CHECKPOINTS, ignore_errors=True)
            inputs, run_metrics, findings = _judge_and_write(trainer, run, result, workdir, logits)
            training.finish_trackers(trainer, final_metrics(run_metrics))
    distributed.finish()
    if not main:
        return None
    output = Path(config.output)
    done = RunResult(output, run_metrics, result.history, output / "model", output / "README.md", findings)
    _print_summary(done, inputs, result, config.verb)
    if config.strict and done.has_errors:
        errors = sum(f.severity == "error" for f in findings)
        raise Failed("--strict", "a run without error-level diagnostic findings", f"{errors} (see above; the run is "
                     f"written to {output})", "act on them, or drop --strict")
    return done


def checked_config(config) -> Config:
    """A resolved copy of `config` (the task's defaults filled in), with every problem reported at once, before
    any work starts."""
    from tunecard import tasks
    from tunecard.errors import raise_all
    from tunecard.runs import directory

    config = tasks.resolve_config(as_config(config))
    task = tasks.task_class(config.task)
    problems = config.problems() + task.abstention_problems(config.abstain) + task.label_issues_problems(
        config.diagnostics)
    if config.output:
        problems.extend(directory.check_training_output(config))
    raise_all(problems)
    return config


def _setup(config: Config, task, index, score_test: bool, selection: str | None) -> TrainingRun:
    from transformers import set_seed

    from tunecard.engine import models
    from tunecard.judging import judge, metrics
    from tunecard.runs import saved
    from tunecard.workflows import open_book

    ref = saved.base_ref(config.model.name, config.model.base_model)
    prepared = task.prepare(config.data, config.train.seed)
    if not score_test:  # a tune trial: chosen on validation, so test is never looked at
        prepared.splits.pop("test", None)
    prepared.splits = open_book.with_retrieved_context(prepared.splits, index, config.retrieval.top_k)
    tokenizer = models.load_tokenizer(ref)
    tokenizer.truncation_side = config.model.truncation_side
    task = _long_inputs(config, task, prepared, tokenizer)
    tokenized = {name: task.tokenize(ds, tokenizer, config.model.max_length) for name, ds in prepared.splits.items()}
    train_counts = metrics.label_counts(prepared.splits["train"]["label"], prepared.label_names)
    set_seed(config.train.seed)  # the new head's initial weights come from this seed
    model = task.build_model(ref, prepared.label_names)
    headline = task.headline_metric(prepared.label_names)
    findings = judge.data_findings(prepared.splits, tokenized, config.model.max_length, prepared.label_names,
                                   prepared.dropped_rows)
    return TrainingRun(config, task, ref, prepared, tokenizer, tokenized, model,
                       _model_settings(config, task, ref, prepared, train_counts),
                       config.train.metric_for_best_model or headline, headline, train_counts,
                       prepared.findings + findings, index, selection=selection,
                       license=config.model.license or models.base_license(ref))


def _long_inputs(config: Config, task, prepared, tokenizer):
    """The task reading texts longer than the window as model.long_inputs says; `auto` chunks when more of the
    training texts are longer than the window than the truncation finding lets pass without a warning."""
    from tunecard.data import texts
    from tunecard.data.windows import Windows
    from tunecard.judging.diagnostics import TRUNCATION_WARN_SHARE

    if config.model.long_inputs != "auto" or not task.reads_windows:
        return task
    if texts.share_longer(prepared.splits["train"], tokenizer, config.model.max_length) <= TRUNCATION_WARN_SHARE:
        return task
    pooling = "mean" if config.model.window_pooling == "auto" else config.model.window_pooling
    return task.with_windows(Windows(config.model.window_stride, pooling))


def _model_settings(config: Config, task, ref, prepared, train_counts: dict):
    """What is saved with the model for its predictor: the run's own settings and the task's."""
    from tunecard.runs.settings import ModelSettings

    retrieval = {"index": config.retrieval.index, "top_k": config.retrieval.top_k} if config.retrieval.index else None
    long_inputs = task.windows.settings() if task.windows is not None else None
    return ModelSettings(task=config.task, base_model=ref.base_model, max_length=config.model.max_length,
                         truncation_side=config.model.truncation_side, long_inputs=long_inputs,
                         train_label_counts=train_counts, retrieval=retrieval, **task.model_settings(prepared, ref))


def setup_trainer(run: TrainingRun, workdir: Path, callbacks: tuple):
    from tunecard.engine import training
    from tunecard.runs import directory

    task, names = run.task, run.prepared.label_names
    train_set, validation = task.trainer_datasets(run.tokenized)
    parts = training.TrainerParts(
        model=run.model, tokenizer=run.tokenizer, train=train_set, validation=validation,
        collator=task.data_collator(run.tokenizer), loss=task.loss_function(run.config.train, train_set),
        preprocess_logits=task.preprocess_logits(run.tokenizer, names),
        collator_drops_columns=task.collator_drops_columns, model_loss_sums_items=task.model_loss_sums_items)
    if run.extension is not None:
        parts = run.extension.trainer_parts(parts, run)
    trainer, epoch_log = training.build_trainer(parts, run.config.train, str(workdir / directory.CHECKPOINTS),
                                                run.best_metric, run_name=Path(run.config.output).name,
                                                verb=run.config.verb)
    trainer.compute_metrics = task.compute_metrics_fn(names, validation, training.eval_row_order(trainer))
    if run.extension is not None:
        trainer.compute_metrics = run.extension.compute_metrics(trainer.compute_metrics)
    for callback in callbacks:
        trainer.add_callback(callback)
    return trainer, epoch_log


def _stop_if_interrupted(result, run: TrainingRun, workdir: Path) -> None:
    if result.interrupted_at is not None:
        raise Stopped("training", "to run to the end", f"a stop by Ctrl-C at step {result.interrupted_at}",
                      f"continue it with: tunecard {run.config.verb} --config {workdir / 'config.yaml'} --resume")


def _score_splits(model, run: TrainingRun) -> dict:
    """Every split's logits in row order, each process scoring its share of the rows. The held-out split's
    scoring is timed (wall clock and this process's CPU time, every thread's): what a prediction costs."""
    import time

    from tunecard.engine import distributed

    def scorer(name):
        return lambda rows: run.task.score(model, run.tokenizer, rows, run.config.train.eval_batch_size,
                                           f"Scoring {name}")
    held_out, logits = "test" if "test" in run.prepared.splits else "validation", {}
    for name in (n for n in SPLIT_ORDER if n in run.prepared.splits):
        wall, cpu = time.perf_counter(), time.process_time()
        logits[name] = distributed.score_in_shares(scorer(name), run.tokenized[name])
        if name == held_out:
            run.cost = prediction_cost(name, len(run.prepared.splits[name]), time.perf_counter() - wall,
                                       time.process_time() - cpu, run.config.train.eval_batch_size)
    return logits


def prediction_cost(split: str, texts: int, seconds: float, cpu_seconds: float, batch_size: int) -> dict:
    """The card's cost line: texts per second (wall clock, all processes) and CPU-seconds per 1,000 predictions
    (this process's CPU time over its share of the texts), with the machine that measured them."""
    from tunecard.engine import distributed

    share = max(len(distributed.share(texts)), 1)
    return {"split": split, "texts": texts, "seconds": round(seconds, 3),
            "texts_per_second": round(texts / max(seconds, 1e-9), 1), "cpu_seconds": round(cpu_seconds, 3),
            "cpu_seconds_per_1000": round(1000 * cpu_seconds / share, 3), "batch_size": batch_size,
            "processes": distributed.world_size(), "machine": distributed.machine()}


def _judge_and_write(trainer, run: TrainingRun, result, workdir: Path, row_logits: dict):
    """Fit what validation decides, judge every split and write the run directory: (card inputs, metrics.json
    content, findings). `row_logits`: per tokenized row (a window, when the task reads windows)."""
    from tunecard.judging.diagnostics import sort_findings
    from tunecard.report import inputs as report_inputs
    from tunecard.runs import writers

    if run.task.windows is not None and run.config.model.window_pooling == "auto":
        run.task = _choose_pooling(run, row_logits["validation"])
    logits = {name: run.task.pool(values, run.tokenized[name]) for name, values in row_logits.items()}
    run.task = _fit_after_training(run, logits["validation"])
    run.settings.write(trainer.model.config)
    evaluations, findings = _judge_run(trainer.model, run, result, workdir, logits)
    if run.extension is not None:
        run.report_extra = {**(run.report_extra or {}), run.extension.name: run.extension.report(run, evaluations)}
    if run.config.abstain.asked:
        findings = sort_findings(findings + _fit_abstention(trainer, run, evaluations, workdir))
    inputs = report_inputs.card_inputs(run, evaluations, result, findings, trainer.args)
    run_metrics = report_inputs.run_metrics(inputs, result)
    writers.write_run(workdir, trainer, run, inputs, result, run_metrics)
    return inputs, run_metrics, findings


def _fit_abstention(trainer, run: TrainingRun, evaluations: list, workdir: Path) -> list:
    """The abstention cut-off (abstain.*) fitted on validation's calibrated probabilities, measured on every
    evaluated split and saved with the model; metrics.json and the card get its report, plots/ its risk–coverage
    curves. Returns its findings."""
    from tunecard.judging import abstention
    from tunecard.runs import writers

    splits = {judged.report.name: (judged.probs, judged.gold) for judged in evaluations}
    report = abstention.fit(splits, run.config.abstain.target_accuracy, run.config.abstain.coverage)
    writers.write_risk_coverage(workdir / "plots", report, abstention.risk_coverage(splits))
    run.settings = run.settings.updated(abstention=abstention.saved_settings(report))
    run.settings.write(trainer.model.config)
    run.report_extra = {**(run.report_extra or {}), "abstention": report}
    return abstention.findings(report)


def _choose_pooling(run: TrainingRun, window_logits):
    """The task pooling its windows the way that scores better on validation (mean on a tie); saved with the
    model. Judged like the run itself (thresholds fitted for each way, for multi-label)."""
    import dataclasses

    from tunecard.data.windows import POOLINGS

    validation, names = run.prepared.splits["validation"], run.prepared.label_names
    scores = {}
    for pooling in POOLINGS:
        task = run.task.with_windows(dataclasses.replace(run.task.windows, pooling=pooling))
        logits = task.pool(window_logits, run.tokenized["validation"])
        judged = task.fit(logits, run.prepared).judge("validation", validation, logits, names, run.train_counts,
                                                      None, run.config.train.seed)
        scores[pooling] = judged.report.metrics[run.headline]
    chosen = max(POOLINGS, key=lambda p: scores[p])  # the first, mean, on a tie
    print(f"window pooling: {chosen} (validation {run.headline}: "
          + ", ".join(f"{p} {v:.4f}" for p, v in scores.items()) + ")")
    run.settings = run.settings.updated(long_inputs={**run.settings.long_inputs, "pooling": chosen})
    return run.task.with_windows(dataclasses.replace(run.task.windows, pooling=chosen))


def _fit_after_training(run: TrainingRun, validation_logits):
    """The task with its decision rules fitted on validation, and the softmax temperature; both saved with the
    model."""
    validation = run.prepared.splits["validation"]
    if run.config.train.temperature_scaling:
        run.temperature = run.task.temperature(validation_logits, validation)
    task = run.task.fit(validation_logits, run.prepared)
    run.settings = run.settings.updated(temperature=run.temperature, **task.fitted_settings())
    return task


def _judge_run(model, run: TrainingRun, result, workdir: Path, logits: dict):
    """Judge every split's logits (scored with the kept model); collect all findings."""
    from tunecard.judging.diagnostics import history_findings, sort_findings
    from tunecard.runs import writers

    task, names, splits, seed = run.task, run.prepared.label_names, run.prepared.splits, run.config.train.seed
    evaluations, findings = [], list(run.findings)
    # Other scorers cost as much as the evaluation itself (an LLM's base model, free generation):
    # they run on the held-out split the card leads with, not on the validation split that picked the epoch.
    held_out = "test" if "test" in splits else "validation"
    for name in (n for n in SPLIT_ORDER if n in splits and n != "train"):
        judged = task.judge(name, splits[name], logits[name], names, run.train_counts, run.temperature, seed)
        if name == held_out:
            judged.report.comparisons, judged.report.examples = task.comparisons(
                name, model, run.tokenizer, splits[name], run.tokenized[name], judged.probs,
                run.config.train.eval_batch_size)
        writers.write_split(workdir, task, judged, splits[name]["id"], names,
                            task.prediction_extras(splits[name], judged.probs))
        evaluations.append(judged)
        findings.extend(judged.findings)
    chance = task.chance_loss(names, run.train_counts, splits["validation"]["label"], run.config.train)
    findings.extend(history_findings(result.history, run.headline, result.best_epoch, chance, run.temperature))
    findings.append(task.label_noise_candidates(
        splits["train"], logits["train"], names, workdir / "diagnostics" / "label_noise_candidates.csv"))
    if run.out_of_fold is not None:
        from tunecard.workflows import label_issues

        oof = run.out_of_fold
        finding, report = label_issues.report(splits["train"], oof["probs"], names, oof["folds"], oof["seconds"],
                                              workdir / "diagnostics" / "label_issues.csv")
        findings.append(finding)
        run.report_extra = {**(run.report_extra or {}), "label_issues": report}
    return evaluations, sort_findings(task.applicable(findings))


def final_metrics(run_metrics: dict) -> dict[str, float]:
    """The kept model's scores as Trainer's trackers name them: eval_<metric> (validation), test_<metric>."""
    prefixes = {"validation": "eval_", "test": "test_"}
    return {prefixes[split] + key: value for split, values in run_metrics["splits"].items() if split in prefixes
            for key, value in values.get("metrics", {}).items() if isinstance(value, (int, float))}


def _print_summary(run: RunResult, inputs, result, verb: str) -> None:
    from tunecard.report.card import metric_names
    from tunecard.report.summary import format_summary

    evaluated = [s for s in inputs.splits if s.metrics]
    footer = [f"training: {result.train_seconds:.0f} s of steps, {result.samples_per_second:.1f} samples/s",
              f"run directory: {run.output}  (card: {run.card_path}, model: {run.model_path})"]
    print(format_summary(f"tunecard {verb}: {inputs.model_name}", result.history, evaluated,
                         inputs.metric_keys, result.best_epoch, inputs.findings, footer,
                         metric_names(inputs.metric_info)))
