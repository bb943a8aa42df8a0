"""A job failing because the disk is full waits for space however long it takes, on both queue backends.

The daemon-level case (a real full tmpfs under a running daemon, Redis queue) is in
test_assistant_faults.py; this one covers the SQLite outbox too, and a full disk that outlasts every
attempt a job has: ENOSPC is the host's failure, not the job's, so it must never park the job as dead.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentiric_pbx.postcall.queue import Job, JobQueue
from sentiric_pbx.postcall.redis_streams import RedisStreamsQueue
from sentiric_pbx.postcall.sqlite_outbox import SqliteOutbox
from sentiric_pbx.postcall.worker import PostcallWorker
from tests.redis_server import RedisServer

MAX_ATTEMPTS = 2


@pytest.fixture(params=["sqlite", "redis"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobQueue]:
    if request.param == "sqlite":
        yield SqliteOutbox(
            tmp_path / "sentiric.db", max_attempts=MAX_ATTEMPTS, backoff_base_s=0.02, poll_interval_s=0.01
        )
        return
    with RedisServer(tmp_path / "redis") as server:
        yield RedisStreamsQueue(server.url, max_attempts=MAX_ATTEMPTS, backoff_base_s=0.02)


async def test_a_job_failing_on_a_full_disk_outlasts_its_attempts_and_succeeds_once_space_is_back(
    queue: JobQueue, logs: list[dict[str, object]]
) -> None:
    full_for = MAX_ATTEMPTS + 3
    tries: list[int] = []

    async def archive(job: Job) -> None:
        tries.append(job.attempts)
        if len(tries) <= full_for:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/var/lib/sentiric-pbx/archive")

    job_id = await queue.enqueue("archive", "call-disk-full", {})
    worker = PostcallWorker(queue, {"archive": archive}, name="w")
    deadline = time.monotonic() + 20
    while len(tries) <= full_for:
        assert time.monotonic() < deadline, tries
        await worker.run_once(block_s=0.2)
        await asyncio.sleep(0.02)
    await queue.aclose()

    assert len(tries) == full_for + 1 and tries[-1] > MAX_ATTEMPTS
    outcomes = [e["event"] for e in logs if str(e["event"]).startswith("postcall_job_") and e.get("job_id") == job_id]
    assert outcomes == ["postcall_job_retry"] * full_for + ["postcall_job_done"]
    retries = [e for e in logs if e["event"] == "postcall_job_retry"]
    assert all(e["waiting_for"] == "disk space" and "No space left on device" in str(e["error"]) for e in retries)
