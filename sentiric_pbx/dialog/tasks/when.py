"""What time does the caller mean? NLU entities → one exact start, or a window to offer from.

The NLU hands over pieces ("date", "time", "daypart", or a full "datetime"); this module fills the
gaps the way a receptionist would:

- a time without a date means the day we are already talking about (`hint_day`, e.g. "no, make it
  4" after "Thursday at 3"), else today if it is still ahead, else tomorrow;
- "4" heard as 04:00 is 16:00 when 4 am is closed and 4 pm is open — people say "at four", not "at
  sixteen", and a clinic is not open at 4 am;
- a date or daypart alone is a window, and the task offers the first free slots in it;
- a week without a day ("next week", "haftaya öğleden sonra") is seven such windows, one per day from
  its Monday (or from today, this week); with a time ("next week at 10") it is that time on its first day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sentiric_pbx.integrations.calendar.hours import BusinessHours

DAYPARTS: dict[str, tuple[time, time | None]] = {
    "morning": (time(0, 0), time(12, 0)),
    "afternoon": (time(12, 0), time(17, 0)),
    "evening": (time(17, 0), None),
}
"""Daypart → [from, to) in local wall time; None means the end of the day."""


@dataclass(frozen=True, slots=True)
class Requested:
    """Either `exact` (a start the caller named) or a window [start, end] on `day`; for a week, the windows of
    its days (`windows`), `day` its first."""

    exact: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    day: date | None = None
    windows: tuple[tuple[datetime, datetime], ...] = ()


def _parse(kind: type[Any], value: Any) -> Any:
    if value is None:
        return None
    try:
        return kind.fromisoformat(str(value))
    except ValueError:
        return None


def _evening_guess(exact: datetime, hours: BusinessHours) -> datetime:
    later = exact + timedelta(hours=12)
    if exact.hour < 12 and not hours.is_open_at(exact) and hours.is_open_at(later):
        return later
    return exact


def requested_time(
    entities: dict[str, Any], hours: BusinessHours, now: datetime, hint_day: date | None = None
) -> Requested | None:
    """The caller's requested time, or None when the turn names no time at all."""
    now_local = hours.local(now)
    tz = hours.tz
    stamp = _parse(datetime, entities.get("datetime"))
    if stamp is not None:
        return Requested(exact=_evening_guess(hours.local(stamp), hours))
    day: date | None = _parse(date, entities.get("date"))
    week: date | None = _parse(date, entities.get("week")) if day is None else None
    at: time | None = _parse(time, entities.get("time"))
    if at is not None:
        if day is None:
            day = hint_day or (max(week, now_local.date()) if week else None)
        if day is None:
            today = datetime.combine(now_local.date(), at, tzinfo=tz)
            day = now_local.date() if _evening_guess(today, hours) > now_local else now_local.date() + timedelta(1)
        return Requested(exact=_evening_guess(datetime.combine(day, at, tzinfo=tz), hours))
    part = DAYPARTS.get(str(entities.get("daypart", "")).lower())
    if week is not None:
        days = [week + timedelta(i) for i in range(7) if week + timedelta(i) >= now_local.date()]
        windows = tuple(_window(d, part, hours) for d in days)
        return Requested(start=windows[0][0], end=windows[-1][1], day=days[0], windows=windows)
    if day is None and part is None:
        return None
    start, end = _window(day or hint_day or now_local.date(), part, hours)
    return Requested(start=start, end=end, day=start.date())


def _window(day: date, part: tuple[time, time | None] | None, hours: BusinessHours) -> tuple[datetime, datetime]:
    """[start, end) of `day`, or of its `part` (the morning, …), in the business's zone."""
    lo, hi = part or (time(0, 0), None)
    end = datetime.combine(day, hi, tzinfo=hours.tz) if hi else datetime.combine(day + timedelta(1), time(0, 0))
    return datetime.combine(day, lo, tzinfo=hours.tz), end.replace(tzinfo=hours.tz)


_FIRST = re.compile(r"\b(first|earlier|former|1st|ilk|ilki|birinci|birincisi|önceki|erken|erkeni|erkenini)\b")
_SECOND = re.compile(r"\b(second|later|latter|2nd|ikinci|ikincisi|sonraki|sonrakini|geç|geçi|geçini)\b")
_LAST = re.compile(r"\b(last|sonuncu|sonuncusu)\b")
# "Farketmez", "siz seçin", "I don't mind": the caller leaves the time to us (said to "When?" or to two times)
_UP_TO_US = (
    r"fark ?etmez|siz (?:seçin|söyleyin|bilirsiniz)|you (?:choose|pick|decide)|(?:it )?doesn'?t matter|i don'?t mind"
)
# "İkisi de olur", "either is fine": either of those offered will do, so the first
_EITHER = re.compile(
    r"\b(hangisi (?:olursa|uygunsa)|ikisi de|herhangi biri\w*|either|whichever|any of them|both are fine"
    rf"|{_UP_TO_US})\b"
)
# "Ne zaman müsaitsiniz?", "When are you free?": the caller asks us for a time instead of naming one; "en kısa
# zamanda", "whenever", "as soon as possible": leaves it to us
_ASKS_WHEN = re.compile(
    r"\b(müsait\w*|musait\w*|boş(?!ver)\w*|bos (?:yer|saat|gun)\w*|en erken|en yakın\w*|ne zaman uygun\w*|when are you"
    r"|available|free|earliest|soonest|next (?:free|available|opening)|what do you have"
    r"|farketmiyor|size uyan\w*|en kısa (?:zamanda|sürede)"
    r"|ne zaman olursa|herhangi bir (?:gün|saat|zaman)\w*|hafta içi bir gün|her(?:hangi)? saat olur"
    r"|ne zamana? (?:verebilir|gelebilir|alabilir|ayarlayabilir)\w*|kaçta (?:gelebilir|verebilir)\w*"
    r"|hangi (?:gün|saat)\w* (?:var|boş|uygun|müsait|verebilir)\w*"
    r"|what (?:times?|days?|slots?|dates?)(?: \w+)? (?:do you have|are (?:free|open|available|there))|what's available"
    r"|when can (?:i|you|we)|fit me in|squeeze me in"
    rf"|whenever|any ?time|any day|up to you|as soon as (?:possible|you can)|asap|{_UP_TO_US})\b"
)


# Of those, the ones that can only be about times: "Is parking free?" is "free" but the FAQ's to answer
_ASKS_FOR_TIMES = re.compile(
    r"\b(?:when can (?:i|you|we)|what (?:times?|days?|slots?|dates?)\b|fit me in|squeeze me in|earliest|soonest"
    r"|next (?:free|available|opening)|ne zaman|kaçta|hangi (?:gün|saat)|en erken|en yakın (?:gün|saat|zaman)\w*)"
)


def _lowered(text: str) -> str:
    """Lower case as the patterns are written: "İ" is "i" (Python's lower() would leave a dot on it)."""
    return text.replace("İ", "i").lower()


def asks_for_times(text: str) -> bool:
    """Whether the caller asks for our free times in words no other question uses ("When can I come?")."""
    return _ASKS_FOR_TIMES.search(_lowered(text)) is not None


def either_will_do(text: str) -> bool:
    """ "Farketmez", "either is fine": of the times offered, any. (Never of the caller's own bookings: "either" to
    "which one shall I cancel?" is no choice.)"""
    return _EITHER.search(_lowered(text)) is not None


def asks_when(text: str) -> bool:
    """Whether the caller asks for our free times, or leaves the time to us, rather than naming one."""
    return _ASKS_WHEN.search(_lowered(text)) is not None


def ordinal_choice(text: str, count: int) -> int | None:
    """Which offered item the caller picked: "the first one" → 0, "the later one" / "ikincisi" → 1, else None."""
    lowered = _lowered(text)
    if _FIRST.search(lowered):
        return 0
    if _SECOND.search(lowered) and count >= 2:
        return 1
    if _LAST.search(lowered) and count >= 1:
        return count - 1
    return None
