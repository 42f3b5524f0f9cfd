"""Small LLM as a classifier on TweetEval: base model with free generation, base model with likelihood
scoring, and the LoRA-tuned model with likelihood scoring (issue #6).

    python benchmarks/llm_tweet_eval.py [--datasets ../shared/datasets] [--limit N] [--tasks sentiment emotion]

Model: the embedded SmolLM2-135M-Instruct (`smollm2-135m`), LoRA r=8 / alpha=16 on q,k,v,o, fp32 on CPU.
- sentiment: TweetEval has no train text for it, so the 2000 validation tweets are the training data;
  the test set is a fixed seeded sample (seed 0) of 2000 of its 12284 test tweets, and validation (for
  the per-epoch metric and the temperature) is another 300 test tweets disjoint from that sample.
- emotion: train 3257 / validation 374 / test 1421, as published.
Each task is one `tunecard.train` run with `llm.free_generation: true`: the card and metrics.json hold
the tuned model (likelihood), the base model zero-shot (likelihood, same prompt) and free generation
by both, with the invalid-output rate. `--limit N` caps every split at N rows (a smoke run);
`--train-size N` (every task) or `--train-size emotion=N` (one task) sets the training rows instead
(a seeded random sample) when the full training set does not fit the time budget.

Writes benchmarks/results/llm_tweet_eval.json (or llm_tweet_eval_limit<N>.json for a smoke run) and
copies each run's README.md, metrics.json, history.csv and config.yaml to
benchmarks/results/llm_tweet_eval[_limit<N>]/<task>/. Run directories go to benchmarks/runs/ (ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import time
from pathlib import Path
from yardstick import matmul_gflops  # benchmarks/ is on sys.path when a script runs

HERE = Path(__file__).parent
SYSTEM_PROMPTS = {
    "sentiment": "What is the sentiment of this tweet? Answer with exactly one word: {labels}.",
    "emotion": "Which emotion does this tweet express? Answer with exactly one word: {labels}.",
}
SENTIMENT_TEST, SENTIMENT_VALIDATION, SAMPLE_SEED = 2000, 300, 0


def read_split(folder: Path, split: str) -> list[dict]:
    names = [line.split("\t")[1].strip() for line in (folder / "mapping.txt").read_text().splitlines() if line.strip()]
    texts = (folder / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (folder / f"{split}_labels.txt").read_text().split()
    return [{"id": f"{split}-{i}", "text": t, "label": names[int(y)]} for i, (t, y) in enumerate(zip(texts, labels))]


def build_splits(datasets: Path, task: str) -> dict[str, list[dict]]:
    folder = datasets / "tweet_eval" / "datasets" / task
    if task == "sentiment":
        test = read_split(folder, "test")
        picked = random.Random(SAMPLE_SEED).sample(range(len(test)), SENTIMENT_TEST + SENTIMENT_VALIDATION)
        return {"train": read_split(folder, "val"),
                "validation": [test[i] for i in sorted(picked[SENTIMENT_TEST:])],
                "test": [test[i] for i in sorted(picked[:SENTIMENT_TEST])]}
    return {"train": read_split(folder, "train"), "validation": read_split(folder, "val"),
            "test": read_split(folder, "test")}


def write_data(splits: dict[str, list[dict]], folder: Path, limit: int | None, train_size: int | None) -> dict:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sizes = {}
    for name, rows in splits.items():
        cap = train_size if name == "train" and train_size else limit
        if cap and cap < len(rows):
            rows = [rows[i] for i in sorted(random.Random(SAMPLE_SEED).sample(range(len(rows)), cap))]
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        sizes[name] = len(rows)
    return sizes


def run_task(task: str, args) -> dict:
    import tunecard

    stem = result_stem(args)
    data = HERE / "runs" / stem / f"{task}_data"
    sizes = write_data(build_splits(Path(args.datasets), task), data, args.limit, train_size(args.train_size, task))
    output = HERE / "runs" / stem / task
    config = {"task": "llm_classification", "data": {"path": str(data)},
              "model": {"name": "smollm2-135m", "max_length": args.max_length},
              "train": {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
                        "eval_batch_size": 32},
              "llm": {"system_prompt": SYSTEM_PROMPTS[task], "free_generation": args.free_generation},
              "output": str(output), "overwrite": True}
    gflops_before = matmul_gflops()
    start = time.perf_counter()
    run = tunecard.train(config)
    seconds = time.perf_counter() - start
    gflops = {"before": gflops_before, "after": matmul_gflops()}
    keep = HERE / "results" / stem / task
    shutil.rmtree(keep, ignore_errors=True)
    keep.mkdir(parents=True)
    for file in ("README.md", "metrics.json", "history.csv", "config.yaml"):
        shutil.copy(output / file, keep / file)
    return {**summarise(run, sizes, seconds), "matmul_gflops": gflops}


def train_size(values: list[str] | None, task: str) -> int | None:
    """The training rows asked for `task`: from `N` (every task) or `task=N`."""
    sizes = {}
    for value in values or []:
        name, _, number = value.rpartition("=")
        sizes[name or "*"] = int(number)
    return sizes.get(task, sizes.get("*"))


def result_stem(args) -> str:
    return args.name or (f"llm_tweet_eval_limit{args.limit}" if args.limit else "llm_tweet_eval")


def summarise(run, sizes: dict, seconds: float) -> dict:
    test = run.metrics["splits"]["test"]
    others = test["comparisons"]
    missing = {"f1_macro": None, "accuracy": None, "invalid_output_rate": None}

    def row(m: dict) -> dict:
        return {"f1_macro": round(m["f1_macro"], 4), "accuracy": round(m["accuracy"], 4),
                "invalid_output_rate": round(m["invalid_output_rate"], 4)}

    return {
        "sizes": sizes, "seconds_total": round(seconds, 1), "seconds_training_steps": run.metrics["training"]["seconds"],
        "training_samples_per_second": run.metrics["training"]["samples_per_second"],
        "test": {"base_free_generation": row(others["free_generation_base"]["metrics"]) if "free_generation_base"
                 in others else missing,
                 "base_likelihood": row(others["base_zero_shot"]["metrics"]),
                 "tuned_likelihood": row(test["metrics"]),
                 "tuned_free_generation": row(others["free_generation_tuned"]["metrics"]) if "free_generation_tuned"
                 in others else missing},
        "test_prediction_counts": {k: v for k, v in zip(run.metrics["label_names"],
                                                        [sum(c) for c in zip(*test["confusion_matrix"])])},
        "errors": [f"{f.id} [{f.split}]" for f in run.findings if f.severity == "error"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--tasks", nargs="+", default=["sentiment", "emotion"], choices=list(SYSTEM_PROMPTS))
    parser.add_argument("--limit", type=int, default=None, help="cap every split at N rows (smoke run)")
    parser.add_argument("--train-size", nargs="+", default=None,
                        help="subsample training rows (seeded): N for every task, or TASK=N")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--max-length", type=int, default=64, help="tweet tokens kept (99%% of tweets are shorter)")
    parser.add_argument("--free-generation", action=argparse.BooleanOptionalAction, default=True,
                        help="also evaluate free generation (base and tuned); off for quicker experiments")
    parser.add_argument("--name", default=None, help="results file stem (default llm_tweet_eval[_limit<N>])")
    args = parser.parse_args()
    import torch

    start = time.perf_counter()
    results = {"settings": {k: v for k, v in vars(args).items() if k != "datasets"},
               "torch_threads": torch.get_num_threads(), "tasks": {}}
    path = HERE / "results" / f"{result_stem(args)}.json"
    for task in args.tasks:  # written after each task, so a run cut short keeps what finished
        results["tasks"][task] = run_task(task, args)
        results["seconds_total"] = round(time.perf_counter() - start, 1)
        results["finished"] = task == args.tasks[-1]
        path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
