"""Short-lived aiosqlite connections for the post-call tables (`postcall_*`, `analytics_*`), and the
one-time migration of a post-call table into the daemon's `Database` (the PostgreSQL site store).

The post-call jobs write once per call, so a connection per write is cheap and keeps no state to
share between worker coroutines. The tables live in the daemon's database file next to the calls
(the storage layer owns `calls`; we only ever create our own prefixed tables, idempotently).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from sentiric_pbx.storage.db import Database, Migration
from sentiric_pbx.storage.private import create_private_file

_MIGRATED: weakref.WeakKeyDictionary[Database, set[str]] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def connect(db_path: Path | str, schema: str) -> AsyncIterator[aiosqlite.Connection]:
    """Open `db_path`, make sure `schema` (CREATE … IF NOT EXISTS statements) exists, commit on exit."""
    create_private_file(Path(db_path))  # a worker may create the file first: 0640, not by umask
    async with aiosqlite.connect(db_path) as db:
        await db.execute("PRAGMA busy_timeout = 10000")
        await db.executescript(schema)
        yield db
        await db.commit()


async def ensure_tables(db: Database, component: str, migrations: Sequence[Migration]) -> None:
    """Apply `component`'s migrations to `db` once per open database (a job per call must not re-check)."""
    done = _MIGRATED.setdefault(db, set())
    if component not in done:
        await db.migrate(component, migrations)
        done.add(component)
