"""Reproduce a collapse on real data and show that tunecard flags it (and only then).

    python benchmarks/collapse_tweet_eval.py [--datasets ../shared/datasets] [--task irony]

Trains the default model on TweetEval (`tweet_eval/datasets/<task>`, its own train/val/test
files) twice with the defaults, once with a learning rate far too high (1e-3), once with the
default. Records each run's error-level findings, its test macro F1 and its prediction
histogram in benchmarks/results/collapse_<task>.json, and keeps both cards in
benchmarks/results/collapse_<task>/{high_lr,default}/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import pandas as pd

import tunecard

HERE = Path(__file__).parent


def run_once(data: Path, output: Path, learning_rate: float | None) -> dict:
    # TweetEval hate has 7 empty tweets in train: drop any such rows (the run reports them as a finding).
    config = {"data": {"path": str(data), "empty_texts": "drop"}, "output": str(output), "overwrite": True}
    if learning_rate:
        config["train"] = {"learning_rate": learning_rate}
    run = tunecard.train(config)
    predictions = pd.read_csv(run.output / "predictions" / "test.csv")
    return {
        "learning_rate": yaml_lr(run.output),
        "errors": [f"{f.id} [{f.split}]: {f.message}" for f in run.findings if f.severity == "error"],
        "test_f1_macro": _macro_f1(run),
        "test_prediction_counts": predictions["prediction"].value_counts().to_dict(),
        "history": run.history,
    }


def yaml_lr(run_dir: Path) -> float:
    import yaml

    return yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["learning_rate"]


def _macro_f1(run) -> float:
    per_class = run.metrics["splits"]["test"]["per_class"]
    return round(sum(c["f1-score"] for c in per_class.values()) / len(per_class), 4)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--task", default="irony")
    args = parser.parse_args()
    data = Path(args.datasets) / "tweet_eval" / "datasets" / args.task
    results = {}
    keep = HERE / "results" / f"collapse_{args.task}"
    for name, lr in (("high_lr", 1e-3), ("default", None)):
        run_dir = HERE / "runs" / f"collapse_{args.task}_{name}"
        results[name] = run_once(data, run_dir, lr)
        shutil.rmtree(keep / name, ignore_errors=True)
        (keep / name).mkdir(parents=True)
        for file in ("README.md", "metrics.json", "history.csv"):
            shutil.copy(run_dir / file, keep / name / file)
        shutil.copytree(run_dir / "plots", keep / name / "plots")
    (HERE / "results" / f"collapse_{args.task}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps({k: {kk: v[kk] for kk in ("learning_rate", "errors", "test_f1_macro", "test_prediction_counts")}
                      for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
