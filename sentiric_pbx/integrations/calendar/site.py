"""`SiteCalendar`: the built-in calendar in the daemon's `Database` — the PostgreSQL site store several
PBX hosts share (`[storage] database_url`), or a SQLite file.

Why double-booking is impossible across hosts: the table carries an **exclusion constraint** on PostgreSQL,
`EXCLUDE USING gist (int8range(start_ts, end_ts) WITH &&) WHERE (cancelled_at IS NULL)`: the database
itself refuses a second active booking that overlaps the first, whichever host, connection or admin's
script writes it. Two hosts inserting the same slot at once: the second insert waits for the first's
transaction and, once it commits, fails with `exclusion_violation` → `SlotTaken`, and the caller hears
"that time is taken" exactly as on one host. (The overlap check before the insert only answers sooner.)
On SQLite the same code runs under BEGIN IMMEDIATE with the partial unique index, as `SqliteCalendar`.

The table is the "calendar" component's migration, applied by the first use on each database; cancelled
bookings stay as history, times are UTC epoch seconds (see `sqlite.py`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog

from sentiric_pbx.config import BusinessConfig
from sentiric_pbx.integrations.calendar.base import Booking, CalendarError, Slot, SlotTaken
from sentiric_pbx.integrations.calendar.hours import BusinessHours
from sentiric_pbx.integrations.calendar.sqlite import _COLUMNS, _SCHEMA, _ts, free_of
from sentiric_pbx.storage.db import DB_ERRORS, INTEGRITY_ERRORS, Database, DatabaseError, Migration

log = structlog.get_logger(__name__)

CALENDAR_MIGRATIONS = (
    Migration(
        1,
        "bookings",
        ";\n".join(_SCHEMA) + ";",
        """
        CREATE TABLE calendar_bookings (
            booking_id   TEXT PRIMARY KEY,
            start_ts     BIGINT NOT NULL,
            end_ts       BIGINT NOT NULL,
            customer_id  TEXT,
            phone        TEXT,
            name         TEXT,
            call_id      TEXT,
            created_at   DOUBLE PRECISION NOT NULL,
            cancelled_at DOUBLE PRECISION,
            CONSTRAINT calendar_bookings_positive CHECK (end_ts > start_ts),
            CONSTRAINT calendar_bookings_no_overlap
                EXCLUDE USING gist (int8range(start_ts, end_ts) WITH &&) WHERE (cancelled_at IS NULL)
        );
        CREATE INDEX calendar_bookings_phone ON calendar_bookings (phone, start_ts);
        """,
    ),
)


class SiteCalendar:
    """The `Calendar` protocol over the daemon's database (not closed here: the daemon owns it)."""

    def __init__(
        self, db: Database, business: BusinessConfig, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.db = db
        self.hours = BusinessHours(business)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._migrated = asyncio.Lock()
        self._ready = False

    async def _prepare(self) -> None:
        if self._ready:
            return
        async with self._migrated:
            if not self._ready:
                await self.db.migrate("calendar", CALENDAR_MIGRATIONS)
                self._ready = True

    def _slot(self, start_ts: int, end_ts: int) -> Slot:
        tz = self.hours.tz
        return Slot(datetime.fromtimestamp(start_ts, tz), datetime.fromtimestamp(end_ts, tz))

    def _booking(self, row: Any) -> Booking:
        booking_id, start_ts, end_ts, customer_id, phone, name, call_id = tuple(row)
        return Booking(booking_id, self._slot(int(start_ts), int(end_ts)), customer_id, phone, name, call_id)

    async def free_slots(self, start: datetime, end: datetime, limit: int = 10) -> list[Slot]:
        """Grid slots wholly inside [start, end] that overlap no active booking, earliest first."""
        try:
            await self._prepare()
            rows = await self.db.fetchall(
                "SELECT start_ts, end_ts FROM calendar_bookings"
                " WHERE cancelled_at IS NULL AND start_ts < ? AND end_ts > ?",
                (_ts(end), _ts(start)),
            )
        except (*DB_ERRORS, DatabaseError) as exc:
            raise CalendarError(f"calendar database error: {exc}") from exc
        return free_of(self.hours, start, end, [(int(s), int(e)) for s, e in rows], limit)

    async def book(
        self, slot: Slot, *, customer_id: str | None, phone: str | None, name: str | None, call_id: str | None
    ) -> Booking:
        """Book `slot` atomically; `SlotTaken` if any active booking overlaps it by now (on any host)."""
        if not self.hours.is_bookable(slot):
            raise CalendarError(f"not a bookable slot: {slot.start.isoformat()}–{slot.end.isoformat()}")
        booking_id = uuid.uuid4().hex
        start_ts, end_ts = _ts(slot.start), _ts(slot.end)
        try:
            await self._prepare()
            async with self.db.transaction() as conn:
                cursor = await conn.execute(
                    "SELECT 1 FROM calendar_bookings"
                    " WHERE cancelled_at IS NULL AND start_ts < ? AND end_ts > ? LIMIT 1",
                    (end_ts, start_ts),
                )
                overlapping = await cursor.fetchone()
                await cursor.close()
                if overlapping is not None:
                    raise SlotTaken(f"slot starting at {start_ts} is already booked")
                try:
                    cursor = await conn.execute(
                        f"INSERT INTO calendar_bookings ({_COLUMNS}, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (booking_id, start_ts, end_ts, customer_id, phone, name, call_id, time.time()),
                    )
                    await cursor.close()
                except INTEGRITY_ERRORS as exc:  # the constraint: another host's booking won the race
                    raise SlotTaken(f"slot starting at {start_ts} is already booked") from exc
        except SlotTaken:
            log.info("calendar_slot_taken", start=slot.start.isoformat(), call_id=call_id)
            raise
        except (*DB_ERRORS, DatabaseError) as exc:
            raise CalendarError(f"calendar database error: {exc}") from exc
        log.info("calendar_booked", booking_id=booking_id, start=slot.start.isoformat(), call_id=call_id)
        return Booking(booking_id, self._slot(start_ts, end_ts), customer_id, phone, name, call_id)

    async def bookings_for(self, phone: str) -> list[Booking]:
        """The caller's active bookings that have not ended yet, earliest first."""
        try:
            await self._prepare()
            rows = await self.db.fetchall(
                f"SELECT {_COLUMNS} FROM calendar_bookings"
                " WHERE phone = ? AND cancelled_at IS NULL AND end_ts > ? ORDER BY start_ts",
                (phone, _ts(self._clock())),
            )
        except (*DB_ERRORS, DatabaseError) as exc:
            raise CalendarError(f"calendar database error: {exc}") from exc
        return [self._booking(row) for row in rows]

    async def cancel(self, booking_id: str) -> None:
        """Mark the booking cancelled (its slot is free again). Unknown or already cancelled: a no-op."""
        try:
            await self._prepare()
            changed = await self.db.execute(
                "UPDATE calendar_bookings SET cancelled_at = ? WHERE booking_id = ? AND cancelled_at IS NULL",
                (time.time(), booking_id),
            )
        except (*DB_ERRORS, DatabaseError) as exc:
            raise CalendarError(f"calendar database error: {exc}") from exc
        if changed:
            log.info("calendar_cancelled", booking_id=booking_id)
        else:
            log.warning("calendar_cancel_unknown", booking_id=booking_id)

    async def aclose(self) -> None:
        """The database is the daemon's, shared; whoever opened it closes it."""
        return None
