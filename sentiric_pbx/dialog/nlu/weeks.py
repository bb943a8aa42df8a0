"""A week said without a day: "next week", "sometime this week", "haftaya", "gelecek hafta", "bu hafta".

A caller who answers "When would you like to come in?" with "next week if possible" has named a window as
surely as one who says "Friday morning": the agent should offer the first free times in it, not ask again.
So the NLU hands over "week": the Monday that week starts on (weeks start on Monday, as in `dates`). It is
only read when no day was said: "haftaya cuma" and "Friday next week" are a date (`dates`).

Not a week to book: the week gone ("last week", "geçen hafta"), the weekend ("next weekend", "hafta sonu"),
a habit ("every week", "her hafta", "haftada bir"), a count ("iki hafta", "for a week") and a span from now
("in a week", "bir hafta sonra", which `dates` reads as a day), and the week the caller cannot come ("next week
I'm away", "bu hafta biraz yoğunum").
"""

from __future__ import annotations

import datetime as dt
import re

_WEEKS = {
    "en": re.compile(
        r"(?<!not )(?<!except )(?<!than )"
        r"\b(?:(?P<this>this week)|(?P<next>next week|the following week|the week after)(?P<after> next)?)\b"
    ),
    # `digits` folds Turkish letters: "önümüzdeki" → "onumuzdeki", "gelecek haftaya" is "to next week"; "4 haftaya"
    # is in four weeks
    "tr": re.compile(
        r"(?<!her )(?<!\d )\b(?:(?P<this>bu hafta(?:ya|da|ki|nin)?)"
        r"|(?P<next>haftaya|gelecek hafta(?:ya|da|ki|nin)?|onumuzdeki hafta(?:ya|da|ki|nin)?"
        r"|bir sonraki hafta(?:ya|da|ki|nin)?))\b(?! sonu)"
    ),
}
# "Bu hafta biraz yoğunum", "haftaya olmaz", "gelecek hafta tatildeyim": the week the caller cannot come
_NOT_THAT_WEEK = {
    "en": re.compile(r"\b(?:busy|away|booked|no good|doesnt work|wont work|cant|cannot|out of town|on holiday)\b"),
    "tr": re.compile(
        r"\b(?:yogun\w*|olmaz|olmuyor|uymaz|uymuyor|musait degil\w*|degil\w*|dolu\w*|tatil\w*|disinda|haric"
        r"|gidi\w*|gidece\w*|sehir disi\w*)\b"
    ),
}


def find_week(digits: str, today: dt.date, language: str) -> dt.date | None:
    """The Monday of the week named, or None."""
    lang = language if language in _WEEKS else "en"
    m = _WEEKS[lang].search(digits)
    if m is None or _NOT_THAT_WEEK[lang].search(digits, m.end()):
        return None
    monday = today - dt.timedelta(days=today.weekday())
    if m["this"]:
        return monday
    return monday + dt.timedelta(days=14 if m.groupdict().get("after") else 7)
