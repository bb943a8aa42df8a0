"""Which time of day the caller means: "3 pm", "15:00", "half past four", "at four", "saat üçte".

A bare number is a time only next to a word that makes it one ("at 4", "4 oclock", "4 pm",
"saat 4", "dörtte", "tomorrow 4"), never on its own: "3 people", "the 3rd", "one more question"
stay numbers. Telephony STT writes the same time as "3 pm", "three p.m." and "15:00"; `normalize`
has already turned all of them into digits.

A bare hour ("at four") carries no am/pm. A daypart said in the same turn decides ("four in the
afternoon", "sabah onda"); otherwise the business day does: of h and h+12 we take the one inside
opening hours, so with 09:00–17:00 "at four" is 16:00 and "at ten" is 10:00; outside them, the one
nearer to them ("at six" → 18:00, "at eight" → 08:00).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

Daypart = str  # "morning" | "afternoon" | "evening"

_NOT_A_TIME = r"(?! ?(?:th\b|people|persons|kids|children|of us|minutes?|mins?|hours?|days?|weeks?|months?|years?|\d))"


@dataclass(frozen=True, slots=True)
class TimeMention:
    """A clock time as said: hour as spoken (1–12 or 0–23), minute, explicit am/pm if any."""

    start: int
    hour: int
    minute: int
    meridiem: str | None = None


def _hm(m: re.Match[str]) -> tuple[int, int, str | None]:
    minute = m.groupdict().get("m")
    half = m.groupdict().get("half")
    return int(m["h"]), 30 if half else int(minute or 0), m.groupdict().get("mer")


def _relative(m: re.Match[str]) -> tuple[int, int, str | None] | None:
    """ "half past 4", "quarter to 5", "10 past 3"; "from 10 to 2" is a range, not 13:50."""
    hour, q, mm, direction = int(m["h"]), m["q"], m["mm"], m["dir"]
    minutes = 30 if q == "half" else 15 if q == "quarter" else int(mm or 0)
    if direction in {"past", "after"}:
        return hour, minutes, m["mer"]
    if q == "half" or minutes not in {5, 10, 15, 20, 25} or m.string[: m.start()].endswith("from "):
        return None
    return (hour - 1) % 24 or 12, 60 - minutes, m["mer"]


def _quarter_tr(m: re.Match[str]) -> tuple[int, int, str | None] | None:
    """ "üçü çeyrek geçe" 3:15, "dörde çeyrek kala/var" 3:45, "üçü yirmi geçe/geçiyor" 3:20, "dörde on var" 3:50,
    "beş buçuğa iki var" 5:28."""
    hour = int(m["h"])
    minutes = 15 if m["q"] == "ceyrek" else int(m["q"])
    if m["half"]:  # counted from the half hour: "beş buçuğa iki var" 5:28
        if not 0 < minutes < 30:
            return None
        return (hour, 30 - minutes, None) if m["dir"] in {"kala", "var"} else (hour, 30 + minutes, None)
    if not 0 < minutes < 60:
        return None
    return ((hour - 1) or 12, 60 - minutes, None) if m["dir"] in {"kala", "var"} else (hour, minutes, None)


# "gece", "gecesi", "sabaha karşı" right before the hour, or before "saat", "tam" (exactly), "en geç" (at the
# latest), "en erken", "yaklaşık" and the hour: whatever rule reads the clock time, the night decides its half
_NIGHT_BEFORE = re.compile(r"\b(?:gece(?:si|leri)?|sabaha karsi) (?:(?:saat|tam|en|gec|erken|yaklasik|takriben) )*$")


def _night(hour: int, said: str) -> str | None:
    """ "gece 2'de" 02:00, "gece 12'de" 00:00, but "gece 10'da" 22:00: the night runs from the evening into the
    small hours, so 1-5 and 12 are after midnight and 6-11 before it; "sabaha karşı" (towards morning, `said`
    ending in it) is only the small hours ("sabaha karşı altıda" 06:00). It is the hour read after the minutes
    are counted: "gece bire çeyrek kala" is 00:45, "gece on ikiye beş kala" 23:55."""
    if 1 <= hour <= 5 or hour == 12 or (hour <= 12 and "sabaha karsi" in said):
        return "am"
    return "pm" if 6 <= hour <= 11 else None


_Handler = Callable[[re.Match[str]], "tuple[int, int, str | None] | None"]
_WD_OR_DAY = "today|tomorrow|tonight|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_EN: tuple[tuple[str, _Handler], ...] = (
    (r"\b(?P<h>\d{1,2}):(?P<m>\d\d)(?: (?P<mer>am|pm))?\b", _hm),
    (
        r"\b(?P<q>half|quarter|(?P<mm>\d{1,2})(?: minutes)?) (?P<dir>past|after|to|till|of) (?P<h>\d{1,2})"
        r"(?: (?P<mer>am|pm))?\b",
        _relative,
    ),
    (r"\b(?P<h>\d{1,2})(?: (?P<m>[0-5]\d))? (?P<mer>am|pm)\b", _hm),
    (r"\b(?P<h>\d{1,2}) oclock\b", _hm),
    # "10 in the morning", "8 tonight": the daypart says which half of the day
    (r"\b(?P<h>\d{1,2})(?: (?P<m>[0-5]\d))? (?:in the (?:morning|afternoon|evening)|tonight)\b", _hm),
    (r"\b(?:noon|midday)\b", lambda m: (12, 0, None)),
    (
        r"\b(?:at|around|about|by|from|till|until|to|after|before|say|make it|between|and|or) "
        rf"(?P<h>\d{{1,2}})(?: (?P<m>[1-5]\d|0\d))?\b{_NOT_A_TIME}",
        _hm,
    ),
    (rf"\b(?:{_WD_OR_DAY}|morning|afternoon|evening) (?P<h>\d{{1,2}})\b{_NOT_A_TIME}", _hm),
    (r"\b(?P<h>\d{1,2}) (?P<m>15|30|45)\b(?! ?\d)", _hm),
)
_TR_DAYS = "pazartesi|sali|carsamba|persembe|cumartesi|cuma|pazar|yarin|bugun"
# "yarın akşam 4 kişilik masa", "yarın bir randevu": a number before what it counts (and "bir" before a noun,
# the article) is no hour, nor the first of a counted span ("akşam 2 ile 3 kişi", "2 veya 3 gün"), nor a number
# compared ("birden fazla", "ikiden az"). The day-and-number rule below names the words that do make it one.
_TR_COUNTED = (
    r"(?!(?: (?:ile|veya|ya da|yada) \d{1,3})?"
    r" (?:kisi|tane|adet|randevu|masa|oda|gun|gece|hafta|ay\b|aylik|yil|yas|kez|kere|defa|lira|tl|numara|fazla"
    r"|az\b)\w*)"
)
# "üç gibi", "saat beş civarında", "on sularında", "dört raddelerinde", "iki sıralarında": the Turkish ways of
# saying "about", each after the bare number; any case of the noun ("civarı", "civarında", "sıralarına").
_TR_ABOUT = r"gibi|civar\w*|sular\w*|siralar\w*|raddeler\w*|dolaylar\w*"
_TR: tuple[tuple[str, _Handler], ...] = (
    (r"\bgece yarisi\w*", lambda m: (0, 0, None)),  # midnight
    # "10:00-12:00 arası", "10.00 ile 12.00 arasında": a range asks for its start, as "ikiyle üç arası" does
    (r"\b(?P<h>\d{1,2}):(?P<m>\d\d)\w* (?:ile |ve )?\d{1,2}(?::\d\d)?\w* arasi\w*", _hm),
    # "ikiyle üç arası", "saat 8-10 arası": before "saat 8 10" can be read as 8:10 (the dash is gone)
    (r"\b(?P<h>\d{1,2}) ?(?:yle|yla|le|la|ile) \d{1,2}\w* arasi\w*", _hm),
    (r"\b(?P<h>\d{1,2}) \d{1,2} arasi\w*", _hm),
    # "10:00'dan 12:00'ye kadar", "ikiden dörde kadar": a range said with "from … until", its start too
    (
        r"\b(?:saat )?(?P<h>\d{1,2})(?::(?P<m>\d\d))? ?(?:den|dan|ten|tan) (?:saat )?\d{1,2}(?::\d\d)?"
        r" ?(?:ye|ya|e|a) kadar\b",
        _hm,
    ),
    (r"\b(?P<h>\d{1,2}):(?P<m>\d\d)(?:de|da|te|ta|e|a|ye|ya|den|dan|ten|tan|u|i|yu|yi)?\b", _hm),  # "14:30'da"
    # "saat dördü on geçiyor" (it is ten past four), the clock said as now: the same time as "dördü on geçe"
    # any count of minutes ("üçe yedi kala" 2:53, "dördü on sekiz geçe" 4:18), and from the half hour ("beş buçuğa
    # iki var" 5:28, "altı buçuğu iki geçiyor" 6:32)
    (
        r"\b(?:saat )?(?P<h>\d{1,2})\w*(?P<half> bucu[gk]\w*)? (?P<q>ceyrek|[1-5]?\d) (?P<dir>kala|var|gece|geciyor)\b",
        _quarter_tr,
    ),
    (
        r"\bsaat (?P<h>\d{1,2})(?: ?(?:den|dan|ten|tan|(?:de|da|te|ta)(?:yd[iu])?|ye|ya|e|a))?"
        r"(?: (?P<m>[0-5]\d)(?: ?(?:de|da|te|ta))?| (?P<half>bucu[kg])\w*)?\b",
        _hm,
    ),
    (r"\b(?P<h>\d{1,2}) (?P<half>bucu[kg])\w*", _hm),  # "üç buçukta", and softened "üç buçuğa"
    (r"\b(?P<h>\d{1,2}) (?P<m>[0-5]\d) ?(?:de|da|te|ta)\b", _hm),  # "on beş otuzda" → "15 30da"
    (r"\b(?P<h>\d{1,2}) ?(?:de|da|te|ta)(?:yd[iu])?\b", _hm),  # "3'teydi": was at three
    # "öğle", "öğlen", "öğleyin" (and "öğlen yarım", half past twelve: `entity_digits`)
    (r"\bogle(?:n|yin)?(?:de|e)?\b", lambda m: (12, 0, None)),
    (r"\b(?P<h>1[3-9]|2[0-3]) (?P<m>00|15|30|45)\b(?! ?\d)", _hm),  # "on dört otuz": a 24-hour clock
    # "on bir otuz"; not a count, an age, a price ("12-15 bin TL")
    (r"\b(?P<h>\d{1,2}) (?P<m>15|30|45)\b(?! ?(?:\d|dakika|dk|gun|kisi|yas|lira|tl|saat|bin|milyon))", _hm),
    (r"\b(?P<h>\d{1,2}) ?(?:den|dan|ten|tan) (?:sonra|once|itibaren)\w*", _hm),  # "dörtten sonra", "3ten sonrasına"
    # "üçe alabilir miyiz", "dörde alalım", "beni ikiye yazın": a number in the dative before a booking verb
    # and "beşe toplantı koy", "üçe randevu ayarlayın", "dokuza bir etkinlik ekle": with what is booked between
    (
        r"\b(?P<h>\d{1,2}) ?(?:ye|ya|e|a) "
        r"(?:(?:bir |1 )?(?:toplanti|gorusme|randevu|rezervasyon|masa|yer|kayit|etkinlik)\w* )?"
        r"(?:al|kaydir|cek|yaz|ayarla|koy|ertele|tasi|randevu|ekle|olustur|planla)\w*",
        _hm,
    ),
    # "ikiye gelebilirim", "yarın üçe gelirim", "beşe uğrarım", "10'a gelirim": the hour the caller comes at, in the
    # dative before a verb of coming; not the word "ona" (to him: `entity_digits` keeps it a word; "saat ona" is
    # read above), nor "bire bir" (one to one)
    (r"\b(?P<h>\d{1,2}) ?(?:ye|ya|e|a) (?:gel|ugra|yetis)\w*", _hm),
    # "perşembe 11", "yarın 9 olur mu", "cuma günü 3 uygun mu": a day and a bare number, with nothing after it or
    # a word that makes it a time, as a whole word ("yarın 2 kişi" is not one, nor "yarın 3 yaşında", nor "yarın
    # bir randevu": "a", an appointment tomorrow)
    (
        rf"\b(?:{_TR_DAYS})\w*(?: gunu?)? (?P<h>\d{{1,2}})"
        r"(?=$| (?:olur\w*|olsun|uygun\w*|musait\w*|gibi|civari|olabilir\w*|m[iu]|m[iu]s[iu]n\w*|ya|yada|veya|ve"
        r"|icin|iyi|gel\w*)\b)",
        _hm,
    ),
    (r"\b(?P<h>\d{1,2}) ?(?:ye|ya|e|a)? dogru\b", _hm),  # "dörde doğru"
    # "sabah 9 gibi", "akşam 7'de", "10 civarı": a daypart or an "about" makes a bare number a time
    # "akşam 7'ye", "sabah 9'a", "öğleden sonra 3'ten sonra": the case ending does not change the hour
    (
        r"\b(?:sabaha karsi|sabah|ogle|ogleden sonra|aksam|gece(?!n\b))\w* (?P<h>\d{1,2})"
        rf"(?:ye|ya|e|a|den|dan|ten|tan)?\b(?! ?\d){_TR_COUNTED}",
        _hm,
    ),
    (rf"\b(?P<h>\d{{1,2}}) (?:{_TR_ABOUT})\b", _hm),
    # "beşe kadar gelirim", "3'e kadar müsait misiniz": the hour something is done by ("from … until" is above)
    (r"\b(?P<h>\d{1,2}) ?(?:ye|ya|e|a) kadar\b", _hm),
)

# "first thing tomorrow", "yarın ilk iş": the start of the day named beside it (not "ilk iş olarak", "first of all")
_EN_DAYS = ("tomorrow", "today", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TR_DAYS = ("yarin", "bugun", "pazartesi", "sali", "carsamba", "persembe", "cuma", "cumartesi", "pazar")
_FIRST_THING_EN = (  # (in `digits`, "first" is "1th")
    r"1th thing(?= (?:on |next |this )?(?:" + "|".join(_EN_DAYS) + r")\b)"
    + "".join(f"|(?<={d} )1th thing" for d in _EN_DAYS)
)
_FIRST_THING_TR = "|".join(f"(?<={d} )ilk is(?=(?:i|e)?\\b)" for d in _TR_DAYS)
_DAYPARTS_EN = rf"\b(?<!good )(?P<p>morning|afternoon|evening|tonight|night|{_FIRST_THING_EN})s?\b"
_DAYPARTS_TR = (
    r"\b(?<!\biyi )(?P<p>sabah|ogleden once|oglenden once|ogleden sonra|oglenden sonra|aksamustu|aksam ustu|aksam"
    rf"|{_FIRST_THING_TR}"
    r"|(?<!ceyrek )(?<!\d )gece(?=(?:si|sinde|leri|ler|de|ye|yi|den|yarisi)?\b))\w*"
)  # "geçen" (last), "geçeyim", "geçelim" (let me move on) fold to "gece…": only the noun's own endings are the night
_DAYPART_NAMES = {
    "tonight": "evening", "night": "evening", "sabah": "morning", "ogleden once": "morning",
    "oglenden once": "morning", "ogleden sonra": "afternoon", "oglenden sonra": "afternoon",
    "aksamustu": "afternoon", "aksam ustu": "afternoon", "aksam": "evening", "gece": "evening",
    "1th thing": "morning", "ilk is": "morning",
}  # fmt: skip


def find_dayparts(digits: str, language: str) -> list[tuple[int, Daypart]]:
    """ "morning"/"afternoon"/"evening" said anywhere, with their offsets."""
    pattern = _DAYPARTS_TR if language == "tr" else _DAYPARTS_EN
    return [(m.start(), _DAYPART_NAMES.get(m["p"], m["p"])) for m in re.finditer(pattern, digits)]


_PAST_DAYPART_TR = re.compile(r"\b(?:dun|gecen) $")


def past_daypart(digits: str, start: int, language: str) -> bool:
    """ "dün akşam", "geçen gece", "sabahtan beri" (yesterday evening, last night, since the morning): a daypart
    in the past is no slot to book, though it still tells "8'de" from 20:00."""
    if language != "tr":
        return False
    return bool(_PAST_DAYPART_TR.search(digits[:start]) or re.match(r"\w+ beri\b", digits[start:]))


def find_times(digits: str, language: str) -> list[TimeMention]:
    """Every clock time said, in order; the first pattern to claim a stretch of text keeps it."""
    taken: list[tuple[int, int]] = []
    found: list[TimeMention] = []
    for pattern, handler in _TR if language == "tr" else _EN:
        for m in re.finditer(pattern, digits):
            start = m.start("h") if "h" in m.groupdict() and m["h"] else m.start()
            if any(m.start() < end and begin < m.end() for begin, end in taken):
                continue
            parsed = handler(m)
            if parsed is None:
                continue
            taken.append((m.start(), m.end()))
            hour, minute, meridiem = parsed
            night = _NIGHT_BEFORE.search(digits[:start]) if language == "tr" and meridiem is None else None
            if night:
                meridiem = _night(hour, night.group(0))
            if 0 <= hour <= 23 and 0 <= minute <= 59:
                found.append(TimeMention(start, hour, minute, meridiem))
    return sorted(found, key=lambda t: t.start)


def _in_business_hours(hour: int, minute: int, opens: dt.time, closes: dt.time) -> int:
    """Of h and h+12, the one inside opening hours, else the one nearer to them (ties: afternoon)."""
    candidates = (hour % 12, hour % 12 + 12)
    open_min, close_min = opens.hour * 60 + opens.minute, closes.hour * 60 + closes.minute

    def distance(h: int) -> int:
        at = h * 60 + minute
        return 0 if open_min <= at < close_min else min(abs(at - open_min), abs(at - close_min))

    return min(candidates, key=lambda h: (distance(h), -h))


def to_clock(mention: TimeMention, daypart: Daypart | None, opens: dt.time, closes: dt.time) -> dt.time | None:
    """The 24-hour time the caller means (see the module docstring for bare hours)."""
    hour, minute = mention.hour, mention.minute
    if mention.meridiem == "pm" and hour < 12:
        hour += 12
    elif mention.meridiem == "am" and hour == 12:
        hour = 0
    elif mention.meridiem is None and 1 <= hour <= 12:
        if daypart in {"afternoon", "evening"} and hour < 12:
            hour += 12
        elif daypart != "morning":
            hour = _in_business_hours(hour, minute, opens, closes)
    return dt.time(hour, minute) if 0 <= hour <= 23 else None
