"""Prometheus metrics of `tunecard serve` (prometheus_client, one registry per app): requests by path and
status, request latency, the batches the server formed (inputs, tokens, seconds), queue depth, inputs
scored and inputs truncated."""

from __future__ import annotations

from typing import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # no *_created series: scrapers read the process start from elsewhere

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServerMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("tunecard_requests", "HTTP requests by path and status", ["path", "status"],
                                registry=r)
        self.latency = Histogram("tunecard_request_duration_seconds", "POST /predict time, queue included",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("tunecard_batch_size", "Inputs per batch scored", buckets=BATCH_SIZE_BUCKETS,
                                    registry=r)
        self.batch_tokens = Histogram("tunecard_batch_tokens", "Tokens per batch scored",
                                      buckets=tuple(2 ** k for k in range(4, 16)), registry=r)
        self.batch_seconds = Histogram("tunecard_batch_duration_seconds", "Scoring time per batch",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.inputs = Counter("tunecard_inputs", "Inputs scored", registry=r)
        self.truncated = Counter("tunecard_truncated_inputs", "Inputs cut to the model's limit", registry=r)
        self.queue = Gauge("tunecard_queue_inputs", "Inputs waiting to be scored", registry=r)

    def watch_queue(self, depth: Callable[[], int]) -> None:
        self.queue.set_function(depth)

    def count(self, path: str, status: int, seconds: float | None = None) -> None:
        self.requests.labels(path=path, status=str(status)).inc()
        if seconds is not None and status == 200:
            self.latency.observe(seconds)

    def count_inputs(self, inputs: int, truncated: int) -> None:
        self.inputs.inc(inputs)
        self.truncated.inc(truncated)

    def observe_batch(self, batch, seconds: float) -> None:
        self.batch_size.observe(batch.size)
        self.batch_tokens.observe(batch.tokens)
        self.batch_seconds.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
