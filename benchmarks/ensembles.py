"""`tunecard ensemble` on this machine's own runs, each blend against its best member with a paired interval.

    python benchmarks/ensembles.py --parts emotion,lse

emotion: three runs of the default model on emotion: the 3-epoch default (emotion_train.py), `epochs: auto`
(epochs_auto_emotion.py) and the default with seed 43 (trained here if missing), blended by validation
log-loss.
lse: three LLM Science Exam multiple-choice runs of benchmarks/multiple_choice.py that share its data split
(seed 42): without retrieval (`--runs lse_tunecard`, its results moved to results/ensembles/lse_members/),
and the two open-book runs, blended by validation MAP@3. Their committed results folders (metrics.json,
validation/test predictions) are laid out as run directories for `tunecard ensemble`.

Writes the ensembles' cards, metrics.json and ensemble.json and a summary to benchmarks/results/ensembles/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import tunecard

HERE = Path(__file__).parent
RUNS = HERE / "runs"
MC_RESULTS = HERE / "results" / "multiple_choice"
LSE_MEMBERS = (HERE / "results" / "ensembles" / "lse_members" / "lse_tunecard_rerun", MC_RESULTS / "lse_tunecard_retrieval",
               MC_RESULTS / "lse_tunecard_retrieval_lr5e-05_top1_len128")
"""Runs of benchmarks/multiple_choice.py on its LSE split (seed 42). The first is `--runs lse_tunecard` run again on
2026-12-04 (the committed 2026-12-03 results of that run kept no validation predictions to fit weights on)."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--parts", default="emotion,lse")
    args = parser.parse_args()
    results = HERE / "results" / "ensembles"
    results.mkdir(parents=True, exist_ok=True)
    summary_path = results / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    summary["machine"] = f"{platform.machine()}, {os.cpu_count()} cores (CPU)"
    summary["date"] = time.strftime("%Y-%m-%d")
    for part in args.parts.split(","):
        members = emotion_members(Path(args.datasets)) if part == "emotion" else lse_members()
        summary[part] = blend(members, RUNS / "ensembles" / part, results / part)
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


def emotion_members(datasets: Path) -> list[Path]:
    seed43 = RUNS / "emotion_seed43"
    if not (seed43 / "metrics.json").is_file():
        tunecard.train({"data": {"path": str(datasets / "emotion")}, "train": {"seed": 43}, "output": str(seed43),
                        "overwrite": True})
    members = [RUNS / "emotion", RUNS / "emotion_auto", seed43]
    missing = [str(m) for m in members if not (m / "metrics.json").is_file()]
    if missing:
        raise SystemExit(f"missing runs {missing}: run benchmarks/emotion_train.py and epochs_auto_emotion.py first")
    return members


def lse_members() -> list[Path]:
    """The committed results of benchmarks/multiple_choice.py laid out as run directories."""
    members = []
    for source in LSE_MEMBERS:
        run = RUNS / "ensembles" / "lse_members" / source.name
        shutil.rmtree(run, ignore_errors=True)
        (run / "predictions").mkdir(parents=True)
        shutil.copy(source / "metrics.json", run / "metrics.json")
        for name in ("config.yaml", "README.md"):
            shutil.copy(source / name, run / name)
        for split in ("validation", "test"):
            shutil.copy(source / f"{split}_predictions.csv", run / "predictions" / f"{split}.csv")
        members.append(run)
    return members


def blend(members: list[Path], output: Path, results: Path) -> dict:
    started = time.perf_counter()
    report = tunecard.ensemble([str(m) for m in members], str(output), overwrite=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(results, ignore_errors=True)
    results.mkdir(parents=True)
    for name in ("README.md", "metrics.json", "ensemble.json"):
        shutil.copy(output / name, results / name)
    headline = report["best_metric"]
    test = report["splits"]["test"]
    leads = report["ensemble"]["leads"]["test"]
    best = max(leads, key=lambda row: row["value"])
    return {"members": [str(m.relative_to(HERE)) for m in members], "headline": headline,
            "weights": {m["name"]: m["weight"] for m in report["ensemble"]["members"]},
            "objective": report["ensemble"]["objective"], "blend_seconds": round(seconds, 1),
            "member_test": {row["label"]: round(row["value"], 4) for row in leads},
            "ensemble_test": {k: round(v, 4) for k, v in test["metrics"].items()},
            "ensemble_test_intervals": test["intervals"]["metrics"],
            "best_member": best["label"], "lead_over_best_member": round(best["difference"], 4),
            "lead_interval": best["interval"]}


if __name__ == "__main__":
    main()
