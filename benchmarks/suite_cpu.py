"""Where the test suite's CPU goes: `python -m pytest` with every Python process logging its own CPU time at exit.

    python benchmarks/suite_cpu.py [pytest arguments]

A `sitecustomize.py` on PYTHONPATH (inherited by every process the tests start: tunecard and torchrun workers,
servers, Ray actors) appends pid, parent pid, CPU seconds (user + system), wall seconds and the command line to
a log when the process exits normally; processes killed by a signal (the crash tests') cannot report. Prints the
suite's wall time, the CPU of pytest and every process it waited for (RUSAGE_CHILDREN), and the logged processes
grouped by kind. Writes benchmarks/results/suite_cpu.json.
"""

from __future__ import annotations

import collections
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOOK = """import atexit, os, resource, sys, time
_start = time.time()
def _log():
    r = resource.getrusage(resource.RUSAGE_SELF)
    with open(os.environ["SUITE_CPU_LOG"], "a") as f:
        f.write(f"{os.getpid()}\\t{os.getppid()}\\t{r.ru_utime + r.ru_stime:.2f}\\t{time.time() - _start:.2f}\\t"
                f"{' '.join(sys.argv)[:300]}\\n")
atexit.register(_log)
"""
KINDS = (("ray/_private/workers", "Ray actor processes"), ("torch/distributed/run.py", "torchrun launchers"),
         ("tunecard", "tunecard processes (CLI, torchrun workers, servers)"), ("pytest", "pytest"))


def kind(command: str, parent: int, pytest_pid: int) -> str:
    if parent == pytest_pid and command in ("-c", ""):
        return "pytest workers"  # xdist starts its workers with `python -c`
    return next((name for marker, name in KINDS if marker in command), "other Python processes")


def main() -> None:
    hook_dir = Path(tempfile.mkdtemp(prefix="suite-cpu-"))
    (hook_dir / "sitecustomize.py").write_text(HOOK)
    log = hook_dir / "log.tsv"
    env = {**os.environ, "PYTHONPATH": str(hook_dir), "SUITE_CPU_LOG": str(log)}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "pytest", "-q", *sys.argv[1:]], env=env)
    process.wait()
    wall = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = [line.split("\t") for line in log.read_text().splitlines()] if log.is_file() else []
    groups = collections.defaultdict(lambda: {"processes": 0, "cpu_seconds": 0.0})
    for pid, parent, cpu, _, command in rows:
        group = groups[kind(command, int(parent), process.pid)]
        group["processes"] += 1
        group["cpu_seconds"] = round(group["cpu_seconds"] + float(cpu), 1)
    result = {"exit_status": process.returncode, "wall_seconds": round(wall, 1),
              "cpu_seconds_waited_for": round(children.ru_utime + children.ru_stime, 1),
              "logged_by_kind": dict(groups)}
    out = Path(__file__).parent / "results" / "suite_cpu.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
