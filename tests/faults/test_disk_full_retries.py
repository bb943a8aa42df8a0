"""A job failing because the disk is full (or read-only, or not writable by the service) waits however long
it takes, on both queue backends.

The daemon-level case (a real full tmpfs under a running daemon, Redis queue) is in
test_assistant_faults.py; this one covers the SQLite outbox too, and a full disk that outlasts every
attempt a job has: ENOSPC, EROFS and EACCES are the host's failures, not the job's, so they must never
park the job as dead (EROFS and EACCES did, after `max_attempts`: about four minutes at the defaults).
"""

from __future__ import annotations

import asyncio
import errno
import os
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


HOST_FAILURES = [
    (errno.ENOSPC, "disk space"),  # the disk is full
    (errno.EROFS, "a writable disk"),  # the archive's disk went read-only (NFS, ext4 errors=remount-ro)
    (errno.EACCES, "write permission"),  # archive_dir made by root, the service user may not write it
]


@pytest.mark.parametrize(("code", "waits_for"), HOST_FAILURES, ids=[errno.errorcode[c] for c, _ in HOST_FAILURES])
async def test_a_job_failing_on_a_full_disk_outlasts_its_attempts_and_succeeds_once_space_is_back(
    queue: JobQueue, logs: list[dict[str, object]], code: int, waits_for: str
) -> None:
    full_for = MAX_ATTEMPTS + 3
    tries: list[int] = []

    async def archive(job: Job) -> None:
        tries.append(job.attempts)
        if len(tries) <= full_for:
            raise OSError(code, os.strerror(code), "/var/lib/sentiric-pbx/archive")

    job_id = await queue.enqueue("archive", "call-disk-full", {})
    worker = PostcallWorker(queue, {"archive": archive}, name="w")
    try:
        async with asyncio.timeout(20):  # a job parked as dead is never claimed again: fail, do not hang
            while len(tries) <= full_for:
                await worker.run_once(block_s=0.2)
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"the job stopped being retried after {len(tries)} tries: {tries}")
    finally:
        await queue.aclose()

    assert len(tries) == full_for + 1 and tries[-1] > MAX_ATTEMPTS
    outcomes = [e["event"] for e in logs if str(e["event"]).startswith("postcall_job_") and e.get("job_id") == job_id]
    assert outcomes == ["postcall_job_retry"] * full_for + ["postcall_job_done"]
    retries = [e for e in logs if e["event"] == "postcall_job_retry"]
    assert all(e["waiting_for"] == waits_for and os.strerror(code) in str(e["error"]) for e in retries)
