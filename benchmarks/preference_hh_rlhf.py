"""Train a preference (reward) model on HH-RLHF with the defaults and record pairwise accuracy.

    python benchmarks/preference_hh_rlhf.py [--datasets ../shared/datasets]

Runs, as one command would:
    tunecard train --task preference \
        --data.train '[hh_rlhf/harmless-base/test.jsonl, hh_rlhf/helpful-base/test.jsonl]' \
        --data.test_size 0.1 --train.batch_size 16 --train.epochs 2 --train.warmup_ratio 0.1 \
        --output benchmarks/runs/hh_rlhf
(pairs split by pair with seed 42: 10% test, then 10% of the rest validation; the default model,
max_length 256 and the task's learning rate 3e-5; batch size counts pairs).
Copies the card, metrics, history, plots and diagnostics to benchmarks/results/hh_rlhf/ with
timing.json (wall-clock seconds of the whole call, pairwise accuracy per split).
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
SUBSETS = ("harmless-base", "helpful-base")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--output", default=str(HERE / "runs" / "hh_rlhf"))
    args = parser.parse_args()
    files = [str(Path(args.datasets) / "hh_rlhf" / subset / "test.jsonl") for subset in SUBSETS]
    start = time.perf_counter()
    run = tunecard.train({"task": "preference", "data": {"train": files, "test_size": 0.1},
                          "train": {"batch_size": 16, "epochs": 2, "warmup_ratio": 0.1},
                          "output": args.output, "overwrite": True})
    wall = time.perf_counter() - start
    results = HERE / "results" / "hh_rlhf"
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
    for name in ("README.md", "metrics.json", "history.csv", "config.yaml"):
        shutil.copy(run.output / name, results / name)
    shutil.copytree(run.output / "plots", results / "plots")
    shutil.copytree(run.output / "diagnostics", results / "diagnostics")
    splits = run.metrics["splits"]
    timing = {"wall_seconds": round(wall, 1), **run.metrics["training"],
              "pairs": {name: s["size"] // 2 for name, s in splits.items()},
              "pairwise_accuracy": {name: s["metrics"]["pairwise_accuracy"] for name, s in splits.items()
                                    if "metrics" in s},
              "test_accuracy": splits["test"]["metrics"]["accuracy"],
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                         f"torch {torch.__version__}, {torch.get_num_threads()} threads"}
    (results / "timing.json").write_text(json.dumps(timing, indent=2))
    print(json.dumps(timing, indent=2))


if __name__ == "__main__":
    main()
