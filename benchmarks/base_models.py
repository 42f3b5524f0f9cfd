"""Reach: base models beyond MiniLM (all-mpnet-base-v2, multilingual-e5-small from ../shared/models/fetch.sh) and
texts longer than the window, on public data, with tunecard's defaults unless a study says otherwise.

    python benchmarks/base_models.py chinese   [--datasets DIR] [--models DIR] [--set train.min_steps=200]
    python benchmarks/base_models.py emotion   (all-mpnet-base-v2 on emotion, then emotion_vs_minilm)
    python benchmarks/base_models.py emotion_vs_minilm   (its paired difference from the MiniLM default run)
    python benchmarks/base_models.py livedoor  [--limit N] [--plans ...] (multilingual-e5-small: truncate 256,
        truncate 512, chunk; truncate 256 with as many steps as chunk)
    python benchmarks/base_models.py livedoor_paired   (its paired comparisons again, from the runs it left)

Each comparison is measured in one run of this script, on this machine; every run's card, metrics.json and
history.csv are copied to benchmarks/results/base_models/<name>/ and a summary to
benchmarks/results/base_models/<study>.json. The runs themselves (weights) go to benchmarks/runs/base_models/.
A model folder that is absent skips its runs, saying so (fetch it with ../shared/models/fetch.sh).
OpenBookQA with all-mpnet-base-v2 as the reader, with and without the book, is a part of multiple_choice.py:
`python benchmarks/multiple_choice.py --parts obqa --model ~/.cache/tunecard-models/all-mpnet-base-v2 [--limit N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import time
from datetime import date
from pathlib import Path

import torch

import tunecard

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "base_models"
RUNS = HERE / "runs" / "base_models"
MODELS = {"minilm": ("minilm", "sentence-transformers/all-MiniLM-L6-v2", None),
          "e5": ("multilingual-e5-small", "intfloat/multilingual-e5-small", "mit"),
          "mpnet": ("all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2", None)}
"""Short name -> (folder under --models, or an embedded alias; the hub id the card names; the licence where the
folder does not state it)."""
LIVEDOOR_SPLIT = (0.8, 0.1, 0.1)
LIVEDOOR_SEED = 42


def model_section(args, short: str) -> dict | None:
    """model.* for a short model name; None (and a line saying why) when its folder is absent."""
    folder, hub_id, licence = MODELS[short]
    if folder == "minilm":
        return {"name": "minilm"}
    path = Path(args.models).expanduser() / folder
    if not (path / "config.json").is_file():
        print(f"skipped {short}: no model folder at {path} (run ../shared/models/fetch.sh)")
        return None
    return {"name": str(path), "base_model": hub_id, **({"license": licence} if licence else {})}


def train(name: str, config: dict, overrides: list[str]) -> dict:
    """Train one run into RUNS/name, copy what it reports into RESULTS/name; the numbers for the summary."""
    for item in overrides:  # --set train.min_steps=200
        key, _, value = item.partition("=")
        section, _, option = key.partition(".")
        config.setdefault(section, {})[option] = json.loads(value) if value[:1] in "0123456789[{tf-n" else value
    started = time.perf_counter()
    run = tunecard.train({**config, "output": str(RUNS / name), "overwrite": True})
    seconds = time.perf_counter() - started
    target = RESULTS / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for file in ("README.md", "metrics.json", "history.csv", "config.yaml"):
        shutil.copy(run.output / file, target / file)
    return summary(run, seconds)


def summary(run, seconds: float) -> dict:
    test = run.metrics["splits"].get("test") or run.metrics["splits"]["validation"]
    lead = test["intervals"]["differences"]["majority"]
    return {"test_accuracy": round(test["metrics"]["accuracy"], 4),
            "accuracy_interval": test["intervals"]["metrics"]["accuracy"],
            "headline": run.metrics["best_metric"],
            "headline_value": round(test["metrics"][run.metrics["best_metric"]], 4),
            "majority_accuracy": round(test["baselines"]["majority"]["accuracy"], 4),
            "lead_over_majority": lead, "collapse_findings": sorted({f.id for f in run.findings
                                                                    if f.id.startswith("collapse")}),
            "epochs": len(run.history), "training_seconds": run.metrics["training"]["seconds"],
            "samples_per_second": run.metrics["training"]["samples_per_second"], "wall_seconds": round(seconds, 1),
            "test_texts_per_second": run.metrics.get("cost", {}).get("texts_per_second"),
            "learning_rate": _config(run)["train"]["learning_rate"],
            "warmup_ratio": _config(run)["train"]["warmup_ratio"]}


def _config(run) -> dict:
    import yaml

    return yaml.safe_load((run.output / "config.yaml").read_text())


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, no GPU" if not torch.cuda.is_available()
            else torch.cuda.get_device_name())


def write(study: str, results: dict, args) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"date": date.today().isoformat(), "machine": machine(), "settings": vars(args), "runs": results}
    (RESULTS / f"{study}.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(json.dumps(out, indent=2, default=str))


# ---- studies -------------------------------------------------------------------------------------------------

def chinese(args) -> None:
    """FewCLUE EPRSTMT (2 classes, 160 training rows) and TNEWS (15 news topics, 1185): MiniLM against
    multilingual-e5-small, each with tunecard's defaults (and the --set overrides), scored on test_public."""
    results = {}
    for dataset in ("eprstmt", "tnews"):
        folder = Path(args.datasets) / "fewclue_zh" / dataset
        data = {"train": str(folder / "train_few_all.json"), "validation": str(folder / "dev_few_all.json"),
                "test": str(folder / "test_public.json"), "format": "jsonl"}
        for short in args.model or ("minilm", "e5"):
            model = model_section(args, short)
            if model is not None:
                name = f"{dataset}_{short}{args.suffix}"
                results[name] = train(name, {"data": data, "model": model}, args.set)
    write(f"chinese{args.suffix}", results, args)


def emotion(args) -> None:
    """emotion (16000/2000/2000) with all-mpnet-base-v2 and tunecard's defaults, then paired with the MiniLM
    default run (emotion_vs_minilm)."""
    model = model_section(args, "mpnet")
    if model is not None:
        data = {"path": str(Path(args.datasets) / "emotion")}
        write(f"emotion_mpnet{args.suffix}", {f"emotion_mpnet{args.suffix}": train(
            f"emotion_mpnet{args.suffix}", {"data": data, "model": model}, args.set)}, args)
        emotion_vs_minilm(args)


MINILM_EMOTION = HERE / "runs" / "emotion"
"""The MiniLM default run on emotion (emotion_train.py), the same data and seed."""


def emotion_vs_minilm(args) -> None:
    """mpnet minus MiniLM on the same validation and test rows, accuracy and macro F1, each with its paired 95%
    bootstrap interval (benchmarks/paired.py). Skipped, saying so, without both runs."""
    from paired import from_predictions  # benchmarks/ is on sys.path when a script runs

    mpnet = RUNS / f"emotion_mpnet{args.suffix}"
    if not all((run / "predictions" / "test.csv").is_file() for run in (mpnet, MINILM_EMOTION)):
        print(f"skipped emotion_vs_minilm: needs {mpnet} and {MINILM_EMOTION} (python benchmarks/emotion_train.py)")
        return
    result = from_predictions(mpnet, MINILM_EMOTION, ("mpnet", "minilm"))
    path = RESULTS / f"emotion_mpnet{args.suffix}.json"
    summary = json.loads(path.read_text())
    summary["mpnet_vs_minilm_default_run"] = result
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(json.dumps(result, indent=2))


def livedoor_split(args) -> Path:
    """livedoor news split 80/10/10 at random (seed 42) into JSONL files of title + body, label = category."""
    folder = RUNS / "livedoor_data"
    if (folder / "test.jsonl").is_file():
        return folder
    rows = [json.loads(line) for line in (Path(args.datasets) / "livedoor_news_ja" / "livedoor_news.jsonl").open()]
    random.Random(LIVEDOOR_SEED).shuffle(rows)
    cut_train, cut_validation = int(LIVEDOOR_SPLIT[0] * len(rows)), int(sum(LIVEDOOR_SPLIT[:2]) * len(rows))
    folder.mkdir(parents=True, exist_ok=True)
    for split, part in (("train", rows[:cut_train]), ("validation", rows[cut_train:cut_validation]),
                        ("test", rows[cut_validation:])):
        with (folder / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for row in part:
                handle.write(json.dumps({"id": row["file"], "text": row["title"] + "\n" + row["body"],
                                         "label": row["category"]}, ensure_ascii=False) + "\n")
    return folder


def livedoor(args) -> None:
    """Japanese news (9 categories) with multilingual-e5-small: truncate at 256 and at 512 tokens against chunk
    (256-token windows), each trained and scored in this run."""
    model = model_section(args, "e5")
    if model is None:
        return
    data = {"path": str(livedoor_split(args))}
    if args.limit:
        data = {"path": str(_limited(Path(data["path"]), args.limit))}
    results = {}
    for plan in args.plans or LIVEDOOR_PLANS:
        name = f"livedoor_{plan}{args.suffix}"
        model_plan, train_plan = LIVEDOOR_PLANS[plan]
        results[name] = train(name, {"data": data, "model": {**model, **model_plan}, "train": {**train_plan}},
                              args.set)  # copies: --set writes into them
    study = f"livedoor{args.suffix}"
    earlier = RESULTS / f"{study}.json"  # a study run plan by plan keeps the runs of its earlier invocations
    if earlier.is_file() and json.loads(earlier.read_text())["settings"]["limit"] == args.limit:  # on the same rows
        results = {**json.loads(earlier.read_text())["runs"], **results}
    results.pop("against_truncate256", None)
    write(study, {**results, "against_truncate256": livedoor_paired(results, args.suffix)}, args)


LIVEDOOR_PLANS = {"truncate256": ({"max_length": 256, "long_inputs": "truncate"}, {}),
                  # batches of 32 at 512 tokens ran out of this machine's 24 GB (killed by the kernel at step 2):
                  # 8 rows a step, 4 steps accumulated, the same 32 per optimizer step
                  "truncate512": ({"max_length": 512, "long_inputs": "truncate"},
                                  {"batch_size": 8, "gradient_accumulation_steps": 4}),
                  "chunk256": ({"max_length": 256, "long_inputs": "chunk"}, {}),
                  "truncate256_12epochs": ({"max_length": 256, "long_inputs": "truncate"}, {"epochs": 12})}
"""Plan -> (model.*, train.*). livedoor articles average about 4 windows of 256 tokens, so chunk256 takes about 4
times the optimizer steps of truncate256: truncate256_12epochs takes as many steps, to tell the windows' text from
the extra steps."""


def livedoor_paired(results: dict, suffix: str) -> dict:
    """Each plan minus truncate at 256 on the same validation and test rows, accuracy and macro F1 with paired
    95% intervals (benchmarks/paired.py)."""
    from paired import from_predictions  # benchmarks/ is on sys.path when a script runs

    base, chunk, steps, longer = (f"livedoor_{plan}{suffix}" for plan in
                                  ("truncate256", "chunk256", "truncate256_12epochs", "truncate512"))
    compared = {name: from_predictions(RUNS / name, RUNS / base, (name, base))
                for name in results if name != base and base in results}
    for other in (steps, longer):  # the same number of optimizer steps; the longer cut
        if chunk in results and other in results:
            compared[f"{chunk}_vs_{other}"] = from_predictions(RUNS / chunk, RUNS / other, (chunk, other))
    return compared


def livedoor_paired_again(args) -> None:
    """The livedoor study's paired comparisons again, from the runs it left (nothing is trained)."""
    path = RESULTS / f"livedoor{args.suffix}.json"
    summary = json.loads(path.read_text())
    runs = {name: run for name, run in summary["runs"].items() if name != "against_truncate256"}
    summary["runs"]["against_truncate256"] = livedoor_paired(runs, args.suffix)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(json.dumps(summary["runs"]["against_truncate256"], indent=2))


def _limited(folder: Path, limit: int) -> Path:
    """The first `limit` rows of train and a quarter of that of validation, for a shorter study; test stays whole,
    so the comparison's intervals are those of the full test split."""
    target = folder.with_name(f"{folder.name}_{limit}")
    target.mkdir(exist_ok=True)
    for split, n in (("train", limit), ("validation", max(limit // 4, 50)), ("test", None)):
        lines = (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()[:n]
        (target / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("study", choices=("chinese", "emotion", "emotion_vs_minilm", "livedoor", "livedoor_paired"))
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--models", default=os.environ.get("TUNECARD_MODELS", "~/.cache/tunecard-models"))
    parser.add_argument("--model", action="append", help="only these short names (minilm, e5, mpnet)")
    parser.add_argument("--plans", nargs="*", help="livedoor: only these plans")
    parser.add_argument("--limit", type=int, default=0, help="livedoor: train on the first N rows only")
    parser.add_argument("--set", action="append", default=[], help="a config override, e.g. train.min_steps=200")
    parser.add_argument("--suffix", default="", help="appended to run and result names")
    args = parser.parse_args()
    studies = {"chinese": chinese, "emotion": emotion, "emotion_vs_minilm": emotion_vs_minilm, "livedoor": livedoor,
               "livedoor_paired": livedoor_paired_again}
    studies[args.study](args)


if __name__ == "__main__":
    main()
