"""The int8 quality gate of `tunecard export --quantize int8`, on a planted failure and on the default model.

    python benchmarks/int8_gate.py --parts fragile,emotion [--datasets ../shared/datasets]

fragile: the default model (all-MiniLM-L6-v2) trained on emotion for a few steps at a tiny learning rate
(--steps, --learning_rate): its head has barely moved from its random start, so its six logits sit close together
and int8's rounding flips its near ties. The gate must refuse it: the export exits 2 and writes nothing. It is then
exported with --max_drop 1 (the gate measures and reports, but refuses nothing) to record the full gate report.
emotion: the emotion default run (benchmarks/runs/emotion, from emotion_train.py) must pass, its interval printed.

Each export goes to a temporary folder (the ONNX files are not kept); the gate reports, the refusal message and the
timings go to benchmarks/results/int8_gate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

import tunecard
from tunecard.errors import TunecardError

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "int8_gate.json"
FRAGILE = HERE / "runs" / "int8_fragile"
EMOTION = HERE / "runs" / "emotion"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--parts", default="fragile,emotion")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--learning_rate", type=float, default=1e-6)
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results["machine"] = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
                          f"{torch.__version__}, {torch.get_num_threads()} threads")
    for part in args.parts.split(","):
        run = fragile_run(Path(args.datasets), args.steps, args.learning_rate) if part == "fragile" else EMOTION
        if not (run / "metrics.json").is_file():
            raise SystemExit(f"no run at {run}: run benchmarks/emotion_train.py first")
        results[part] = {"run": str(run), "date": time.strftime("%Y-%m-%d"), **gate(run)}
        if part == "fragile":
            results[part]["recipe"] = {"steps": args.steps, "learning_rate": args.learning_rate}
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps(results[part], indent=2))


def fragile_run(datasets: Path, steps: int, learning_rate: float) -> Path:
    """The default model trained a few steps at a tiny learning rate (trained once; kept in benchmarks/runs/)."""
    if not (FRAGILE / "metrics.json").is_file():
        tunecard.train({"data": {"path": str(datasets / "emotion")}, "output": str(FRAGILE), "overwrite": True,
                        "train": {"max_steps": steps, "learning_rate": learning_rate}})
    return FRAGILE


def gate(run: Path) -> dict:
    """Export int8 with the default gate (refused or passed), and, when refused, again with --max_drop 1 to keep
    the whole gate report; with the fp32 run's own validation and test metrics beside it."""
    metrics = json.loads((run / "metrics.json").read_text())
    found = {"fp32_run": {split: {k: metrics["splits"][split]["metrics"][k] for k in ("accuracy", "f1_macro")}
                          for split in ("validation", "test")}}
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        try:
            exported = tunecard.export(str(run), quantize="int8", output=str(Path(folder) / "gated"))
            found.update(refused=False, message=None)
        except TunecardError as exc:
            found.update(refused=True, message=str(exc))
            exported = tunecard.export(str(run), quantize="int8", output=str(Path(folder) / "report"), max_drop=1.0)
            assert not (Path(folder) / "gated").exists() and not (Path(folder) / "gated.partial").exists()
        found["export_seconds"] = round(time.perf_counter() - start, 1)
        found["gate"] = json.loads((exported / "gate.json").read_text())
    return found


if __name__ == "__main__":
    main()
