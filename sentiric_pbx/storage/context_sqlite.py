"""`SqliteContextStore`: the embedded default — a call's context is one row of the `calls` table.

Every save upserts the whole row (the context JSON plus the columns an admin filters on: status,
caller, times, outcome), so after a crash the row holds everything up to the last completed turn.
The same store is the durable record behind Redis: `RedisContextStore.finish()` writes through here.
"""

from __future__ import annotations

import time

from sentiric_pbx.call.record import CallContext, CallStatus
from sentiric_pbx.storage.context_store import decode_context, encode_context, mark_finished
from sentiric_pbx.storage.db import Database

_UPSERT = """
INSERT INTO calls (call_id, status, caller_id, started_at, ended_at, context, summary, outcome, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(call_id) DO UPDATE SET
    status = excluded.status, caller_id = excluded.caller_id, started_at = excluded.started_at,
    ended_at = excluded.ended_at, context = excluded.context, summary = excluded.summary,
    outcome = excluded.outcome, updated_at = excluded.updated_at
"""


class SqliteContextStore:
    """Contexts in the `calls` table of the shared database. `owns_db`: close the database on `aclose()`."""

    def __init__(self, db: Database, *, owns_db: bool = False) -> None:
        self.db = db
        self._owns_db = owns_db

    async def save(self, context: CallContext) -> None:
        c = context
        params = (
            c.call_id,
            c.status,
            c.caller_id,
            c.started_at,
            c.ended_at,
            encode_context(c),
            c.summary,
            c.outcome,
            time.time(),
        )
        await self.db.execute(_UPSERT, params)

    async def load(self, call_id: str) -> CallContext | None:
        row = await self.db.fetchone("SELECT context FROM calls WHERE call_id = ?", (call_id,))
        return None if row is None else decode_context(row["context"])

    async def finish(self, context: CallContext, status: CallStatus) -> None:
        mark_finished(context, status)
        await self.save(context)

    async def list(self, status: CallStatus | None = None, limit: int = 50) -> list[CallContext]:
        if status is None:
            rows = await self.db.fetchall("SELECT context FROM calls ORDER BY started_at DESC LIMIT ?", (limit,))
        else:
            rows = await self.db.fetchall(
                "SELECT context FROM calls WHERE status = ? ORDER BY started_at DESC LIMIT ?", (status, limit)
            )
        return [decode_context(row["context"]) for row in rows]

    async def aclose(self) -> None:
        if self._owns_db:
            await self.db.aclose()
