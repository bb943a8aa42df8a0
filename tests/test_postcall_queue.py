"""The post-call queue keeps its promises on both backends: the SQLite outbox and Redis Streams.

Real files, a real redis-server on a free loopback port, real worker processes killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from sentiric_pbx.postcall.queue import Job, JobQueue
from sentiric_pbx.postcall.redis_streams import RedisStreamsQueue
from sentiric_pbx.postcall.sqlite_outbox import SqliteOutbox
from sentiric_pbx.postcall.worker import PostcallWorker

REDIS_SERVER = "/usr/bin/redis-server"
PROJECT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server: no persistence, loopback only, gone after the module."""
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(5)


QueueFactory = Callable[..., JobQueue]


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def location(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """Where this test's queue lives: a database file, or a Redis URL + a fresh stream name."""
    if backend == "sqlite":
        return str(tmp_path / "sentiric.db")
    url = request.getfixturevalue("redis_url")
    return f"{url}#test:{uuid.uuid4().hex}"


def open_queue(backend: str, location: str, **options: Any) -> JobQueue:
    if backend == "sqlite":
        return SqliteOutbox(location, poll_interval_s=0.02, **options)
    url, stream = location.split("#")
    return RedisStreamsQueue(url, stream=stream, **options)


@pytest.fixture
async def make_queue(backend: str, location: str) -> AsyncIterator[QueueFactory]:
    """Queues on the same backing store (as separate workers or processes would open them)."""
    opened: list[JobQueue] = []

    def make(**options: Any) -> JobQueue:
        queue = open_queue(backend, location, **options)
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        await queue.aclose()


async def dead_errors(queue: JobQueue) -> list[str]:
    """The last error of every dead job, whichever backend parked it."""
    if isinstance(queue, SqliteOutbox):
        import aiosqlite

        async with aiosqlite.connect(queue.db_path) as db:
            rows = await (await db.execute("SELECT last_error FROM postcall_jobs WHERE status = 'dead'")).fetchall()
        return [r[0] for r in rows]
    assert isinstance(queue, RedisStreamsQueue)
    return [d["last_error"] for d in await queue.dead_letters()]


async def test_enqueued_job_is_claimed_once_and_completed(make_queue: QueueFactory) -> None:
    queue = make_queue(lease_s=0.3)
    job_id = await queue.enqueue("summary", "call-1", {"context": {"call_id": "call-1"}})

    job = await queue.claim("w1", block_s=1.0)
    assert job is not None
    assert (job.job_id, job.kind, job.call_id, job.attempts) == (job_id, "summary", "call-1", 1)
    assert job.payload == {"context": {"call_id": "call-1"}}
    assert await queue.claim("w2", block_s=0.05) is None, "a claimed job is not handed out twice"

    await queue.complete(job)
    await asyncio.sleep(0.4)  # past the lease: a completed job must not come back
    assert await queue.claim("w2", block_s=0.05) is None


async def test_failed_job_comes_back_after_its_backoff(make_queue: QueueFactory) -> None:
    # rng=1.0 takes the top of the jitter range: delays are exactly 0.2 s, then 0.4 s.
    queue = make_queue(backoff_base_s=0.2, rng=lambda: 1.0, max_attempts=5)
    job_id = await queue.enqueue("archive", "call-2", {})

    first = await queue.claim("w1", block_s=1.0)
    assert first is not None
    await queue.fail(first, "CRM unreachable")
    assert await queue.claim("w1", block_s=0.0) is None, "not before its backoff"
    await asyncio.sleep(0.25)
    second = await queue.claim("w1", block_s=0.2)
    assert second is not None and second.job_id == job_id and second.attempts == 2

    await queue.fail(second, "CRM unreachable")
    await asyncio.sleep(0.25)
    assert await queue.claim("w1", block_s=0.0) is None, "the second delay doubles"
    await asyncio.sleep(0.25)
    third = await queue.claim("w1", block_s=0.2)
    assert third is not None and third.attempts == 3
    await queue.complete(third)


async def test_job_is_dead_after_max_attempts_with_its_last_error(make_queue: QueueFactory) -> None:
    queue = make_queue(backoff_base_s=0.01, max_attempts=2)
    await queue.enqueue("analytics", "call-3", {})

    job = await queue.claim("w1", block_s=1.0)
    assert job is not None
    await queue.fail(job, "first error")
    await asyncio.sleep(0.03)
    job = await queue.claim("w1", block_s=0.5)
    assert job is not None and job.attempts == 2
    await queue.fail(job, "disk full")

    await asyncio.sleep(0.05)
    assert await queue.claim("w1", block_s=0.05) is None
    assert await dead_errors(queue) == ["disk full"]


WORKER_PROCESS = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from tests.test_postcall_queue import open_queue
from sentiric_pbx.postcall.worker import PostcallWorker

backend, location, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])

async def stuck(job):
    marker.write_text(job.job_id)
    await asyncio.Event().wait()   # e.g. an LLM that never answers, until the process is killed

async def main():
    queue = open_queue(backend, location, lease_s=0.6)
    await PostcallWorker(queue, {"summary": stuck}, name="doomed").run(asyncio.Event())

asyncio.run(main())
"""


async def test_a_postcall_job_interrupted_by_a_restart_still_completes(
    backend: str, location: str, make_queue: QueueFactory, tmp_path: Path
) -> None:
    queue = make_queue(lease_s=0.6)
    job_id = await queue.enqueue("summary", "call-restart", {"n": 1})
    marker = tmp_path / "claimed"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER_PROCESS, backend, location, str(marker), str(PROJECT), cwd=PROJECT
    )
    try:
        deadline = time.monotonic() + 15
        while not marker.exists():
            assert proc.returncode is None, "the worker process died on its own"
            assert time.monotonic() < deadline, "the worker process never claimed the job"
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # it holds the job past one lease (renewing it) …
        assert await queue.claim("early", block_s=0.0) is None
        os.kill(proc.pid, signal.SIGKILL)  # … until the host loses power
        await asyncio.wait_for(proc.wait(), 5)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()

    done: list[Job] = []

    async def finish(job: Job) -> None:
        done.append(job)

    survivor = PostcallWorker(queue, {"summary": finish}, name="survivor")
    deadline = time.monotonic() + 5
    while not done and time.monotonic() < deadline:
        await survivor.run_once(block_s=0.2)
    assert [j.job_id for j in done] == [job_id]
    assert done[0].attempts == 2
    assert await queue.claim("later", block_s=0.0) is None
    await asyncio.sleep(0.7)
    assert await queue.claim("later", block_s=0.0) is None, "completed, so never reclaimed again"


async def test_concurrent_workers_never_run_the_same_job_twice_at_once(make_queue: QueueFactory) -> None:
    jobs = 24
    producer = make_queue(lease_s=0.6)
    for i in range(jobs):
        await producer.enqueue("analytics", f"call-{i}", {"i": i})
    running: set[str] = set()
    runs: dict[str, int] = {}
    overlaps: list[str] = []
    stop = asyncio.Event()

    async def handler(job: Job) -> None:
        if job.job_id in running:
            overlaps.append(job.job_id)
        running.add(job.job_id)
        await asyncio.sleep(0.02 + (hash(job.job_id) % 5) / 100)
        running.discard(job.job_id)
        runs[job.job_id] = runs.get(job.job_id, 0) + 1
        if sum(runs.values()) >= jobs:
            stop.set()

    # Each worker opens its own queue (connection / client), as separate processes would.
    workers = [
        PostcallWorker(make_queue(lease_s=0.6), {"analytics": handler}, name=f"w{n}", block_s=0.1) for n in range(4)
    ]
    await asyncio.wait_for(asyncio.gather(*(w.run(stop) for w in workers)), timeout=20)
    assert overlaps == []
    assert len(runs) == jobs and set(runs.values()) == {1}
    assert await producer.claim("check", block_s=0.0) is None


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """Every event, whatever level another test's CLI run left the process's structlog filtering at."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    try:
        with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as captured:
            yield captured
    finally:
        structlog.configure(**saved)


async def test_worker_logs_one_line_per_outcome_with_the_call_id(
    make_queue: QueueFactory, logs: list[dict[str, Any]]
) -> None:
    queue = make_queue(backoff_base_s=0.01, max_attempts=2)
    await queue.enqueue("summary", "call-ok", {})
    await queue.enqueue("archive", "call-bad", {})

    async def ok(job: Job) -> None:
        return None

    async def broken(job: Job) -> None:
        raise OSError("archive disk is read-only")

    worker = PostcallWorker(queue, {"summary": ok, "archive": broken}, name="w")
    for _ in range(6):
        await worker.run_once(block_s=0.1)
        await asyncio.sleep(0.03)

    outcomes = [(e["event"], e["call_id"]) for e in logs if e["event"].startswith("postcall_job_")]
    assert outcomes == [
        ("postcall_job_done", "call-ok"),
        ("postcall_job_retry", "call-bad"),
        ("postcall_job_dead", "call-bad"),
    ]
    dead = next(e for e in logs if e["event"] == "postcall_job_dead")
    assert dead["error"] == "OSError: archive disk is read-only" and dead["attempt"] == 2


async def test_a_stopping_worker_does_not_sit_out_its_claims_wait(make_queue: QueueFactory) -> None:
    """Nothing queued, the worker waits inside its claim (an hour here); the daemon stops: the worker returns
    at once instead of at the end of the wait (every daemon stop used to take up to `block_s` longer), and a
    job queued afterwards is still there for the next worker."""
    queue = make_queue()
    stop = asyncio.Event()
    running = asyncio.create_task(PostcallWorker(queue, {}, name="w", block_s=3600).run(stop))
    await asyncio.sleep(0.3)
    assert not running.done()
    stop.set()
    async with asyncio.timeout(10):
        await running
    await make_queue().enqueue("summary", "call-after-stop", {})
    job = await make_queue().claim("next", 1.0)
    assert job is not None and job.call_id == "call-after-stop"
