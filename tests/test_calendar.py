"""Calendars: the built-in SQLite one on a real file, and the HTTP one against a real local server.

The business is the default one: Europe/Istanbul (+03:00), Monday–Friday 09:00–17:00, 30 minute slots.
"Today" is Wednesday 2 January 2030, 10:07.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from sentiric_pbx.config import BusinessConfig, CalendarConfig, ConfigError, Settings
from sentiric_pbx.integrations.calendar.base import Booking, CalendarError, Slot, SlotTaken
from sentiric_pbx.integrations.calendar.factory import build_calendar
from sentiric_pbx.integrations.calendar.http import HttpCalendar
from sentiric_pbx.integrations.calendar.site import SiteCalendar
from sentiric_pbx.integrations.calendar.sqlite import SqliteCalendar
from sentiric_pbx.storage.db import Database
from sentiric_pbx.storage.postgres import PostgresDatabase
from tests.postgres_server import BACKENDS, open_backend

TZ = ZoneInfo("Europe/Istanbul")
NOW = datetime(2030, 1, 2, 10, 7, tzinfo=TZ)  # a Wednesday
PHONE = "+905551112233"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A local time in January 2030 (the 3rd is a Thursday, the 5th a Saturday)."""
    return datetime(2030, 1, day, hour, minute, tzinfo=TZ)


def slot(day: int, hour: int, minute: int = 0, minutes: int = 30) -> Slot:
    start = at(day, hour, minute)
    return Slot(start, start + timedelta(minutes=minutes))


async def book(cal: SqliteCalendar | SiteCalendar | HttpCalendar, s: Slot, phone: str | None = PHONE) -> Booking:
    return await cal.book(s, customer_id=None, phone=phone, name="Ayşe Demir", call_id="call-1")


@pytest.fixture(params=BACKENDS)
async def calendar(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The built-in calendar on its SQLite file, or in the PostgreSQL site store (`SiteCalendar`)."""
    if request.param == "postgresql":
        db = await open_backend(request, tmp_path)
        yield SiteCalendar(db, BusinessConfig(), clock=lambda: NOW)
        await db.aclose()
        return
    cal = SqliteCalendar(tmp_path / "sentiric.db", BusinessConfig(), clock=lambda: NOW)
    yield cal
    await cal.aclose()


# --- SQLite: business hours -------------------------------------------------------------------------


async def test_free_slots_follow_business_hours(calendar: SqliteCalendar) -> None:
    """Thursday and Friday: 16 slots each, 09:00 first and 16:30 last; the weekend has none."""
    slots = await calendar.free_slots(at(3, 0), at(5, 0), limit=100)
    assert len(slots) == 32
    assert slots[0] == slot(3, 9)
    assert slots[15] == slot(3, 16, 30)
    assert slots[-1] == slot(4, 16, 30)
    assert all(s.start.tzinfo is not None and s.start.utcoffset() == timedelta(hours=3) for s in slots)
    assert await calendar.free_slots(at(5, 0), at(7, 0)) == []


async def test_free_slots_start_mid_day_and_respect_the_limit(calendar: SqliteCalendar) -> None:
    """Asked from 10:07, the first whole slot is 10:30; `limit` caps the answer."""
    assert await calendar.free_slots(NOW, at(3, 0), limit=2) == [slot(2, 10, 30), slot(2, 11)]


async def test_a_different_business_week(tmp_path: Path) -> None:
    """Saturday-only, 10:00–12:00, one hour slots → exactly two slots on the 5th."""
    business = BusinessConfig(open_days=[5], open_time="10:00", close_time="12:00", slot_minutes=60)
    cal = SqliteCalendar(tmp_path / "c.db", business)
    try:
        slots = await cal.free_slots(at(1, 0), at(8, 0))
    finally:
        await cal.aclose()
    assert slots == [slot(5, 10, minutes=60), slot(5, 11, minutes=60)]


async def test_a_slot_that_is_not_on_the_grid_cannot_be_booked(calendar: SqliteCalendar) -> None:
    """10:15 with 30 min slots would overlap two real slots; a Saturday slot is outside the week."""
    for bad in (slot(3, 10, 15), slot(5, 10), slot(3, 10, minutes=60)):
        with pytest.raises(CalendarError, match="not a bookable slot"):
            await book(calendar, bad)


# --- SQLite: booking ----------------------------------------------------------------------------------


async def test_a_booked_slot_is_no_longer_free(calendar: SqliteCalendar) -> None:
    booking = await book(calendar, slot(3, 15))
    assert booking.slot == slot(3, 15)
    assert (booking.phone, booking.name, booking.call_id) == (PHONE, "Ayşe Demir", "call-1")
    free = await calendar.free_slots(at(3, 0), at(4, 0), limit=100)
    assert slot(3, 15) not in free
    assert len(free) == 15


async def test_booking_the_same_slot_twice_raises_slot_taken(calendar: SqliteCalendar) -> None:
    await book(calendar, slot(3, 15))
    with pytest.raises(SlotTaken):
        await book(calendar, slot(3, 15), phone="+905559998877")


async def test_twenty_callers_race_for_one_slot_through_twenty_connections(tmp_path: Path) -> None:
    """20 calendars (20 SQLite connections, 20 threads) on one file book 15:00 at once → 1 booking, 19 SlotTaken."""
    db = tmp_path / "sentiric.db"
    calendars = [SqliteCalendar(db, BusinessConfig(), clock=lambda: NOW) for _ in range(20)]
    try:
        results = await asyncio.gather(
            *(book(cal, slot(3, 15), phone=f"+9055500000{i:02d}") for i, cal in enumerate(calendars)),
            return_exceptions=True,
        )
    finally:
        await asyncio.gather(*(cal.aclose() for cal in calendars))
    bookings = [r for r in results if isinstance(r, Booking)]
    taken = [r for r in results if isinstance(r, SlotTaken)]
    assert (len(bookings), len(taken)) == (1, 19), [r for r in results if not isinstance(r, Booking | SlotTaken)]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT phone FROM calendar_bookings WHERE cancelled_at IS NULL").fetchall()
    assert rows == [(bookings[0].phone,)]


async def test_two_tasks_sharing_one_calendar_cannot_both_book(calendar: SqliteCalendar) -> None:
    results = await asyncio.gather(book(calendar, slot(3, 15)), book(calendar, slot(3, 15)), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["Booking", "SlotTaken"]


async def test_cancel_frees_the_slot_and_it_can_be_booked_again(calendar: SqliteCalendar) -> None:
    first = await book(calendar, slot(3, 15))
    await calendar.cancel(first.booking_id)
    assert slot(3, 15) in await calendar.free_slots(at(3, 15), at(3, 16))
    again = await book(calendar, slot(3, 15), phone="+905559998877")
    assert again.booking_id != first.booking_id
    await calendar.cancel(first.booking_id)  # cancelling twice changes nothing
    assert [b.booking_id for b in await calendar.bookings_for("+905559998877")] == [again.booking_id]


async def test_bookings_for_lists_the_callers_future_bookings_earliest_first(tmp_path: Path) -> None:
    db = tmp_path / "sentiric.db"
    cal = SqliteCalendar(db, BusinessConfig(), clock=lambda: NOW)
    try:
        friday = await book(cal, slot(4, 10))
        thursday = await book(cal, slot(3, 15))
        await book(cal, slot(2, 9))  # this morning, already over at 10:07
        await book(cal, slot(3, 16), phone="+905559998877")  # someone else
        found = await cal.bookings_for(PHONE)
    finally:
        await cal.aclose()
    assert [b.booking_id for b in found] == [thursday.booking_id, friday.booking_id]
    assert found[0] == thursday


async def test_the_table_is_created_once_and_survives_a_reopen(tmp_path: Path) -> None:
    """A second daemon start on the same file sees the bookings; the table carries the calendar_ prefix."""
    db = tmp_path / "data" / "sentiric.db"
    first = SqliteCalendar(db, BusinessConfig(), clock=lambda: NOW)
    await book(first, slot(3, 15))
    await first.aclose()
    second = SqliteCalendar(db, BusinessConfig(), clock=lambda: NOW)
    try:
        assert [b.slot for b in await second.bookings_for(PHONE)] == [slot(3, 15)]
    finally:
        await second.aclose()
    with sqlite3.connect(db) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"calendar_bookings"}


async def test_a_cancelled_booking_call_leaves_no_transaction_open(tmp_path: Path) -> None:
    """A caller hanging up mid-booking cancels book(); the next booking on the file must still go through."""
    db = tmp_path / "sentiric.db"
    cal = SqliteCalendar(db, BusinessConfig(), clock=lambda: NOW, busy_timeout_ms=500)
    other = SqliteCalendar(db, BusinessConfig(), clock=lambda: NOW, busy_timeout_ms=500)
    try:
        await cal.free_slots(at(3, 0), at(4, 0))  # open the connection first
        for i in range(10):  # cancel at different points of the transaction
            attempt = asyncio.create_task(book(cal, slot(3, 9 + i // 2, 30 * (i % 2))))
            await asyncio.sleep(i * 0.0005)
            attempt.cancel()
            with contextlib.suppress(asyncio.CancelledError, SlotTaken):
                await attempt
        await book(other, slot(3, 16))
        await book(cal, slot(3, 16, 30))
    finally:
        await cal.aclose()
        await other.aclose()


# --- PostgreSQL: one site store, several hosts -----------------------------------------------------------


async def hosts(url: str, n: int) -> list[Database]:
    """`n` daemon-side stores, each with its own connection, as `n` PBX hosts would have."""
    return list(await asyncio.gather(*(PostgresDatabase.connect(url) for _ in range(n))))


async def test_twenty_hosts_race_for_one_slot_in_the_site_store(postgres_url: str) -> None:
    """20 hosts (20 connections) book 15:00 at once → 1 booking, 19 SlotTaken: the database decides."""
    dbs = await hosts(postgres_url, 20)
    calendars = [SiteCalendar(db, BusinessConfig(), clock=lambda: NOW) for db in dbs]
    try:
        results = await asyncio.gather(
            *(book(cal, slot(3, 15), phone=f"+9055500000{i:02d}") for i, cal in enumerate(calendars)),
            return_exceptions=True,
        )
        rows = await dbs[0].fetchall("SELECT phone FROM calendar_bookings WHERE cancelled_at IS NULL")
    finally:
        await asyncio.gather(*(db.aclose() for db in dbs))
    bookings = [r for r in results if isinstance(r, Booking)]
    taken = [r for r in results if isinstance(r, SlotTaken)]
    assert (len(bookings), len(taken)) == (1, 19), [r for r in results if not isinstance(r, Booking | SlotTaken)]
    assert [tuple(r) for r in rows] == [(bookings[0].phone,)]


async def test_the_constraint_alone_refuses_an_overlapping_booking(postgres_url: str) -> None:
    """An admin's script (or a host that skipped the check) inserting straight into the table: an overlap
    of another length or start is refused by the database; a cancelled booking's time is free."""
    (db,) = await hosts(postgres_url, 1)
    cal = SiteCalendar(db, BusinessConfig(), clock=lambda: NOW)
    try:
        first = await book(cal, slot(3, 15))
        start = int(slot(3, 15, 15).start.timestamp())
        insert = "INSERT INTO calendar_bookings (booking_id, start_ts, end_ts, created_at) VALUES (?, ?, ?, 0)"
        with pytest.raises(Exception, match="calendar_bookings_no_overlap"):
            await db.execute(insert, ("script", start, start + 3600))
        await cal.cancel(first.booking_id)
        assert await db.execute(insert, ("script", start, start + 3600)) == 1
        with pytest.raises(SlotTaken):
            await book(cal, slot(3, 16))
    finally:
        await db.aclose()


async def test_a_booking_made_on_one_host_is_seen_and_cancelled_from_another(postgres_url: str) -> None:
    a, b = await hosts(postgres_url, 2)
    on_a, on_b = (SiteCalendar(db, BusinessConfig(), clock=lambda: NOW) for db in (a, b))
    try:
        friday = await book(on_a, slot(4, 10))
        thursday = await book(on_b, slot(3, 15))
        await book(on_a, slot(2, 9))  # this morning, already over at 10:07
        assert [x.booking_id for x in await on_b.bookings_for(PHONE)] == [thursday.booking_id, friday.booking_id]
        assert (await on_a.bookings_for(PHONE))[1] == friday
        assert slot(4, 10) not in await on_b.free_slots(at(4, 9), at(4, 12))
        await on_b.cancel(friday.booking_id)
        assert slot(4, 10) in await on_a.free_slots(at(4, 9), at(4, 12))
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_cancelled_booking_call_leaves_no_transaction_open_in_the_site_store(postgres_url: str) -> None:
    """A caller hanging up mid-booking cancels book(); the host's next bookings (and another host's) go through."""
    a, b = await hosts(postgres_url, 2)
    cal, other = (SiteCalendar(db, BusinessConfig(), clock=lambda: NOW) for db in (a, b))
    try:
        await cal.free_slots(at(3, 0), at(4, 0))  # migrated and connected first
        for i in range(10):  # cancel at different points of the transaction
            attempt = asyncio.create_task(book(cal, slot(3, 9 + i // 2, 30 * (i % 2))))
            await asyncio.sleep(i * 0.0005)
            attempt.cancel()
            with contextlib.suppress(asyncio.CancelledError, SlotTaken):
                await attempt
        async with asyncio.timeout(10):
            await book(other, slot(3, 16))
            await book(cal, slot(3, 16, 30))
    finally:
        await a.aclose()
        await b.aclose()


# --- HTTP: a booking system on 127.0.0.1 --------------------------------------------------------------


@dataclass
class FakeBookingSystem:
    """A real HTTP/1.1 server standing in for the business's booking system.

    `replies` maps "METHOD /path" to (status, JSON body); `hang` makes every request wait forever.
    """

    replies: dict[str, tuple[int, Any]] = field(default_factory=dict)
    hang: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    async def start(self) -> FakeBookingSystem:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, target, _ = lines[0].split(" ")
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            parts = urlsplit(target)
            path = parts.path.removeprefix("/api")
            self.requests.append({"method": method, "path": path, "query": parse_qs(parts.query),
                                  "headers": headers, "json": json.loads(body) if body else None})  # fmt: skip
            if self.hang:
                await asyncio.sleep(3600)
            key = f"{method} {path}"
            status, payload = self.replies.get(key, (404, {"error": "no such route"}))
            data = json.dumps(payload).encode()
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                f"Connection: close\r\n\r\n".encode()
                + data
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


SECRET = "Bearer s3cr3t-token-do-not-log"


@pytest.fixture
async def booking_system() -> Any:
    server = await FakeBookingSystem().start()
    yield server
    await server.stop()


def http_calendar(server: FakeBookingSystem, timeout_s: float = 2.0) -> HttpCalendar:
    config = CalendarConfig(kind="http", url=server.url, auth_header=SecretStr(SECRET), timeout_s=timeout_s)
    return HttpCalendar(config, "Europe/Istanbul")


async def test_http_free_slots_are_asked_for_with_the_window_and_returned_in_local_time(
    booking_system: FakeBookingSystem,
) -> None:
    booking_system.replies["GET /slots"] = (200, {"slots": [
        {"start": "2030-01-03T13:00:00+00:00", "end": "2030-01-03T13:30:00+00:00"},
        {"start": "2030-01-03T12:00:00+00:00", "end": "2030-01-03T12:30:00+00:00"},
    ]})  # fmt: skip
    cal = http_calendar(booking_system)
    try:
        slots = await cal.free_slots(at(3, 0), at(4, 0), limit=5)
    finally:
        await cal.aclose()
    assert slots == [slot(3, 15), slot(3, 16)]
    assert str(slots[0].start.tzinfo) == "Europe/Istanbul"
    request = booking_system.requests[0]
    assert request["query"] == {"start": ["2030-01-03T00:00:00+03:00"], "end": ["2030-01-04T00:00:00+03:00"],
                                "limit": ["5"]}  # fmt: skip
    assert request["headers"]["authorization"] == SECRET


async def test_http_booking_posts_the_slot_and_the_caller(booking_system: FakeBookingSystem) -> None:
    booking_system.replies["POST /bookings"] = (201, {
        "id": "bk-42", "start": "2030-01-03T15:00:00+03:00", "end": "2030-01-03T15:30:00+03:00",
        "phone": PHONE, "name": "Ayşe Demir", "call_id": "call-1",
    })  # fmt: skip
    cal = http_calendar(booking_system)
    try:
        booking = await book(cal, slot(3, 15))
    finally:
        await cal.aclose()
    assert booking == Booking("bk-42", slot(3, 15), None, PHONE, "Ayşe Demir", "call-1")
    assert booking_system.requests[0]["json"] == {
        "start": "2030-01-03T15:00:00+03:00", "end": "2030-01-03T15:30:00+03:00", "customer_id": None,
        "phone": PHONE, "name": "Ayşe Demir", "call_id": "call-1",
    }  # fmt: skip


async def test_http_409_means_the_slot_is_taken(booking_system: FakeBookingSystem) -> None:
    booking_system.replies["POST /bookings"] = (409, {"error": "taken"})
    cal = http_calendar(booking_system)
    try:
        with pytest.raises(SlotTaken):
            await book(cal, slot(3, 15))
    finally:
        await cal.aclose()


async def test_http_500_is_a_calendar_error_and_the_secret_is_never_logged(
    booking_system: FakeBookingSystem, logs: list[dict[str, Any]]
) -> None:
    booking_system.replies["GET /slots"] = (500, {"error": "database on fire"})
    cal = http_calendar(booking_system)
    try:
        with pytest.raises(CalendarError, match="HTTP 500") as raised:
            await cal.free_slots(at(3, 0), at(4, 0))
    finally:
        await cal.aclose()
    assert [e["status"] for e in logs if e["event"] == "calendar_http_error"] == [500]
    assert "s3cr3t" not in repr(logs) and "s3cr3t" not in str(raised.value)


async def test_http_timeout_is_a_calendar_error_within_the_configured_time(booking_system: FakeBookingSystem) -> None:
    booking_system.hang = True
    cal = http_calendar(booking_system, timeout_s=0.2)
    started = time.monotonic()
    try:
        with pytest.raises(CalendarError, match="timed out"):
            await cal.bookings_for(PHONE)
    finally:
        await cal.aclose()
    assert time.monotonic() - started < 2.0


async def test_http_unreachable_is_a_calendar_error() -> None:
    with socket_that_refuses() as port:
        config = CalendarConfig(kind="http", url=f"http://127.0.0.1:{port}", timeout_s=1.0)
        cal = HttpCalendar(config, "Europe/Istanbul")
        try:
            with pytest.raises(CalendarError, match="ConnectError"):
                await cal.free_slots(at(3, 0), at(4, 0))
        finally:
            await cal.aclose()


@contextlib.contextmanager
def socket_that_refuses() -> Any:
    """A loopback port with nothing listening on it (bound, never listened, so nobody else takes it)."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


async def test_http_bookings_for_and_cancel(booking_system: FakeBookingSystem) -> None:
    booking_system.replies["GET /bookings"] = (200, [
        {"booking_id": "b2", "start": "2030-01-04T10:00:00+03:00", "end": "2030-01-04T10:30:00+03:00"},
        {"booking_id": "b1", "start": "2030-01-03T15:00:00+03:00", "end": "2030-01-03T15:30:00+03:00"},
    ])  # fmt: skip
    booking_system.replies["DELETE /bookings/b1"] = (204, None)
    cal = http_calendar(booking_system)
    try:
        found = await cal.bookings_for(PHONE)
        await cal.cancel("b1")
        await cal.cancel("gone")  # 404: already gone, not an error
    finally:
        await cal.aclose()
    assert [b.booking_id for b in found] == ["b1", "b2"]
    assert booking_system.requests[0]["query"] == {"phone": [PHONE]}
    assert [(r["method"], r["path"]) for r in booking_system.requests[1:]] == [
        ("DELETE", "/bookings/b1"),
        ("DELETE", "/bookings/gone"),
    ]


async def test_http_garbage_is_a_calendar_error(booking_system: FakeBookingSystem) -> None:
    booking_system.replies["GET /slots"] = (200, {"slots": [{"start": "tomorrow-ish", "end": "later"}]})
    cal = http_calendar(booking_system)
    try:
        with pytest.raises(CalendarError, match="ISO 8601"):
            await cal.free_slots(at(3, 0), at(4, 0))
    finally:
        await cal.aclose()


# --- factory ------------------------------------------------------------------------------------------


async def test_build_calendar_picks_the_adapter_from_config(tmp_path: Path) -> None:
    settings = Settings()
    built = build_calendar(settings, tmp_path / "sentiric.db")
    assert isinstance(built, SqliteCalendar)
    await built.aclose()
    settings.calendar = CalendarConfig(kind="http", url="http://127.0.0.1:1/api")
    built = build_calendar(settings, tmp_path / "sentiric.db")
    assert isinstance(built, HttpCalendar)
    await built.aclose()
    settings.calendar = CalendarConfig(kind="http")
    with pytest.raises(ConfigError, match=r"calendar\.url"):
        build_calendar(settings, tmp_path / "sentiric.db")
