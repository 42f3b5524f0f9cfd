"""Peak memory of `tunecard predict` on a 1,000,000-line file: bounded by the chunk, not the file.

    python benchmarks/predict_memory.py --model benchmarks/runs/emotion [--lines 1000000] [--backend onnx]

Writes a JSONL file of --lines rows (id + text, emotion test texts repeated) to a temporary folder,
runs `tunecard predict` on it as a child process, and records the child's peak resident set size
(getrusage ru_maxrss), the wall time, texts/s, and checks that the output has every row, in input
order; every 30 s it also samples the child's memory and the rows written so far. Writes
benchmarks/results/predict_memory.json. With --backend onnx the model must have been exported
(`tunecard export --model RUN --quantize int8`; predict_speed.py leaves one in place).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
RESULT = HERE / "results" / "predict_memory.json"


def write_input(path: Path, lines: int, texts: list[str]) -> int:
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(lines):
            handle.write(json.dumps({"id": f"row{i}", "text": texts[i % len(texts)]}) + "\n")
    return path.stat().st_size


def check_output(path: Path, lines: int) -> bool:
    """Every row is there, in input order (ids row0, row1, ...), streamed line by line."""
    import csv

    with open(path, encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        count = 0
        for count, row in enumerate(reader, start=1):
            if row["id"] != f"row{count - 1}":
                return False
    return count == lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(HERE / "runs" / "emotion"))
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--backend", default="onnx")
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in open(Path(args.datasets) / "emotion" / "test.jsonl", encoding="utf-8")]
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "texts.jsonl", Path(tmp) / "predictions.csv"
        size = write_input(data, args.lines, texts)
        env = {**os.environ, "HF_DATASETS_CACHE": str(Path(tmp) / "cache")}  # the Arrow copy is on disk, not in RAM
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "tunecard", "predict", "--model", args.model, "--data",
                                  str(data), "--output", str(out), "--backend", args.backend], env=env)
        base = {"lines": args.lines, "input_mb": round(size / 2**20, 1), "backend": args.backend,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores"}
        samples = watch(child, start, out.with_name(out.name + ".partial"), base)
        if child.returncode != 0:
            raise SystemExit(f"tunecard predict failed with status {child.returncode}")
        wall = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        complete = check_output(out, args.lines)
    result = {**base, "peak_rss_mb": round(peak_mb, 1), "wall_seconds": round(wall, 1),
              "texts_per_second": round(args.lines / wall, 1), "all_rows_in_input_order": complete,
              "finished": True, "rss_samples": samples}
    RESULT.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "rss_samples"}, indent=2))


def watch(child, start: float, partial: Path, base: dict) -> list[dict]:
    """Every 30 s: the child's resident and peak memory and the rows written so far, saved as it goes
    (a run cut short still shows whether memory grew with the rows)."""
    samples = []
    while child.poll() is None:
        time.sleep(30)
        status = Path(f"/proc/{child.pid}/status")
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines())
        except (FileNotFoundError, ProcessLookupError):
            break
        if "VmRSS" not in fields:  # the child has exited (a zombie has no memory fields): getrusage has its peak
            break
        rows = max(0, sum(1 for _ in open(partial, "rb")) - 1) if partial.exists() else 0
        samples.append({"seconds": round(time.perf_counter() - start), "rows_written": rows,
                        "rss_mb": int(fields["VmRSS"].split()[0]) // 1024,
                        "peak_rss_mb": int(fields["VmHWM"].split()[0]) // 1024})
        RESULT.write_text(json.dumps({**base, "finished": False, "rss_samples": samples}, indent=2))
    child.wait()
    return samples


if __name__ == "__main__":
    main()
