"""`SqliteCalendar`: the built-in calendar, one table in the daemon's SQLite file.

Why double-booking is impossible here, even with two calls (or two daemons) on the same file:

1. every booking runs in `BEGIN IMMEDIATE`, which takes SQLite's single write lock *before* the
   overlap check, so check-then-insert is one atomic step across connections and processes;
2. a partial UNIQUE index on the start of every *active* booking is the last line of defence: even a
   writer that skipped the check (an admin's script) cannot put a second booking on a start time.

Cancelled bookings stay in the table (`cancelled_at` set) as history; the index ignores them, so a
cancelled slot is free again. Times are stored as UTC epoch seconds: comparisons and uniqueness then
do not depend on how an offset was spelled.

The table belongs to this module (prefix `calendar_`), created idempotently on first use, so the
calendar works on its own file or shares the daemon's database without a migration of its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import structlog

from sentiric_pbx.config import BusinessConfig
from sentiric_pbx.integrations.calendar.base import Booking, CalendarError, Slot, SlotTaken
from sentiric_pbx.integrations.calendar.hours import BusinessHours
from sentiric_pbx.storage.db import enable_wal, immediate_transaction
from sentiric_pbx.storage.private import create_private_file

log = structlog.get_logger(__name__)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS calendar_bookings (
        booking_id   TEXT PRIMARY KEY,
        start_ts     INTEGER NOT NULL,
        end_ts       INTEGER NOT NULL,
        customer_id  TEXT,
        phone        TEXT,
        name         TEXT,
        call_id      TEXT,
        created_at   REAL NOT NULL,
        cancelled_at REAL
    )""",
    """CREATE UNIQUE INDEX IF NOT EXISTS calendar_bookings_active_start
        ON calendar_bookings (start_ts) WHERE cancelled_at IS NULL""",
    "CREATE INDEX IF NOT EXISTS calendar_bookings_phone ON calendar_bookings (phone, start_ts)",
)

_COLUMNS = "booking_id, start_ts, end_ts, customer_id, phone, name, call_id"


def _ts(dt: datetime) -> int:
    if dt.tzinfo is None:
        raise ValueError("calendar times must be timezone-aware")
    return int(dt.timestamp())


def free_of(
    hours: BusinessHours, start: datetime, end: datetime, taken: list[tuple[int, int]], limit: int
) -> list[Slot]:
    """The grid slots of [start, end] that overlap none of the `taken` (start_ts, end_ts), at most `limit`."""
    free: list[Slot] = []
    for slot in hours.slots_between(start, end):
        s, e = _ts(slot.start), _ts(slot.end)
        if not any(ts < e and te > s for ts, te in taken):
            free.append(slot)
            if len(free) >= limit:
                break
    return free


class SqliteCalendar:
    """Free slots from `[business]` hours minus active bookings; atomic `book()`.

    `clock` returns "now" (aware); `bookings_for` lists only bookings that have not ended by then.
    `busy_timeout_ms` is how long a writer waits for another's transaction. Defaults to 5000 ms.
    """

    def __init__(
        self,
        db_path: Path | str,
        business: BusinessConfig,
        *,
        clock: Callable[[], datetime] | None = None,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self.db_path = Path(db_path)
        self.hours = BusinessHours(business)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._busy_timeout_ms = busy_timeout_ms
        self._db: aiosqlite.Connection | None = None
        # One aiosqlite connection runs one statement stream; two coroutines of the same call (or of
        # two calls sharing this instance) must not interleave inside one transaction.
        self._lock = asyncio.Lock()

    async def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            create_private_file(self.db_path)  # bookings hold names and numbers: 0640, not by umask
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves instead of Python's deferred BEGIN.
            db = await aiosqlite.connect(self.db_path, isolation_level=None)
            try:
                await db.execute_fetchall(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
                await self._prepare(db)
            except BaseException:
                await db.close()
                raise
            self._db = db
        return self._db

    async def _prepare(self, db: aiosqlite.Connection) -> None:
        """WAL mode (readers never wait for a booking), then the table.

        WAL through the database's own `enable_wal`: switching a new file to WAL needs it to ourselves and
        SQLite answers "locked" at once instead of waiting, so twenty connections starting together on a
        fresh file made one fail its booking ("database is locked", seen in CI); it retries within the busy
        timeout. (It fetches the PRAGMA's row: one left pending keeps a read transaction open.)
        """
        await enable_wal(db, self._busy_timeout_ms)
        await self._create_schema(db)

    @staticmethod
    async def _create_schema(db: aiosqlite.Connection) -> None:
        """Idempotent, and safe when many connections start at once.

        Inside BEGIN IMMEDIATE so the statements wait for the write lock under the busy timeout like a
        booking does, instead of starting as a reader that must later upgrade.
        """
        async with immediate_transaction(db):
            for statement in _SCHEMA:
                await db.execute(statement)

    def _slot(self, start_ts: int, end_ts: int) -> Slot:
        tz = self.hours.tz
        return Slot(datetime.fromtimestamp(start_ts, tz), datetime.fromtimestamp(end_ts, tz))

    def _booking(self, row: sqlite3.Row | tuple[Any, ...]) -> Booking:
        booking_id, start_ts, end_ts, customer_id, phone, name, call_id = row
        return Booking(booking_id, self._slot(start_ts, end_ts), customer_id, phone, name, call_id)

    async def free_slots(self, start: datetime, end: datetime, limit: int = 10) -> list[Slot]:
        """Grid slots wholly inside [start, end] that overlap no active booking, earliest first."""
        async with self._lock:
            try:
                db = await self._conn()
                async with db.execute(
                    "SELECT start_ts, end_ts FROM calendar_bookings"
                    " WHERE cancelled_at IS NULL AND start_ts < ? AND end_ts > ?",
                    (_ts(end), _ts(start)),
                ) as cur:
                    taken = [(int(s), int(e)) for s, e in await cur.fetchall()]
            except sqlite3.Error as exc:
                raise CalendarError(f"calendar database error: {exc}") from exc
        return free_of(self.hours, start, end, taken, limit)

    async def book(
        self, slot: Slot, *, customer_id: str | None, phone: str | None, name: str | None, call_id: str | None
    ) -> Booking:
        """Book `slot` atomically; `SlotTaken` if any active booking overlaps it by now."""
        if not self.hours.is_bookable(slot):
            raise CalendarError(f"not a bookable slot: {slot.start.isoformat()}–{slot.end.isoformat()}")
        booking_id = uuid.uuid4().hex
        start_ts, end_ts = _ts(slot.start), _ts(slot.end)
        async with self._lock:
            try:
                db = await self._conn()
                await self._insert(db, booking_id, start_ts, end_ts, (customer_id, phone, name, call_id))
            except SlotTaken:
                log.info("calendar_slot_taken", start=slot.start.isoformat(), call_id=call_id)
                raise
            except sqlite3.Error as exc:
                raise CalendarError(f"calendar database error: {exc}") from exc
        log.info("calendar_booked", booking_id=booking_id, start=slot.start.isoformat(), call_id=call_id)
        return Booking(booking_id, self._slot(start_ts, end_ts), customer_id, phone, name, call_id)

    @staticmethod
    async def _insert(
        db: aiosqlite.Connection, booking_id: str, start_ts: int, end_ts: int, who: tuple[str | None, ...]
    ) -> None:
        # Rolled back on cancellation too (the caller hung up mid-booking): a transaction left open would hold
        # the write lock and block every other call's booking.
        async with immediate_transaction(db):
            async with db.execute(
                "SELECT 1 FROM calendar_bookings WHERE cancelled_at IS NULL AND start_ts < ? AND end_ts > ? LIMIT 1",
                (end_ts, start_ts),
            ) as cur:
                if await cur.fetchone() is not None:
                    raise SlotTaken(f"slot starting at {start_ts} is already booked")
            try:
                await db.execute(
                    f"INSERT INTO calendar_bookings ({_COLUMNS}, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (booking_id, start_ts, end_ts, *who, time.time()),
                )
            except sqlite3.IntegrityError as exc:
                raise SlotTaken(f"slot starting at {start_ts} is already booked") from exc

    async def bookings_for(self, phone: str) -> list[Booking]:
        """The caller's active bookings that have not ended yet, earliest first."""
        async with self._lock:
            try:
                db = await self._conn()
                async with db.execute(
                    f"SELECT {_COLUMNS} FROM calendar_bookings"
                    " WHERE phone = ? AND cancelled_at IS NULL AND end_ts > ? ORDER BY start_ts",
                    (phone, _ts(self._clock())),
                ) as cur:
                    rows = await cur.fetchall()
            except sqlite3.Error as exc:
                raise CalendarError(f"calendar database error: {exc}") from exc
        return [self._booking(tuple(row)) for row in rows]

    async def cancel(self, booking_id: str) -> None:
        """Mark the booking cancelled (its slot is free again). Unknown or already cancelled: a no-op."""
        async with self._lock:
            try:
                db = await self._conn()
                cur = await db.execute(
                    "UPDATE calendar_bookings SET cancelled_at = ? WHERE booking_id = ? AND cancelled_at IS NULL",
                    (time.time(), booking_id),
                )
                changed = cur.rowcount
                await cur.close()
            except sqlite3.Error as exc:
                raise CalendarError(f"calendar database error: {exc}") from exc
        if changed:
            log.info("calendar_cancelled", booking_id=booking_id)
        else:
            log.warning("calendar_cancel_unknown", booking_id=booking_id)

    async def aclose(self) -> None:
        async with self._lock:
            if self._db is not None:
                db, self._db = self._db, None
                await db.close()
