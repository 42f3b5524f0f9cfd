"""Training-step time on the CPU with glibc's default allocator against tunecard's `reuse_freed_memory`.

    python benchmarks/cpu_memory.py [--lengths 64,256] [--steps 6] [--repeats 2]

Each measurement is a fresh process (the allocator setting lasts for the process): the embedded MiniLM as
a multiple-choice model, one batch of 16 questions x 5 options x L tokens, forward + backward + AdamW,
one untimed warm-up step, then --steps timed steps. The two variants alternate, --repeats times, so a
slow spell of the machine hits both. Reports the median step time of each variant, their ratio, and the
kernel (system) CPU time, minor page faults and peak RSS of each process. Writes
benchmarks/results/cpu_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
QUESTIONS, OPTIONS = 16, 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", default="64,256")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", choices=["default", "reuse"], help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(time_steps(args.child, args.length, args.steps)))
        return
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "batch": f"{QUESTIONS} questions x {OPTIONS} options", "steps": args.steps, "lengths": {}}
    for length in map(int, args.lengths.split(",")):
        runs = {"default": [], "reuse": []}
        for _ in range(args.repeats):
            for variant in runs:
                out = subprocess.run([sys.executable, __file__, "--child", variant, "--length", str(length),
                                      "--steps", str(args.steps)], capture_output=True, text=True, check=True)
                runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(length, variant, runs[variant][-1], flush=True)
        summary = {v: {"median_step_seconds": round(statistics.median(s for r in rs for s in r["step_seconds"]), 2),
                       "system_cpu_seconds": [r["system_cpu_seconds"] for r in rs],
                       "minor_page_faults": [r["minor_page_faults"] for r in rs],
                       "peak_rss_mb": [r["peak_rss_mb"] for r in rs], "runs": rs} for v, rs in runs.items()}
        summary["speedup"] = round(summary["default"]["median_step_seconds"] / summary["reuse"]["median_step_seconds"], 2)
        results["lengths"][str(length)] = summary
        print(length, "speedup", summary["speedup"], flush=True)
    (HERE / "results" / "cpu_memory.json").write_text(json.dumps(results, indent=2))


def time_steps(variant: str, length: int, steps: int) -> dict:
    import resource
    import time

    import torch
    from transformers import AutoModelForMultipleChoice

    from tunecard.engine import models
    from tunecard.engine.cpu_memory import reuse_freed_memory

    if variant == "reuse":
        assert reuse_freed_memory(), "glibc's mallopt is not available here"
    torch.manual_seed(0)
    model = AutoModelForMultipleChoice.from_pretrained(models.resolve_model("minilm").location).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    input_ids = torch.randint(1000, 30000, (QUESTIONS, OPTIONS, length))
    batch = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
             "token_type_ids": torch.zeros_like(input_ids), "labels": torch.randint(0, OPTIONS, (QUESTIONS,))}
    seconds = []
    for step in range(steps + 1):
        start = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step:  # step 0 warms up (first-touch of the weights' gradients and AdamW state)
            seconds.append(round(time.perf_counter() - start, 3))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"step_seconds": seconds, "system_cpu_seconds": round(usage.ru_stime, 1),
            "user_cpu_seconds": round(usage.ru_utime, 1), "minor_page_faults": usage.ru_minflt,
            "peak_rss_mb": usage.ru_maxrss // 1024, "threads": torch.get_num_threads()}


if __name__ == "__main__":
    main()
