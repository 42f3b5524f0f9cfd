"""`tunecard export`, read top to bottom: check the options, open the run, check its task exports, find the rows
the int8 gate judges on (the run's validation split, or --gate_data), write the ONNX model (int8 too when asked) with
its config and tokenizer into a folder built as `<folder>.partial`, judge the int8 model against the fp32 one on
those rows and refuse it (nothing written) when its headline metric falls by more than --max_drop or a collapse
check fires, write the card (README.md) and gate.json, and rename the folder when complete: by default
`<model folder>/onnx`, which `predict --backend onnx` finds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from tunecard.errors import TunecardError
from tunecard.judging.gate import DEFAULT_MAX_DROP, OFF

FORMATS = ("onnx",)
QUANTIZATIONS = (None, "int8")
GATE_FILE = "gate.json"
"""The int8 gate's report, beside the int8 model (`tunecard serve` states it)."""
GATE_SEED = 42
"""The seed of the gate's bootstrap (train.seed's default)."""
GATE_BATCH = 64


def export(model: str, format: str = "onnx", quantize: Optional[str] = None, output: Optional[str] = None,
           overwrite: bool = False, max_drop: float = DEFAULT_MAX_DROP, gate_data: Optional[str] = None) -> Path:
    """Write an ONNX copy of a trained classifier (with its tokenizer and label map) for `predict --backend onnx`;
    an int8 copy only past a quality gate on validation (docs/predict-export.md). Returns the folder written.

    Args:
        model: A run directory or model folder.
        format: onnx.
        quantize: int8: also write a dynamically quantised model_int8.onnx, judged against fp32 first.
        output: The folder to write (default: <model folder>/onnx).
        overwrite: Replace an existing folder.
        max_drop: int8: the largest drop of the headline metric (fp32 minus int8) the gate accepts; 1 accepts
            anything (the gate still reports).
        gate_data: int8: a labelled file to gate on instead of the run's validation split (a model folder without
            its run directory needs one, or --max_drop 1).
    """
    from tunecard.engine import models, onnx
    from tunecard.runs import directory
    from tunecard.runs.saved import ONNX_FOLDER, open_saved

    _check_options(format, quantize, max_drop)
    saved = open_saved(model).require_trained()
    task = saved.task()
    _check_exports(task, model)
    rows = _gate_rows(saved, task, gate_data, max_drop) if quantize else None
    target = Path(output) if output else saved.folder / ONNX_FOLDER
    with directory.run_directory(target, overwrite) as workdir:
        classifier, tokenizer = models.load_trained(saved.folder)
        written = onnx.export_onnx(classifier, tokenizer, workdir, quantize)
        names = [classifier.config.id2label[i] for i in range(classifier.config.num_labels)]
        gate = _gate(saved, task, tokenizer, workdir, rows, names, max_drop) if quantize else None
        _write_card(saved, workdir, [p.name for p in written], gate, target.name)
    print(f"exported {', '.join(p.name for p in written)} with config and tokenizer to {target}")
    if gate is not None:
        from tunecard.report.export_card import gate_line

        print(gate_line(gate))
    return target


def _check_options(format: str, quantize: Optional[str], max_drop: float) -> None:
    if format not in FORMATS:
        raise TunecardError("--format", f"one of {', '.join(FORMATS)}", f"'{format}'", "use --format onnx")
    if quantize not in QUANTIZATIONS:
        raise TunecardError("--quantize", "int8 or nothing", f"'{quantize}'", "use --quantize int8 or leave it out")
    if not max_drop >= 0:
        raise TunecardError("--max_drop", "a drop of 0 or more (0.01: one point; 1: accept anything)",
                            f"{max_drop}", "set --max_drop 0.01")


def _check_exports(task, model: str) -> None:
    from tunecard import tasks

    if not task.exports_onnx:
        exportable = [name for name in tasks.TASKS if tasks.task_class(name).exports_onnx]
        raise TunecardError(f"model {model}", f"a model of task {' or '.join(exportable)}", f"task '{task.name}'",
                            "score it with the torch back end (leave out --backend)")


# ---- the rows the int8 gate judges on ---------------------------------------------------------------------------

def _gate_rows(saved, task, gate_data: Optional[str], max_drop: float) -> Optional[tuple]:
    """(labelled rows in the task's contract, what they are in words, their split's name) to gate int8 on: the
    --gate_data file, else the run's validation split; None for a model folder without its run when the gate is
    off (--max_drop 1)."""
    if gate_data:
        return _file_rows(task, saved, gate_data)
    if saved.run_dir is not None and (saved.run_dir / "config.yaml").is_file():
        return _validation_rows(saved, task)
    if max_drop >= OFF:
        return None
    raise TunecardError("--quantize int8", "labelled rows to gate the int8 model on: the validation split of the "
                        "model's run directory, or --gate_data", f"the model folder {saved.path}, without its run "
                        "directory", "export the run directory (the folder with config.yaml), add --gate_data a "
                        "labelled file, or export int8 ungated with --max_drop 1")


def _validation_rows(saved, task) -> tuple:
    """The run's validation split, read again from its data as training read it (the same seed draws a held-out
    split the same way), checked against the rows the run wrote predictions for."""
    config = saved.run_config()
    dataset = task.prepare(config.data, config.train.seed).splits["validation"]
    written = saved.run_dir / "predictions" / "validation.csv"
    if written.is_file():
        import pandas as pd

        ids = pd.read_csv(written, usecols=["id"], dtype=str, keep_default_na=False)["id"].tolist()
        if ids != [str(i) for i in dataset["id"]]:
            raise TunecardError(f"validation data of {saved.path}", "the rows the run was validated on "
                                "(predictions/validation.csv)", f"other rows from {config.data.path} now "
                                f"({len(dataset)} rows, {len(ids)} written)", "restore the run's data, or pass "
                                "--gate_data a labelled file")
    return dataset, f"the validation split of {saved.path}", "validation"


def _file_rows(task, saved, path: str) -> tuple:
    """A labelled file's rows (a folder's validation split, or its one split) in the task's contract."""
    from tunecard.config import DataConfig
    from tunecard.data.readers import read_splits
    from tunecard.engine import models

    config = models.load_config(saved.folder)
    splits = task.evaluation_splits(read_splits(DataConfig(path=path)),
                                    [config.id2label[i] for i in range(config.num_labels)], {})
    if "validation" not in splits and len(splits) > 1:
        raise TunecardError("--gate_data", "a labelled file, or a folder with a validation split",
                            f"splits {', '.join(splits)} in {path}", "pass the one file to gate on")
    name = "validation" if "validation" in splits else next(iter(splits))
    return splits[name], f"{path}" + (f" ({name})" if len(splits) > 1 else ""), name


# ---- the gate ---------------------------------------------------------------------------------------------------

def _gate(saved, task, tokenizer, workdir: Path, rows: Optional[tuple], names: list[str], max_drop: float) -> dict:
    """The gate report (judging/gate.py) of the fp32 and int8 exports on `rows`; raises when the gate refuses."""
    from tunecard.engine import inference, onnx
    from tunecard.judging import gate, metrics
    from tunecard.report.card import metric_names

    if rows is None:
        return {"reason": "no labelled rows to judge it on (a model folder without its run directory), exported "
                          f"with --max_drop {max_drop:g}", "max_drop": max_drop}
    dataset, source, split = rows
    settings = saved.settings
    limit = inference.scoring_length(tokenizer, settings.max_length, settings.truncation_side)
    tokenized = task.tokenize(dataset, tokenizer, limit)
    counts = settings.train_label_counts or metrics.label_counts(dataset["label"], names)
    judged = {}
    for file in ("model.onnx", "model_int8.onnx"):
        logits = onnx.score_tokenized(workdir / file, tokenizer, tokenized, GATE_BATCH, f"Gate: scoring {split}")
        judged[file] = task.judge(split, dataset, task.pool(logits, tokenized), names, counts, settings.temperature,
                                  GATE_SEED)
    shown = metric_names({**metrics.METRIC_INFO, **task.metric_info})
    report = gate.compare(task, dataset, names, judged["model.onnx"], judged["model_int8.onnx"], max_drop,
                          GATE_SEED, shown)
    report.update(data=source, names={key: shown.get(key, key) for key in report["metrics"]})
    if gate.refuses(report):
        raise _refusal(report)
    return report


def _refusal(report: dict) -> TunecardError:
    key, values = report["headline"], report["metrics"][report["headline"]]
    low, high = report["interval"]
    return TunecardError(
        "--quantize int8", f"an int8 model whose {report['names'][key]} is within {report['max_drop']:g} of fp32's "
        f"(--max_drop) and that no collapse check flags, on {report['rows']:,} rows of {report['data']}",
        f"fp32 {values['fp32']:.4f}, int8 {values['int8']:.4f} (int8 - fp32 {report['difference']:+.4f}, 95% interval "
        f"{low:+.4f} to {high:+.4f}; labels agree on {report['agreement']:.1%}): {'; '.join(report['failed'])}",
        "export without --quantize (the fp32 model), or accept this int8 model with --max_drop 1 (its card then "
        "states the failed gate)")


def _write_card(saved, workdir: Path, files: list[str], gate: Optional[dict], name: str) -> None:
    """README.md: the model's card with the export section (and the int8 gate); gate.json beside an int8 model."""
    from tunecard.report.export_card import export_card, export_section

    if gate is not None:
        (workdir / GATE_FILE).write_text(json.dumps(gate, indent=2), encoding="utf-8")
    export_card(saved.folder / "README.md", name, export_section(files, gate)).save(workdir / "README.md")
