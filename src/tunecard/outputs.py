"""Write what a run or an evaluation produced: predictions, metrics.json, history.csv, plots,
the card, and the terminal summary. Takes finished results; computes nothing new."""

from __future__ import annotations

import json
from pathlib import Path


from tunecard import metrics
from tunecard.config import Config, save_config
from tunecard.report.card import CardInputs, SplitReport, build_card, render_evaluation


# ---- per split -----------------------------------------------------------------------------

def write_split(workdir: Path, judged, ids, names: list[str], score_histogram: bool = False,
                extras: dict | None = None) -> None:
    """predictions/<split>.csv (plus the task's `extras` columns) and the split's confusion matrix and
    reliability diagram; for preference models also the histogram of P(chosen) for chosen and rejected texts."""
    from tunecard.report.plots import confusion_matrix_plot, reliability_plot, score_histogram_plot

    report = judged.report
    (workdir / "predictions").mkdir(parents=True, exist_ok=True)
    (workdir / "plots").mkdir(exist_ok=True)
    from tunecard.tasks.classification import prediction_frame

    frame = prediction_frame(ids, judged.probs, names, top_k=1)
    frame.insert(1, "gold", [names[i] for i in judged.gold])
    for column, values in (extras or {}).items():
        frame[column] = list(values)
    frame.to_csv(workdir / "predictions" / f"{report.name}.csv", index=False)
    confusion_matrix_plot(report.confusion, names, f"Confusion matrix: {report.name}",
                          workdir / "plots" / f"confusion_matrix_{report.name}.png")
    reliability_plot(report.calibration["reliability"], f"Reliability: {report.name}",
                     workdir / "plots" / f"reliability_{report.name}.png")
    if score_histogram:
        score_histogram_plot({names[i]: judged.probs[judged.gold == i, 1] for i in (1, 0)}, f"P({names[1]})",
                             f"Score distribution: {report.name}", workdir / "plots" / f"scores_{report.name}.png")


# ---- predict ------------------------------------------------------------------------------

class PredictionWriter:
    """Append prediction chunks to a CSV, JSONL or Parquet file (chosen by extension)."""

    def __init__(self, path: Path):
        self.path, self.kind = path, path.name.removesuffix(".partial").rsplit(".", 1)[-1].lower()
        self._parquet = None
        self._first = True

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        return self

    def write(self, frame) -> None:
        if self.kind == "csv":
            frame.to_csv(self.path, mode="a", header=self._first, index=False)
        elif self.kind == "jsonl":
            with open(self.path, "a", encoding="utf-8") as handle:
                frame.to_json(handle, orient="records", lines=True, force_ascii=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            self._parquet = self._parquet or pq.ParquetWriter(self.path, table.schema)
            self._parquet.write_table(table)
        self._first = False

    def __exit__(self, *exc) -> None:
        if self._parquet is not None:
            self._parquet.close()


def submission_rows(frame, column: str):
    """Kaggle's `id,prediction` rows from a predictions frame (`column` holds what is submitted)."""
    return frame[["id", column]].rename(columns={column: "prediction"})


# ---- run -----------------------------------------------------------------------------------

def card_inputs(config: Config, task, ref, prepared, evaluations, result, best_metric: str, device: str,
                findings, train_counts: dict[str, int], temperature: float | None) -> CardInputs:
    names = prepared.label_names
    train_split = SplitReport("train", len(prepared.splits["train"]), train_counts)
    dataset_name = _dataset_name(config)
    return CardInputs(
        model_name=Path(config.output).name, base_model=ref.base_model, dataset_name=dataset_name,
        dataset_description=_dataset_description(config, dataset_name), task=config.task,
        pipeline_tag=task.PIPELINE_TAG, library_name=getattr(task, "LIBRARY_NAME", "transformers"),
        label_names=names, max_length=config.model.max_length,
        input_description="a text pair" if prepared.columns.text_pair else "a text",
        splits=[train_split, *(e.report for e in evaluations)],
        metric_keys=task.metric_keys(names), best_metric=best_metric, best_epoch=result.best_epoch,
        history=result.history, hyperparameters=_hyperparameters(config),
        majority_label=max(names, key=lambda n: train_counts[n]),
        validation_held_out=prepared.validation_held_out, validation_share=config.data.validation_size,
        test_held_out=prepared.test_held_out, test_share=config.data.test_size, holdout=task.HOLDOUT,
        task_notes=task.card_notes(prepared), score_plots=task.SCORE_HISTOGRAM,
        seed=config.train.seed, train_seconds=result.train_seconds,
        samples_per_second=result.samples_per_second, device=device,
        findings=[f.as_dict() for f in findings],
        temperature=temperature)


def run_metrics(inputs: CardInputs, result) -> dict:
    return {
        "task": inputs.task, "label_names": inputs.label_names, "best_metric": inputs.best_metric,
        "best_epoch": inputs.best_epoch, "temperature": inputs.temperature,
        "training": {"seconds": round(result.train_seconds, 2),
                     "samples_per_second": round(result.samples_per_second, 2)},
        "splits": {s.name: split_metrics(s) if s.metrics else {"size": s.size, "label_distribution": s.distribution}
                   for s in inputs.splits},
        "diagnostics": inputs.findings,
    }


def split_metrics(report: SplitReport) -> dict:
    return {"size": report.size, "label_distribution": report.distribution, "metrics": report.metrics,
            "baselines": {"majority": report.baseline, "stratified": report.stratified},
            "calibration": report.calibration, "per_class": report.per_class,
            "confusion_matrix": report.confusion,
            **({"comparisons": report.comparisons, "examples": report.examples} if report.comparisons else {})}


def write_run(workdir: Path, trainer, tokenizer, config: Config, inputs: CardInputs, result, run_metrics_: dict,
              save_model=None) -> None:
    """`save_model(trainer, tokenizer, folder)`: the task's way of writing the model folder, if it has one."""
    import pandas as pd

    from tunecard.report.plots import learning_curves_plot

    if save_model is not None:
        save_model(trainer, tokenizer, workdir / "model")
    else:
        trainer.save_model(str(workdir / "model"))
        tokenizer.save_pretrained(str(workdir / "model"))
    save_config(config, workdir / "config.yaml")
    (workdir / "metrics.json").write_text(json.dumps(run_metrics_, indent=2), encoding="utf-8")
    pd.DataFrame(result.history).to_csv(workdir / "history.csv", index=False)
    train_points = [(e["step"], e["loss"]) for e in result.log_history if "loss" in e and "eval_loss" not in e]
    learning_curves_plot(train_points, result.history, inputs.best_metric,
                         metrics.METRIC_INFO.get(inputs.best_metric, (0, inputs.best_metric))[1],
                         workdir / "plots" / "learning_curves.png")
    card = build_card(inputs)
    card.save(workdir / "README.md")
    # model/ is what users upload or load: it carries the card too (its images live in the run's plots/).
    card.save(workdir / "model" / "README.md")


def print_train_summary(run, inputs: CardInputs, result) -> None:
    from tunecard.report.summary import format_summary

    evaluated = [s for s in inputs.splits if s.metrics]
    footer = [f"training: {result.train_seconds:.0f} s of steps, {result.samples_per_second:.1f} samples/s",
              f"run directory: {run.output}  (card: {run.card_path}, model: {run.model_path})"]
    print(format_summary(f"tunecard train: {inputs.model_name}", result.history, evaluated,
                         inputs.metric_keys, result.best_epoch, inputs.findings, footer))


# ---- evaluate ------------------------------------------------------------------------------

def evaluation_report(model: str, data: str, names: list[str], train_counts, results, findings) -> dict:
    counts = train_counts or results[0].report.distribution
    return {"model": str(model), "data": str(data), "label_names": names,
            "majority_label": max(names, key=lambda n: counts[n]),
            "baseline_source": "the training data" if train_counts else "the evaluated data",
            "splits": {r.report.name: split_metrics(r.report) for r in results},
            "diagnostics": [f.as_dict() for f in findings]}


def write_evaluation(workdir: Path, report: dict, results: list[SplitReport], names: list[str],
                     metric_keys: list[str]) -> None:
    (workdir / "metrics.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    (workdir / "README.md").write_text(render_evaluation(report, results, names, metric_keys), encoding="utf-8")


# ---- card text -----------------------------------------------------------------------------

def _dataset_name(config: Config) -> str:
    from tunecard.data.readers import SPLIT_NAMES

    refs = _data_refs(config)
    names = []
    for ref in refs:
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


def _dataset_description(config: Config, name: str) -> str:
    refs = _data_refs(config)
    if all(Path(ref).exists() for ref in refs):
        return f"the local dataset `{name}` ({', '.join(f'`{ref}`' for ref in refs)})"
    ref = refs[0]
    if "/" in ref:
        return f"the [{name}](https://huggingface.co/datasets/{name}) dataset"
    return f"the `{name}` dataset"


def _hyperparameters(config: Config) -> dict:
    t = config.train
    return {
        "learning_rate": t.learning_rate, "train_batch_size": t.batch_size, "eval_batch_size": t.eval_batch_size,
        "seed": t.seed, "gradient_accumulation_steps": t.gradient_accumulation_steps,
        "optimizer": f"AdamW (torch) with betas=({t.adam_beta1},{t.adam_beta2}) and epsilon={t.adam_epsilon}",
        "weight_decay": t.weight_decay, "lr_scheduler_type": t.lr_scheduler, "warmup_ratio": t.warmup_ratio,
        "num_epochs": int(t.epochs) if float(t.epochs).is_integer() else t.epochs,
        **({"max_steps": t.max_steps} if t.max_steps > 0 else {}),
        **({"class_weights": t.class_weights} if t.class_weights else {}),
        **({"early_stopping_patience": t.early_stopping_patience} if t.early_stopping_patience else {}),
        "max_length": config.model.max_length, "truncation_side": config.model.truncation_side,
        **({"retrieval": _retrieval_description(config)} if config.retrieval.index else {}),
        "batching": "length-grouped, dynamic padding" if t.group_by_length else "random, dynamic padding",
        "precision": _resolved_precision(t.precision),
    }


def _retrieval_description(config: Config) -> str:
    """What the card says about retrieved context: the index, its kind and size, passages per question."""
    manifest = json.loads((Path(config.retrieval.index) / "manifest.json").read_text(encoding="utf-8"))
    model = manifest.get("embedding_model", {}).get("base_model")
    return (f"top {config.retrieval.top_k} passages per question (query: the question and its options) from a "
            f"{manifest['kind']} index of {manifest['passages']} passages of at most {manifest['passage_words']} words"
            f"{f' (embeddings: {model})' if model else ''}, built from {', '.join(Path(c).name for c in manifest['corpus'])}")


def _resolved_precision(precision: str) -> str:
    from tunecard.training import precision_flags

    flags = precision_flags(precision)
    return "bf16" if flags.get("bf16") else "fp16" if flags.get("fp16") else "fp32"
