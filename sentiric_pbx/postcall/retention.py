"""Retention: nothing of a call is kept longer than `[storage] retention_days`, checked once a day.

Personal data may be kept only as long as it is needed (KVKK art. 4, GDPR art. 5(1)(e)); the admin
says how long with one number. Once a day (and once at start) the daemon and every `sentiric-pbx worker`
sweep: calls started before the cutoff are erased like `calls delete` does (their transcript,
recording, archive, CRM call note, analytics, next greeting, jobs, Redis copies — `erasure.py`), then
whatever outlived its call is dropped by its own date: CRM call notes, analytics rows, archive records,
finished or stuck jobs, next greetings, past bookings, archive days (by the date in their path),
stray recordings (by mtime), and Redis's dead letters. One `retention_sweep` line says what went.

CRM customers stay: they are the business's customer list, entered by the admin, and leave only with
`crm forget`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import structlog

from sentiric_pbx.aio import within
from sentiric_pbx.postcall.erasure import PersonalData

log = structlog.get_logger("sentiric_pbx.retention")

DAY_S = 86_400.0

BY_AGE: tuple[tuple[str, str, str], ...] = (
    ("crm_call_summaries", "started_at", "summaries"),
    ("analytics_calls", "computed_at", "analytics"),
    ("postcall_archive", "archived_at", "archive records"),
    ("postcall_jobs", "created_at", "queued jobs"),
    ("greetings", "written_at", "greetings"),
    ("calendar_bookings", "end_ts", "bookings"),
)
"""(table, its unix-seconds column, what the count is called): rows dropped by their own date."""


def _day_of(folder: Path, archive_dir: Path) -> date | None:
    try:
        year, month, day = folder.relative_to(archive_dir).parts
        return date(int(year), int(month), int(day))
    except ValueError:
        return None  # not one of ours: leave it alone


def sweep_archive(archive_dir: Path, retention_days: int, today: date | None = None) -> Counter[str]:
    """Delete the archive days older than `retention_days` (by the date in the path, not mtime: a restored
    backup must not make an old call look new); count the recordings and transcripts removed."""
    removed: Counter[str] = Counter()
    if not archive_dir.is_dir():
        return removed
    cutoff = (today or datetime.now(UTC).date()) - timedelta(days=retention_days)
    for folder in sorted(archive_dir.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]")):
        day = _day_of(folder, archive_dir)
        if day is None or day >= cutoff or not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file():
                removed["transcripts" if path.suffix == ".json" else "recordings"] += 1
        shutil.rmtree(folder)
        for parent in (folder.parent, folder.parent.parent):
            if parent != archive_dir and not any(parent.iterdir()):
                parent.rmdir()
    return removed


def sweep_recordings(recordings: Path, before: float) -> int:
    """Recordings left in the spool past the cutoff (their archive job died): by mtime, all they have."""
    if not recordings.is_dir():
        return 0
    removed = 0
    for path in recordings.glob("*.wav*"):
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and path.stat().st_mtime < before:
                path.unlink()
                removed += 1
    return removed


async def sweep(data: PersonalData, retention_days: int, now: float | None = None) -> Counter[str]:
    """One retention pass over everything `data` reaches; returns counts by kind and logs them in one line."""
    now = time.time() if now is None else now
    before = now - retention_days * DAY_S
    rows = await data.db.fetchall("SELECT call_id FROM calls WHERE started_at < ?", (before,))
    removed = await data.delete_calls([row["call_id"] for row in rows], search_archive=False)
    for db, tables in await data.stores():
        for table, column, what in BY_AGE:
            if table in tables:
                removed[what] += await db.execute(f"DELETE FROM {table} WHERE {column} < ?", (before,))
    today = datetime.fromtimestamp(now, UTC).date()
    removed += await asyncio.to_thread(sweep_archive, data.archive, retention_days, today)
    removed["recordings"] += await asyncio.to_thread(sweep_recordings, data.recordings, before)
    if data.queue is not None:
        removed["dead letters"] += await data.queue.expire_dead(before)
    await data.scrub()
    removed = +removed
    log.info(
        "retention_sweep",
        retention_days=retention_days,
        older_than=datetime.fromtimestamp(before, UTC).isoformat(),
        removed=dict(removed),
        total=sum(removed.values()),
    )
    return removed


async def sweep_daily(
    data: PersonalData, retention_days: int, stop_event: asyncio.Event, every_s: float = DAY_S
) -> None:
    """`sweep()` now and then every `every_s` until `stop_event` is set. A failed pass (database locked,
    Redis down) is one warning, and the next day's pass tries again: nothing here may stop the daemon."""
    while not stop_event.is_set():
        try:
            await sweep(data, retention_days)
        except Exception as exc:
            log.warning("retention_sweep_failed", error=repr(exc), retry_in_s=every_s)
        with contextlib.suppress(TimeoutError):
            await within(stop_event.wait(), every_s)


__all__ = ["BY_AGE", "sweep", "sweep_archive", "sweep_daily", "sweep_recordings"]
