"""The calendar protocol every adapter implements (built-in SQLite, HTTP/JSON).

Times are timezone-aware `datetime`s in the business timezone ([business] timezone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Slot:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Booking:
    booking_id: str
    slot: Slot
    customer_id: str | None
    phone: str | None
    name: str | None
    call_id: str | None


class SlotTaken(Exception):
    """Someone else booked this slot first (two callers, one slot): offer another."""


class CalendarError(Exception):
    """The calendar could not be reached or refused the request."""


class Calendar(Protocol):
    async def free_slots(self, start: datetime, end: datetime, limit: int = 10) -> list[Slot]:
        """Free slots inside business hours between start and end, earliest first."""
        ...

    async def book(self, slot: Slot, *, customer_id: str | None, phone: str | None, name: str | None,
                   call_id: str | None) -> Booking:  # fmt: skip
        """Book atomically; raise `SlotTaken` if the slot is no longer free."""
        ...

    async def bookings_for(self, phone: str) -> list[Booking]:
        """Future bookings of a caller, earliest first."""
        ...

    async def cancel(self, booking_id: str) -> None: ...

    async def aclose(self) -> None: ...
