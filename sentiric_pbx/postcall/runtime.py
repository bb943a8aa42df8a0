"""Wiring post-call work from the configuration: which queue, which workers, for how long.

With `[storage] redis_url` the jobs go through Redis Streams, so workers on any host share them; the
local SQLite outbox is then the fallback the daemon writes to while Redis is unreachable, and one
worker drains it. Without Redis the outbox in the daemon's database file is the queue.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from sentiric_pbx.config import Settings
from sentiric_pbx.postcall.jobs import Handler
from sentiric_pbx.postcall.queue import JobQueue
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
) -> None:
    """Run `concurrency` workers on `queue` (plus one on `fallback`) until `stop_event` is set."""
    workers = [PostcallWorker(queue, handlers) for _ in range(max(1, concurrency))]
    if fallback is not None:
        workers.append(PostcallWorker(fallback, handlers))
    log.info("postcall_workers_running", workers=len(workers), queue=type(queue).__name__)
    await asyncio.gather(*(w.run(stop_event) for w in workers))
