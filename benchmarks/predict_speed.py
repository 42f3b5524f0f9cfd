"""Inference speed and accuracy on emotion test (2000 texts) with a model trained by tunecard.

    python benchmarks/emotion_train.py                      # trains benchmarks/runs/emotion once
    python benchmarks/predict_speed.py --model benchmarks/runs/emotion [--datasets ../shared/datasets]

In one run, same model, same texts, same threads, each timed --repeats times after one warm-up pass
on 64 texts, the five scorers round-robin (medians reported):
- `transformers.pipeline("text-classification")` with its default batch size, and with batch_size=32;
- tunecard's engine, torch back end (`tunecard.load(run).predict`: length-sorted batches);
- tunecard's engine, ONNX back end, fp32 and int8 (`tunecard export --quantize int8`, then
  `tunecard.load(run, backend="onnx")`);
- end to end, `tunecard predict` on the JSONL file (read, score, write CSV) for torch and ONNX int8;
- the engine's batch size (16..128) for torch and ONNX int8, to back the default.
Accuracy against the gold labels for every scorer, and whether the argmax labels equal the default
pipeline's. Writes benchmarks/results/predict_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import pipeline

import tunecard
from tunecard.runs.saved import ONNX_FOLDER

HERE = Path(__file__).parent


def timed(fn, texts, repeats: int) -> tuple[float, list]:
    fn(texts[:64])
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(texts)
        seconds.append(time.perf_counter() - start)
    return len(texts) / statistics.median(seconds), result


def timed_interleaved(runs: dict, texts, repeats: int) -> tuple[dict, dict]:
    """texts/s (median) and labels of each scorer, timed round-robin: one pass of every scorer per
    round, so a machine whose speed drifts (a shared VM) slows them all alike."""
    for fn in runs.values():
        fn(texts[:64])  # warm-up
    seconds, labels = {name: [] for name in runs}, {}
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            labels[name] = fn(texts)
            seconds[name].append(time.perf_counter() - start)
    return {name: len(texts) / statistics.median(s) for name, s in seconds.items()}, labels


def export(run: str, quantize: bool) -> str:
    """A fresh ONNX export (int8 too when asked) in a temporary folder; returns it."""
    folder = Path(tempfile.mkdtemp()) / ONNX_FOLDER
    tunecard.export(run, quantize="int8" if quantize else None, output=str(folder))
    if not quantize:
        return str(folder)
    (folder / "model.onnx").unlink()  # leave only the int8 model, so nothing else can be picked up
    return str(folder)


def end_to_end(run: str, data: Path, backend: str, repeats: int) -> float:
    """texts/s of `tunecard predict` on the file, writing a CSV (median of repeats)."""
    seconds = []
    for i in range(repeats):
        out = Path(tempfile.mkdtemp()) / "predictions.csv"
        start = time.perf_counter()
        tunecard.predict(run, str(data), str(out), backend=backend)
        seconds.append(time.perf_counter() - start)
        shutil.rmtree(out.parent)
    return sum(1 for _ in open(data, encoding="utf-8")) / statistics.median(seconds)


def main() -> None:
    import tunecard.workflows.export  # noqa: F401  (export)

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(HERE / "runs" / "emotion"))
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    data = Path(args.datasets) / "emotion" / "test.jsonl"
    rows = [json.loads(line) for line in open(data, encoding="utf-8")]
    texts, gold = [r["text"] for r in rows], [r["label_text"] for r in rows]
    pipe = pipeline("text-classification", model=str(Path(args.model) / "model"))
    fp32_dir, int8_dir = export(args.model, quantize=False), export(args.model, quantize=True)
    torch_engine = tunecard.load(args.model)
    int8_engine = tunecard.load(int8_dir, backend="onnx")
    runs = {
        "pipeline (default batch size)": lambda t: [p["label"] for p in pipe(t)],
        "pipeline (batch_size=32)": lambda t: [p["label"] for p in pipe(t, batch_size=32)],
        "tunecard (torch)": torch_engine.predict,
        "tunecard (onnx fp32)": tunecard.load(fp32_dir, backend="onnx").predict,
        "tunecard (onnx int8)": int8_engine.predict,
    }
    speed, labels = timed_interleaved(runs, texts, args.repeats)
    for name in runs:
        print(f"{name}: {speed[name]:.1f} texts/s")
    accuracy = {name: float(np.mean(np.array(labels[name]) == np.array(gold))) for name in runs}
    # End to end through the CLI's code path: the int8 export is placed where --backend onnx looks.
    onnx_target = Path(args.model) / "model" / ONNX_FOLDER
    shutil.rmtree(onnx_target, ignore_errors=True)
    shutil.copytree(int8_dir, onnx_target)
    files = {f"tunecard predict --backend {b}": round(end_to_end(args.model, data, b, args.repeats), 1)
             for b in ("torch", "onnx")}
    batch_sizes = {}
    for backend, path in (("torch", args.model), ("onnx int8", int8_dir)):
        for size in (16, 32, 64, 128):
            engine = tunecard.load(path, batch_size=size, backend="onnx" if backend != "torch" else "torch")
            batch_sizes[f"{backend}, batch {size}"] = round(timed(engine.predict, texts, args.repeats)[0], 1)
    base, default = speed["pipeline (default batch size)"], labels["pipeline (default batch size)"]
    summary = {
        "texts_per_second": {k: round(v, 1) for k, v in speed.items()},
        "speedup_vs_default_pipeline": {k: round(v / base, 2) for k, v in speed.items()},
        "tunecard_torch_vs_batched_pipeline": round(speed["tunecard (torch)"] / speed["pipeline (batch_size=32)"], 2),
        "onnx_int8_vs_tunecard_torch": round(speed["tunecard (onnx int8)"] / speed["tunecard (torch)"], 2),
        "accuracy": {k: round(v, 4) for k, v in accuracy.items()},
        "same_labels_as_default_pipeline": {k: labels[k] == default for k in runs},
        "labels_changed_by_int8": int(sum(a != b for a, b in zip(labels["tunecard (onnx int8)"],
                                                                labels["tunecard (torch)"]))),
        "end_to_end_file_texts_per_second": files,
        "engine_batch_size_texts_per_second": batch_sizes,
        "texts": len(texts), "repeats": args.repeats, "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
    }
    (HERE / "results" / "predict_speed.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
