"""Short-lived aiosqlite connections for the post-call tables (`postcall_*`, `analytics_*`).

The post-call jobs write once per call, so a connection per write is cheap and keeps no state to
share between worker coroutines. The tables live in the daemon's database file next to the calls
(the storage layer owns `calls`; we only ever create our own prefixed tables, idempotently).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from sentiric_pbx.storage.private import create_private_file


@asynccontextmanager
async def connect(db_path: Path | str, schema: str) -> AsyncIterator[aiosqlite.Connection]:
    """Open `db_path`, make sure `schema` (CREATE … IF NOT EXISTS statements) exists, commit on exit."""
    create_private_file(Path(db_path))  # a worker may create the file first: 0640, not by umask
    async with aiosqlite.connect(db_path) as db:
        await db.execute("PRAGMA busy_timeout = 10000")
        await db.executescript(schema)
        yield db
        await db.commit()
