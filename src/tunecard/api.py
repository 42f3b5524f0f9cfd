"""The workflows users call: `train`, `evaluate`, `predict`, `export` and `index`. Their outputs are built
in `<output>.partial` and renamed when complete (`run_directory`)."""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from tunecard import open_book, outputs, run_directory
from tunecard.report import inputs as report_inputs
from tunecard.config import (AUTO_EPOCHS, Config, IndexConfig, LlmConfig, RetrievalConfig, ServeConfig, TrainConfig,
                             TuneConfig, check_config, config_from_dict, load_config)
from tunecard.diagnostics import Finding, history_findings, sort_findings
from tunecard.errors import Stopped, TunecardError, TunecardErrors

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
    findings: list[Finding]

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


@dataclass
class _Setup:
    """Everything known before training starts."""
    ref: object
    prepared: object
    tokenizer: object
    tokenized: dict
    model: object
    best_metric: str
    headline: str
    train_counts: dict[str, int]
    data_findings: list[Finding]


def train(config: Config | dict | str | Path, *, callbacks: tuple = (), score_test: bool = True,
          selection: str | None = None) -> RunResult | None:
    """Fine-tune, evaluate every split, and write the run directory (docs: the run directory).
    `config` is not changed: the run works on a resolved copy, which config.yaml records. Under several
    processes every one trains and scores its share; the main one writes and returns the run (others None).
    For `tune`: `callbacks` are added to Trainer's; `score_test=False` leaves the test split unread and
    unscored; `selection` says in the card how the hyperparameters were chosen."""
    from tunecard import distributed, tasks, training

    config = tasks.resolve_config(_as_config(config))
    output = _check_train_config(config)
    resume_from = run_directory.resume_point(config) if config.resume else None
    task = tasks.bind(config)
    index = open_book.open_index(task, config.retrieval)  # before any work: a bad index stops the run here
    setup = _setup(config, task, index, score_test)
    with run_directory.training_directory(config, resume_from) as workdir:
        names = setup.prepared.label_names
        train_set, validation = task.trainer_datasets(setup.tokenized)
        trainer, epoch_log = training.build_trainer(
            setup.model, setup.tokenizer, train_set, validation, config.train,
            str(workdir / run_directory.CHECKPOINTS), None, setup.best_metric, task.data_collator(setup.tokenizer),
            task.loss_function(config.train, train_set), task.preprocess_logits(setup.tokenizer, names),
            collator_drops_columns=task.collator_drops_columns, model_loss_sums_items=task.model_loss_sums_items)
        trainer.compute_metrics = task.compute_metrics_fn(names, validation, training.eval_row_order(trainer))
        for callback in callbacks:
            trainer.add_callback(callback)
        result = training.train(trainer, epoch_log, resume_from)
        if result.interrupted_at is not None:
            raise Stopped("training", "to run to the end", f"a stop by Ctrl-C at step {result.interrupted_at}",
                          f"continue it with: tunecard train --config {workdir / 'config.yaml'} --resume true")
        logits = _score_splits(trainer.model, setup, config, task)  # every process scores its share
        main = distributed.is_main()
        if main:  # only the main process judges, writes files and prints
            shutil.rmtree(workdir / run_directory.CHECKPOINTS, ignore_errors=True)
            inputs, run_metrics, findings = _write_run(trainer, setup, config, task, index, result, workdir,
                                                       logits, selection)
    distributed.finish()
    if not main:
        return None
    run = RunResult(output, run_metrics, result.history, output / "model", output / "README.md", findings)
    _print_train_summary(run, inputs, result)
    return run


def _write_run(trainer, setup: _Setup, config: Config, task, index, result, workdir: Path, logits: dict,
               selection: str | None = None):
    """Judge every split and write the run directory: (card inputs, metrics.json content, findings)."""
    from tunecard import distributed, training

    task, temperature = _fit_after_training(trainer.model, setup, config, task, logits["validation"])
    evaluations, findings = _judge_run(trainer.model, setup, config, result, workdir, task, logits, temperature)
    inputs = report_inputs.card_inputs(
        config, task, task.card(setup.prepared, setup.tokenizer), setup.ref.base_model, setup.prepared,
        evaluations, result, setup.best_metric, str(trainer.args.device), training.precision_of(trainer.args),
        findings, setup.train_counts, temperature,
        index.manifest if index else None, trainer.args.world_size, distributed.kind())
    inputs.selection = selection
    run_metrics = report_inputs.run_metrics(inputs, result)
    outputs.write_run(workdir, trainer, setup.tokenizer, task, config, inputs, result, run_metrics)
    return inputs, run_metrics, findings


def _score_splits(model, setup: _Setup, config: Config, task) -> dict:
    """Every split's logits in row order, each process scoring its share of the rows."""
    from tunecard import distributed

    def scorer(name):
        return lambda rows: task.score(model, setup.tokenizer, rows, config.train.eval_batch_size, f"Scoring {name}")
    return {name: distributed.score_in_shares(scorer(name), setup.tokenized[name])
            for name in SPLIT_ORDER if name in setup.prepared.splits}


def _setup(config: Config, task, index=None, score_test: bool = True) -> _Setup:
    from transformers import set_seed

    from tunecard import evaluation, metrics, models

    ref = models.resolve_model(config.model.name)
    prepared = task.prepare(config.data, config.train.seed)
    if not score_test:  # a tune trial: chosen on validation, so test is never looked at
        prepared.splits.pop("test", None)
    prepared.splits = open_book.with_retrieved_context(prepared.splits, index, config.retrieval.top_k)
    tokenizer = models.load_tokenizer(ref)
    tokenizer.truncation_side = config.model.truncation_side
    tokenized = {name: task.tokenize(ds, tokenizer, config.model.max_length) for name, ds in prepared.splits.items()}
    train_counts = metrics.label_counts(prepared.splits["train"]["label"], prepared.label_names)
    set_seed(config.train.seed)  # the new head's initial weights come from this seed
    model = task.build_model(ref, prepared.label_names)
    model.config.tunecard_train_label_counts = train_counts
    model.config.tunecard_max_length = config.model.max_length
    model.config.tunecard_truncation_side = config.model.truncation_side
    model.config.tunecard_task = config.task
    for key, value in task.model_settings(prepared).items():
        setattr(model.config, key, value)
    if config.retrieval.index:
        model.config.tunecard_retrieval = {"index": config.retrieval.index, "top_k": config.retrieval.top_k}
    headline = task.headline_metric(prepared.label_names)
    findings = evaluation.data_findings(prepared.splits, tokenized, config.model.max_length, prepared.label_names,
                                        prepared.dropped_rows)
    return _Setup(ref, prepared, tokenizer, tokenized, model, config.train.metric_for_best_model or headline,
                  headline, train_counts, prepared.findings + findings)


def _fit_after_training(model, setup: _Setup, config: Config, task, validation_logits):
    """(the task with its decision rules fitted on validation, the softmax temperature or None); both saved
    in the model's config.json."""
    validation = setup.prepared.splits["validation"]
    temperature = task.temperature(validation_logits, validation) if config.train.temperature_scaling else None
    if temperature is not None:
        model.config.tunecard_temperature = temperature
    task = task.fit(validation_logits, setup.prepared)
    for key, value in task.fitted_settings().items():
        setattr(model.config, key, value)
    return task, temperature


def _judge_run(model, setup: _Setup, config: Config, result, workdir: Path, task, logits: dict, temperature):
    """Judge every split's logits (scored with the kept model); collect all findings."""
    names, splits = setup.prepared.label_names, setup.prepared.splits
    evaluations, findings = [], list(setup.data_findings)
    # Other scorers cost as much as the evaluation itself (an LLM's base model, free generation):
    # they run on the held-out split the card leads with, not on the validation split that picked the epoch.
    held_out = "test" if "test" in splits else "validation"
    for name in (n for n in SPLIT_ORDER if n in splits and n != "train"):
        judged = task.judge(name, splits[name], logits[name], names, setup.train_counts, temperature,
                            config.train.seed)
        if name == held_out:
            judged.report.comparisons, judged.report.examples = task.comparisons(
                name, model, setup.tokenizer, splits[name], setup.tokenized[name], judged.probs,
                config.train.eval_batch_size)
        outputs.write_split(workdir, task, judged, splits[name]["id"], names,
                            task.prediction_extras(splits[name], judged.probs))
        evaluations.append(judged)
        findings.extend(judged.findings)
    chance = task.chance_loss(names, setup.train_counts, splits["validation"]["label"], config.train)
    findings.extend(history_findings(result.history, setup.headline, result.best_epoch, chance, temperature))
    findings.append(task.label_noise_candidates(
        splits["train"], logits["train"], names, workdir / "diagnostics" / "label_noise_candidates.csv"))
    findings = [f for f in findings if f is not None]
    return evaluations, sort_findings(findings)


def _print_train_summary(run: RunResult, inputs, result) -> None:
    from tunecard.report.card import metric_names
    from tunecard.report.summary import format_summary

    evaluated = [s for s in inputs.splits if s.metrics]
    footer = [f"training: {result.train_seconds:.0f} s of steps, {result.samples_per_second:.1f} samples/s",
              f"run directory: {run.output}  (card: {run.card_path}, model: {run.model_path})"]
    print(format_summary(f"tunecard train: {inputs.model_name}", result.history, evaluated,
                         inputs.metric_keys, result.best_epoch, inputs.findings, footer,
                         metric_names(inputs.metric_info)))


def evaluate(model: str, data: str, output: str | None = None, text_column: str | None = None,
             text_pair_column: str | None = None, label_column: str | None = None,
             batch_size: int = 64, max_length: int | None = None, overwrite: bool = False,
             k: int | None = None, retrieval: RetrievalConfig | dict | None = None, task: str | None = None,
             llm: LlmConfig | dict | None = None) -> dict | None:
    """Score every labelled split in `data` with a trained model; write tables to `output` if given.
    Under several processes each scores its share of the rows; the main one judges, writes and returns.
    multiple_choice: `k` adds MAP@k; `retrieval` (index, top_k) adds retrieved passages as context.
    `task` with a model tunecard did not train (an alias, a folder, a hub id): that task scores it zero-shot,
    with `llm` as its prompt where the task takes one (docs/predict-export.md#zero-shot-evaluation)."""
    from tunecard import distributed, evaluation, metrics
    from tunecard import blending
    from tunecard.config import DataConfig
    from tunecard.data.readers import read_splits
    from tunecard.report.card import metric_names
    from tunecard.report.summary import format_summary

    if output:
        run_directory.check_output(Path(output), overwrite)
    if blending.is_ensemble(model):
        raise TunecardError(f"--model {model}", "a trained model", "an ensemble (its members are scored separately)",
                            "evaluate each member, or read the ensemble's card: it scored validation and test")
    options = {"text_column": text_column, "text_pair_column": text_pair_column, "label_column": label_column}
    raw = read_splits(DataConfig(path=data))
    task, predictor, zero_shot = _model_to_evaluate(model, task, raw, options, batch_size, k, llm)
    retrieval = open_book.as_retrieval(retrieval)
    index = open_book.open_index(task, retrieval)
    names, config = predictor.labels, predictor.config
    open_book.note_missing_retrieval(config, retrieval)
    splits = task.evaluation_splits(raw, names, options)
    splits = open_book.with_retrieved_context(splits, index, retrieval.top_k if retrieval else 0)
    counts = getattr(config, "tunecard_train_label_counts", None)
    limit = max_length or predictor.max_length
    info = {**metrics.METRIC_INFO, **task.metric_info}
    tokenized = {name: task.tokenize(ds, predictor.tokenizer, limit) for name, ds in splits.items()}
    scored = {name: distributed.score_in_shares(
        lambda rows, name=name: task.score(predictor.model, predictor.tokenizer, rows, batch_size, f"Scoring {name}"),
        tokenized[name]) for name in splits}
    if not distributed.is_main():
        distributed.finish()
        return None  # another process of several: the main one judges, writes and prints
    with _maybe_run_directory(output, overwrite) as workdir:
        results, findings = [], []
        for name, ds in splits.items():
            logits = scored[name]
            judged = task.judge(name, ds, logits, names, counts or metrics.label_counts(ds["label"], names),
                                predictor.temperature, TrainConfig().seed)
            findings.extend(judged.findings + [evaluation.truncation_finding(name, tokenized[name], limit)])
            results.append(judged)
            if workdir:
                outputs.write_split(workdir, task, judged, ds["id"], names, task.prediction_extras(ds, judged.probs))
        report = report_inputs.evaluation_report(model, data, names, counts, results, sort_findings(findings),
                                                    task)
        if zero_shot:
            report["zero_shot"] = task.zero_shot_description(predictor, splits)
        if workdir:
            outputs.write_evaluation(workdir, report, [r.report for r in results], names, task.metric_keys(names),
                                     info)
    distributed.finish()
    print(format_summary(f"tunecard evaluate: {model} on {data}{' (zero-shot)' if zero_shot else ''}", [],
                         [r.report for r in results], task.metric_keys(names), None, report["diagnostics"],
                         _zero_shot_lines(report) + ([f"written to {output}"] if output else []), metric_names(info)))
    return report


def _model_to_evaluate(model: str, task_name: str | None, raw: dict, columns: dict, batch_size: int,
                       k: int | None, llm) -> tuple:
    """(task, predictor, zero-shot?): a tunecard-trained model with the task it was trained for; with --task, a
    model tunecard did not train (an embedded alias, a model folder, a hub id), scored zero-shot by that task."""
    from tunecard import models, tasks

    trained = tasks.trained_task(model)
    prompt = _given_prompt(llm)
    if trained and task_name not in (None, trained):
        raise TunecardError(f"--task {task_name}", f"the task the model was trained for ({trained})",
                            f"a tunecard {trained} run at {model}",
                            f"drop --task to evaluate it as {trained}, or pass a base model to score it zero-shot")
    if trained is None and task_name is not None:
        task, predictor = tasks.task_class(task_name).zero_shot(model, raw, columns, batch_size, k=k, **prompt)
        return task, predictor, True
    if trained is None and (model in models.EMBEDDED_MODELS or (models.model_folder(model) / "config.json").is_file()):
        found = "an embedded base model" if model in models.EMBEDDED_MODELS else "a model folder tunecard did not train"
        able = " or --task ".join(tasks.zero_shot_tasks())
        raise TunecardError(f"--model {model}", "a tunecard run directory or model folder (or --task, to score "
                            "another model zero-shot)", found,
                            f"pass --task {able} to score it zero-shot, or train it first")
    if prompt:
        flag = next(iter(prompt))
        raise TunecardError(f"--{flag}", "prompt options only with --task and a model tunecard did not train",
                            f"the tunecard run {model}, which keeps the prompt it was trained with", f"drop --{flag}")
    task = tasks.for_model(model, k=k)  # bound to the options the model was trained with
    return task, task.load_predictor(model, batch_size), False


def _given_prompt(llm) -> dict:
    """The --llm.* options that differ from their defaults, as {"llm.<field>": value}."""
    if llm is None:
        return {}
    given = llm if isinstance(llm, LlmConfig) else LlmConfig(**llm)
    default = LlmConfig()
    return {f"llm.{f.name}": getattr(given, f.name) for f in fields(LlmConfig)
            if getattr(given, f.name) != getattr(default, f.name)}


def _zero_shot_lines(report: dict) -> list[str]:
    """The summary's word on a zero-shot evaluation: no training, and each split's chance level."""
    if "zero_shot" not in report:
        return []
    chance = "; ".join(f"{split}: " + ", ".join(f"{key} {value:.4f}" for key, value in levels.items())
                       for split, levels in report["zero_shot"]["chance"].items())
    return [f"scored without training: {report['zero_shot']['model']}, training {report['zero_shot']['training']}; "
            f"chance: {chance}"]


PREDICTION_FORMATS = (".csv", ".jsonl", ".parquet")


def predict(model: str, data: str, output: str, top_k: int | None = None, text_column: str | None = None,
            text_pair_column: str | None = None, batch_size: int = 64, chunk_size: int = 8192,
            backend: str = "torch", overwrite: bool = False, retrieval: RetrievalConfig | dict | None = None,
            submission: str | None = None) -> Path | None:
    """Score every row of a file in chunks (memory stays bounded) and write, in input order, the rows
    the model's task defines (for classifiers: id, prediction, prob_<label> per label, top-k labels; for
    multiple choice: id, prediction, ranked letters, prob_<letter>, retrieved passages). `submission`:
    also write a Kaggle-style `id,prediction` CSV (multiple choice: the ranked letters, "D B E").
    Under several processes each scores its share of every chunk; the main one writes and returns the path."""
    from tqdm.auto import tqdm

    from tunecard import distributed
    from tunecard import blending
    from tunecard.data.readers import read_file

    out = Path(output)
    if out.suffix.lower() not in PREDICTION_FORMATS:
        raise TunecardError("--output", f"a {', '.join(PREDICTION_FORMATS)} file", f"'{out.suffix or out.name}'",
                            "name the output file with one of those extensions")
    run_directory.check_output(out, overwrite)
    targets = [out] + ([_submission_path(submission, overwrite)] if submission else [])
    dataset = read_file(Path(data))
    task = blending.task_for(model)
    retrieval = open_book.as_retrieval(retrieval)
    index = open_book.open_index(task, retrieval)
    predictor = blending.load_predictor(task, model, batch_size, backend)
    open_book.note_missing_retrieval(predictor.config, retrieval)
    top_k = top_k or task.predict_top_k
    if top_k < 1 or top_k > len(predictor.labels):
        raise TunecardError("--top_k", f"between 1 and {len(predictor.labels)}", str(top_k), "set --top_k")
    options = {"top_k": top_k, "text_column": text_column, "text_pair_column": text_pair_column,
               "retrieve": open_book.chunk_retriever(index, retrieval)}
    score_chunk = task.chunk_scorer(predictor, dataset.column_names, options)
    if not distributed.is_main():  # another process of several: it scores its shares for the main one
        for _ in _scored_chunks(dataset, chunk_size, score_chunk, tqdm(disable=True)):
            pass
        distributed.finish()
        return None
    partials = [t.with_name(t.name + ".partial") for t in targets]
    column = task.submission_column
    try:
        with contextlib.ExitStack() as stack:
            writers = [stack.enter_context(outputs.PredictionWriter(p)) for p in partials]
            bar = stack.enter_context(tqdm(total=len(dataset), desc="Predicting", unit="row"))
            for frame in _scored_chunks(dataset, chunk_size, score_chunk, bar):
                writers[0].write(frame)
                if submission:
                    writers[1].write(outputs.submission_rows(frame, column))
    except BaseException:
        for partial in partials:
            partial.unlink(missing_ok=True)
        raise
    for partial, target in zip(partials, targets):
        partial.replace(target)
    distributed.finish()
    return out


def _scored_chunks(dataset, chunk_size: int, score_chunk, bar):
    """The prediction frame of each chunk of rows, in input order. Under several processes each scores its
    share of every chunk and the main one receives all shares in row order (others get None)."""
    import pandas as pd

    from tunecard import distributed

    for start, chunk in zip(range(0, len(dataset), chunk_size), dataset.iter(batch_size=chunk_size)):
        n = len(next(iter(chunk.values())))
        ids = chunk["id"] if "id" in chunk else range(start, start + n)
        mine = distributed.share(n)
        frame = score_chunk({k: v[mine.start:mine.stop] for k, v in chunk.items()}, ids[mine.start:mine.stop],
                            bar)
        shares = distributed.gather(frame)
        bar.update(n - len(mine))  # the other processes' rows
        yield pd.concat(shares, ignore_index=True) if distributed.is_main() else None


def push(model: str, repo: str, private: bool = False, dry_run: bool = False) -> list[Path]:
    """Upload a run's model folder (or a model folder) to the Hub as model repo `repo`, its card and images
    included, after checking every link of the card resolves inside the folder and nothing is a pickle.
    `dry_run`: check and list what would be uploaded, upload nothing. Returns the files (relative)."""
    from tunecard import hub, models

    folder = models.model_folder(model)
    files = hub.check_folder(folder)
    size = sum((folder / f).stat().st_size for f in files)
    listing = "\n".join(f"  {f}  ({(folder / f).stat().st_size:,} bytes)" for f in files)
    print(f"{folder}: {len(files)} files, {size / 1e6:.1f} MB; the card's links all resolve inside it\n{listing}")
    if dry_run:
        print(f"dry run: nothing uploaded (would push to https://huggingface.co/{repo}"
              f"{', private' if private else ''})")
        return files
    print(f"pushed: {hub.upload(folder, repo, private)}")
    return files


EXPORT_FORMATS = ("onnx",)


def export(model: str, format: str = "onnx", quantize: str | None = None, output: str | None = None,
           overwrite: bool = False) -> Path:
    """Write an ONNX copy of a trained classifier (with its tokenizer and label map) for
    `predict --backend onnx`; by default into `<model folder>/onnx`."""
    from tunecard import models, tasks
    from tunecard.export import QUANTIZATIONS, export_onnx
    from tunecard.inference import ONNX_FOLDER

    if format not in EXPORT_FORMATS:
        raise TunecardError("--format", f"one of {', '.join(EXPORT_FORMATS)}", f"'{format}'", "use --format onnx")
    if quantize not in QUANTIZATIONS:
        raise TunecardError("--quantize", "int8 or nothing", f"'{quantize}'", "use --quantize int8 or leave it out")
    task = tasks.for_model(model)
    if not task.exports_onnx:
        exportable = [name for name in tasks.TASKS if tasks.task_class(name).exports_onnx]
        raise TunecardError(f"model {model}", f"a model of task {' or '.join(exportable)}", f"task '{task.name}'",
                            "score it with the torch back end (leave out --backend)")
    target = Path(output) if output else models.model_folder(model) / ONNX_FOLDER
    with run_directory.run_directory(target, overwrite) as workdir:
        classifier, tokenizer, _ = models.load_classifier(model)
        written = export_onnx(classifier, tokenizer, workdir, quantize)
    print(f"exported {', '.join(p.name for p in written)} with config and tokenizer to {target}")
    return target


def _submission_path(submission: str, overwrite: bool) -> Path:
    path = Path(submission)
    if path.suffix.lower() != ".csv":
        raise TunecardError("--submission", "a .csv file (Kaggle's id,prediction format)",
                            f"'{path.suffix or path.name}'", "name the submission file with .csv")
    run_directory.check_output(path, overwrite)
    return path


def ensemble(runs: list[str], output: str, objective: str | None = None, folds: int = 0,
             overwrite: bool = False) -> dict:
    """Blend trained runs with weights fitted on validation (docs/ensemble.md) and write a run directory: the
    blend's predictions, metrics.json with every member beside it, ensemble.json (members and weights), and the
    card. `tunecard.load` and `predict` on it run each member and blend. Returns metrics.json's content."""
    from tunecard import blending
    from tunecard import evaluation, metrics
    from tunecard.report.card import metric_names
    from tunecard.report.summary import format_summary

    members = blending.read_members(runs)
    task = blending.run_task(members[0].path)
    objective = objective or task.ensemble_objective
    _check_ensemble_options(objective, folds, len(members[0].splits["validation"].probs))
    run_directory.check_output(Path(output), overwrite)
    names, first = members[0].metrics["label_names"], members[0]
    counts, seed = first.metrics["splits"]["train"]["label_distribution"], TrainConfig().seed
    weights, blended = blending.fit_and_blend(task, members, objective, folds, seed)
    with run_directory.run_directory(Path(output), overwrite) as workdir:
        judged = {}
        for name, probs in blended.items():
            dataset = first.splits[name].dataset
            judged[name] = task.judge(name, dataset, np.log(np.maximum(probs, 1e-12)), names, counts, None, seed)
            outputs.write_split(workdir, task, judged[name], dataset["id"], names,
                                task.prediction_extras(dataset, judged[name].probs))
        leads = blending.member_leads(task, members, judged, names, seed)
        report = outputs.write_ensemble(workdir, task, members, weights, blending.mean_confidence(members), objective,
                                        folds, judged, leads, counts, Path(output))
    print(format_summary(f"tunecard ensemble: {len(members)} members -> {output}", [],
                         [j.report for j in judged.values()], task.metric_keys(names), None, report["diagnostics"],
                         [f"weights ({objective}): " + ", ".join(f"{m.name} {w:.3f}" for m, w in zip(members, weights)),
                          f"run directory: {output}"], metric_names({**metrics.METRIC_INFO, **task.metric_info})))
    return report


def tune(config: Config | dict | str | Path, tune_config: TuneConfig | dict | None = None) -> Path:
    """An Optuna search over training options (docs/tune.md): trials judged on validation, the study in
    <output>/study.db (run again to resume), the best trial trained again as <output>/best, the one run that
    scores test. `config.output` is the study folder; `config` is not changed. Returns <output>/best."""
    from tunecard import tasks, tuning

    config = tasks.resolve_config(_as_config(config))
    tune_config = tune_config if isinstance(tune_config, TuneConfig) else TuneConfig(**(tune_config or {}))
    tuning.check_tune_config(tune_config)
    study_dir = _check_study_output(config, tune_config)
    _check_train_config(tuning.with_values(config, {}, study_dir / "trials" / "check"))
    task = tasks.bind(config)
    space = tune_config.space or tuning.default_space(config, task)
    tuning.check_space(space, config)
    metric = tune_config.metric or config.train.metric_for_best_model or task.headline_metric(
        task.prepare(config.data, config.train.seed).label_names)
    study_dir.mkdir(parents=True, exist_ok=True)
    study = tuning.open_study(study_dir, tune_config, tuning.direction_of(metric), config.train.seed)
    remaining = None if tune_config.trials is None else max(tune_config.trials - tuning.finished(study), 0)
    print(f"tunecard tune: {metric} on validation ({tuning.direction_of(metric)}), "
          f"{tuning.finished(study)} trials done, {remaining if remaining is not None else 'more'} to run; "
          f"study: {study_dir / 'study.db'}")
    if remaining != 0:
        study.optimize(lambda trial: tuning.run_trial(trial, config, space, metric, study_dir / "trials", train),
                       n_trials=remaining, timeout=tune_config.timeout, catch=(),
                       callbacks=[lambda s, t: print(tuning.progress_line(s, t, tune_config.trials), flush=True)])
    return _write_study(study, study_dir, config, space, metric)


def _write_study(study, study_dir: Path, config: Config, space: dict, metric: str) -> Path:
    """trials.csv, the plots, the best trial trained again into best/ (scoring test once), and the card."""
    from tunecard import tuning
    from tunecard.report.study_card import render_study_card

    if tuning.best_trial(study) is None:
        raise TunecardError(f"study {study_dir}", "at least one complete trial", "none (all pruned or failed)",
                            "run more trials (raise --tune.trials) or widen --tune.space")
    shutil.rmtree(study_dir / "trials", ignore_errors=True)  # each trial's own run folder is removed as it ends
    frame = tuning.trials_frame(study)
    frame.to_csv(study_dir / "trials.csv", index=False)
    plots = tuning.write_plots(study, study_dir / "plots")
    best = study.best_trial
    best_dir = study_dir / "best"
    chosen = json.loads((best_dir / "trial.json").read_text()) if (best_dir / "trial.json").is_file() else None
    if chosen is None or chosen["trial"] != best.number:
        print(f"best: trial {best.number} ({metric} {best.value:.4f}); training it again to score test once")
        train(tuning.with_values(config, best.params, best_dir), selection=tuning.selection_note(study, space, metric))
        (best_dir / "trial.json").write_text(json.dumps({"trial": best.number, "params": best.params,
                                                         "validation": best.value}, indent=2))
    (study_dir / "README.md").write_text(render_study_card(study, frame, space, metric, plots, config),
                                         encoding="utf-8")
    print(f"study: {study_dir / 'README.md'}; chosen run: {best_dir}")
    return best_dir


def _check_study_output(config: Config, tune_config: TuneConfig) -> Path:
    """The study folder: new, or one holding a study (which resumes); anything else only with --tune.overwrite."""
    if not config.output:
        raise TunecardError("--output", "a study folder to create (or one to resume)", "none",
                            "pass --output runs/NAME-study")
    study_dir = Path(config.output)
    if study_dir.exists() and not (study_dir / "study.db").is_file():
        if not tune_config.overwrite:
            raise TunecardError(f"output {study_dir}", "a new folder, or a study folder to resume (with study.db)",
                                "an existing folder without a study", "choose another --output or pass --tune.overwrite true")
        shutil.rmtree(study_dir)
    return study_dir


def _check_ensemble_options(objective: str, folds: int, validation_rows: int) -> None:
    from tunecard.blending import OBJECTIVES

    if objective not in OBJECTIVES:
        raise TunecardError("--objective", f"one of {', '.join(OBJECTIVES)}", repr(objective),
                            "set --objective to one of those")
    if folds and not 2 <= folds <= validation_rows:
        raise TunecardError("--folds", f"0 (fit on all of validation) or 2 to {validation_rows}", repr(folds),
                            "set --folds (e.g. 5)")


def verify(run: str) -> list[str]:
    """Recompute every number of a run's metrics.json and card from its predictions files; print what was
    checked and each mismatch. Returns the mismatches (none: the run's numbers are what its predictions say)."""
    from tunecard.verification import TOLERANCE, verify_run

    result = verify_run(Path(run))
    for line in result.mismatches:
        print(f"MISMATCH {line}")
    for line in result.skipped:
        print(f"not checked: {line}")
    verdict = f"{len(result.mismatches)} differ" if result.mismatches else "all match"
    print(f"tunecard verify {run}: {result.checked} numbers recomputed from predictions/*.csv "
          f"(tolerance {TOLERANCE}): {verdict}")
    return result.mismatches


# ---- retrieval ------------------------------------------------------------------------------

def serve(config: ServeConfig | dict) -> None:
    """Serve a trained model over HTTP until stopped (see ServeConfig and docs/serve.md)."""
    config = config if isinstance(config, ServeConfig) else ServeConfig(**config)
    try:
        from tunecard import serving
        from tunecard.serving import app  # noqa: F401 (fastapi, uvicorn, prometheus-client)
    except ImportError as exc:
        raise TunecardError("tunecard serve", "fastapi, uvicorn and prometheus-client installed",
                            f"{exc.name} missing", 'pip install -e ".[serve]"') from None
    serving.serve(config)


def index(config: IndexConfig | dict) -> dict:
    """Build a passage index folder from a corpus (see IndexConfig); returns its manifest."""
    from tunecard import retrieval

    config = config if isinstance(config, IndexConfig) else IndexConfig(**config)
    _check_index_config(config)
    with run_directory.run_directory(Path(config.output), config.overwrite) as workdir:
        manifest = retrieval.build_index(config, workdir)
    print(f"tunecard index: {manifest['passages']} passages ({manifest['kind']}"
          f"{', ' + manifest['faiss_index'] if 'faiss_index' in manifest else ''}) in {manifest['build_seconds']} s, "
          f"{manifest['passages_per_second']} passages/s; written to {config.output}")
    return manifest


def _check_index_config(config: IndexConfig) -> None:
    from tunecard.retrieval import INDEX_TYPES, KINDS

    problems = []
    if not config.corpus:
        problems.append(TunecardError("--corpus", "one or more passage files", "none", "pass --corpus FILE"))
    if not config.output:
        problems.append(TunecardError("--output", "an index folder to create", "none", "pass --output DIR"))
    for name, value, allowed in (("kind", config.kind, KINDS), ("index_type", config.index_type, INDEX_TYPES)):
        if value not in allowed:
            problems.append(TunecardError(f"--{name}", f"one of {', '.join(allowed)}", repr(value),
                                          f"set --{name} to one of those"))
    if problems:
        raise problems[0] if len(problems) == 1 else TunecardErrors(problems)


@contextlib.contextmanager
def _maybe_run_directory(output: str | None, overwrite: bool):
    if output is None:
        yield None
        return
    with run_directory.run_directory(Path(output), overwrite) as workdir:
        yield workdir


# ---- checks --------------------------------------------------------------------------------

def _as_config(config) -> Config:
    """A new, type-checked Config from a Config, a nested dict or a YAML path."""
    if isinstance(config, Config):
        return check_config(config)
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
    if config.train.epochs != AUTO_EPOCHS and config.train.epochs <= 0:
        problems.append(TunecardError("--train.epochs", f"a positive number or {AUTO_EPOCHS}",
                                      repr(config.train.epochs), f"set --train.epochs (e.g. 3, or {AUTO_EPOCHS})"))
    for name, value in (("train.batch_size", config.train.batch_size), ("model.max_length", config.model.max_length)):
        if value is None or value <= 0:
            problems.append(TunecardError(f"--{name}", "a positive number", repr(value), f"set --{name}"))
    if config.retrieval.index and config.retrieval.top_k < 1:
        problems.append(TunecardError("--retrieval.top_k", "a positive number", repr(config.retrieval.top_k),
                                      "set --retrieval.top_k"))
    if config.train.learning_rate is not None and config.train.learning_rate <= 0:
        problems.append(TunecardError("--train.learning_rate", "a positive number",
                                      repr(config.train.learning_rate), "set --train.learning_rate"))
    if config.data.delimiter is not None and len(config.data.delimiter) != 1:
        problems.append(TunecardError("--data.delimiter", "one character (e.g. ';' or '|')",
                                      repr(config.data.delimiter), "set --data.delimiter to one character"))
    if not 0 < config.data.validation_size < 1:
        problems.append(TunecardError("--data.validation_size", "a share between 0 and 1",
                                      repr(config.data.validation_size), "set e.g. 0.1"))
    for name, value, allowed in (("model.truncation_side", config.model.truncation_side, (None, "right", "left")),
                                 ("train.class_weights", config.train.class_weights, (None, "balanced")),
                                 ("data.bad_rows", config.data.bad_rows, ("error", "drop"))):
        if value not in allowed:
            problems.append(TunecardError(f"--{name}", f"one of {', '.join(map(str, allowed))}", repr(value),
                                          f"set --{name} to one of those"))
    if config.output:
        problems.extend(run_directory.check_training_output(config))
    if problems:
        raise problems[0] if len(problems) == 1 else TunecardErrors(problems)
    return Path(config.output)

