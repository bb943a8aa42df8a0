"""Times as a person says them, relative to now: "tomorrow at 3 pm", "Friday the 4th at 10:30 am".

TTS reads "2026-12-04T10:30:00+03:00" aloud digit by digit, and an LLM asked to convert it gets the
weekday wrong often enough to matter. So the words are computed here, deterministically, in the
business timezone, and passed on as facts next to the ISO value.

English and Turkish; any other language falls back to English.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")  # fmt: skip
_TR_WEEKDAYS = ("Pazartesi", "Salı", "Çarşamba", "Perşembe", "Cuma", "Cumartesi", "Pazar")
_TR_MONTHS = ("Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül", "Ekim", "Kasım",
              "Aralık")  # fmt: skip

WEEK_AHEAD_DAYS = 6
"""Up to this many days ahead a weekday name alone is unambiguous ("Thursday")."""
MONTH_AHEAD_DAYS = 27
"""Beyond this, the month is named too ("Friday the 4th of December")."""


def lang_of(language: str) -> str:
    """Language code → the words we speak: "tr-TR" → "tr"; anything we have no words for → "en"."""
    code = language.split("-")[0].split("_")[0].lower()
    return code if code in ("en", "tr") else "en"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def spoken_time(dt: datetime, language: str = "en") -> str:
    """15:00 → "3 pm", 10:30 → "10:30 am", 12:00 → "noon"; Turkish: "saat 15:00"."""
    if lang_of(language) == "tr":
        return f"saat {dt:%H:%M}"
    if (dt.hour, dt.minute) == (12, 0):
        return "noon"
    if (dt.hour, dt.minute) == (0, 0):
        return "midnight"
    hour = dt.hour % 12 or 12
    clock = f"{hour}" if dt.minute == 0 else f"{hour}:{dt.minute:02d}"
    return f"{clock} {'am' if dt.hour < 12 else 'pm'}"


def spoken_day(dt: datetime, now: datetime, language: str = "en") -> str:
    """The day as said: "today", "tomorrow", "Thursday", "Friday the 4th", "Friday the 4th of December"."""
    local = dt.astimezone(now.tzinfo) if now.tzinfo else dt
    delta = (local.date() - now.date()).days
    tr = lang_of(language) == "tr"
    if delta == 0:
        return "bugün" if tr else "today"
    if delta == 1:
        return "yarın" if tr else "tomorrow"
    weekday = (_TR_WEEKDAYS if tr else _EN_WEEKDAYS)[local.weekday()]
    if 1 < delta <= WEEK_AHEAD_DAYS:
        return weekday
    if tr:
        return f"{local.day} {_TR_MONTHS[local.month - 1]} {weekday}"
    if 0 < delta <= MONTH_AHEAD_DAYS:
        return f"{weekday} the {_ordinal(local.day)}"
    return f"{weekday} the {_ordinal(local.day)} of {_EN_MONTHS[local.month - 1]}"


def spoken_when(dt: datetime, now: datetime, language: str = "en") -> str:
    """Day and time as said: "tomorrow at 3 pm" / "yarın saat 15:00"."""
    local = dt.astimezone(now.tzinfo) if now.tzinfo else dt
    joiner = " " if lang_of(language) == "tr" else " at "
    return f"{spoken_day(local, now, language)}{joiner}{spoken_time(local, language)}"


def spoken_choice(starts: Sequence[datetime], now: datetime, language: str = "en", *, every: bool = False) -> str:
    """Two (or more) times as one phrase; the day is said once when they share it.

    [tomorrow 15:00, tomorrow 16:30] → "tomorrow at 3 pm or 4:30 pm" / "yarın saat 15:00 ya da 16:30".
    `every=True` lists rather than offers: "… and …" / "… ve …".
    """
    if not starts:
        return ""
    tr = lang_of(language) == "tr"
    word = (" ve " if tr else " and ") if every else (" ya da " if tr else " or ")
    local = [s.astimezone(now.tzinfo) if now.tzinfo else s for s in starts]
    first = spoken_when(local[0], now, language)
    if len({s.date() for s in local}) == 1:
        rest = [f"{s:%H:%M}" if tr else spoken_time(s, language) for s in local[1:]]
    else:
        rest = [spoken_when(s, now, language) for s in local[1:]]
    if not rest:
        return first
    head = ", ".join([first, *rest[:-1]])
    return f"{head}{word}{rest[-1]}"


def capitalize(sentence: str, language: str = "en") -> str:
    """Upper-case the first letter only ("tomorrow at 3 pm…" → "Tomorrow…"); Turkish i → İ."""
    if not sentence:
        return sentence
    first = sentence[0]
    upper = "İ" if (first == "i" and lang_of(language) == "tr") else first.upper()
    return upper + sentence[1:]
