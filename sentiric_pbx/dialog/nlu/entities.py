"""Entities in one turn: the day and time asked for, the caller's name and phone number.

Order matters: the phone number is taken out first, so that its digits ("five three two …") can
never be read as a time or a day of the month by the date rules that run after it.

Shapes (all strings, ready for JSON and for the calendar API):
  "date": "2026-11-26"   "time": "15:00"   "datetime": "2026-11-26T15:00:00+03:00" (both said)
  "daypart": "morning" | "afternoon" | "evening"   (only when no clock time was said)
  "week": "2026-11-30"   the Monday of "next week" / "haftaya" / "bu hafta" (only when no day was said)
  "shift": "+60" | "-30"   minutes from the time under discussion: "an hour later", "yarım saat erken" (only
                           when no day or time was said; the dialog knows which time it shifts)
  "person_name": "Ahmet Yilmaz"   "phone": "+905551112233" (E.164)

A time without a day ("no, make it 4 pm") gives "time" and no "datetime": which day it belongs to is
the dialog's knowledge (the slot being confirmed), not this turn's.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from zoneinfo import ZoneInfo

from sentiric_pbx.call.phone import normalize_e164
from sentiric_pbx.dialog.nlu.dates import find_dates, pick
from sentiric_pbx.dialog.nlu.names import find_person_name
from sentiric_pbx.dialog.nlu.normalize import Normalized
from sentiric_pbx.dialog.nlu.options import NluOptions
from sentiric_pbx.dialog.nlu.shifts import find_shift
from sentiric_pbx.dialog.nlu.times import TimeMention, find_dayparts, find_times, past_daypart, to_clock
from sentiric_pbx.dialog.nlu.tr_entity_text import entity_digits
from sentiric_pbx.dialog.nlu.weeks import find_week

_DIGIT = r"(?:\d+|oh|double \d|triple \d)"
_PHONE_RUN = re.compile(rf"(?:(?:\+|plus )\s?)?{_DIGIT}(?: {_DIGIT})*")


def _expand(run: str) -> str:
    run = re.sub(r"double (\d)", r"\1\1", run)
    run = re.sub(r"triple (\d)", r"\1\1\1", run)
    run = run.replace("plus", "+").replace("oh", "0")
    return re.sub(r"[^\d+]", "", run)


def take_phone(digits: str, country_code: str) -> tuple[str | None, str]:
    """The first 7–15 digit run as E.164, and the text with that run blanked out."""
    for m in _PHONE_RUN.finditer(digits):
        number = _expand(m.group(0))
        if 7 <= len(number.lstrip("+")) <= 15:
            phone = normalize_e164(number, country_code)
            if phone:
                return phone, digits[: m.start()] + " # " + digits[m.end() :]
    return None, digits


# "0532 … ya da 0533 …", "0532 …, pardon, 0533 …": of two numbers, the last alternative or the correction.
_TR_ALTERNATIVE = re.compile(r"\b(?:ya da|yada|veya|yoksa|pardon|hayir|yani|degil)\b")


# A number named as an ID before it: tax number (VKN), citizen ID (TCKN, "TC kimlik no"), customer number
_TR_ID_LABEL = re.compile(
    r"\b(?:vkn|tckn|tc|vergi|kimlik|musteri|abone|siparis|fatura|iban|hesap|ogrenci|okul|sicil|dosya|protokol|police)"
    r"(?: (?:kimlik|no|numarasi|numaram))*\s*$"
)


def _turkish_phone(number: str, phone: str, country_code: str) -> bool:
    """A number a Turkish caller says is a phone when it says its country ("+44 …", "00 44 …") or, said the
    Turkish way, when its national part is one of the plan's 10-digit numbers: geographic 2-4, mobile 5,
    services 8-9 (so not a tax number "1234567890"). An order code ("ORD-202625502", 9 digits) and an ID number
    (TCKN "11111111110": 11 digits, no leading 0) are not phones."""
    if number.startswith("+"):
        return True
    if not phone.startswith("+" + country_code):
        return False
    return country_code != "90" or (len(phone) == 13 and phone[3] in "234589")


def take_phone_tr(digits: str, country_code: str) -> tuple[str | None, str]:
    """`take_phone` for a Turkish turn: only numbers `_turkish_phone` accepts, and of two separated by
    "ya da"/"veya"/"pardon" the last; every number taken is blanked out, so none is read as a time."""
    found: list[tuple[str, int, int]] = []
    for m in _PHONE_RUN.finditer(digits):
        if _TR_ID_LABEL.search(digits[: m.start()]):
            continue
        # "05321234567, 5 milyon TL": the number, not the price run into it (one short group after it, no more)
        groups = m.group(0).split(" ")
        parts = [m.group(0)] + ([" ".join(groups[:-1])] if len(groups) > 1 and len(groups[-1]) <= 3 else [])
        for part in parts:
            phone = _turkish_number(_expand(part), country_code)
            if phone:
                found.append((phone, m.start(), m.start() + len(part)))
                break
    if not found:
        return None, digits
    chosen = found[0][0]
    for (_, _, before_end), (phone, after_start, _) in itertools.pairwise(found):
        if _TR_ALTERNATIVE.search(digits[before_end:after_start]):
            chosen = phone
    for _, start, end in reversed(found):
        digits = digits[:start] + " # " + digits[end:]
    return chosen, digits


def _turkish_number(number: str, country_code: str) -> str | None:
    """`number` (digits, maybe "+" or "00" first) as E.164 when it is a Turkish phone number, else None."""
    if number.startswith("00"):
        number = "+" + number[2:]
    if not 7 <= len(number.lstrip("+")) <= 15:
        return None
    phone = normalize_e164(number, country_code)
    return phone if phone and _turkish_phone(number, phone, country_code) else None


def _pick_time(times: list[TimeMention], text: str) -> TimeMention | None:
    kept = [t for t in times if not re.search(r"\b(?:from|not|instead of)\s*(?:at )?$", text[: t.start])]
    chosen = kept or times
    # "saat 1'de, öğle arasında": midday said beside a clock time is when that time falls, not a second one
    clocks = [t for t in chosen if not text.startswith("ogle", t.start)]
    chosen = clocks or chosen
    return chosen[-1] if chosen else None


def local_datetime(day: dt.date, clock: dt.time, timezone: str) -> str:
    """The "datetime" entity: `day` at `clock` in the business's zone, ISO with its offset."""
    return dt.datetime.combine(day, clock, tzinfo=ZoneInfo(timezone)).isoformat()


def temporal(digits: str, now: dt.datetime, language: str, options: NluOptions) -> dict[str, str]:
    """date / time / datetime / daypart for one turn (see the module docstring)."""
    out: dict[str, str] = {}
    date = pick(find_dates(digits, now, language))
    dayparts = find_dayparts(digits, language)
    daypart = dayparts[-1][1] if dayparts else None
    mention = _pick_time(find_times(digits, language), digits)
    clock = to_clock(mention, daypart, options.opens, options.closes) if mention else None
    if date is not None:
        out["date"] = date.day.isoformat()
    if clock is not None:
        out["time"] = clock.strftime("%H:%M")
        if date is not None:
            out["datetime"] = local_datetime(date.day, clock, options.timezone)
    elif daypart is not None and not past_daypart(digits, dayparts[-1][0], language):
        out["daypart"] = daypart
    week = find_week(digits, now.date(), language) if date is None else None
    if week is not None:
        out["week"] = week.isoformat()
    return out


def extract(norm: Normalized, now: dt.datetime, options: NluOptions, said: str = "") -> dict[str, str]:
    """All entities of one turn; `now` must already be in the business timezone. `said` is the turn as STT
    wrote it or the caller typed it: its capitals and commas tell a name from a word (see `names`), which
    `norm` has folded away."""
    if norm.language == "tr":
        phone, digits = take_phone_tr(norm.digits, options.default_country_code)
        digits = entity_digits(digits, norm.plain)
    else:
        phone, digits = take_phone(norm.digits, options.default_country_code)
    out = temporal(digits, now, norm.language, options)
    shift = find_shift(norm.digits, norm.language) if not {"date", "time"} & out.keys() else None
    if shift:  # (from `norm.digits`: Turkish `entity_digits` hides "2 saat" as a duration)
        out["shift"] = f"{shift:+d}"
    name = find_person_name(norm.plain, norm.language, said)
    if name:
        out["person_name"] = name
    if phone:
        out["phone"] = phone
    return out
