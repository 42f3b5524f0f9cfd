"""Train the default model on `emotion` with the defaults (3 epochs) and record quality and speed.

    python benchmarks/emotion_train.py [--datasets ../shared/datasets]

Writes the run to benchmarks/runs/emotion (not committed: it holds the weights) and copies the
card, metrics.json, history.csv, plots and diagnostics to benchmarks/results/emotion/ together with
timing.json (wall-clock seconds of the whole `tunecard.train` call and the training samples/s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import torch

import tunecard

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--output", default=str(HERE / "runs" / "emotion"))
    args = parser.parse_args()
    start = time.perf_counter()
    run = tunecard.train({"data": {"path": str(Path(args.datasets) / "emotion")},
                          "output": args.output, "overwrite": True})
    wall = time.perf_counter() - start
    results = HERE / "results" / "emotion"
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
    for name in ("README.md", "metrics.json", "history.csv", "config.yaml"):
        shutil.copy(run.output / name, results / name)
    shutil.copytree(run.output / "plots", results / "plots")
    shutil.copytree(run.output / "diagnostics", results / "diagnostics")
    timing = {"wall_seconds": round(wall, 1), **run.metrics["training"],
              "test_accuracy": run.metrics["splits"]["test"]["metrics"]["accuracy"],
              "test_f1_weighted": run.metrics["splits"]["test"]["metrics"]["f1_weighted"],
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                         f"torch {torch.__version__}, {torch.get_num_threads()} threads"}
    (results / "timing.json").write_text(json.dumps(timing, indent=2))
    print(json.dumps(timing, indent=2))


if __name__ == "__main__":
    main()
