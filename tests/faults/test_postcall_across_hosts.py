"""The post-call queue across hosts: daemons A and B with `workers = 0`, one worker W elsewhere, one Redis
(real redis-server, SIGKILLed without persistence), one site store (a real PostgreSQL), each host its own
SQLite outbox. Issue #18 found: W did every job, a Redis restart lost jobs W never ran, and a worker later
started on A re-ran 9 of 12 old copies W had done. Now:

- each job W finishes is recorded in the site store's ledger; A drops its standby copies of those;
- A (workers = 0) still runs its copies of jobs the restarted Redis lost — each exactly once overall;
- a job already recorded done is settled without running again (`postcall_job_skipped`);
- an archive job whose recording is on A's disk only (no shared recordings store) stays in A's outbox.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentiric_pbx.postcall.ledger import DoneLedger
from sentiric_pbx.postcall.queue import Job
from sentiric_pbx.postcall.redis_streams import RedisStreamsQueue
from sentiric_pbx.postcall.runtime import serve_workers
from sentiric_pbx.postcall.sqlite_outbox import SqliteOutbox
from sentiric_pbx.postcall.worker import PostcallWorker, enqueue_postcall
from sentiric_pbx.storage.postgres import PostgresDatabase
from tests.redis_server import RedisServer
from tests.test_postcall_jobs import booking_call, write_stereo_wav

KINDS = ("summary", "archive", "analytics")


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


class Host:
    """One host's post-call side: its outbox file and, while `serve()` runs, its workers."""

    def __init__(self, name: str, tmp: Path, redis_url: str, ledger: DoneLedger, ran: collections.Counter) -> None:
        self.name = name
        self.queue = RedisStreamsQueue(redis_url, stream="sentiric:postcall", lease_s=5.0)
        folder = tmp / name
        folder.mkdir()
        self.outbox = SqliteOutbox(folder / "sentiric.db", poll_interval_s=0.02)
        self.ledger = ledger
        self.ran = ran
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def serve(self, workers: int) -> None:
        async def record(job: Job) -> None:
            self.ran[(job.call_id, job.kind)] += 1
            self.ran[self.name] += 1

        handlers = {kind: record for kind in KINDS}
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(
            serve_workers(
                self.queue, handlers, self.stop, concurrency=workers, fallback=self.outbox, ledger=self.ledger
            )
        )

    async def halt(self) -> None:
        self.stop.set()
        if self.task is not None:
            await self.task

    async def aclose(self) -> None:
        await self.halt()
        await self.queue.aclose()
        await self.outbox.aclose()


async def until(check, within_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def test_every_job_runs_exactly_once_across_a_redis_restart_with_workers_0_on_the_daemons(
    redis: RedisServer, tmp_path: Path, postgres_url: str, logs: list[dict[str, object]]
) -> None:
    site = await PostgresDatabase.connect(postgres_url)
    ran: collections.Counter = collections.Counter()
    ledger = DoneLedger(site)
    a = Host("host-a", tmp_path, redis.url, ledger, ran)
    w = Host("worker-w", tmp_path, redis.url, ledger, ran)
    try:
        a.serve(workers=0)  # the daemon: no shared workers, but its guard and its own outbox
        w.serve(workers=1)
        done_by_w = booking_call(call_id="done-by-w-before-the-kill")
        await enqueue_postcall(a.queue, done_by_w, a.outbox)
        await until(lambda: _ran(ran, done_by_w.call_id, 3))
        assert ran["host-a"] == 0  # workers = 0: A ran none of the shared jobs
        # A's standby copies of W's jobs are dropped once the ledger has them (the ack any host made).
        await until(lambda: _no_copies(a.outbox))

        await w.halt()  # W is busy elsewhere: the next call's jobs wait in Redis…
        lost = booking_call(call_id="lost-with-redis")
        await enqueue_postcall(a.queue, lost, a.outbox)
        await asyncio.to_thread(redis.kill)  # …which dies with them (no persistence)
        await asyncio.to_thread(redis.start)
        w.serve(workers=1)

        await until(lambda: _ran(ran, lost.call_id, 3))
        await asyncio.sleep(2.5)  # two more guard rounds and claims: nothing else may run
    finally:
        await a.aclose()
        await w.aclose()
        await site.aclose()

    for call_id in (done_by_w.call_id, lost.call_id):
        assert [ran[(call_id, kind)] for kind in KINDS] == [1, 1, 1], ran
    assert ran["host-a"] == 3 and ran["worker-w"] == 3  # A ran exactly its lost copies
    assert any(e["event"] == "postcall_jobs_recovered" for e in logs)
    assert not any(e["event"] == "postcall_job_ran_twice" for e in logs)


async def test_a_job_recorded_done_by_another_host_is_settled_without_running(
    tmp_path: Path, postgres_url: str, logs: list[dict[str, object]]
) -> None:
    site = await PostgresDatabase.connect(postgres_url)
    ran: list[str] = []

    async def record(job: Job) -> None:
        ran.append(job.kind)

    try:
        ledger = DoneLedger(site)
        async with SqliteOutbox(tmp_path / "sentiric.db") as outbox:
            ctx = booking_call()
            await enqueue_postcall(outbox, ctx)
            assert await ledger.record(ctx.call_id, "summary", "job-on-w", "worker-w")
            worker = PostcallWorker(outbox, {kind: record for kind in KINDS}, ledger=ledger)
            while await worker.run_once(block_s=0):
                pass
            statuses = {j["kind"]: j["status"] for j in await outbox.jobs_for(ctx.call_id)}
        assert sorted(ran) == ["analytics", "archive"] and set(statuses.values()) == {"done"}
        assert await ledger.done_of([ctx.call_id]) == {(ctx.call_id, kind) for kind in KINDS}
        assert not await ledger.record(ctx.call_id, "summary", "again", "host-a")  # one row per (call, kind)
    finally:
        await site.aclose()
    skipped = [e for e in logs if e["event"] == "postcall_job_skipped"]
    assert [e["kind"] for e in skipped] == ["summary"] and skipped[0]["call_id"] == ctx.call_id


async def test_an_archive_job_for_a_recording_only_this_host_has_stays_in_its_own_queue(
    redis: RedisServer, tmp_path: Path
) -> None:
    """No [storage] recordings_url: a worker on another host could not read the WAV, so the archive job goes
    to the answering host's outbox (its daemon runs it, even with workers = 0); the others go to Redis."""
    wav = tmp_path / "recordings" / "c0ffee-0001.wav"
    wav.parent.mkdir()
    write_stereo_wav(wav)
    queue = RedisStreamsQueue(redis.url, stream="sentiric:postcall")
    try:
        async with SqliteOutbox(tmp_path / "sentiric.db") as outbox:
            ctx = booking_call(recording=wav)
            await enqueue_postcall(queue, ctx, outbox)
            local = {j["kind"]: j["status"] for j in await outbox.jobs_for(ctx.call_id)}
            shared = await queue._redis.xrange(queue.stream)
            ctx.recording_url = "s3://bucket-name/c0ffee-0002.wav"  # in a shared store: any host may archive it
            ctx.call_id = "c0ffee-0002"
            await enqueue_postcall(queue, ctx, outbox)
            second = {j["kind"]: j["status"] for j in await outbox.jobs_for(ctx.call_id)}
    finally:
        await queue.aclose()
    assert local == {"summary": "standby", "archive": "pending", "analytics": "standby"}
    assert sorted(fields["kind"] for _id, fields in shared) == ["analytics", "summary"]
    assert second == {"summary": "standby", "archive": "standby", "analytics": "standby"}


async def _ran(ran: collections.Counter, call_id: str, n: int) -> bool:
    return sum(ran[(call_id, kind)] for kind in KINDS) >= n


async def _no_copies(outbox: SqliteOutbox) -> bool:
    return not await outbox.standby_jobs()
