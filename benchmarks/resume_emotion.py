"""Resume after SIGKILL on a real run, and what a second process buys on this machine.

    python benchmarks/resume_emotion.py [--datasets ../shared/datasets]

1. The default emotion run (3 epochs, 1,500 steps) with a checkpoint every --save_steps steps, run to the end.
2. The same run killed with SIGKILL at a random step of epoch 2 (steps 501-1000), then `--resume true`:
   its final metrics, history and weights are compared with run 1's; the time lost is the killed run's wall
   time plus the resumed run's, minus run 1's.
3. Training throughput on the first 3,200 training texts (one epoch, batch 32 in total): one process with
   2 threads against `torchrun --nproc_per_node 2` (1 thread each, batch 16 each), measured in the same run.

Every run is a `tunecard train` subprocess, as a user runs it. Writes results/resume_emotion.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
import yaml

HERE = Path(__file__).parent
RUNS = HERE / "runs" / "resume"
STEPS = 1500  # 16,000 texts / batch 32 x 3 epochs
TIMINGS = {"seconds", "samples_per_second", "resumed_from_step"}


def write_config(name: str, data: Path, **train) -> Path:
    config = {"data": {"path": str(data)}, "output": str(RUNS / name), "overwrite": True, "train": train}
    path = RUNS / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def tunecard(args: list[str], launcher: list[str] | None = None, kill_at: int | None = None) -> dict:
    """Run `tunecard train ...`; with `kill_at`, SIGKILL it once its training bar shows that step."""
    command = [sys.executable, "-m", "tunecard", *args] if launcher is None else \
        [sys.executable, "-m", "torch.distributed.run", *launcher, "-m", "tunecard", *args]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TQDM_MININTERVAL": "0.5"})
    killed, seen = {}, []

    def watch():
        tail = ""
        while chunk := process.stderr.read(256):
            seen.append(chunk)
            tail = (tail + chunk)[-400:]
            steps = [int(s) for s in re.findall(rf"(\d+)/{STEPS} \[", tail)]
            if kill_at is not None and not killed and steps and max(steps) >= kill_at:
                process.send_signal(signal.SIGKILL)
                killed["step"] = max(steps)

    reader = threading.Thread(target=watch)
    reader.start()
    process.wait()
    reader.join()
    wall = time.perf_counter() - start
    if kill_at is None and process.returncode != 0:
        raise SystemExit(f"{''.join(seen)[-4000:]}\n{' '.join(command)} failed with status {process.returncode}")
    return {"wall_seconds": round(wall, 1), "returncode": process.returncode, **killed}


def without_timings(value):
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def run_outputs(name: str) -> tuple[dict, str, bytes]:
    run = RUNS / name
    metrics = json.loads((run / "metrics.json").read_text())
    return metrics, (run / "history.csv").read_text(), (run / "model" / "model.safetensors").read_bytes()


def resume_experiment(data: Path, save_steps: int, seed: int) -> dict:
    uninterrupted = tunecard(["train", "--config", str(write_config("uninterrupted", data, save_steps=save_steps))])
    config = write_config("killed", data, save_steps=save_steps)
    kill_at = random.Random(seed).randint(501, 1000)
    killed = tunecard(["train", "--config", str(config)], kill_at=kill_at)
    resumed = tunecard(["train", "--config", str(config), "--resume", "true"])
    (m_u, h_u, w_u), (m_r, h_r, w_r) = run_outputs("uninterrupted"), run_outputs("killed")
    test = m_r["splits"]["test"]["metrics"]
    return {
        "save_steps": save_steps, "kill_seed": seed, "killed_at_step": killed.get("step"),
        "kill_signal": -killed["returncode"], "resumed_from_step": m_r["training"]["resumed_from_step"],
        "wall_seconds": {"uninterrupted": uninterrupted["wall_seconds"], "killed": killed["wall_seconds"],
                         "resumed": resumed["wall_seconds"]},
        "time_lost_seconds": round(killed["wall_seconds"] + resumed["wall_seconds"]
                                   - uninterrupted["wall_seconds"], 1),
        "identical": {"metrics_except_timings": without_timings(m_u) == without_timings(m_r),
                      "history_csv": h_u == h_r, "model_safetensors": w_u == w_r},
        "test_accuracy": test["accuracy"], "test_f1_macro": test["f1_macro"],
        "uninterrupted_test_accuracy": m_u["splits"]["test"]["metrics"]["accuracy"],
    }


def subset(data: Path, rows: int) -> Path:
    folder = RUNS / "subset"
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", rows), ("validation", rows // 8), ("test", rows // 8)):
        lines = (data / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()[:n]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def throughput_experiment(data: Path, rows: int) -> dict:
    folder = subset(data, rows)
    one = write_config("one_process", folder, epochs=1, batch_size=32)
    two = write_config("two_processes", folder, epochs=1, batch_size=16)
    tunecard(["train", "--config", str(one)])
    tunecard(["train", "--config", str(two)], launcher=["--standalone", "--nproc_per_node", "2"])
    one_rate = json.loads((RUNS / "one_process" / "metrics.json").read_text())["training"]["samples_per_second"]
    two_rate = json.loads((RUNS / "two_processes" / "metrics.json").read_text())["training"]["samples_per_second"]
    return {"train_texts": rows, "one_process_2_threads_samples_per_second": one_rate,
            "two_processes_1_thread_each_samples_per_second": two_rate, "ratio_two_over_one": round(two_rate / one_rate, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--save_steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--throughput_rows", type=int, default=3200)
    args = parser.parse_args()
    data = Path(args.datasets) / "emotion"
    RUNS.mkdir(parents=True, exist_ok=True)
    results = {"date": time.strftime("%Y-%m-%d"),
               "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"}
    target = HERE / "results" / "resume_emotion.json"
    for name, experiment in (("resume", lambda: resume_experiment(data, args.save_steps, args.seed)),
                             ("throughput", lambda: throughput_experiment(data, args.throughput_rows))):
        results[name] = experiment()
        target.write_text(json.dumps(results, indent=2) + "\n")  # each part kept as soon as it is measured
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
