"""`train.epochs: auto` on `emotion` with the default model: how many epochs it trains, where it stops,
and the test accuracy it reaches, beside the 3-epoch default run of `emotion_train.py`.

    python benchmarks/epochs_auto_emotion.py [--datasets ../shared/datasets]

Writes the run to benchmarks/runs/emotion_auto (not committed) and its card, metrics.json, history.csv and
timing to benchmarks/results/emotion_auto/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import tunecard

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--output", default=str(HERE / "runs" / "emotion_auto"))
    args = parser.parse_args()
    started = time.perf_counter()
    run = tunecard.train({"data": {"path": str(Path(args.datasets) / "emotion")}, "train": {"epochs": "auto"},
                          "output": args.output, "overwrite": True})
    wall = time.perf_counter() - started
    results = HERE / "results" / "emotion_auto"
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
    for name in ("README.md", "metrics.json", "history.csv", "config.yaml"):
        shutil.copy(run.output / name, results / name)
    splits = run.metrics["splits"]
    summary = {"wall_seconds": round(wall, 1), "epochs_run": len(run.history),
               "kept_epoch": run.metrics.get("best_epoch"),
               "test_accuracy": splits["test"]["metrics"]["accuracy"],
               "validation_accuracy": splits["validation"]["metrics"]["accuracy"],
               "findings": [f["id"] for f in run.metrics["diagnostics"]]}
    (results / "timing.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
