"""A write cancelled while it waits for SQLite's write lock must not end up holding that lock.

aiosqlite runs each statement on its connection's thread: cancelling the awaiting task does not stop a
BEGIN IMMEDIATE already handed to that thread, which takes the lock as soon as the other writer lets go.
Unless that BEGIN is rolled back, the connection keeps the one write lock of the file, and every other
writer — another process's post-call worker, the daemon recording its next call — gets "database is
locked". Seen in CI: a post-call worker stopped in the middle of its claim, and the queue was locked for
everyone after it. Each case holds the lock from a plain second connection (another process would), starts
a write through our code, cancels it while it waits, and lets the lock go.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sentiric_pbx.postcall.sqlite_outbox import SqliteOutbox
from sentiric_pbx.storage.db import Database

WAITING_S = 0.3
"""Long enough for the write to reach its BEGIN and wait there (the busy timeout is seconds)."""


async def _cancel_while_it_waits_for_the_lock(path: Path, write: Callable[[], Awaitable[object]]) -> None:
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the file's write lock
    task = asyncio.ensure_future(write())
    await asyncio.sleep(WAITING_S)
    assert not task.done(), "the write did not wait for the lock: nothing was tested"
    task.cancel()
    holder.execute("COMMIT")  # the lock is free: the cancelled BEGIN on aiosqlite's thread takes it now
    holder.close()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _free_for_another_writer(path: Path) -> None:
    other = sqlite3.connect(path, isolation_level=None, timeout=3.0)
    try:
        other.execute("BEGIN IMMEDIATE")  # "database is locked" after 3 s while anyone still holds it
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_the_post_call_queue_after_a_claim_cancelled_while_waiting_for_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    async with SqliteOutbox(path) as queue:
        await queue.enqueue("analytics", "call-1", {})
        await _cancel_while_it_waits_for_the_lock(path, lambda: queue.claim("worker-1", block_s=0.0))
        _free_for_another_writer(path)
        await queue.enqueue("analytics", "call-2", {})  # and its own next write is committed, not stuck in one
        with contextlib.closing(sqlite3.connect(path)) as reader:
            assert reader.execute("SELECT COUNT(*) FROM postcall_jobs").fetchone()[0] == 2


@pytest.mark.parametrize("cancelled", ["transaction", "enqueue"])
async def test_the_daemons_database_after_a_write_cancelled_while_waiting_for_the_lock(
    tmp_path: Path, cancelled: str
) -> None:
    path = tmp_path / "sentiric.db"
    db = await Database.open(path)
    try:
        await db.execute("CREATE TABLE notes (text TEXT)")

        async def write() -> None:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO notes VALUES ('cancelled')")

        async with SqliteOutbox(path) as queue:  # the outbox lives in the same file as the calls
            await queue.enqueue("analytics", "call-1", {})
            if cancelled == "transaction":
                await _cancel_while_it_waits_for_the_lock(path, write)
            else:
                await _cancel_while_it_waits_for_the_lock(path, lambda: queue.enqueue("analytics", "call-2", {}))
            _free_for_another_writer(path)
            await db.execute("INSERT INTO notes VALUES ('kept')")
            await queue.enqueue("analytics", "call-3", {})
            with contextlib.closing(sqlite3.connect(path)) as reader:
                assert reader.execute("SELECT text FROM notes").fetchall() == [("kept",)]
                calls = reader.execute("SELECT call_id FROM postcall_jobs ORDER BY created_at").fetchall()
                assert calls == [("call-1",), ("call-3",)], calls
    finally:
        await db.aclose()
