"""`SqliteOutbox`: the default post-call queue, a table in the daemon's SQLite file.

Why a table and not an in-memory queue: the seed promises the summary reaches the CRM and the
recording reaches the archive even if the daemon is restarted (or killed) in between. A row written
in the same file as the call survives all of that, and needs nothing installed.

The life of a row: `pending` → `claimed` (by one worker, with a lease) → `done`; or back to
`pending` with a later `due_at` after a failure; or `dead` after `max_attempts`, with the last
error kept for the admin. With Redis as the queue, a row is also the `standby` copy of a job handed
to Redis, queued here only if that Redis restarts (and may have lost it) within `STANDBY_S`.
A worker that dies holding a job never completes it, so its lease runs out and the next `claim()`
takes the job over; `attempts` counts every claim, which also makes it
the fencing token: a worker whose lease was taken over can no longer complete or fail the job.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite
import structlog

from sentiric_pbx.aio import within
from sentiric_pbx.config import PostcallConfig
from sentiric_pbx.postcall.backoff import TRANSIENT_CAP_S, backoff_delay_s
from sentiric_pbx.postcall.queue import Job
from sentiric_pbx.storage.db import immediate_transaction
from sentiric_pbx.storage.private import create_private_file

log = structlog.get_logger("sentiric_pbx.postcall.outbox")

SCHEMA = """
CREATE TABLE IF NOT EXISTS postcall_jobs (
    job_id      TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    call_id     TEXT NOT NULL,
    payload     TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending',   -- pending | claimed | done | dead
    attempts    INTEGER NOT NULL DEFAULT 0,        -- claims so far, also the fencing token
    due_at      REAL NOT NULL,                     -- unix seconds; not claimable before
    claimed_by  TEXT,
    lease_until REAL,
    last_error  TEXT,
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS postcall_jobs_status_due ON postcall_jobs (status, due_at);
CREATE INDEX IF NOT EXISTS postcall_jobs_call ON postcall_jobs (call_id);
"""


STANDBY_S = 600.0
"""How long the copy of a job handed to Redis is kept, in case that Redis dies and forgets it (see
`stand_by`). A job still in Redis's retry schedule after that is lost with it; none waits that long
unless its handler keeps failing."""


class SqliteOutbox:
    """A `JobQueue` in a SQLite file, safe across coroutines, processes and restarts.

    max_attempts: claims before a job is parked as `dead`. Defaults to 8.
    backoff_base_s: first retry delay (doubling, jittered, capped at backoff_cap_s). Defaults to 2 s.
    lease_s: how long a claim holds before another worker may take the job over. Defaults to 60 s;
        a worker extends it with `heartbeat()` while a long job runs.
    poll_interval_s: how often `claim()` looks for work enqueued by other processes. Defaults to 0.25 s.
    """

    def __init__(
        self,
        db_path: Path | str,
        *,
        max_attempts: int = 8,
        backoff_base_s: float = 2.0,
        backoff_cap_s: float = 3600.0,
        lease_s: float = 60.0,
        poll_interval_s: float = 0.25,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.db_path = Path(db_path)
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.lease_s = lease_s
        self.poll_interval_s = poll_interval_s
        self._clock = clock
        self._rng = rng
        self._db: aiosqlite.Connection | None = None
        # One connection per outbox: transactions on it must not interleave between coroutines.
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()

    @classmethod
    def from_config(cls, db_path: Path | str, config: PostcallConfig, **kwargs: Any) -> SqliteOutbox:
        options = config.model_dump(include={"max_attempts", "backoff_base_s", "lease_s"})
        return cls(db_path, **(options | kwargs))

    async def __aenter__(self) -> SqliteOutbox:
        await self._conn()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            create_private_file(self.db_path)  # jobs carry whole calls: 0640, not by umask
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so the write lock is taken
            # before the SELECT that picks a job (a deferred transaction could pick the same row as
            # another process and then fail to upgrade).
            db = await aiosqlite.connect(self.db_path, isolation_level=None)
            await db.execute("PRAGMA busy_timeout = 10000")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.executescript(SCHEMA)
            self._db = db
        return self._db

    async def enqueue(self, kind: str, call_id: str, payload: dict[str, Any]) -> str:
        job_id = uuid.uuid4().hex
        now = self._clock()
        async with self._lock, immediate_transaction(await self._conn()) as db:
            await db.execute(
                "INSERT INTO postcall_jobs (job_id, kind, call_id, payload, due_at, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (job_id, kind, call_id, json.dumps(payload, ensure_ascii=False), now, now, now),
            )
        self._wakeup.set()
        return job_id

    async def claim(self, worker: str, block_s: float = 1.0) -> Job | None:
        """The next due job, or one whose lease ran out; waits up to `block_s` for one to appear."""
        deadline = time.monotonic() + block_s
        while True:
            self._wakeup.clear()
            job = await self._claim_once(worker)
            remaining = deadline - time.monotonic()
            if job is not None or remaining <= 0:
                return job
            try:
                await within(self._wakeup.wait(), min(self.poll_interval_s, remaining))
            except TimeoutError:
                pass

    async def _claim_once(self, worker: str) -> Job | None:
        now = self._clock()
        async with self._lock, immediate_transaction(await self._conn()) as db:
            await self._bury_crash_loops(db, now)
            cur = await db.execute(
                "SELECT job_id, status, claimed_by FROM postcall_jobs"
                " WHERE (status = 'pending' AND due_at <= ?) OR (status = 'claimed' AND lease_until <= ?)"
                " ORDER BY due_at LIMIT 1",
                (now, now),
            )
            picked = await cur.fetchone()
            row = None
            if picked is not None:
                cur = await db.execute(
                    "UPDATE postcall_jobs SET status = 'claimed', claimed_by = ?, lease_until = ?,"
                    " attempts = attempts + 1, updated_at = ? WHERE job_id = ?"
                    " RETURNING job_id, kind, call_id, payload, attempts",
                    (worker, now + self.lease_s, now, picked[0]),
                )
                row = await cur.fetchone()
        if row is None:
            return None
        if picked is not None and picked[1] == "claimed":
            log.warning("postcall_job_reclaimed", job_id=row[0], call_id=row[2], previous_worker=picked[2])
        return Job(job_id=row[0], kind=row[1], call_id=row[2], payload=json.loads(row[3]), attempts=row[4])

    async def _bury_crash_loops(self, db: aiosqlite.Connection, now: float) -> None:
        """A job whose worker died on every one of its attempts (it kills the process?) goes dead."""
        cur = await db.execute(
            "UPDATE postcall_jobs SET status = 'dead', claimed_by = NULL, lease_until = NULL, updated_at = ?,"
            " last_error = 'worker lost (lease expired) on attempt ' || attempts"
            " WHERE status = 'claimed' AND lease_until <= ? AND attempts >= ? RETURNING job_id, call_id, kind",
            (now, now, self.max_attempts),
        )
        for job_id, call_id, kind in await cur.fetchall():
            log.error("postcall_job_dead", job_id=job_id, call_id=call_id, kind=kind, error="lease expired")

    async def _update_owned(self, job: Job, sql: str, params: tuple[Any, ...]) -> bool:
        """Run an UPDATE only while `job` is still ours (claimed, same attempt number)."""
        async with self._lock:
            db = await self._conn()
            cur = await db.execute(
                sql + " WHERE job_id = ? AND status = 'claimed' AND attempts = ?", (*params, job.job_id, job.attempts)
            )
            changed = cur.rowcount > 0
        if not changed:
            log.warning("postcall_job_lease_lost", job_id=job.job_id, call_id=job.call_id, attempt=job.attempts)
        return changed

    async def complete(self, job: Job) -> None:
        await self._update_owned(
            job,
            # The payload (a whole call context) is dropped once done: the call's record keeps it.
            "UPDATE postcall_jobs SET status = 'done', payload = '{}', claimed_by = NULL, lease_until = NULL,"
            " updated_at = ?",
            (self._clock(),),
        )

    async def fail(self, job: Job, error: str, transient: bool = False) -> None:
        now = self._clock()
        if job.attempts >= self.max_attempts and not transient:
            await self._update_owned(
                job,
                "UPDATE postcall_jobs SET status = 'dead', claimed_by = NULL, lease_until = NULL,"
                " last_error = ?, updated_at = ?",
                (error, now),
            )
            return
        cap = min(self.backoff_cap_s, TRANSIENT_CAP_S) if transient else self.backoff_cap_s
        delay = backoff_delay_s(job.attempts, self.backoff_base_s, cap, self._rng)
        await self._update_owned(
            job,
            "UPDATE postcall_jobs SET status = 'pending', claimed_by = NULL, lease_until = NULL,"
            " last_error = ?, due_at = ?, updated_at = ?",
            (error, now + delay, now),
        )

    async def heartbeat(self, job: Job) -> bool:
        """Extend the lease of a job still running; False if another worker has taken it over."""
        return await self._update_owned(
            job, "UPDATE postcall_jobs SET lease_until = ?", (self._clock() + self.lease_s,)
        )

    async def stand_by(self, job_id: str, kind: str, call_id: str, payload: dict[str, Any], redis_run: str) -> None:
        """Keep a copy of a job just handed to Redis (`redis_run`: that Redis's run_id), not claimable.

        Redis without fsync'd persistence forgets what it was given when it is killed; the copy lets
        `redis_restarted()` hand the job to the local worker instead. Stored as status `standby`, the
        run_id in `claimed_by`, the end of the guard window in `due_at`.
        """
        now = self._clock()
        async with self._lock:
            db = await self._conn()
            await db.execute(
                "INSERT OR IGNORE INTO postcall_jobs (job_id, kind, call_id, payload, status, claimed_by, due_at,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, 'standby', ?, ?, ?, ?)",
                (job_id, kind, call_id, json.dumps(payload, ensure_ascii=False), redis_run, now + STANDBY_S, now, now),
            )

    async def forget(self, *job_ids: str) -> None:
        """Drop the standby copies of jobs that have been done (here, or by any host: runtime.py)."""
        async with self._lock:
            db = await self._conn()
            await db.executemany(
                "DELETE FROM postcall_jobs WHERE job_id = ? AND status = 'standby'", [(j,) for j in job_ids]
            )

    async def standby_jobs(self) -> list[tuple[str, str, str]]:
        """(job_id, call_id, kind) of every standby copy."""
        async with self._lock:
            db = await self._conn()
            cur = await db.execute("SELECT job_id, call_id, kind FROM postcall_jobs WHERE status = 'standby'")
            return [(r[0], r[1], r[2]) for r in await cur.fetchall()]

    async def redis_restarted(self, current_run: str) -> int:
        """Redis now runs as `current_run`: queue the standby copies it may have lost; drop expired ones.

        A copy made under another run_id was given to a Redis that has since restarted: it runs here
        (jobs are idempotent, so one Redis did finish before dying costs a rerun, never a second effect).
        Returns how many copies were queued.
        """
        now = self._clock()
        async with self._lock:
            db = await self._conn()
            cur = await db.execute(
                "UPDATE postcall_jobs SET status = 'pending', claimed_by = NULL, due_at = ?, updated_at = ?,"
                " last_error = 'Redis restarted before the job was known done' WHERE status = 'standby'"
                " AND claimed_by != ? RETURNING job_id",
                (now, now, current_run),
            )
            recovered = len(await cur.fetchall())
            await db.execute(
                "DELETE FROM postcall_jobs WHERE status = 'standby' AND claimed_by = ? AND due_at <= ?",
                (current_run, now),
            )
        if recovered:
            self._wakeup.set()
            log.warning("postcall_jobs_recovered", jobs=recovered, reason="Redis restarted and may have lost them")
        return recovered

    async def jobs_for(self, call_id: str) -> list[dict[str, Any]]:
        """Every job of one call with its status, attempts and last error (for `calls show`, tests)."""
        async with self._lock:
            db = await self._conn()
            cur = await db.execute(
                "SELECT job_id, kind, status, attempts, due_at, claimed_by, last_error FROM postcall_jobs"
                " WHERE call_id = ? ORDER BY created_at",
                (call_id,),
            )
            rows = await cur.fetchall()
        keys = ("job_id", "kind", "status", "attempts", "due_at", "claimed_by", "last_error")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    async def aclose(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()
