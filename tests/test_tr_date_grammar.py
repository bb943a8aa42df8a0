"""Turkish dates by grammar: every way the grammar lets a caller say a day, built and checked as a matrix.

The date tables in test_nlu.py and the bench's dev turns are sentences someone wrote down; a rule tuned on
them can still miss "salıya", "Ocak'tan itibaren" or "ayın 9'unda" because nobody happened to say it.
Here the sentences are *constructed*: a weekday, month or number in each case ending Turkish gives it
(with vowel harmony, buffer consonants and k→ğ worked out by `_suffix`), after each modifier, inside
each sentence frame, typed with and without Turkish letters. The expected day is computed from the
construction and a fixed "now" — never by running the extractor.

Two clocks: BENCH_NOW (Thursday 2026-03-12 10:00 Istanbul, the bench's) and the last Sunday of March
(2026-03-29 18:00), where "next week", "the 5th" and "in three days" roll into April.

The conventions are those of `dates.py`'s docstring and of the labels in `bench/nlu_tr_entities.jsonl`:
a bare weekday is the first such day *after* today; "haftaya / gelecek / gelecek hafta(nın) /
önümüzdeki hafta(nın)" put it in the next calendar week (weeks start on Monday); "ayın 15'i" and
"15 Ocak" are the next such day on or after today; "N gün sonra" counts from today ("cumadan N gün
sonra" from Friday); of several days the last is meant, unless negated after it ("pazartesi olsun, cuma
değil"); a habit ("cumaları", "salı ve perşembe günleri"), a span ("pazartesiden cumaya kadar"), a day
excluded ("pazartesi hariç"), a past day ("geçen cuma", "iki gün önce") and a month alone ("Temmuz'da")
are no date.

Left out on purpose, because Turkish or our conventions do not settle them (no cell guesses a label):
- "önümüzdeki cuma" / "bir sonraki cuma" said before Friday of the same week: the coming Friday or next
  week's? Speakers split. Only the days where both readings give the same date are in the matrix.
- "bu pazartesi" said on a Thursday (this week's, gone, or the coming one?): "bu" cells only for
  today and the days still ahead this week; "bu haftanın X" likewise.
- "öbür hafta" (next week, or the one after?), "ertesi gün" / "ertesi cuma" (the day after *which*
  day? it needs a day said before it), "N gün içinde" (within N days: a deadline, not a day).
- "cumaya kadar" (until / by Friday: a deadline or the day?).
- "pazarda" (on Sunday, or at the market?). The other weekdays' bare locative ("Pazartesi'de görüşelim",
  "salıda") is colloquial rather than standard ("pazartesi günü" is), but typed, and unambiguous: it is in.
- "15.04" and "15.04'te" with no year: 15:04 as much as 15 April (`normalize` reads a dotted pair as a
  time); dotted pairs are tested only where the first number cannot be an hour ("25.03").
- A day of the month under 5 without "ayın" ("ikisinde", "üçüne": "in both", "to all three"), and a bare
  possessive without it ("15'i uygun": the 15th, or "it, fifteen"?).
- "ay sonu", "ay başı", "hafta başı" (which day?), "bir ay sonra" (the same day next month, or ~30 days?),
  "sonraki gün" alone (after which day?), "cumadan önce/sonra" (a deadline or a bound, not a day).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

import pytest

from sentiric_pbx.dialog.nlu import understand_rules
from tests.tr_morphology import ASCII, VOWELS, ending, four, two

IST = ZoneInfo("Europe/Istanbul")
THURSDAY = dt.datetime(2026, 3, 12, 10, 0, tzinfo=IST)  # the bench's BENCH_NOW
LAST_SUNDAY = dt.datetime(2026, 3, 29, 18, 0, tzinfo=IST)  # week and month roll over
NOWS = (THURSDAY, LAST_SUNDAY)

# ---------------------------------------------------------------------------------------------- morphology

_a, _i = two, four  # the two-way vowel (A) and the four-way vowel (I): `tests/tr_morphology.py`


def _suffix(word: str, case: str, sound: str = "") -> str:
    """`word` with one Turkish ending: dat, abl, loc, acc, gen, poss (3rd person), possdat, possloc, possabl,
    plural. `sound` is the word as spoken when it differs from how it is written ("15" → "beş"); the ending
    is glued to `word` after an apostrophe when `sound` is given (how Turkish writes endings on digits)."""
    spoken = sound or word
    stem = word
    if not sound and word.lower() in {"ocak", "aralık"} and ending(spoken, case)[0] in VOWELS:
        stem = word[:-1] + "ğ"  # polysyllables in -k soften before a vowel
    end = ending(spoken, case)
    return f"{stem}'{end}" if sound else stem + end


_UNITS = ("", "bir", "iki", "üç", "dört", "beş", "altı", "yedi", "sekiz", "dokuz")
_TENS = ("", "on", "yirmi", "otuz")


def _spoken(n: int) -> str:
    """1–31 and 2026–2030 as Turkish number words."""
    if n >= 2000:
        return " ".join(w for w in ("iki bin", _TENS[(n % 100) // 10], _UNITS[n % 10]) if w)
    return " ".join(w for w in (_TENS[n // 10], _UNITS[n % 10]) if w)


def _numeral(n: int, case: str) -> str:
    """ "15'inde", "6'sına", "9'u": a number in digits with the ending its spoken last word takes."""
    return _suffix(str(n), case, _spoken(n).split()[-1])


def _word_numeral(n: int, case: str) -> str:
    """ "on beşinde", "altısına", "dokuzu": the same in words (dört softens: "dördünde")."""
    words = _spoken(n).split()
    last = _suffix(words[-1], case)
    if words[-1] == "dört" and last[4:5] in tuple(VOWELS):
        last = "dörd" + last[4:]
    return " ".join([*words[:-1], last])


def _ordinal(n: int) -> str:
    """ "beşinci", "altıncı", "dördüncü", "on birinci": -(I)ncI on the last word, dört softened."""
    words = _spoken(n).split()
    last = words[-1]
    i = _i(last)
    ordinal = (last if last[-1] in VOWELS else last + i) + "nc" + i
    return " ".join([*words[:-1], ordinal.replace("dörtü", "dördü")])


# -------------------------------------------------------------------------------------------- calendar


def _upcoming(today: dt.date, weekday: int) -> dt.date:
    """The first such weekday after today (a week on, said on that weekday)."""
    return today + dt.timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _next_week(today: dt.date, weekday: int) -> dt.date:
    return today - dt.timedelta(days=today.weekday()) + dt.timedelta(days=7 + weekday)


def _next_day_of_month(today: dt.date, day: int, skip_this_month: bool = False) -> dt.date:
    year, month = today.year, today.month
    while True:
        if not skip_this_month:
            try:
                candidate = dt.date(year, month, day)
            except ValueError:
                candidate = None
            if candidate is not None and candidate >= today:
                return candidate
        skip_this_month = False
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _next_month_day(today: dt.date, month: int, day: int) -> dt.date:
    candidate = dt.date(today.year, month, day)
    return candidate if candidate >= today else dt.date(today.year + 1, month, day)


# ----------------------------------------------------------------------------------------------- cells

WEEKDAYS = ("pazartesi", "salı", "çarşamba", "perşembe", "cuma", "cumartesi", "pazar")
# how chat users type them besides the folded ASCII every cell is also tried in
MISSPELT = {"pazartesi": "pazartesı", "cumartesi": "cumartesı"}
MONTHS = (
    "ocak", "şubat", "mart", "nisan", "mayıs", "haziran", "temmuz", "ağustos", "eylül", "ekim", "kasım", "aralık",
)  # fmt: skip

Cell = tuple[str, dt.datetime, str | None]


def _spellings(text: str) -> Iterator[str]:
    """As written, typed without Turkish letters, and with a capital first letter."""
    yield text
    yield text.translate(ASCII)
    yield text[0].upper() + text[1:]


# Weekday forms: (ending, pattern). "{w}" is the weekday in that ending; "{g}" is "günü" in it.
WEEKDAY_FORMS = (
    ("", "{w}"),
    ("", "{w} günü"),
    ("", "{w} için"),
    ("", "{w} günü için"),
    ("", "{w} sabahı"),
    ("", "{w} akşamı"),
    ("", "{w} öğleden sonra"),
    ("dat", "{w}"),
    ("", "{w} gününe"),
    ("abl", "{w} itibaren"),
    ("", "{w} gününden itibaren"),
    ("acc", "{w} tercih ederim"),
    ("", "{w} günkü randevumu değiştirmek istiyorum"),
    ("loc", "{w} görüşelim"),
    ("cond", "{w} gelebilirim"),
    ("past", "randevum {w} değil mi?"),
    ("", "{w} günüyse olur"),
)
# The same day after "haftanın" is possessed: "gelecek haftanın salısı / salısına / salı günü".
POSSESSED_FORMS = (
    ("poss", "{w}"),
    ("possdat", "{w}"),
    ("possabl", "{w} itibaren"),
    ("", "{w} günü"),
    ("", "{w} gününe"),
)
NEXT_WEEK = ("haftaya", "gelecek", "gelecek hafta", "önümüzdeki hafta")
COMING = ("önümüzdeki", "bir sonraki")  # the coming X, or next week's: only where the two agree


def _weekday_cells() -> Iterator[Cell]:
    """Each weekday in each form, alone in three spellings, and after each modifier. The forms that take
    every modifier are the bare day, "X günü" and the dative; the rest take one modifier each, in turn."""
    for now, (weekday, name), (f, (case, form)) in itertools.product(
        NOWS, enumerate(WEEKDAYS), enumerate(WEEKDAY_FORMS)
    ):
        today = now.date()
        if (name, case) == ("pazar", "loc"):  # "pazarda": at the market (module docstring)
            continue
        day = _suffix(name, case) if case else name

        def said(mod: str, day: str = day, form: str = form) -> str:
            return form.format(w=f"{mod} {day}" if mod else day)

        upcoming, next_week = _upcoming(today, weekday), _next_week(today, weekday)
        for text in _spellings(said("")):
            yield text, now, upcoming.isoformat()
        if name in MISSPELT and not case:
            yield form.format(w=MISSPELT[name]), now, upcoming.isoformat()
        for mod in NEXT_WEEK if f in {0, 1, 7} else NEXT_WEEK[f % len(NEXT_WEEK) : f % len(NEXT_WEEK) + 1]:
            yield said(mod), now, next_week.isoformat()
        if upcoming == next_week:
            yield said(COMING[f % 2]), now, upcoming.isoformat()
        if weekday >= today.weekday():
            yield said("bu"), now, (today + dt.timedelta(days=weekday - today.weekday())).isoformat()
    for now, (weekday, name), (case, form) in itertools.product(NOWS, enumerate(WEEKDAYS), POSSESSED_FORMS):
        today = now.date()
        said = form.format(w=_suffix(name, case) if case else name)
        for text in _spellings(f"gelecek haftanın {said}"):
            yield text, now, _next_week(today, weekday).isoformat()
        yield f"önümüzdeki haftanın {said}", now, _next_week(today, weekday).isoformat()
        if weekday >= today.weekday():
            this_week = today + dt.timedelta(days=weekday - today.weekday())
            yield f"bu haftanın {said}", now, this_week.isoformat()


RELATIVE = (
    ("bugün", 0), ("bugün için", 0), ("bugünden itibaren", 0), ("bugün akşam", 0), ("bu gün", 0), ("bu gece", 0),
    ("bu öğlen", 0), ("bu akşam", 0), ("bu sabah", 0), ("öbürgün", 2), ("haftaya bu gün", 7),
    ("yarın", 1), ("yarına", 1), ("yarın için", 1), ("yarından itibaren", 1), ("yarın sabah", 1),
    ("yarınki randevum", 1),
    ("öbür gün", 2), ("öbürsü gün", 2), ("yarından sonra", 2), ("yarın değil öbür gün", 2),
    ("haftaya bugün", 7), ("haftaya yarın", 8), ("bir hafta sonra", 7), ("bir hafta sonraya", 7),
    ("iki hafta sonra", 14), ("2 hafta sonra", 14), ("üç hafta sonra", 21),
)  # fmt: skip


def _relative_cells() -> Iterator[Cell]:
    for now, (said, days) in itertools.product(NOWS, RELATIVE):
        day = (now.date() + dt.timedelta(days=days)).isoformat()
        for text in _spellings(said):
            yield text, now, day
    for now, n, unit in itertools.product(NOWS, (1, 2, 3, 4, 5, 6, 10, 15), ("gün sonra", "gün sonraya")):
        day = (now.date() + dt.timedelta(days=n)).isoformat()
        yield f"{n} {unit}", now, day
        for text in _spellings(f"{_spoken(n)} {unit}"):
            yield text, now, day


# Day-of-month endings: (ending, pattern) where "{d}" is the number in that ending.
DAY_FORMS = (("poss", "{d}"), ("possloc", "{d}"), ("possdat", "{d}"), ("possabl", "{d} itibaren"))
# one of each last spoken word's vowel and buffer (1'i, 2'si, 3'ü, 6'sı, 9'u, 10'u, 20'si, 30'u), today, the
# month's last days
DAYS = (1, 2, 3, 4, 5, 6, 9, 10, 12, 15, 20, 26, 29, 30, 31)


def _day_of_month_cells() -> Iterator[Cell]:
    for now, day, (case, form) in itertools.product(NOWS, DAYS, DAY_FORMS):
        today = now.date()
        expected = _next_day_of_month(today, day).isoformat()
        for said in (form.format(d=_numeral(day, case)), form.format(d=_word_numeral(day, case))):
            for text in dict.fromkeys(_spellings(f"ayın {said}")):
                yield text, now, expected
            yield f"gelecek ayın {said}", now, _next_day_of_month(today, day, skip_this_month=True).isoformat()
            if day >= today.day:
                yield f"bu ayın {said}", now, expected
            if day >= 5 and case in {"possloc", "possdat"}:  # no "ayın": see the module docstring
                yield said, now, expected
        if case in {"poss", "possloc"}:  # "ayın 20'si cuma", "ayın 20'sinde cuma günü": the same day, named
            weekday = WEEKDAYS[_next_day_of_month(today, day).weekday()]
            yield f"ayın {_numeral(day, case)} {weekday}", now, expected
            yield f"ayın {_numeral(day, case)} {weekday} günü", now, expected
        if case == "poss":  # ordinals: "ayın beşinci günü", "ayın 15. günü"
            yield f"ayın {_ordinal(day)} günü", now, expected
            yield f"ayın {day}. günü", now, expected


def _month_forms(day: int, month: str, year: int | None, weekday: str) -> Iterator[str]:
    """ "15 Ocak", "15 Ocak'ta", "on beş ocakta", "ocağın 15'i", "ocak ayının 15'inde", "15 Ocak 2027" …"""
    cap = month[0].upper() + month[1:]
    num, word = str(day), _spoken(day)
    yield f"{num} {month}"
    yield f"{num} {cap}"
    yield f"{num} {month.upper()}"
    yield f"{word} {month}"
    yield f"{num} {cap}'{_suffix(month, 'loc')[len(month) :]}"
    yield f"{num} {_suffix(month, 'loc')}"
    yield f"{word} {_suffix(month, 'loc')}"
    yield f"{num} {cap}'{_suffix(month, 'dat')[len(month) :]}"
    yield f"{num} {_suffix(month, 'dat')}"
    yield f"{num} {cap}'{_suffix(month, 'abl')[len(month) :]} itibaren"
    yield f"{num} {cap}'{_suffix(month, 'loc')[len(month) :]}ki randevum"
    yield f"{_suffix(month, 'gen')} {_numeral(day, 'poss')}"
    yield f"{_suffix(month, 'gen')} {_numeral(day, 'possloc')}"
    yield f"{_suffix(month, 'gen')} {_word_numeral(day, 'possloc')}"
    yield f"{month} ayının {_numeral(day, 'possloc')}"
    yield f"{month} ayının {_word_numeral(day, 'poss')}"
    yield f"{month} {_numeral(day, 'possloc')}"
    yield f"{month} {_word_numeral(day, 'possdat')}"
    yield f"{num} {cap} {weekday}"
    yield f"{_suffix(month, 'gen')} {_numeral(day, 'poss')} {weekday} günü"  # the weekday names the same day
    if year is not None:
        yield f"{num} {cap} {year}"
        yield f"{num} {month} {year}"
        yield f"{num} {cap} {_numeral(year, 'loc')}"
        yield f"{num} {cap} {year} {weekday}"


# a day for each month, so the numbers' endings vary too ("28 Mart" is gone on the last Sunday of March)
MONTH_DAYS = (15, 1, 28, 9, 20, 3, 31, 6, 10, 2, 30, 23)


def _month_cells() -> Iterator[Cell]:
    for (n, now), (index, month) in itertools.product(enumerate(NOWS), enumerate(MONTHS, 1)):
        day = MONTH_DAYS[(index - 1 + 6 * n) % 12] if (n, index) != (1, 2) else 26  # no 30 February
        expected = _next_month_day(now.date(), index, day)
        weekday = WEEKDAYS[expected.weekday()]
        for said in _month_forms(day, month, None, weekday):
            for text in dict.fromkeys((said, said.translate(ASCII))):
                yield text, now, expected.isoformat()
        in_2027 = dt.date(2027, index, day)
        for said in _month_forms(day, month, 2027, WEEKDAYS[in_2027.weekday()]):
            if "2027" in said:
                yield said, now, in_2027.isoformat()


def _numeric_cells() -> Iterator[Cell]:
    with_year = ((15, 1, 2027), (5, 4, 2026), (28, 11, 2026), (31, 12, 2026))
    for now, (day, month, year) in itertools.product(NOWS, with_year):
        expected = dt.date(year, month, day).isoformat()
        for sep in "./-":
            yield f"{day}{sep}{month:02}{sep}{year}", now, expected
            yield f"{day:02}{sep}{month:02}{sep}{year}", now, expected
            yield f"{day}{sep}{month}{sep}{year}", now, expected
            yield f"{day}{sep}{month:02}{sep}{_numeral(year, 'loc')}", now, expected
            yield f"{day:02}{sep}{month:02}{sep}{year % 100}", now, expected  # "15.01.27"
        yield f"{year}-{month:02}-{day:02}", now, expected
    for now, (day, month) in itertools.product(NOWS, ((25, 3), (28, 4), (30, 11), (15, 1), (31, 12))):
        expected = _next_month_day(now.date(), month, day).isoformat()
        yield f"{day}/{month:02}", now, expected
        yield f"{day}/{month}", now, expected
        yield f"{day}/{month:02}'{_suffix(_spoken(month).split()[-1], 'loc')[-2:]}", now, expected
        if day > 23:  # "15.04" is as much 15:04 (module docstring)
            yield f"{day}.{month:02}", now, expected
            yield f"{day}.{month:02}'{_suffix(_spoken(month).split()[-1], 'loc')[-2:]}", now, expected


def _nth_in_month(year: int, month: int, weekday: int | None, nth: int) -> dt.date | None:
    """The nth (1–4, -1 the last) weekday of a month; None as weekday: the nth day."""
    days = [dt.date(year, month, 1) + dt.timedelta(days=k) for k in range(31)]
    days = [d for d in days if d.month == month and (weekday is None or d.weekday() == weekday)]
    return days[nth - 1] if nth > 0 else days[-1]


ORDINALS = (("ilk", 1), ("birinci", 1), ("ikinci", 2), ("üçüncü", 3), ("dördüncü", 4), ("son", -1))


def _nth_weekday_cells() -> Iterator[Cell]:
    """ "ayın ilk pazartesi(si)", "ayın ikinci salısı", "gelecek ayın son cuması", "nisanın ilk pazartesi",
    "ayın son günü": that weekday of this month (next month's once gone), of next month, of the named month."""
    for (n, now), (index, name), (o, (which, nth)) in itertools.product(
        enumerate(NOWS), enumerate((*WEEKDAYS, None)), enumerate(ORDINALS)
    ):
        today, weekday = now.date(), None if name is None else index
        following = (today.year + today.month // 12, today.month % 12 + 1)
        this_month = _nth_in_month(today.year, today.month, weekday, nth)
        next_month = _nth_in_month(*following, weekday, nth)
        day = "günü" if name is None else [name, _suffix(name, "poss"), f"{name} günü"][(index + o) % 3]
        assert this_month is not None and next_month is not None
        yield f"ayın {which} {day}", now, (this_month if this_month >= today else next_month).isoformat()
        yield f"gelecek ayın {which} {day}", now, next_month.isoformat()
        month = (4, 1, 12)[(n + o) % 3]  # April, January (next year), December
        named = _nth_in_month(today.year, month, weekday, nth)
        assert named is not None
        if named < today:
            named = _nth_in_month(today.year + 1, month, weekday, nth)
        assert named is not None
        yield f"{_suffix(MONTHS[month - 1], 'gen')} {which} {day}", now, named.isoformat()


def _days(n: int) -> Callable[[dt.date], dt.date]:
    return lambda today: today + dt.timedelta(days=n)


# One expression of each kind and how its day follows from today, to put into frames (the forms above are
# tried alone).
EXPRESSIONS: dict[str, Callable[[dt.date], dt.date]] = {
    "cuma": lambda today: _upcoming(today, 4),
    "cumaya": lambda today: _upcoming(today, 4),
    "pazartesi": lambda today: _upcoming(today, 0),
    "pazartesiden itibaren": lambda today: _upcoming(today, 0),
    "haftaya salı": lambda today: _next_week(today, 1),
    "gelecek haftanın perşembesi": lambda today: _next_week(today, 3),
    "bugün": _days(0),
    "yarın": _days(1),
    "öbür gün": _days(2),
    "3 gün sonra": _days(3),
    "ayın 15'i": lambda today: _next_day_of_month(today, 15),
    "ayın 15'inde": lambda today: _next_day_of_month(today, 15),
    "ayın 20'si": lambda today: _next_day_of_month(today, 20),
    "ayın yirmi birine": lambda today: _next_day_of_month(today, 21),
    "15 Nisan": lambda today: _next_month_day(today, 4, 15),
    "15 Nisan'da": lambda today: _next_month_day(today, 4, 15),
    "15/04": lambda today: _next_month_day(today, 4, 15),
    "nisanın 20'si": lambda today: _next_month_day(today, 4, 20),
    "nisanın 20'sinde": lambda today: _next_month_day(today, 4, 20),
    "20.04.2026": lambda today: dt.date(2026, 4, 20),
    "15 Nisan 2027": lambda today: dt.date(2027, 4, 15),
}
FRAMED = ("cuma", "cumaya", "haftaya salı", "gelecek haftanın perşembesi", "yarın", "öbür gün", "3 gün sonra",
          "ayın 15'inde", "ayın yirmi birine", "15 Nisan'da", "nisanın 20'sinde", "20.04.2026", "pazartesiden itibaren",
          "bugün")  # fmt: skip
FRAMES = (
    "{x} gelebilir miyim",
    "{x} uygun mu?",
    "{x} müsait misiniz?",
    "randevumu {x} alabilir miyim",
    "merhaba, {x} saat üçte gelmek istiyorum",
    "{x} saat 14:30'da",
    "Tamam, o zaman {x} görüşürüz.",
)
# A calendar date said formally: "15 Nisan tarihinde", "20.04.2026 tarihli randevum".
DATED = ("15 Nisan", "20.04.2026", "15/04", "15 Nisan 2027", "nisanın 20'si")
DATE_FRAMES = ("{x} tarihinde", "{x} tarihine randevu alabilir miyim", "{x} tarihli randevumu iptal edin", "{x} günü")
# Turkish negates after the word: "cuma değil, pazartesi", "pazartesi olsun, cuma değil" — the day that is
# not negated is the one asked for, wherever it stands; "cuma yerine pazartesi": Monday instead of Friday.
CORRECTIONS = (
    "{no} değil, {yes}", "{yes} olsun, {no} değil", "{yes}, {no} değil", "{no} yerine {yes} olsun",
    "{no} değil de {yes} gelebilir miyim",
)  # fmt: skip
# "... değil mi?" is a tag question: it confirms the day, it does not take it back.
CONFIRMATIONS = ("{x} değil mi?", "randevum {x} değil miydi?", "{x} değil mi, {other} değil")
CORRECTED = (("cuma", "pazartesi"), ("yarın", "öbür gün"), ("ayın 15'i", "ayın 20'si"), ("haftaya salı", "yarın"))


# "yarından iki gün sonra", "cumadan bir hafta sonra": an offset after a day in the ablative counts from it.
COUNTED_FROM = (
    ("yarın", _suffix("yarın", "abl")), ("bugün", _suffix("bugün", "abl")), ("cuma", _suffix("cuma", "abl")),
    ("pazartesi", _suffix("pazartesi", "abl")), ("15 Nisan", "15 Nisan'" + _suffix("nisan", "abl")[5:]),
    ("ayın 15'i", "ayın " + _numeral(15, "possabl")),
)  # fmt: skip
OFFSETS = (
    ("2 gün sonra", 2), ("iki gün sonra", 2), ("bir hafta sonra", 7), ("3 gün sonraya", 3), ("sonraki gün", 1),
    ("önceki gün", -1), ("bir gün önce", -1),  # from today or tomorrow these are gone or today: not used there
)  # fmt: skip


def _turkish_upper(text: str) -> str:
    return text.replace("i", "İ").replace("ı", "I").upper()


def _framed_cells() -> Iterator[Cell]:
    def day(said: str, now: dt.datetime) -> str:
        return EXPRESSIONS[said](now.date()).isoformat()

    for now, said, frame in itertools.product(NOWS, FRAMED, FRAMES):
        yield frame.format(x=said), now, day(said, now)
    for now, said in itertools.product(NOWS, FRAMED):  # typed in capitals, Turkish ones: "YARIN", "AYIN 15'İNDE"
        yield _turkish_upper(FRAMES[0].format(x=said)), now, day(said, now)
    for now, said, frame in itertools.product(NOWS, DATED, DATE_FRAMES):
        yield frame.format(x=said), now, day(said, now)
    for now, (no, yes), frame in itertools.product(NOWS, CORRECTED, CORRECTIONS):
        yield frame.format(no=no, yes=yes), now, day(yes, now)
    for now, (first, second), conj, month in itertools.product(
        NOWS, ((5, 6), (15, 20), (29, 30), (2, 3)), ("ya da", "veya", "değil,"), (None, 1)
    ):  # "ayın 5'i ya da 6'sı", "ocağın 15'i değil, 20'si": the month is said once, the last day is meant
        today = now.date()
        if month is None:
            said, expected = "ayın", _next_day_of_month(today, second)
        else:
            said, expected = _suffix("ocak", "gen"), _next_month_day(today, month, second)
        yield f"{said} {_numeral(first, 'poss')} {conj} {_numeral(second, 'poss')}", now, expected.isoformat()
    for now, (base, said), (offset, days) in itertools.product(NOWS, COUNTED_FROM, OFFSETS):
        if days < 0 and base in {"bugün", "yarın"}:
            continue
        counted = EXPRESSIONS[base](now.date()) + dt.timedelta(days=days)
        yield f"{said} {offset}", now, counted.isoformat()
    for now, (other, said), frame in itertools.product(NOWS, CORRECTED, CONFIRMATIONS):
        yield frame.format(x=said, other=other), now, day(said, now)


# Not a day to book: counts, durations, past days, habits, spans, prices, phone numbers, a month alone.
NOT_A_DATE = (
    "3 gün sürer", "üç gün sürer mi", "kaç gün sürer", "iki hafta önce geldim", "on beş gün önce geldim",
    "3 gün önce aradım", "15 kişi", "15 kişilik masa", "ayda bir", "haftada iki gün", "iki haftada bir",
    "geçen hafta", "geçen hafta geldim", "geçen cuma geldim", "geçen salı aradım", "geçen ay", "dün",
    "dün aradım", "evvelsi gün geldim", "cumaları açık mısınız", "pazartesi günleri açık mısınız",
    "her cuma gelirim", "cumartesileri kaça kadar açıksınız", "pazartesiden cumaya kadar açığız",
    "salıdan perşembeye kadar doluyuz", "hafta sonu açık mısınız", "hafta içi her gün", "haftaya",
    "haftaya randevu almak istiyorum", "150 lira", "15 liraya", "fiyatı 250 TL", "yüzde 15 indirim",
    "numaram 0532 123 45 67", "0 555 444 33 22", "15 dakika sonra ararım", "yarım saat sonra",
    "2 saat sonra", "25 yaşındayım", "3 yıldır geliyorum", "ikinci kat", "iki kişiyiz", "oda 305",
    "12 taksit", "Temmuz'da 1 hafta ne kadar?", "ocak ayında", "martta tatildeyiz", "bugünlerde çok yoğunuz",
    "pazar yerinde buluşalım", "bu günlerde yoğunuz", "pazarda buluşalım", "3 gece konaklama",
    "1 haftalık tedavi", "2 hafta kalacağım",
    "saat 15.30'da", "14.45 uygun", "bir salise", "önceki gün geldim", "25.10 TL", "fiyatı 24.12 lira",
    "saat 24.00'te kapanıyoruz", "pazartesi hariç her gün açığız", "cuma dışında her gün",
    "bayram günleri hariç", "15 Ocak hariç her gün", "ayın 15'i dışında",
    "26.02.1993 tarihinde doğdum", "doğum tarihim 28.05.1985",  # a birth date (dev_q)
)  # fmt: skip


# A span of weekdays is when a place is open or full, not a day to book: "pazartesiden cumaya kadar",
# "salı ile perşembe arası", "pazartesi-cuma arası", "cumayla pazartesi arasında".
SPANS = ("{a:abl} {b:dat} kadar", "{a} ile {b} arası", "{a}-{b} arası", "{a:com} {b} arasında", "{a} ve {b} arası")
# A habit said once covers a list of days: "salı ve perşembe günleri", "cumartesi ve pazarları", "her salı ve cuma".
HABITS = ("{a} ve {b} günleri", "{a} ve {b:plural}", "{a}, {b} günleri açık mısınız", "her {a} ve {b} gelirim",
          "{a}, {c} ve {b} günleri kapalıyız")  # fmt: skip


def _with(word: str, case: str) -> str:
    if case == "com":  # the comitative -(y)lA: "salıyla", "pazarla"
        return word + ("y" if word[-1] in VOWELS else "") + "l" + _a(word)
    return _suffix(word, case) if case else word


def _negative_cells() -> Iterator[Cell]:
    for now, said in itertools.product(NOWS, NOT_A_DATE):
        for text in dict.fromkeys(_spellings(said)):
            yield text, now, None
    for now, (a, b), span in itertools.product(NOWS, itertools.permutations(WEEKDAYS, 2), SPANS):
        if WEEKDAYS.index(a) % 3 == WEEKDAYS.index(b) % 2:  # a third of the pairs is enough
            text = span.replace("{a:", "{a_").replace("{b:", "{b_")
            yield (
                text.format(
                    a=a,
                    b=b,
                    **{f"{k}_{c}": _with(w, c) for k, w in (("a", a), ("b", b)) for c in ("abl", "dat", "com")},
                ),
                now,
                None,
            )
    for now, (a, b), habit in itertools.product(NOWS, itertools.combinations(WEEKDAYS, 2), HABITS):
        c = WEEKDAYS[(WEEKDAYS.index(a) + WEEKDAYS.index(b)) % 7]
        plural = _suffix(b, "plural")  # "salıları", "pazarları": the plural as an adverb of time
        yield habit.replace("{b:plural}", plural + _i(plural)).format(a=a, b=b, c=c), now, None


GENERATORS = (_weekday_cells, _relative_cells, _day_of_month_cells, _month_cells, _numeric_cells,
              _nth_weekday_cells, _framed_cells, _negative_cells)  # fmt: skip


def _cells(generator: Callable[[], Iterator[Cell]]) -> list[Cell]:
    cells = {(text, now): expected for text, now, expected in generator()}
    return [(text, now, expected) for (text, now), expected in cells.items()]


CELLS = {gen.__name__.strip("_").removesuffix("_cells"): _cells(gen) for gen in GENERATORS}


@pytest.mark.parametrize("axis", list(CELLS))
def test_every_constructed_turkish_date_resolves_to_its_day(axis: str) -> None:
    """One test per axis, listing every wrong cell: a test per cell costs xdist minutes for seconds of work."""
    wrong = [
        f"{now:%a} {text!r}: want {expected}, got {got}"
        for text, now, expected in CELLS[axis]
        if (got := understand_rules(text, now=now, language="tr").entities.get("date")) != expected
    ]
    assert not wrong, f"{len(wrong)} of {len(CELLS[axis])} cells wrong:\n" + "\n".join(wrong[:40])


def test_the_morphology_builds_the_forms_a_speaker_says() -> None:
    """The matrix is only as good as its endings: spot-check them against forms from a grammar."""
    assert [_suffix(w, "dat") for w in WEEKDAYS] == [
        "pazartesiye", "salıya", "çarşambaya", "perşembeye", "cumaya", "cumartesiye", "pazara",
    ]  # fmt: skip
    assert [_suffix(m, "loc") for m in MONTHS] == [
        "ocakta", "şubatta", "martta", "nisanda", "mayısta", "haziranda",
        "temmuzda", "ağustosta", "eylülde", "ekimde", "kasımda", "aralıkta",
    ]  # fmt: skip
    assert [_suffix("ocak", "dat"), _suffix("aralık", "gen"), _suffix("salı", "poss")] == [
        "ocağa", "aralığın", "salısı",
    ]  # fmt: skip
    assert [_numeral(n, "possloc") for n in (1, 2, 3, 6, 9, 10, 20, 30)] == [
        "1'inde", "2'sinde", "3'ünde", "6'sında", "9'unda", "10'unda", "20'sinde", "30'unda",
    ]  # fmt: skip
    assert [_word_numeral(n, "possdat") for n in (4, 15, 21)] == ["dördüne", "on beşine", "yirmi birine"]
    assert [_ordinal(n) for n in (1, 4, 6, 9, 20, 23)] == [
        "birinci", "dördüncü", "altıncı", "dokuzuncu", "yirminci", "yirmi üçüncü",
    ]  # fmt: skip
    assert _numeral(2027, "loc") == "2027'de" and _suffix("cuma", "possabl") == "cumasından"
    assert [_suffix(w, c) for w, c in (("cuma", "cond"), ("pazar", "cond"), ("salı", "past"), ("pazar", "past"))] == [
        "cumaysa", "pazarsa", "salıydı", "pazardı",
    ]  # fmt: skip
    assert sum(map(len, CELLS.values())) < 6000  # a few seconds
