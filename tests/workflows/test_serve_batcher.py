"""workflows/serve/batcher.py: the DynamicBatcher on its own, over a plain scoring function: concurrent requests
combined and answered each its own, keys never mixed, the token budget, stop() scoring what is queued, the queue
limit, a scoring error to every request of its batch, and the adaptive wait."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from tunecard.workflows.serve.batcher import DynamicBatcher, QueueFull


def drive(requests, max_batch_tokens=1000, max_wait_ms=50.0, max_queue=1000, stop_early=False):
    """Submit every (text, key, tokens) request at once to a DynamicBatcher over a plain function; returns
    (each request's result or exception, the batches as lists of texts)."""
    batches: list[list[str]] = []
    observed: list[tuple[int, int]] = []

    def score(batch):
        batches.append([t for r in batch.requests for t in r.rows["text"]])
        return [[f"scored {t}" for t in r.rows["text"]] for r in batch.requests]

    async def scenario():
        batcher = DynamicBatcher(score, max_batch_tokens, max_wait_ms, max_queue,
                                 on_batch=lambda batch, seconds: observed.append((batch.size, batch.tokens)))
        batcher.start()
        tasks = [asyncio.ensure_future(batcher.submit({"text": [text]}, key, tokens, 1))
                 for text, key, tokens in requests]
        if stop_early:
            await asyncio.sleep(0.05)  # every request is queued, the first still waits for company
            started = time.perf_counter()
            await batcher.stop()
            assert all(task.done() for task in tasks), "stop() returned before every queued request was scored"
            assert time.perf_counter() - started < max_wait_ms / 1000 / 2, "stop() waited out max_wait_ms"
            with pytest.raises(QueueFull, match="the server is shutting down"):
                await batcher.submit({"text": ["late"]}, "k", 1, 1)
            return [task.result() for task in tasks]
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    assert [size for size, _ in observed] == [len(b) for b in batches]
    return results, batches


def test_batcher_combines_concurrent_requests_and_answers_each_its_own():
    requests = [(f"t{i}", "text", 3) for i in range(8)]
    results, batches = drive(requests)
    assert results == [[f"scored t{i}"] for i in range(8)]
    assert batches == [[f"t{i}" for i in range(8)]]


def test_batcher_never_mixes_keys_and_keeps_arrival_order():
    requests = [(f"t{i}", "pair" if i % 3 == 0 else "text", 2) for i in range(9)]
    results, batches = drive(requests)
    assert results == [[f"scored t{i}"] for i in range(9)]
    assert batches == [["t0", "t3", "t6"], ["t1", "t2", "t4", "t5", "t7", "t8"]]


def test_batcher_token_budget_caps_a_batch():
    results, batches = drive([(f"t{i}", "text", 4) for i in range(7)], max_batch_tokens=10)
    assert results == [[f"scored t{i}"] for i in range(7)]
    assert batches == [["t0", "t1"], ["t2", "t3"], ["t4", "t5"], ["t6"]]


def test_batcher_scores_a_request_over_the_budget_alone():
    results, batches = drive([("big", "text", 25), ("a", "text", 4), ("b", "text", 4)], max_batch_tokens=10)
    assert results == [["scored big"], ["scored a"], ["scored b"]]
    assert batches == [["big"], ["a", "b"]]


def test_batcher_stop_scores_everything_queued_before_returning():
    requests = [(f"t{i}", "pair" if i == 2 else "text", 4) for i in range(5)]
    results, batches = drive(requests, max_wait_ms=10_000, stop_early=True)  # far under the token budget
    assert results == [[f"scored t{i}"] for i in range(5)]
    assert batches == [["t0", "t1", "t3", "t4"], ["t2"]]


def test_batcher_refuses_requests_over_max_queue():
    async def scenario():
        batcher = DynamicBatcher(lambda batch: [["x"]] * len(batch.requests), 1000, 10_000, max_queue=3)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit({"text": ["a", "b"]}, "k", 2, 2))
        await asyncio.sleep(0)
        with pytest.raises(QueueFull, match=re.escape("2 inputs are queued (limit 3)")):
            await batcher.submit({"text": ["c", "d"]}, "k", 2, 2)
        await batcher.stop()
        return await first

    assert asyncio.run(scenario()) == ["x"]


def test_batcher_gives_a_scoring_error_to_every_request_of_the_batch():
    def score(batch):
        raise ValueError("the model broke")

    async def scenario():
        batcher = DynamicBatcher(score, 1000, 50, 100)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit({"text": [t]}, "k", 1, 1) for t in "abc"),
                                       return_exceptions=True)
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    assert [type(r) for r in results] == [ValueError] * 3 and str(results[0]) == "the model broke"


def waves(sizes, max_wait_ms):
    """Waves of concurrent requests (`sizes`: requests per wave), each sent when the last is answered, as
    closed-loop clients do; returns each wave's (batch sizes, seconds until all were answered)."""
    batches: list[int] = []

    def score(batch):
        batches.append(len(batch.requests))
        return [[0] for _ in batch.requests]

    async def scenario():
        batcher = DynamicBatcher(score, 1000, max_wait_ms, 1000)
        batcher.start()
        seen = []
        for size in sizes:
            started, before = time.perf_counter(), len(batches)

            async def client(i):
                await asyncio.sleep(0.002 * i)  # the clients of a wave come back a little apart
                return await batcher.submit({"text": ["x"]}, "k", 1, 1)
            await asyncio.gather(*(client(i) for i in range(size)))
            seen.append((batches[before:], time.perf_counter() - started))
        await batcher.stop()
        return seen
    return asyncio.run(scenario())


def test_batcher_waits_for_as_many_requests_as_the_last_batch_held_and_a_lone_client_never_waits():
    first, again, alone, alone_again = waves([4, 4, 1, 1], max_wait_ms=2000)
    assert first[0] == [4]  # no batch yet: the wait may run its length, and 4 requests join
    assert again[0] == [4] and again[1] < 1.0  # the last batch held 4: the wait ends when 4 are queued
    assert alone[0] == [1] and alone[1] > 1.5  # 1 of the 4 expected came: the wait ran out
    assert alone_again[0] == [1] and alone_again[1] < 0.5  # the last batch held 1: no wait at all
