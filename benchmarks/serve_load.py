"""Load test of `tunecard serve` (torch and ONNX int8) against a naive server (FastAPI calling `pipeline()`
per request), all on loopback, bounded in requests and time.

    python benchmarks/emotion_train.py --datasets ../shared/datasets        # trains benchmarks/runs/emotion
    tunecard export --model benchmarks/runs/emotion --format onnx --quantize int8
    python benchmarks/serve_load.py --datasets ../shared/datasets

The three servers run side by side (an idle one takes no CPU); for each concurrency level every server is
measured in turn, so the comparison at a level is made minutes apart at most. Each level is a closed loop:
`concurrency` clients each send single-text requests (emotion test texts, in turn) one after another for
`--seconds` (at most `--max_requests` in all), after a warm-up. Reported per server and level: requests/s,
p50 and p99 latency, errors, and for tunecard the batch sizes it formed (from its /metrics histogram).
Writes benchmarks/results/serve_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import aiohttp
import numpy as np
from yardstick import matmul_gflops  # benchmarks/ is on sys.path when a script runs

HERE = Path(__file__).parent
LEVELS = (1, 8, 32, 64)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default=os.environ.get("TUNECARD_DATASETS", "../shared/datasets"))
    parser.add_argument("--model", default=str(HERE / "runs" / "emotion"))
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time per server and level")
    parser.add_argument("--max_requests", type=int, default=5000, help="cap per server and level")
    parser.add_argument("--output", default=str(HERE / "results" / "serve_load.json"))
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in open(Path(args.datasets) / "emotion" / "test.jsonl")]
    levels = [int(x) for x in args.levels.split(",")]
    commands = {
        "naive": [sys.executable, str(HERE / "naive_server.py"), str(Path(args.model) / "model"), "{port}"],
        "tunecard_torch": [sys.executable, "-m", "tunecard", "serve", "--model", args.model, "--port", "{port}"],
        "tunecard_onnx_int8": [sys.executable, "-m", "tunecard", "serve", "--model", args.model, "--port", "{port}",
                               "--backend", "onnx"],
    }
    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d"), "seconds_per_level": args.seconds,
               "max_requests": args.max_requests, "levels": {}}
    results["engine_calls_in_a_batch_of_32"] = engine_call_sizes(args.model, texts)
    print("texts/s scoring random batches of 32, by model call size:", results["engine_calls_in_a_batch_of_32"])
    with ExitStack() as stack:
        urls = {name: stack.enter_context(server(command, 18100 + i))
                for i, (name, command) in enumerate(commands.items())}
        results["labels_agree"] = asyncio.run(labels_agree(urls, texts[:200]))
        for level in levels:
            results["levels"][level] = {}
            for name, url in urls.items():
                measured = asyncio.run(load(url, texts, level, args.seconds, args.max_requests,
                                            batches=name != "naive"))
                results["levels"][level][name] = measured
                print(f"c={level:3d} {name:20s} {measured['requests_per_s']:7.1f} req/s  p50 "
                      f"{measured['p50_ms']:7.1f} ms  p99 {measured['p99_ms']:7.1f} ms  errors {measured['errors']}"
                      f"  batches {measured.get('batch_sizes', '')}", flush=True)
    results["ratios_at_32"] = ratios(results["levels"].get(32, {}))
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["ratios_at_32"], indent=2))


@contextmanager
def server(command: list[str], port: int):
    """A server process on 127.0.0.1:port, up (GET /health answers) until the block ends."""
    process = subprocess.Popen([part.replace("{port}", str(port)) for part in command], stderr=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while not healthy(url):
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"server did not start: {' '.join(command)}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=60)


def engine_call_sizes(model: str, texts: list[str], sizes=(64, 16, 8, 4), rounds: int = 5) -> dict:
    """Texts/s of the engine alone (in process) on batches of 32 random emotion texts, as a server at
    concurrency 32 forms them, for each model-call size (serve's --batch_size): round-robin, medians."""
    import tunecard

    scorers = {(backend, size): tunecard.load(model, batch_size=size, backend=backend)
               for backend in ("torch", "onnx") for size in sizes}
    batches = [texts[i * 32:(i + 1) * 32] for i in range(10)]
    times: dict = {key: [] for key in scorers}
    for scorer in scorers.values():
        scorer.predict_proba(batches[0])  # warm-up
    for _ in range(rounds):
        for key, scorer in scorers.items():
            started = time.perf_counter()
            for batch in batches:
                scorer.predict_proba(batch)
            times[key].append(time.perf_counter() - started)
    return {f"{backend}_{size}": round(320 / float(np.median(times[(backend, size)])), 1)
            for backend, size in scorers}


def healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


async def load(url: str, texts: list[str], concurrency: int, seconds: float, max_requests: int,
               batches: bool) -> dict:
    """Closed loop: `concurrency` clients, each sending its next request when the last one is answered.
    `batches`: also the batch sizes the server formed while measured (its /metrics, read after warm-up)."""
    latencies: list[float] = []
    errors = 0
    next_text = iter(range(10**9))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def client(stop_at: float, record: bool):
            nonlocal errors
            while time.perf_counter() < stop_at and (not record or len(latencies) + errors < max_requests):
                text = texts[next(next_text) % len(texts)]
                started = time.perf_counter()
                async with session.post(url + "/predict", json={"inputs": text}) as response:
                    await response.read()
                    ok = response.status == 200
                if record:
                    if ok:
                        latencies.append(time.perf_counter() - started)
                    else:
                        errors += 1
        await asyncio.gather(*(client(time.perf_counter() + 2, False) for _ in range(concurrency)))  # warm-up
        before = batch_histogram(url) if batches else None
        started = time.perf_counter()
        await asyncio.gather(*(client(started + seconds, True) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    formed = {"batch_sizes": histogram_delta(before, batch_histogram(url))} if batches else {}
    return {**formed, "requests": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed, 1), "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1), "mean_ms": round(float(ms.mean()), 1)}


async def labels_agree(urls: dict, texts: list[str]) -> dict:
    """Top labels of each server against the naive server's, one text at a time."""
    async with aiohttp.ClientSession() as session:
        async def top(url, text):
            async with session.post(url + "/predict", json={"inputs": text}) as response:
                body = await response.json()
            body = body[0] if isinstance(body[0], list) else body  # pipeline(top_k=None) nests single inputs
            return max(body, key=lambda x: x["score"])["label"]
        tops = {name: [await top(url, t) for t in texts] for name, url in urls.items()}
    return {name: sum(a == b for a, b in zip(tops["naive"], labels)) for name, labels in tops.items()}


def batch_histogram(url: str) -> dict[str, float]:
    """Cumulative bucket counts of tunecard_batch_size from /metrics (le -> count)."""
    import urllib.request

    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    bucket = re.compile(r'tunecard_batch_size_bucket\{le="([^"]+)"\} (\S+)')
    return {m.group(1): float(m.group(2)) for m in bucket.finditer(text)}


def histogram_delta(before: dict, after: dict) -> dict[str, int]:
    """Batches formed during a level, per size range ("<=1", "2-2", "3-4", ...), from cumulative buckets."""
    bounds = list(after)
    out, previous_count, previous_bound = {}, 0.0, 0
    for bound in bounds:
        count = after[bound] - before.get(bound, 0.0)
        upper = bound if bound == "+Inf" else str(int(float(bound)))
        name = f"{previous_bound + 1}-{upper}"
        if count - previous_count:
            out[name] = int(count - previous_count)
        previous_count, previous_bound = count, (int(float(bound)) if bound != "+Inf" else previous_bound)
    return out


def ratios(level: dict) -> dict:
    if not level:
        return {}
    naive = level["naive"]
    return {name: {"throughput_vs_naive": round(m["requests_per_s"] / naive["requests_per_s"], 2),
                   "p99_ms": m["p99_ms"], "naive_p50_ms": naive["p50_ms"],
                   "p99_below_naive_p50": m["p99_ms"] < naive["p50_ms"]}
            for name, m in level.items() if name != "naive"}


def machine() -> dict:
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "matmul_gflops": matmul_gflops()}


if __name__ == "__main__":
    main()
