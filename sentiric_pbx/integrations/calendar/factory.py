"""`build_calendar`: `[calendar] kind` → the adapter the daemon's tasks talk to."""

from __future__ import annotations

from pathlib import Path

from sentiric_pbx.config import Settings
from sentiric_pbx.integrations.calendar.base import Calendar
from sentiric_pbx.integrations.calendar.http import HttpCalendar
from sentiric_pbx.integrations.calendar.sqlite import SqliteCalendar


def build_calendar(settings: Settings, db_path: Path) -> Calendar:
    """SQLite (built in, on `db_path`) unless `[calendar] kind = "http"`; the caller owns `aclose()`."""
    if settings.calendar.kind == "http":
        return HttpCalendar(settings.calendar, settings.business.timezone)
    return SqliteCalendar(db_path, settings.business)
