"""Multi-label classification on GoEmotions (28 labels): tunecard with the default model against a one-vs-rest
logistic regression on TF-IDF (scikit-learn), in the same run, on the official train/dev/test split.

    python benchmarks/multi_label_goemotions.py [--datasets ../shared/datasets] [--epochs 3] [--limit N]
        [--class-weights balanced]

tunecard runs with its defaults (the embedded MiniLM, 3 epochs, max_length 256); `--class-weights balanced`
is the remedy its imbalance finding advises (each label's rare side weighted up in the BCE).
The baseline gets what tunecard gets: the same files, per-label decision thresholds fitted on dev by the same
function (`tasks.multi_label.fit_thresholds`), the same metric code, and the same paired bootstrap for the
difference on test. Published reference: the GoEmotions paper (Demszky et al., ACL 2020), BERT-base, macro-F1
0.46 on the 28-label test set. Writes benchmarks/results/multi_label_goemotions.json and the run's card, metrics
and history under benchmarks/results/multi_label_goemotions/; the run itself goes to benchmarks/runs/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

import tunecard
from tunecard.judging import intervals, metrics
from tunecard.config import DataConfig
from tunecard.tasks.multi_label import MultiLabel, fit_thresholds

HERE = Path(__file__).parent


def data_config(folder: Path) -> dict:
    """GoEmotions' TSV files: no header; text, comma-separated label ids, comment id; names by line."""
    return {"train": str(folder / "train.tsv"), "validation": str(folder / "dev.tsv"), "test": str(folder / "test.tsv"),
            "header": False, "columns": "text,labels,id", "label_names": str(folder / "emotions.txt")}


def tfidf_baseline(folder: Path) -> dict:
    """One-vs-rest logistic regression on word 1-2-gram TF-IDF; (dev probs, test probs, seconds)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    splits = MultiLabel().prepare(DataConfig(**data_config(folder)), seed=42).splits
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    x_train = vectorizer.fit_transform(splits["train"]["text"])
    model = OneVsRestClassifier(LogisticRegression(max_iter=1000, C=4.0), n_jobs=2)
    model.fit(x_train, np.asarray(splits["train"]["label"]).astype(int))
    probs = {name: model.predict_proba(vectorizer.transform(splits[name]["text"])) for name in ("validation", "test")}
    gold = {name: np.asarray(splits[name]["label"], dtype=bool) for name in ("validation", "test")}
    return {"probs": probs, "gold": gold, "test_ids": splits["test"]["id"], "seconds": time.perf_counter() - started}


def first_rows(folder: Path, limit: int, target: Path) -> Path:
    """A copy of the data with the first `limit` rows of each split (a smoke run)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        lines = (folder / name).read_text(encoding="utf-8").splitlines(keepends=True)[:limit]
        (target / name).write_text("".join(lines), encoding="utf-8")
    shutil.copy(folder / "emotions.txt", target / "emotions.txt")
    return target


def scored(probs: np.ndarray, gold: np.ndarray, thresholds) -> tuple[dict, np.ndarray]:
    predicted = probs >= np.asarray(thresholds)
    return metrics.multi_label_metrics(gold, predicted), predicted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--limit", type=int, default=None, help="cap every split (a smoke run)")
    parser.add_argument("--class-weights", choices=["balanced"], default=None)
    parser.add_argument("--output", default=None, help="the run directory (default: under benchmarks/runs/)")
    args = parser.parse_args()
    weighted = f"_{args.class_weights}" if args.class_weights else ""
    args.output = args.output or str(HERE / "runs" / f"multi_label_goemotions{weighted}")
    folder = Path(args.datasets) / "goemotions"
    if not folder.is_dir():
        raise SystemExit(f"no GoEmotions at {folder}: pass --datasets")

    if args.limit:
        folder = first_rows(folder, args.limit, Path(args.output).with_name("goemotions_limited"))
    baseline = tfidf_baseline(folder)
    started = time.perf_counter()
    run = tunecard.train({"task": "multi_label", "data": data_config(folder),
                          "train": {"epochs": args.epochs, "class_weights": args.class_weights},
                          "output": args.output, "overwrite": True})
    wall = time.perf_counter() - started

    gold = baseline["gold"]
    thresholds, kind = fit_thresholds(baseline["probs"]["validation"], gold["validation"])
    tfidf_half, _ = scored(baseline["probs"]["test"], gold["test"], 0.5)
    tfidf_fitted, tfidf_predicted = scored(baseline["probs"]["test"], gold["test"], thresholds)
    summary = compare(run, gold["test"], baseline["test_ids"], tfidf_predicted)
    test = run.metrics["splits"]["test"]
    summary.update({
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}",
        "date": date.today().isoformat(),
        "command": " ".join(["python benchmarks/multi_label_goemotions.py", *sys.argv[1:]]),
        "tunecard": {"model": run.metrics["base_model"], "epochs": args.epochs, "class_weights": args.class_weights,
                     "train_wall_seconds": round(wall, 1),
                     "thresholds": run.metrics["fitted"]["tunecard_threshold_kind"],
                     "test": _rounded(test["metrics"]), "test_intervals": test["intervals"]["metrics"]},
        "tfidf_ovr_logreg": {"seconds": round(baseline["seconds"], 1), "thresholds": kind,
                             "test_fitted_thresholds": _rounded(tfidf_fitted),
                             "test_threshold_0.5": _rounded(tfidf_half)},
        "published": {"source": "GoEmotions paper (Demszky et al., ACL 2020), BERT-base, test", "f1_macro": 0.46},
    })
    write(run, summary, "".join(f"_{part}" for part in (args.class_weights, args.limit and f"limit{args.limit}")
                                if part))


def compare(run, gold: np.ndarray, ids: list[str], tfidf_predicted: np.ndarray) -> dict:
    """tunecard's lead over the TF-IDF model on test, micro and macro F1, with paired bootstrap intervals (the
    same test rows, in the same order: checked by id)."""
    import pandas as pd

    frame = pd.read_csv(run.output / "predictions" / "test.csv", keep_default_na=False, dtype={"id": str})
    assert frame["id"].tolist() == list(ids), "tunecard's test predictions are not in the baseline's row order"
    probs = frame[[f"prob_{n}" for n in run.metrics["label_names"]]].to_numpy()
    ours = probs >= np.asarray(run.metrics["fitted"]["tunecard_thresholds"])
    terms = {"tunecard": metrics.multi_label_terms(gold, ours),
             "tfidf": metrics.multi_label_terms(gold, tfidf_predicted)}
    leads = {}
    for key in ("f1_micro", "f1_macro"):
        bounds = intervals.bootstrap_row_terms(terms, metrics.multi_label_from_sums, [key], key, seed=42)
        ours_value, theirs = (metrics.multi_label_metrics(gold, p)[key] for p in (ours, tfidf_predicted))
        leads[key] = {"difference": round(ours_value - theirs, 4), "interval": bounds["differences"]["tfidf"]}
    return {"lead_over_tfidf_on_test": leads}


def _rounded(values: dict) -> dict:
    return {k: round(v, 4) for k, v in values.items()}


def write(run, summary: dict, suffix: str) -> None:
    results = HERE / "results" / f"multi_label_goemotions{suffix}"
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
    for name in ("README.md", "metrics.json", "history.csv", "config.yaml"):
        shutil.copy(run.output / name, results / name)
    (HERE / "results" / f"multi_label_goemotions{suffix}.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
