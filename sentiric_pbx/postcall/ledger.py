"""Which post-call jobs are done, site-wide: one row per (call, kind) in the site store.

Why: a job can reach two workers. The SIGKILL case is handled by the queues' leases; the other one is a
Redis restart without persistence. Each daemon keeps a standby copy of every job it handed to Redis
(sqlite_outbox.py) and reruns those copies when Redis comes back empty-handed — but Redis may have handed
some of them to a worker on another host before it died, and that worker's acknowledgement died with it.
The jobs are idempotent (upserts, renames), yet a rerun is not free: a second LLM summary, a second CRM
note, a second "next greeting". So a worker records each job it finishes here, in the store every host
shares, and a job whose (call, kind) is already recorded is settled without running (`postcall_job_skipped`).
The same record lets each daemon drop its standby copies of jobs any host has done.

On one host without PostgreSQL the ledger is a table in the daemon's SQLite file: same rules.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from sentiric_pbx.postcall.db import ensure_tables
from sentiric_pbx.storage.db import Database, Migration

_DDL = """
CREATE TABLE postcall_done (
    call_id  TEXT NOT NULL,
    kind     TEXT NOT NULL,
    job_id   TEXT NOT NULL,
    done_by  TEXT,
    done_at  REAL NOT NULL,
    PRIMARY KEY (call_id, kind)
);
"""

LEDGER_MIGRATIONS = (Migration(1, "done", _DDL, _DDL.replace(" REAL", " DOUBLE PRECISION")),)
"""`postcall_done` in the site store (or the one SQLite file)."""

_CHUNK = 400


class DoneLedger:
    """`is_done`/`record` per job; `done_of` for a batch of (call_id, kind) pairs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def is_done(self, call_id: str, kind: str) -> bool:
        await ensure_tables(self.db, "postcall_ledger", LEDGER_MIGRATIONS)
        row = await self.db.fetchone("SELECT 1 FROM postcall_done WHERE call_id = ? AND kind = ?", (call_id, kind))
        return row is not None

    async def record(self, call_id: str, kind: str, job_id: str, worker: str) -> bool:
        """Mark done; False if another worker recorded it first (both ran: the jobs are idempotent)."""
        await ensure_tables(self.db, "postcall_ledger", LEDGER_MIGRATIONS)
        changed = await self.db.execute(
            "INSERT INTO postcall_done (call_id, kind, job_id, done_by, done_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (call_id, kind) DO NOTHING",
            (call_id, kind, job_id, worker, time.time()),
        )
        return bool(changed)

    async def done_of(self, call_ids: Collection[str]) -> set[tuple[str, str]]:
        """The (call_id, kind) pairs done among these calls."""
        await ensure_tables(self.db, "postcall_ledger", LEDGER_MIGRATIONS)
        ids = sorted(set(call_ids))
        found: set[tuple[str, str]] = set()
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            rows = await self.db.fetchall(
                f"SELECT call_id, kind FROM postcall_done WHERE call_id IN ({', '.join('?' * len(chunk))})", chunk
            )
            found |= {(row["call_id"], row["kind"]) for row in rows}
        return found


__all__ = ["LEDGER_MIGRATIONS", "DoneLedger"]
