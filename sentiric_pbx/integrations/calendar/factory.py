"""`build_calendar`: `[calendar] kind` → the adapter the daemon's tasks talk to."""

from __future__ import annotations

from pathlib import Path

from sentiric_pbx.config import Settings
from sentiric_pbx.integrations.calendar.base import Calendar
from sentiric_pbx.integrations.calendar.http import HttpCalendar
from sentiric_pbx.integrations.calendar.site import SiteCalendar
from sentiric_pbx.integrations.calendar.sqlite import SqliteCalendar
from sentiric_pbx.storage.db import Database


def build_calendar(settings: Settings, db_path: Path, db: Database | None = None) -> Calendar:
    """HTTP when `[calendar] kind = "http"`; else built in: in the PostgreSQL site store when the daemon's
    `db` is one (bookings shared by every host), otherwise in the SQLite file at `db_path` (its own
    connection, as always). The caller owns `aclose()`."""
    if settings.calendar.kind == "http":
        return HttpCalendar(settings.calendar, settings.business.timezone)
    if db is not None and db.dialect == "postgresql":
        return SiteCalendar(db, settings.business)
    return SqliteCalendar(db_path, settings.business)
