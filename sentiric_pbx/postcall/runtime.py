"""Wiring post-call work from the configuration: which queue, which workers, for how long.

With `[storage] redis_url` the jobs go through Redis Streams, so workers on any host share them; the
local SQLite outbox is then the fallback the daemon writes to while Redis is unreachable, and one
worker drains it. Without Redis the outbox in the daemon's database file is the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import structlog

from sentiric_pbx.aio import within
from sentiric_pbx.config import Settings
from sentiric_pbx.postcall.jobs import Handler
from sentiric_pbx.postcall.ledger import DoneLedger
from sentiric_pbx.postcall.queue import Job, JobQueue
from sentiric_pbx.postcall.redis_streams import RedisStreamsQueue
from sentiric_pbx.postcall.sqlite_outbox import SqliteOutbox
from sentiric_pbx.postcall.worker import PostcallWorker

log = structlog.get_logger("sentiric_pbx.postcall")


def open_queues(settings: Settings, db_path: Path) -> tuple[JobQueue, SqliteOutbox | None]:
    """(queue, local fallback): Redis Streams + the SQLite outbox, or the outbox alone."""
    outbox = SqliteOutbox.from_config(db_path, settings.postcall)
    if settings.storage.redis_url:
        return RedisStreamsQueue.from_config(settings.storage.redis_url, settings.postcall), outbox
    return outbox, None


async def serve_workers(
    queue: JobQueue,
    handlers: dict[str, Handler],
    stop_event: asyncio.Event,
    *,
    concurrency: int = 1,
    fallback: JobQueue | None = None,
    ledger: DoneLedger | None = None,
) -> None:
    """Run `concurrency` workers on `queue` (plus one on `fallback`) until `stop_event` is set.

    With Redis and the outbox, also the guard that runs the standby copies of jobs a restarted Redis
    lost (`guard_redis_restarts`); a job done here drops its copy at once, one done on another host
    when the guard sees it in the `ledger`. `concurrency` 0 (a daemon with `[postcall] workers = 0`)
    runs no worker on the shared queue, but still this host's own: the outbox (jobs queued while Redis
    was down, archive jobs of recordings only this host has) and the recovered standby copies.
    """
    runs = []
    if isinstance(queue, RedisStreamsQueue) and isinstance(fallback, SqliteOutbox):
        outbox = fallback
        handlers = {kind: _forgetting(handler, outbox) for kind, handler in handlers.items()}
        runs.append(guard_redis_restarts(queue, outbox, stop_event, ledger=ledger))
    workers = [PostcallWorker(queue, handlers, ledger=ledger) for _ in range(max(0, concurrency))]
    runs += [w.run(stop_event) for w in workers]
    if fallback is not None:
        runs.append(PostcallWorker(fallback, handlers, ledger=ledger).run(stop_event))
    log.info("postcall_workers_running", workers=len(workers) + (fallback is not None), queue=type(queue).__name__)
    await asyncio.gather(*runs)


def _forgetting(handler: Handler, outbox: SqliteOutbox) -> Handler:
    """`handler`, then drop the job's standby copy: a job done here needs no rerun if Redis restarts."""

    async def run(job: Job) -> None:
        await handler(job)
        await outbox.forget(job.job_id)

    return run


async def guard_redis_restarts(
    queue: RedisStreamsQueue,
    outbox: SqliteOutbox,
    stop_event: asyncio.Event,
    every_s: float = 1.0,
    ledger: DoneLedger | None = None,
) -> None:
    """Every `every_s`, drop the standby copies of jobs the `ledger` says some host has done, then ask
    Redis its run_id; the remaining copies of jobs a previous run was given are queued locally
    (`SqliteOutbox.redis_restarted`). While Redis is down there is nothing to compare."""
    while not stop_event.is_set():
        try:
            if ledger is not None:
                await drop_done_copies(outbox, ledger)
            await outbox.redis_restarted(await queue.run_id())
        except Exception as exc:  # Redis unreachable (the workers log that) or the file busy: next round
            log.debug("postcall_redis_guard_skipped", error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await within(stop_event.wait(), every_s)


async def drop_done_copies(outbox: SqliteOutbox, ledger: DoneLedger) -> int:
    """Delete the standby copies of jobs any host has recorded done (the ack that died with Redis is in
    the ledger, in the site store). Returns how many went."""
    copies = await outbox.standby_jobs()
    if not copies:
        return 0
    done = await ledger.done_of({call_id for _job, call_id, _kind in copies})
    gone = [job_id for job_id, call_id, kind in copies if (call_id, kind) in done]
    if gone:
        await outbox.forget(*gone)
    return len(gone)
