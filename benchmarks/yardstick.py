"""The machine's speed now: a 1024x1024 fp32 matmul in GFLOP/s (DESIGN.md quotes ~164 on an idle machine).
Benchmarks record it before and after a run, so a run slowed by other work on the machine shows it."""

import time

import numpy as np


def matmul_gflops() -> float:
    """The median of 20 timed matmuls, after 3 to warm up."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(20):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return round(2 * 1024**3 / float(np.median(times)) / 1e9, 1)
