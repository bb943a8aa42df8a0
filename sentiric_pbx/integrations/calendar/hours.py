"""`BusinessHours`: the slot grid the business works on, derived from `[business]`.

One place decides what a bookable slot is — open weekday, inside opening time, aligned to
`slot_minutes` from `open_time` — so the SQLite calendar (which generates slots) and the tasks
(which must say "we are closed then" before asking any calendar) can never disagree.

Slots are built from *wall-clock* minutes in the business timezone (09:00, 09:30, …) rather than by
adding timedeltas to an aware datetime, so a DST change moves no appointment to 08:30.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sentiric_pbx.config import BusinessConfig
from sentiric_pbx.integrations.calendar.base import Slot


class BusinessHours:
    """The business's week: `BusinessConfig` → slot grid, open/closed checks.

    Example (defaults: Mon–Fri 09:00–17:00, 30 min slots, Europe/Istanbul):
    `day_slots(date(2026, 11, 26))` → 16 slots, 09:00–09:30 … 16:30–17:00 (+03:00).
    """

    def __init__(self, business: BusinessConfig) -> None:
        self.tz = ZoneInfo(business.timezone)
        self.open_time = time.fromisoformat(business.open_time)
        self.close_time = time.fromisoformat(business.close_time)
        self.open_days = frozenset(business.open_days)
        self.slot_minutes = business.slot_minutes

    @property
    def slot_length(self) -> timedelta:
        return timedelta(minutes=self.slot_minutes)

    def local(self, dt: datetime) -> datetime:
        """`dt` in the business timezone (naive input is taken as already local)."""
        return dt.replace(tzinfo=self.tz) if dt.tzinfo is None else dt.astimezone(self.tz)

    def _at(self, day: date, minute_of_day: int) -> datetime:
        return datetime.combine(day, time(minute_of_day // 60, minute_of_day % 60), tzinfo=self.tz)

    def day_slots(self, day: date) -> list[Slot]:
        """Every grid slot of `day`, earliest first; empty on a closed weekday."""
        if day.weekday() not in self.open_days:
            return []
        first = self.open_time.hour * 60 + self.open_time.minute
        last = self.close_time.hour * 60 + self.close_time.minute
        return [
            Slot(self._at(day, m), self._at(day, m + self.slot_minutes))
            for m in range(first, last - self.slot_minutes + 1, self.slot_minutes)
        ]

    def slots_between(self, start: datetime, end: datetime) -> Iterator[Slot]:
        """Grid slots lying wholly inside [start, end], earliest first."""
        day = self.local(start).date()
        last_day = self.local(end).date()
        while day <= last_day:
            for slot in self.day_slots(day):
                if slot.start >= start and slot.end <= end:
                    yield slot
            day += timedelta(days=1)

    def slot_at(self, start: datetime) -> Slot | None:
        """The grid slot that begins exactly at `start`, or None (closed, or not on the grid)."""
        local = self.local(start)
        for slot in self.day_slots(local.date()):
            if slot.start == local:
                return slot
        return None

    def is_open_at(self, dt: datetime) -> bool:
        local = self.local(dt)
        return local.weekday() in self.open_days and self.open_time <= local.time() < self.close_time

    def is_bookable(self, slot: Slot) -> bool:
        """True when `slot` is exactly one grid slot (not shifted, not longer, not on a closed day)."""
        grid = self.slot_at(slot.start)
        return grid is not None and grid.end == slot.end
