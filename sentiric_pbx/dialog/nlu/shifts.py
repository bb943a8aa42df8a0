"""A time said as a shift from the one being talked about: "an hour later", "push it back 30 minutes",
"bir saat sonrasına", "yarım saat erken", "randevuyu bir saat ileri alalım".

To "Shall I book you for 3 pm?", "an hour later?" means 4 pm; to "Your appointment is at 3. When would you
like to move it to?", "push it back an hour" means 4 pm too. The NLU cannot know which time is meant (the
dialog does), so it hands over "shift": signed minutes ("+60", "-30"). With nothing under discussion ("3 saat
sonra", in three hours from now) the dialog does not guess: it asks for a time.

Not a shift: a call back ("iki saat sonra ararım", "I'll call back in an hour"), a duration ("it takes an
hour", "bir saat sürer"), running late ("15 dakika geç kalacağım").
"""

from __future__ import annotations

import re

_UNITS = {"hour": 60, "hours": 60, "minute": 1, "minutes": 1, "min": 1, "mins": 1, "saat": 60, "dakika": 1, "dk": 1}
_AMOUNT = {"a": 1, "an": 1, "one": 1, "half an": 0.5, "half a": 0.5, "yarim": 0.5}

_SHIFTS = {
    "en": re.compile(
        r"\b(?:(?P<later>(?:push(?:ed)?|move) (?:\w+ ){0,2}back|make (?:it|that))"
        r"|(?P<sooner>(?:bring|move) (?:\w+ ){0,2}forward))?(?: by)? ?"
        r"\b(?P<n>\d+|an?|one|half an?) (?P<u>hours?|minutes?|mins?)"
        r"(?: (?P<dir>later|earlier|sooner|after(?:wards)?|before))?\b"
    ),
    # (`digits` folds Turkish letters and writes "bir" as "1"; "ileri almak" is to make it later, "geri" sooner)
    "tr": re.compile(
        r"\b(?P<n>\d+|yarim) (?P<u>saat|dakika|dk) "
        r"(?P<dir>sonra\w*|once(?:si|ye|sine)\b|erken\w*|gec\b(?! kal)|ileri\w*|geri\w*)"
        r"(?! (?:tekrar |yeniden |sizi |size )?(?:arar|ara(?:yacag|yayim|rim|riz)|donerim|donecegim|dondurur))"
    ),
}
_SOONER = {"earlier", "sooner", "before", "once", "erken", "geri"}  # every other direction is later
_CALL_BACK_EN = re.compile(r"\b(?:call|ring|phone|get back|come back to you|text)\b")


def find_shift(digits: str, language: str) -> int | None:
    """Signed minutes the caller shifts the time under discussion by, or None."""
    lang = language if language in _SHIFTS else "en"
    for m in _SHIFTS[lang].finditer(digits):
        direction = m.groupdict().get("dir")
        later = m.groupdict().get("later")
        sooner = m.groupdict().get("sooner")
        if lang == "en" and (not (direction or later or sooner) or _CALL_BACK_EN.search(digits)):
            continue  # "it takes an hour"; "I'll call you back an hour later"
        amount = _AMOUNT.get(m["n"]) if not m["n"].isdigit() else int(m["n"])
        if amount is None:
            continue
        minutes = int(amount * _UNITS[m["u"]])
        back = sooner is not None or direction in _SOONER  # "make it an hour earlier": the word that says wins
        return -minutes if back else minutes
    return None
