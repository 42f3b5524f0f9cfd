"""`tunecard evaluate`, read top to bottom: open the model once (a tunecard run, or with `task` a model tunecard
never trained, scored zero-shot), read the labelled data in the task's contract, score every split (each process
its share), judge each split beside its baselines, and write the tables and card when asked."""

from __future__ import annotations

from dataclasses import fields
from typing import Optional

from tunecard import console
from tunecard.config import DataConfig, LlmConfig, RetrievalConfig
from tunecard.errors import TunecardError

DEFAULT_SEED = 42
"""The seed of the bootstrap and the stratified baseline (train.seed's default)."""


def evaluate(model: str, data: str, output: Optional[str] = None, text_column: Optional[str] = None,
             text_pair_column: Optional[str] = None, label_column: Optional[str] = None, batch_size: int = 64,
             max_length: Optional[int] = None, overwrite: bool = False, k: Optional[int] = None,
             retrieval: Optional[RetrievalConfig] = None, task: Optional[str] = None,
             llm: Optional[LlmConfig] = None, split: Optional[str] = None) -> dict | None:
    """Score every labelled split of `data` with a trained model and judge it beside the baselines (each process
    scores its share of the rows; the main one judges, writes and returns metrics.json's content).

    Args:
        model: A run directory or model folder; with --task also an alias, a model folder, a hub id or a PEFT
            adapter folder.
        data: A labelled file, a folder of split files or a hub id.
        output: A folder to write metrics.json, predictions, plots and README.md to (unset: print only).
        text_column: The column with the text (unset: inferred).
        text_pair_column: The column with the second text of a pair (unset: inferred).
        label_column: The column with the label (unset: inferred).
        batch_size: Inputs per forward pass.
        max_length: Longest input in tokens (unset: the model's own, at most 512).
        overwrite: Replace an existing output folder.
        k: multiple_choice: also report MAP@k.
        retrieval: multiple_choice: an index whose passages are added as context (index, top_k).
        task: Score a model tunecard did not train zero-shot as this task: multiple_choice (options by log-likelihood)
            or llm_classification (labels by the likelihood of their words); a run is evaluated as its own task.
        llm: The prompt of a zero-shot llm_classification (docs/predict-export.md#zero-shot-evaluation).
        split: The evaluated split's name (unset: a file's own, e.g. `test` for test.jsonl; a folder's or hub
            dataset's split names); with several splits, the one to evaluate.
    """
    from tunecard.engine import distributed
    from tunecard.runs import directory
    from tunecard.runs.saved import open_saved
    from tunecard.workflows import open_book

    console.quiet_library_progress()
    if output:
        directory.check_output(_path(output), overwrite)
    saved, raw = open_saved(model), read_named_splits(data, split)
    columns = {"text_column": text_column, "text_pair_column": text_pair_column, "label_column": label_column}
    evaluated, predictor, zero_shot = _model_to_evaluate(saved, task, raw, columns, batch_size, k, llm)
    splits = _splits(evaluated, saved, predictor.labels, raw, columns, open_book.as_retrieval(retrieval))
    limit = max_length or predictor.max_length
    tokenized = {name: evaluated.tokenize(ds, predictor.tokenizer, limit) for name, ds in splits.items()}
    scored = {name: evaluated.pool(_score(evaluated, predictor, name, rows, batch_size), rows)
              for name, rows in tokenized.items()}
    if not distributed.is_main():
        distributed.finish()
        return None  # another process of several: the main one judges, writes and prints
    report = _judge_and_write(evaluated, saved, predictor, splits, tokenized, scored, limit, output, overwrite,
                              zero_shot, data)
    distributed.finish()
    return report


def read_named_splits(data: str, split: Optional[str]) -> dict:
    """The splits to evaluate, named for what they are: a file read alone is named by its stem (a reader calls it
    `train`, as a training file would be); `split` renames a single split, or picks one of several."""
    from pathlib import Path

    from tunecard.data.readers import read_splits

    raw = read_splits(DataConfig(path=data))
    if split is not None and len(raw) > 1:
        if split not in raw:
            raise TunecardError(f"--split {split}", f"one of the splits of {data}", ", ".join(raw),
                                f"pass --split {' or --split '.join(raw)}")
        return {split: raw[split]}
    if len(raw) == 1 and (split is not None or Path(data).is_file()):
        return {split or Path(data).stem: next(iter(raw.values()))}
    return raw


def _splits(task, saved, names: list[str], raw: dict, columns: dict, retrieval) -> dict:
    """The labelled splits in the task's contract, with retrieved passages as context when an index is given."""
    from tunecard.workflows import open_book

    index = open_book.open_index(task, retrieval)
    open_book.note_missing_retrieval(saved.settings, retrieval)
    splits = task.evaluation_splits(raw, names, columns)
    return open_book.with_retrieved_context(splits, index, retrieval.top_k if retrieval else 0)


def _score(task, predictor, name: str, tokenized, batch_size: int):
    """A split's logits in row order, each process scoring its share of the rows."""
    from tunecard.engine import distributed

    return distributed.score_in_shares(
        lambda rows: task.score(predictor.model, predictor.tokenizer, rows, batch_size, f"Scoring {name}"), tokenized)


def _model_to_evaluate(saved, task_name: str | None, raw: dict, columns: dict, batch_size: int, k, llm) -> tuple:
    """(task, predictor, zero-shot?): a tunecard-trained model with the task it was trained for; with --task, a
    model tunecard did not train (an embedded alias, a model folder, a hub id), scored zero-shot by that task."""
    from tunecard import tasks
    from tunecard.engine import models

    prompt = _given_prompt(llm)
    if saved.kind == "ensemble":
        raise TunecardError(f"--model {saved.path}", "a trained model", "an ensemble (its members are scored "
                            "separately)", "evaluate each member, or read the ensemble's card: it scored validation "
                            "and test")
    if saved.trained and task_name not in (None, saved.task_name):
        raise TunecardError(f"--task {task_name}", f"the task the model was trained for ({saved.task_name})",
                            f"a tunecard {saved.task_name} run at {saved.path}",
                            f"drop --task to evaluate it as {saved.task_name}, or pass a base model to score it "
                            "zero-shot")
    if not saved.trained and task_name is not None:
        task, predictor = tasks.zero_shot_class(task_name, saved.path).zero_shot(saved.path, raw, columns,
                                                                                 batch_size, k=k, **prompt)
        return task, predictor, True
    if not saved.trained and (saved.path in models.EMBEDDED_MODELS or saved.folder is not None):
        found = "an embedded base model" if saved.path in models.EMBEDDED_MODELS else \
            "a model folder tunecard did not train"
        able = " or --task ".join(tasks.zero_shot_tasks())
        raise TunecardError(f"--model {saved.path}", "a tunecard run directory or model folder (or --task, to score "
                            "another model zero-shot)", found, f"pass --task {able} to score it zero-shot, or train it "
                            "first")
    if prompt:
        flag = next(iter(prompt))
        raise TunecardError(f"--{flag}", "prompt options only with --task and a model tunecard did not train",
                            f"the tunecard run {saved.path}, which keeps the prompt it was trained with",
                            f"drop --{flag}")
    task = saved.task(k=k)  # bound to the options the model was trained with
    return task, task.load_predictor(saved, batch_size), False


def _given_prompt(llm) -> dict:
    """The --llm.* options that differ from their defaults, as {"llm.<field>": value}."""
    if llm is None:
        return {}
    given = llm if isinstance(llm, LlmConfig) else LlmConfig(**llm)
    default = LlmConfig()
    return {f"llm.{f.name}": getattr(given, f.name) for f in fields(LlmConfig)
            if getattr(given, f.name) != getattr(default, f.name)}


def _judge_and_write(task, saved, predictor, splits: dict, tokenized: dict, scored: dict, limit: int,
                     output: str | None, overwrite: bool, zero_shot: bool, data: str) -> dict:
    """Judge every split, write the evaluation folder when asked, print the summary; metrics.json's content."""
    from tunecard.judging import judge, metrics
    from tunecard.judging.diagnostics import sort_findings
    from tunecard.report import inputs as report_inputs
    from tunecard.runs import directory, writers

    names = predictor.labels
    counts = saved.settings.train_label_counts if saved.settings else None
    info = {**metrics.METRIC_INFO, **task.metric_info}
    with directory.optional_run_directory(_path(output) if output else None, overwrite) as workdir:
        results, findings = [], []
        for name, ds in splits.items():
            judged = task.judge(name, ds, scored[name], names, counts or metrics.label_counts(ds["label"], names),
                                predictor.temperature, DEFAULT_SEED)
            findings.extend(judged.findings + [judge.truncation_finding(name, tokenized[name], limit)])
            results.append(judged)
            if workdir:
                writers.write_split(workdir, task, judged, ds["id"], names, task.prediction_extras(ds, judged.probs))
        report = report_inputs.evaluation_report(saved.path, data, names, counts, results, sort_findings(findings),
                                                 task)
        if zero_shot:
            report["zero_shot"] = task.zero_shot_description(predictor, splits)
        if workdir:
            writers.write_evaluation(workdir, report, [r.report for r in results], names, task.metric_keys(names),
                                     info)
    _print_summary(task, saved.path, data, zero_shot, results, report, output, info)
    return report


def _print_summary(task, model: str, data: str, zero_shot: bool, results: list, report: dict, output, info) -> None:
    from tunecard.report.card import metric_names
    from tunecard.report.summary import format_summary

    names = report["label_names"]
    print(format_summary(f"tunecard evaluate: {model} on {data}{' (zero-shot)' if zero_shot else ''}", [],
                         [r.report for r in results], task.metric_keys(names), None, report["diagnostics"],
                         [f"headline metric: {metric_names(info)[report['headline_metric']]} (the leads over the "
                          "baselines and the collapse checks are judged on it)", *_zero_shot_lines(report)]
                         + ([f"written to {output}"] if output else []), metric_names(info)))


def _zero_shot_lines(report: dict) -> list[str]:
    """The summary's word on a zero-shot evaluation: no training, and each split's chance level."""
    if "zero_shot" not in report:
        return []
    chance = "; ".join(f"{split}: " + ", ".join(f"{key} {value:.4f}" for key, value in levels.items())
                       for split, levels in report["zero_shot"]["chance"].items())
    return [f"scored without training: {report['zero_shot']['model']}, training {report['zero_shot']['training']}; "
            f"chance: {chance}"]


def _path(output: str):
    from pathlib import Path

    return Path(output)
