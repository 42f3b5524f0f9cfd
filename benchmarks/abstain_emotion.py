"""Abstention on emotion: the cut-off fitted for validation accuracy 0.97 (and, beside it, for 90% coverage) on the
emotion default run, measured on test. Does the accuracy validation promised hold on test?

    python benchmarks/abstain_emotion.py [--run benchmarks/runs/emotion] [--datasets ../shared/datasets]

Nothing is retrained: `tunecard.abstain` reads the calibrated probabilities the run saved in predictions/ (the
run's temperature is already applied to them). It works on a copy of the run (the weights linked, not copied), so
benchmarks/runs/emotion itself never abstains. The copy is then loaded and scores the test texts again: the rows that
abstain live must be the rows the saved predictions put below the cut-off. Writes results/abstain_emotion.json and
results/abstain_emotion/ (each fit's card section and risk–coverage plot).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import tunecard

HERE = Path(__file__).parent
TARGETS = {"accuracy_0.97": {"target_accuracy": 0.97}, "coverage_0.9": {"coverage": 0.9}}
LINKED = (".safetensors", ".bin", ".onnx")
"""Large files of the model folder, linked into the copy instead of copied."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default=str(HERE / "runs" / "emotion"))
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--work", default=str(HERE / "runs" / "emotion_abstain"))
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the run's metrics.json")
    parser.add_argument("--check", type=int, default=2000, help="test texts scored live (0: none)")
    parser.add_argument("--output", default=str(HERE / "results" / "abstain_emotion.json"))
    args = parser.parse_args()
    run = Path(args.run)
    _wait_for(run / "metrics.json", args.wait)
    metrics = json.loads((run / "metrics.json").read_text())
    results = {"run": str(run), "machine": machine(), "temperature": metrics["temperature"],
               "test_accuracy_all_rows": metrics["splits"]["test"]["metrics"]["accuracy"], "fits": {}}
    figures = Path(args.output).with_suffix("")
    figures.mkdir(parents=True, exist_ok=True)
    for name, target in TARGETS.items():
        copy = copy_run(run, Path(args.work) / name)
        started = time.perf_counter()
        report = tunecard.abstain(str(copy), target)
        seconds = time.perf_counter() - started
        results["fits"][name] = {"target": report["target"], "threshold": report["threshold"],
                                 "seconds": round(seconds, 2), "validation": report["splits"]["validation"],
                                 "test": report["splits"]["test"],
                                 "live_check": live_check(copy, report["threshold"], args) if args.check else None}
        shutil.copy(copy / "plots" / "risk_coverage.png", figures / f"risk_coverage_{name}.png")
        (figures / f"card_section_{name}.md").write_text(_section(copy / "README.md"), encoding="utf-8")
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: {"threshold": v["threshold"], "test": v["test"], "live_check": v["live_check"]}
                      for k, v in results["fits"].items()}, indent=2))


def _wait_for(path: Path, seconds: float) -> None:
    deadline = time.time() + seconds
    while not path.is_file():
        if time.time() > deadline:
            sys.exit(f"{path} is not there yet: the run is still training (wait with --wait SECONDS)")
        time.sleep(30)


def copy_run(run: Path, target: Path) -> Path:
    """The run directory copied, its large model files linked."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(run, target, ignore=lambda folder, names: [n for n in names if n.endswith(LINKED)])
    for path in run.rglob("*"):
        if path.suffix in LINKED:
            (target / path.relative_to(run)).symlink_to(path.resolve())
    return target


def live_check(copy: Path, threshold: float, args) -> dict:
    """The copy loaded and scoring the first `args.check` test texts: which abstain, against the saved predictions
    (the same rows, in order)."""
    rows = [json.loads(line) for line in (Path(args.datasets) / "emotion" / "test.jsonl").read_text().splitlines()]
    texts = [r["text"] for r in rows[:args.check]]
    saved = pd.read_csv(copy / "predictions" / "test.csv").head(len(texts))
    saved_probs = saved.filter(like="prob_").to_numpy()
    model = tunecard.load(copy)
    started = time.perf_counter()
    labels = model.predict(texts)
    seconds = time.perf_counter() - started
    live = np.array([label is None for label in labels])
    expected = saved_probs.max(-1) < threshold
    return {"texts": len(texts), "abstained_live": int(live.sum()), "abstained_saved": int(expected.sum()),
            "same_rows": bool((live == expected).all()), "seconds": round(seconds, 1),
            "kept_labels_match_saved": bool(all(label == p for label, p, w in zip(labels, saved["prediction"], live)
                                                if not w))}


def _section(card: Path) -> str:
    text = card.read_text(encoding="utf-8")
    return text[text.index("<!-- abstention -->"):text.index("<!-- /abstention -->")]


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
