"""Post-call jobs handed to a Redis that is then SIGKILLed survive it: the daemon's standby copies run them.

Found by bench/soak.py: with Redis killed and restarted while callers hang up, the jobs of the calls
that ended just before the kill were in the (unpersisted) stream and vanished with it — 5 of 579 in
one run. Now each job handed to Redis leaves a standby copy in the SQLite outbox; when Redis comes
back under a new run_id, the copies are queued locally. Real redis-server, real SQLite file.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentiric_pbx.postcall.queue import Job
from sentiric_pbx.postcall.redis_streams import RedisStreamsQueue
from sentiric_pbx.postcall.runtime import serve_workers
from sentiric_pbx.postcall.sqlite_outbox import SqliteOutbox
from sentiric_pbx.postcall.worker import enqueue_postcall
from tests.redis_server import RedisServer
from tests.test_postcall_jobs import booking_call


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


async def run_workers_until(queue, outbox, ran: collections.Counter, want: int, within_s: float = 15.0) -> None:
    async def record(job: Job) -> None:
        ran[(job.call_id, job.kind)] += 1

    stop = asyncio.Event()
    handlers = {"summary": record, "archive": record, "analytics": record}
    serving = asyncio.create_task(serve_workers(queue, handlers, stop, fallback=outbox))
    deadline = time.monotonic() + within_s
    while sum(ran.values()) < want and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)  # a guard round more: nothing else may run
    stop.set()
    await serving


async def test_jobs_in_a_redis_killed_before_they_ran_are_run_from_the_standby_copies(
    redis: RedisServer, tmp_path: Path
) -> None:
    queue = RedisStreamsQueue(redis.url, stream="sentiric:postcall")
    outbox = SqliteOutbox(tmp_path / "sentiric.db", poll_interval_s=0.02)
    ctx = booking_call(call_id="ended-just-before-the-kill")
    ids = await enqueue_postcall(queue, ctx, outbox)
    assert len(ids) == 3
    await asyncio.to_thread(redis.kill)  # no persistence: the stream is gone
    await asyncio.to_thread(redis.start)

    ran: collections.Counter = collections.Counter()
    try:
        await run_workers_until(queue, outbox, ran, 3)
        jobs = {j["kind"]: j["status"] for j in await outbox.jobs_for(ctx.call_id)}
    finally:
        await queue.aclose()
        await outbox.aclose()
    assert ran == {(ctx.call_id, kind): 1 for kind in ("summary", "archive", "analytics")}
    assert jobs == {"summary": "done", "archive": "done", "analytics": "done"}


async def test_without_a_restart_the_standby_copies_never_run(redis: RedisServer, tmp_path: Path) -> None:
    queue = RedisStreamsQueue(redis.url, stream="sentiric:postcall")
    outbox = SqliteOutbox(tmp_path / "sentiric.db", poll_interval_s=0.02)
    ctx = booking_call(call_id="redis-stayed-up")
    await enqueue_postcall(queue, ctx, outbox)

    ran: collections.Counter = collections.Counter()
    try:
        await run_workers_until(queue, outbox, ran, 3)
        statuses = {j["status"] for j in await outbox.jobs_for(ctx.call_id)}
    finally:
        await queue.aclose()
        await outbox.aclose()
    assert ran == {(ctx.call_id, kind): 1 for kind in ("summary", "archive", "analytics")}  # by Redis's worker
    assert statuses == set()  # each copy dropped once its job was done here
