"""Dynamic batching: requests that arrive while the model is busy (or shortly after it finished the last
batch) are scored together in one call, bounded by a token budget.

One worker coroutine takes requests off a queue in arrival order and runs the scoring function in one
background thread, so the event loop keeps accepting requests while the model runs: under load, the
next batch forms while the current one is scored. Requests are batched only with requests of the same
`key` (the same input fields), since one scoring call reads one set of columns. Torch-free.
"""

from __future__ import annotations

import asyncio
import collections
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable


class QueueFull(Exception):
    """The queue holds `max_queue` inputs already: the caller answers 503."""


@dataclass
class Pending:
    """One request waiting in the queue."""
    rows: dict[str, list]
    """Its inputs as columns (field name -> one value per input)."""
    key: Hashable
    """Requests with equal keys can be scored in one call."""
    tokens: int
    """Its inputs' tokens as the model reads them (each cut to the model's limit)."""
    size: int
    """Its number of inputs."""
    future: asyncio.Future
    arrived: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class Batch:
    """What the scoring function gets: requests with one key, in arrival order."""
    requests: list[Pending]

    @property
    def size(self) -> int:
        return sum(r.size for r in self.requests)

    @property
    def tokens(self) -> int:
        return sum(r.tokens for r in self.requests)


class DynamicBatcher:
    """`await submit(...)` returns the scoring function's result for that request's rows.

    `score(batch) -> list` gets a Batch and returns one result per request, in order; it runs in a single
    background thread. `on_batch(batch, seconds)` is told of each batch scored (for metrics)."""

    def __init__(self, score: Callable[[Batch], list], max_batch_tokens: int, max_wait_ms: float,
                 max_queue: int, on_batch: Callable[[Batch, float], None] | None = None):
        self.score, self.on_batch = score, on_batch
        self.max_batch_tokens, self.max_wait, self.max_queue = max_batch_tokens, max_wait_ms / 1000, max_queue
        self.queue: collections.deque[Pending] = collections.deque()
        self.queued_inputs = 0
        self._arrival = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tunecard-scoring")
        self._worker: asyncio.Task | None = None
        self._stopping = False
        self._last_batch_requests: int | None = None

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, rows: dict[str, list], key: Hashable, tokens: int, size: int) -> Any:
        if self._stopping:
            raise QueueFull("the server is shutting down")
        if self.queued_inputs + size > self.max_queue:
            raise QueueFull(f"{self.queued_inputs} inputs are queued (limit {self.max_queue})")
        pending = Pending(rows, key, tokens, size, asyncio.get_running_loop().create_future())
        self.queue.append(pending)
        self.queued_inputs += size
        self._arrival.set()
        return await pending.future

    async def stop(self) -> None:
        """Refuse new requests, score every queued one, then end the worker."""
        self._stopping = True
        self._arrival.set()
        if self._worker is not None:
            await self._worker
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.queue:
                if self._stopping:
                    return
                self._arrival.clear()
                await self._arrival.wait()
                continue
            await self._wait_for_company()
            batch = self._take_batch()
            self._last_batch_requests = len(batch.requests)
            started = time.perf_counter()
            try:
                results = await loop.run_in_executor(self._executor, self.score, batch)
            except Exception as exc:  # the scoring error goes to every caller in the batch
                results = [exc] * len(batch.requests)
            if self.on_batch is not None:
                self.on_batch(batch, time.perf_counter() - started)
            for request, result in zip(batch.requests, results):
                if request.future.done():  # the client went away
                    continue
                if isinstance(result, Exception):
                    request.future.set_exception(result)
                else:
                    request.future.set_result(result)

    async def _wait_for_company(self) -> None:
        """Once the model is free, wait up to max_wait until as many requests are queued as the last batch
        held: under load the clients just answered are sending their next requests, and a batch that waits
        for them is whole instead of split in two (the requests that came during the last batch, then the
        rest). A lone client (last batch: one request) never waits; with no batch yet, the wait runs its
        full length. The token budget filling up ends the wait too."""
        expected = self._last_batch_requests or float("inf")
        deadline = time.perf_counter() + self.max_wait
        while (not self._stopping and len(self.queue) < expected
               and sum(r.tokens for r in self.queue) < self.max_batch_tokens):
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), remaining)
            except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
                return

    def _take_batch(self) -> Batch:
        """The oldest request, and after it every queued request with its key that fits the token budget
        (in arrival order); the others stay queued, in order."""
        first = self.queue.popleft()
        taken, kept, tokens = [first], collections.deque(), first.tokens
        while self.queue:
            request = self.queue.popleft()
            if request.key == first.key and tokens + request.tokens <= self.max_batch_tokens:
                taken.append(request)
                tokens += request.tokens
            else:
                kept.append(request)
        self.queue = kept
        self.queued_inputs -= sum(r.size for r in taken)
        return Batch(taken)
