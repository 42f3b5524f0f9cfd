"""Inference speed on emotion test (2000 texts) with a model trained by tunecard.

    python benchmarks/predict_speed.py --model benchmarks/runs/emotion [--datasets ../shared/datasets]

In one run, same model, same texts, same threads: `transformers.pipeline("text-classification")`
with its default batch size, the same with batch_size=32, and `tunecard.load(...).predict_proba`
(length-sorted batches of 64). Each is timed --repeats times after one warm-up pass on 64 texts;
medians are reported, and the argmax labels are compared. Writes benchmarks/results/predict_speed.json.
(The ONNX int8 back end of issue #4 is not measured yet.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from transformers import pipeline

import tunecard

HERE = Path(__file__).parent


def timed(fn, texts, repeats: int) -> tuple[float, list]:
    fn(texts[:64])
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(texts)
        seconds.append(time.perf_counter() - start)
    return len(texts) / statistics.median(seconds), result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(HERE / "runs" / "emotion"))
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = [json.loads(line) for line in open(Path(args.datasets) / "emotion" / "test.jsonl", encoding="utf-8")]
    texts = [r["text"] for r in rows]
    model_dir = str(Path(args.model) / "model")
    pipe = pipeline("text-classification", model=model_dir)
    classifier = tunecard.load(args.model)
    runs = {
        "pipeline (default batch size)": lambda t: [p["label"] for p in pipe(t)],
        "pipeline (batch_size=32)": lambda t: [p["label"] for p in pipe(t, batch_size=32)],
        "tunecard (torch)": classifier.predict,
    }
    results, labels = {}, {}
    for name, fn in runs.items():
        results[name], labels[name] = timed(fn, texts, args.repeats)
        print(f"{name}: {results[name]:.1f} texts/s")
    base = results["pipeline (default batch size)"]
    summary = {
        "texts_per_second": {k: round(v, 1) for k, v in results.items()},
        "speedup_vs_default_pipeline": {k: round(v / base, 2) for k, v in results.items()},
        "tunecard_vs_batched_pipeline": round(results["tunecard (torch)"] / results["pipeline (batch_size=32)"], 2),
        "identical_labels": all(labels[k] == labels["pipeline (default batch size)"] for k in labels),
        "texts": len(texts), "repeats": args.repeats, "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
    }
    (HERE / "results" / "predict_speed.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
