"""The site store (PostgreSQL) beside the one-host SQLite file: the booking path and `calls list` at N stored calls.

Fills each store with N calls (the real seven-turn booking call's shape, as bench/console.py) and N/4 past
bookings, then times, R times each, on 127.0.0.1:
- booking: `free_slots()` for the next 21 days then `book()` of the first free slot (what a caller's "yes"
  costs), through the built-in calendar of each store (SqliteCalendar / SiteCalendar);
- calls list: what `sentiric-pbx calls list` does — open the call reader, read the newest 20;
- calls search: the console's caller-name search (a scan of every stored context).

The PostgreSQL server is a real one started here (tests/postgres_server.py: fsync off, as in the tests),
so the figures are the query paths', not a disk's.

    python bench/site_store.py --calls 10000 [--repeat 200] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.console import context
from sentiric_pbx.config import BusinessConfig
from sentiric_pbx.integrations.calendar.base import Calendar
from sentiric_pbx.integrations.calendar.site import SiteCalendar
from sentiric_pbx.integrations.calendar.sqlite import SqliteCalendar
from sentiric_pbx.storage.call_reader import CallFilter, CallReader
from sentiric_pbx.storage.db import Database
from sentiric_pbx.storage.postgres import PostgresDatabase
from tests.postgres_server import PostgresServer

INSERT_CALL = (
    "INSERT INTO calls (call_id, status, caller_id, started_at, ended_at, context, summary, outcome, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_BOOKING = (
    "INSERT INTO calendar_bookings (booking_id, start_ts, end_ts, phone, name, call_id, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def call_rows(n: int) -> list[tuple[Any, ...]]:
    now = time.time()
    rows = []
    for i in range(n):
        c = context(i, now)
        rows.append((c.call_id, c.status, c.caller_id, c.started_at, c.ended_at, json.dumps(c.to_dict()),
                     "summary", c.outcome, now))  # fmt: skip
    return rows


def booking_rows(n: int) -> list[tuple[Any, ...]]:
    """Past half-hour bookings, one after the other, ending before today."""
    end = int(datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
    return [(f"past-{i}", end - (i + 1) * 1800, end - i * 1800, f"+90555{i:07d}", f"Caller {i}", f"bench-{i:07d}",
             time.time()) for i in range(n)]  # fmt: skip


async def fill(db: Database, calendar: Calendar, calls: int) -> None:
    await calendar.free_slots(datetime.now(UTC), datetime.now(UTC) + timedelta(hours=1))  # creates its table
    rows, bookings = call_rows(calls), booking_rows(calls // 4)
    if isinstance(calendar, SqliteCalendar):  # its own file: the table is in the calendar's connection's file
        conn = await calendar._conn()
        await conn.executemany(INSERT_BOOKING, bookings)
    if db.dialect == "postgresql":
        import psycopg

        assert isinstance(db, PostgresDatabase)
        with psycopg.connect(db.url) as conn:
            with conn.cursor() as cur:
                cur.executemany(INSERT_CALL.replace("?", "%s"), rows)
                cur.executemany(INSERT_BOOKING.replace("?", "%s"), bookings)
            conn.execute("ANALYZE")
        return
    async with db.transaction() as conn:
        await conn.executemany(INSERT_CALL, rows)


async def timed(repeat: int, step: Callable[[int], Awaitable[Any]]) -> dict[str, float]:
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        await step(i)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 2),
        "max_ms": round(times[-1], 2),
    }


async def measure(kind: str, db: Database, calendar: Calendar, db_file: Path, url: str | None, n: int,
                  repeat: int) -> dict[str, Any]:  # fmt: skip
    started = time.perf_counter()
    await fill(db, calendar, n)
    fill_s = round(time.perf_counter() - started, 1)
    today = datetime.now(UTC)

    async def book(_: int) -> None:
        free = await calendar.free_slots(today, today + timedelta(days=21), limit=3)
        await calendar.book(free[0], customer_id=None, phone="+905551112233", name="Bench", call_id=None)

    def listed(f: CallFilter) -> Callable[[int], Awaitable[Any]]:
        async def step(_: int) -> None:
            def read() -> int:
                with CallReader.open(db_file, url, read_only=False) as reader:
                    rows, _total = reader.list_calls(f)
                return len(rows)

            assert await asyncio.to_thread(read) > 0

        return step

    return {
        "store": kind,
        "calls": n,
        "bookings_before": n // 4,
        "fill_s": fill_s,
        "booking": await timed(repeat, book),
        "calls_list_newest_20": await timed(repeat, listed(CallFilter(limit=20))),
        "calls_search_caller": await timed(max(5, repeat // 10), listed(CallFilter(caller=f"Caller {n - 7}"))),
    }


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    business = BusinessConfig(open_days=[0, 1, 2, 3, 4, 5, 6])  # every day: 200 bookings fit in 21 days
    with tempfile.TemporaryDirectory() as tmp:
        db_file = Path(tmp) / "sentiric.db"
        db = await Database.open(db_file)
        calendar = SqliteCalendar(db_file, business)
        try:
            results.append(await measure("sqlite", db, calendar, db_file, None, args.calls, args.repeat))
        finally:
            await calendar.aclose()
            await db.aclose()
        with PostgresServer() as server:
            url = server.create_database()
            site = await PostgresDatabase.connect(url)
            try:
                calendar = SiteCalendar(site, business)
                results.append(
                    await measure("postgresql", site, calendar, Path(tmp) / "absent.db", url, args.calls, args.repeat)
                )
            finally:
                await site.aclose()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = asyncio.run(main(args))
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{'store':<11} {'calls':>6}  {'what':<22} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for r in out:
            for what in ("booking", "calls_list_newest_20", "calls_search_caller"):
                t = r[what]
                figures = f"{t['p50_ms']:>8} {t['p95_ms']:>8} {t['max_ms']:>8}"
                print(f"{r['store']:<11} {r['calls']:>6}  {what:<22} {figures}")
