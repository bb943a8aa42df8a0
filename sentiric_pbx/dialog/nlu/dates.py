"""Which day the caller means, found in the digit form of the utterance (see `normalize`).

We find the phrases ourselves and only hand dateparser the calendar work it does well (month-name
dates, "in 3 weeks"), because on phone phrasing it guesses: measured with dateparser 1.2/1.5,
"on the 5th" → the 25th of May, "at four" → April, a bare "3" or "one" → a month,
"yarın saat üçte" / "cumaya" / "yarin" → nothing.

What the words mean (the tests hold us to it; `now` is the business's local time):

- "friday", "on friday", "this friday", "cuma": the first Friday *after* today ("this friday" said on
  a Friday is today). "fridays" / "cumaları" / "cuma günleri" / "her cuma" is a habit, not a date: no date.
- "next friday", "friday next week", "haftaya cuma", "gelecek cuma": Friday of *next calendar week*
  (weeks start on Monday). From Wed 25 Nov, "friday" is 27 Nov and "next friday" is 4 Dec. English
  speakers split on this; we pick the reading that makes "next" mean something, and the dialog reads
  the date back ("Friday the 4th of December?") before booking, so a wrong guess costs one turn.
- "the 5th", "ayın beşi", "15'inde": the next 5th of a month on or after today; "gelecek ayın beşi": next month's.
- "ayın son cuması", "gelecek ayın ilk pazartesi", "ayın ikinci salısı", "nisanın son cuması": that weekday of
  this month (of the next, once it is gone; of the named month, next year once it is gone).
- "march 24th", "24 mart": the next 24 March on or after today (dateparser, future preferred).
- "in 2 days", "in a week": dateparser. "a week from today", "2 days from tomorrow", "yarından iki gün sonra",
  "cumadan bir hafta sonra": counted from that day.
- Several dates in one turn: the last one wins, unless it follows "not"/"from"/"instead of" — callers
  correct themselves at the end ("not tomorrow, monday"; "move it from friday to monday") — or, in Turkish,
  which negates after the word, it comes before "değil"/"yerine"/"olmaz" ("pazartesi olsun, cuma değil").
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass

import dateparser

WEEKDAYS_EN = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
WEEKDAYS_TR = ("pazartesi", "sali", "carsamba", "persembe", "cuma", "cumartesi", "pazar")
MONTHS_EN = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
MONTHS_TR = (
    "ocak", "subat", "mart", "nisan", "mayis", "haziran", "temmuz", "agustos", "eylul", "ekim", "kasim", "aralik",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DateMention:
    """A resolved day and where it was said (offset in the digit string)."""

    start: int
    day: dt.date
    demoted: bool = False
    """Said after "not"/"from"/"instead of": used only when nothing else was said."""


def _weekday_date(today: dt.date, weekday: int, next_week: bool, this: bool) -> dt.date:
    if next_week:
        monday = today - dt.timedelta(days=today.weekday()) + dt.timedelta(days=7)
        return monday + dt.timedelta(days=weekday)
    ahead = (weekday - today.weekday()) % 7
    if ahead == 0 and not this:
        ahead = 7
    return today + dt.timedelta(days=ahead)


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _nth_weekday(today: dt.date, weekday: int | None, nth: int, months: list[tuple[int, int]]) -> dt.date | None:
    """The `nth` `weekday` (1–5, or -1 for the last; a weekday of None is any day) of the first of `months`
    in which it exists and is not yet past: "ayın ikinci salısı", "nisanın son cuması", "ayın son günü"."""
    for year, month in months:
        first, following = dt.date(year, month, 1), dt.date(*_month_after(year, month), 1)
        if weekday is None:
            day = following - dt.timedelta(days=1) if nth < 0 else first + dt.timedelta(days=nth - 1)
        elif nth < 0:
            day = following - dt.timedelta(days=(following.weekday() - weekday - 1) % 7 + 1)
        else:
            day = first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))
        if day.month == month and day >= today:
            return day
    return None


def day_of_month(today: dt.date, day: int) -> dt.date | None:
    if not 1 <= day <= 31:
        return None
    year, month = today.year, today.month
    for _ in range(13):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            candidate = None
        if candidate is not None and candidate >= today:
            return candidate
        year, month = _month_after(year, month)
    return None


def _dateparser(phrase: str, now: dt.datetime) -> dt.date | None:
    """dateparser on a phrase we built ourselves ("24 march 2027", "in 2 days")."""
    settings = {
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "PREFER_DATES_FROM": "future",
        "RETURN_AS_TIMEZONE_AWARE": False,
        "PREFER_DAY_OF_MONTH": "first",
    }
    parsed = dateparser.parse(phrase, languages=["en"], settings=settings)  # type: ignore[arg-type]
    if parsed is None:
        return None
    day = parsed.date()
    # "march 12" said on 12 March is today, not next year (dateparser's "future" is strict).
    if day.year == now.year + 1 and (day.month, day.day) == (now.month, now.day):
        return now.date()
    return day


def _demoted(text: str, start: int) -> bool:
    before = text[max(0, start - 14) : start]
    return bool(re.search(r"\b(?:not|from|instead of|than|rather than|not on)\s*(?:on |the )?$", before))


# Turkish negates after the word: "pazartesi olsun, cuma değil", "cuma yerine pazartesi", "yarın olmaz".
# "pazartesi hariç her gün", "15 Ocak dışında": the day excluded is no date at all.
_TR_EXCEPT = re.compile(r" (?:haric|disinda)\b")
# "cuma değil mi?" asks to confirm Friday: a tag question, not a correction.
_TR_NEGATED_AFTER = re.compile(r" (?:degil(?! mi)|yerine|olmaz|olmasin|olmuyor|uymaz|uymuyor)\b")


# "doğum günü 3 mart", "my birthday is march 3rd": a birthday, no day to book
_BIRTH = re.compile(r"\b(?:dogum (?:gunu|gunum|tarihi|tarihim)|birthday(?: is)?|date of birth(?: is)?|born on)\W*$")
_EN_WD = "|".join(WEEKDAYS_EN)
# Short month names as people say them ("dec third"); "mar", "may" and "jun" are left out: words first.
_EN_MONTH_SHORT = {"jan": "january", "feb": "february", "apr": "april", "aug": "august", "sept": "september",
                   "sep": "september", "oct": "october", "nov": "november", "dec": "december"}  # fmt: skip
_EN_MONTH = "|".join(MONTHS_EN) + "|" + "|".join(_EN_MONTH_SHORT)
_EN_PATTERNS = (
    ("from", r"\b(?:(?P<n>\d{1,2})|a|an) (?P<unit>days?|weeks?) from (?P<base>today|tomorrow|now)\b"),
    ("rel2", r"\b(?:the )?day after tomorrow\b"),
    ("rel0", r"\b(?:today|tonight|this (?:morning|afternoon|evening))\b"),
    ("rel1", r"\btomorrow\b"),
    ("wd", rf"\b(?P<mod>this coming |coming |this |next |on |last )?(?P<wd>{_EN_WD})(?P<pl>s)?(?P<nw> next week)?\b"),
    ("month", rf"\b(?P<mon>{_EN_MONTH}) (?:the )?(?P<d>\d{{1,2}})(?:th)?(?: (?P<y>20\d\d))?\b"),
    ("month", rf"\b(?:the )?(?P<d>\d{{1,2}})(?:th)? (?:of )?(?P<mon>{_EN_MONTH})(?: (?P<y>20\d\d))?\b"),
    ("dom", r"\b(?P<pre>on |for |by |until |till )?the (?P<d>\d{1,2})th\b(?P<of> of (?:the|this|next) month)?"),
    ("offset", r"\bin (?:(?P<n>\d{1,2})|a|an) (?P<unit>days?|weeks?)\b"),
)
_TR_WD = "cumartesi|pazartesi|carsamba|persembe|sali|cuma|pazar"
# The possessive ("cuması", "ayın 15'i") and the case endings after it, vowels folded: -(s)I, -(s)InA (to),
# -(s)InDA (on), -(s)InDAn (from). Vowel harmony leaves only i/u and e/a once ı, ü, ö are folded.
_POSS_CASE = r"s?[iu](?:nd[ae]n?|n[ae])?"
# A weekday's endings: the dative "cumaya", the accusative "salıyı", the ablative "pazardan" (and the colloquial
# "pazartesinden"), possessed after "haftanın" ("gelecek haftanın cumasından"), "-ki", or "günü" in any case
# ("cuma gününden itibaren", "cuma günkü"), or the copula alone. The bare locative is colloquial but typed
# ("Pazartesi'de görüşelim", "cumada"); not for "pazar": "pazarda" is at the market.
# The copula may follow, bare or on "günü": "cumaysa" (if it is Friday), "salıydı" (was), "pazartesidir",
# "cuma günüyse". After a vowel the copula takes its buffer y ("salıysa"; "salise" is a split second), after
# "pazar" it does not ("pazarsa").
_TR_COPULA = r"(?:(?<=[aeiu])y(?:s[ae]|d[iu]|m[iu]s)|(?<=r)(?:s[ae]|d[iu]|m[iu]s)|[dt][iu]r)?"
# "ayın 5'i ya da 6'sı", "ocağın 15'i değil, 16'sı": an alternative day of the same month, the month left unsaid;
# the last alternative or the correction is the one asked for, as "pazartesi ya da salı" is Tuesday.
_TR_ELIDED = rf"(?:\d{{1,2}}\w* (?:ya da|yada|veya|yahut|yoksa|degil) (?=\d{{1,2}}{_POSS_CASE}\b))?"
_TR_SUFFIX = (
    rf"(?:y?[ae]|y?[iu]|[dt][ae]n|nd[ae]n|(?<!pazar)n?d[ae]|{_POSS_CASE}|ki"
    rf"| gun(?:{_POSS_CASE}|ku)?{_TR_COPULA}|{_TR_COPULA})"
)
_TODAY = r"bu ?gun(?!ler)"
_TR_PATTERNS = (
    # "haftaya bugün" / "haftaya yarın": a week from today / from tomorrow, before "bugün" is read alone
    # Compounds are typed as one word or two ("bugün" / "bu gün", "öbür gün" / "öbürgün"), and "öbürsü gün" is
    # the colloquial "öbür gün"; "bu gece", "bu öğlen" are today as "bu akşam" is. "bugünlerde": these days.
    ("rel7", rf"\bhaftaya {_TODAY}\w*"),
    ("rel8", r"\bhaftaya yarin\w*"),
    ("rel2", r"\b(?:yarindan sonra\w*|obur(?:su)? ?gun\w*|ertesi gun\w*)"),
    ("rel0", rf"\b(?:{_TODAY}\w*|bu (?:sabah|aksam|ogleden sonra|ogle|gece)\w*)"),
    ("rel1", r"\byarin\w*"),
    # "ayın son cuma günü", "gelecek ayın ilk pazartesi", "ayın ikinci salısı", "nisanın son cuması", "ayın son
    # günü": the nth such weekday (or day) of the month; before the month dates, which would read "nisanın 2."
    (
        "nth",
        rf"\b(?:(?P<next>gelecek |onumuzdeki |bir sonraki )?ayin"
        rf"|(?P<mon>{'|'.join(MONTHS_TR)})(?:in|nin|un|nun| ayinin))"
        rf" (?P<which>ilk|son|[1-5](?:inci)?) (?P<wd>{_TR_WD}|gun)\w*",
    ),
    # month dates first: in "3 aralık perşembe" the weekday names the same day, it is not a second date
    ("month", rf"\b(?P<d>\d{{1,2}})\w* (?P<mon>{'|'.join(MONTHS_TR)})\w*(?: (?P<y>20\d\d))?(?: (?:{_TR_WD})\w*)?"),
    # "aralığın 15'i", "ocak ayının beşinde"
    ("month", rf"\b(?P<mon>{'|'.join(MONTHS_TR)})(?:in|nin|un|nun| ayinin) {_TR_ELIDED}(?P<d>\d{{1,2}})\w*"),
    # "nisan beşinde", "mart 20'sine", "ağustos 6'sında", "aralık 3'ünde": the month first, the day possessed
    # in any case (or an ordinal)
    ("month", rf"\b(?P<mon>{'|'.join(MONTHS_TR)}) (?P<d>\d{{1,2}})(?:{_POSS_CASE}|inci\w*)\b"),
    # "pazartesiden cumaya kadar", "pazartesi-cuma arası", "salı ile perşembe arası", "pazartesi ve cuma arasında":
    # the days a place is open or full, not a day
    ("range", rf"\b(?:{_TR_WD})\w*(?: ile| ve)? (?:{_TR_WD})\w* (?:kadar|arasi)\w*"),
    # "salı ve perşembe günleri", "cumartesi ve pazarları", "her salı ve perşembe": the habit said on the last
    # day (or "her" on the first) covers every day of the list
    (
        "range",
        rf"\b(?:(?:{_TR_WD})(?: ve| ile| veya| ya da)? )+(?:{_TR_WD})(?:leri|lari| gunleri)\b"
        rf"|\bher (?:{_TR_WD})(?:(?: ve| ile| veya| ya da)? (?:{_TR_WD}))+\b",
    ),
    (
        "wd",
        rf"\b(?P<mod>haftaya |gelecek hafta |gelecek haftaki |gelecek haftanin |onumuzdeki hafta "
        rf"|onumuzdeki haftanin |bu haftanin |gelecek |bu |onumuzdeki "
        rf"|gecen hafta |gecen haftaki |gecen )?"
        rf"(?P<wd>{_TR_WD})(?P<pl>leri|lari| gunleri)?{_TR_SUFFIX}\b",
    ),
    # "ayın 15'i"; "gelecek ayın 15'i" is next month's even while this month's 15th is still ahead
    ("dom", rf"\b(?P<pre>(?P<next>gelecek |onumuzdeki |bir sonraki )?ayin ){_TR_ELIDED}(?P<d>\d{{1,2}})\w*"),
    # "15'inde gelebilir miyim", "yirmisine", "16'sındaki": a day of the month in the locative or dative needs
    # no "ayın" (from the 5th: "ikisine", "dördünde" are "to both", "in all four" as often). Every vowel of the
    # ending, folded: "16'sında" → "16sinda", "14'ünde" → "14unde".
    ("dom", r"(?<!saat )\b(?P<pre>)(?P<d>[5-9]|[12]\d|3[01]) ?s?[iu]n(?:de|da|e|a)\b(?! yas)"),
    ("offset", r"\b(?P<n>\d{1,2}) (?P<unit>gun|hafta) sonra\w*"),  # "iki gün sonra", "bir hafta sonra"
    # "cumadan sonraki gün", "15 Ocak'tan bir gün önce", "cumadan önceki gün": only counted from a day said before
    # them (see `_counted_from`); alone, "önceki gün" and "iki gün önce" are gone, "sonraki gün" is after what?
    ("after", r"\b(?P<n>)sonraki (?P<unit>gun)\w*"),
    ("before", r"\b(?:(?P<n>\d{1,2}) (?P<unit>gun|hafta) once|(?P<n1>)onceki (?P<u1>gun))\w*"),
)


_NEXT_WEEK = frozenset(
    {"next", "haftaya", "gelecek hafta", "gelecek haftaki", "gelecek haftanin", "onumuzdeki hafta",
     "onumuzdeki haftanin", "gelecek"}
)  # fmt: skip
# "pazar alışverişi", "pazar yeri(nde/ne/nden)": the market, not Sunday ("pazar yerine cuma" — Friday instead of
# Sunday — gives Friday either way)
_MARKET = re.compile(r" (?:alisveris|yeri\w*|tezgah|esnaf)")


def _resolve(kind: str, m: re.Match[str], now: dt.datetime, language: str) -> dt.date | None:
    today = now.date()
    if kind == "range":
        return None
    if kind.startswith("rel"):
        return today + dt.timedelta(days=int(kind[3]))
    if kind == "wd":
        if m["pl"] or (language == "tr" and re.search(r"\bher $", m.string[: m.start()])):
            return None  # "on fridays", "cumaları", "cuma günleri", "her cuma": a habit, not a day
        if m["wd"] == "pazar" and _MARKET.match(m.string, m.end()):
            return None
        mod = (m["mod"] or "").strip()
        if mod == "last" or mod.startswith("gecen"):  # "geçen cuma": last Friday, gone
            return None
        names = WEEKDAYS_TR if language == "tr" else WEEKDAYS_EN
        next_week = mod in _NEXT_WEEK or bool(m.groupdict().get("nw"))
        return _weekday_date(today, names.index(m["wd"]), next_week, this=mod in {"this", "bu", "bu haftanin"})
    if kind == "nth":
        this = (today.year, today.month)
        if m["mon"]:
            month = MONTHS_TR.index(m["mon"]) + 1
            months = [(today.year, month), (today.year + 1, month)]
        else:
            months = [_month_after(*this)] if m["next"] else [this, _month_after(*this)]
        nth = {"ilk": 1, "son": -1}.get(m["which"]) or int(m["which"][0])
        return _nth_weekday(today, WEEKDAYS_TR.index(m["wd"]) if m["wd"] != "gun" else None, nth, months)
    if kind == "month":
        names = MONTHS_TR if language == "tr" else MONTHS_EN
        month = _EN_MONTH_SHORT.get(m["mon"]) or MONTHS_EN[names.index(m["mon"])]
        if m["mon"] == "may" and language == "en" and not m.group(0).endswith(("th", "of may")):
            if not re.search(r"\b(?:on|in|of|the) may\b", m.string):
                return None  # "i may 3 ..." is a verb
        return _dateparser(f"{int(m['d'])} {month} {m.groupdict().get('y') or ''}".strip(), now)
    if kind == "dom":
        day = int(m["d"])
        if day <= 3 and not (m["pre"] or m.groupdict().get("of")):
            return None  # "the first one", "the second option": not dates
        if m.groupdict().get("next"):
            today = dt.date(*_month_after(today.year, today.month), 1)
        return day_of_month(today, day)
    if kind == "from":  # "a week from today", "2 days from tomorrow"
        days = int(m["n"] or 1) * (7 if m["unit"].startswith("week") else 1)
        return today + dt.timedelta(days=days + (m["base"] == "tomorrow"))
    if kind in {"offset", "after", "before"}:
        if language == "tr":
            days = int(m["n"] or 1) * (7 if m["unit"] == "hafta" else 1)
            return today + dt.timedelta(days=-days if kind == "before" else days)
        return _dateparser(f"in {m['n'] or 1} {m['unit']}", now)
    return None


_Raw = tuple[int, int, str, dt.date]  # start, end, kind, day


def _from_day(digits: str, a_start: int, a_end: int, b_start: int) -> bool:
    """Whether the day said at `a_start:a_end` is in the ablative right before what starts at `b_start`
    ("yarından iki gün sonra", "14 ekimden 16 ekime"): what follows is counted, or spans, from it."""
    return not digits[a_end:b_start].strip() and re.search(r"[dt][ae]n$", digits[a_start:a_end]) is not None


def _counted_from(raw: list[_Raw], digits: str, today: dt.date) -> list[_Raw]:
    """ "yarından iki gün sonra", "cumadan bir hafta sonra", "15 Ocak'tan 3 gün sonra": an offset right after a
    day in the ablative counts from that day, not from today; the two make one mention."""
    out: list[_Raw] = []
    for start, end, kind, day in raw:
        if kind in {"offset", "after", "before"} and out:
            p_start, p_end, _, p_day = out[-1]
            if _from_day(digits, p_start, p_end, start):
                out[-1] = (p_start, end, "offset", p_day + (day - today))
                continue
        if kind == "wd" and out and out[-1][2] == "offset" and not digits[out[-1][1] : start].strip():
            p_start, p_end, _, p_day = out[-1]
            if "hafta" in digits[p_start:p_end]:  # "iki hafta sonra cuma": that week's Friday
                out[-1] = (p_start, end, "wd", p_day + dt.timedelta(days=day.weekday() - p_day.weekday()))
                continue
        if kind not in {"after", "before"}:
            out.append((start, end, kind, day))
    return out


def _apposition(raw: list[_Raw], digits: str) -> list[_Raw]:
    """ "ayın 20'si cuma", "Mart'ın 20'si Cuma günü": a weekday right after a day of the month names that same
    day; it is not a second date (the month patterns read "20 Mart Cuma" whole already)."""
    out: list[_Raw] = []
    for start, end, kind, day in raw:
        if kind == "wd" and out and out[-1][2] in {"dom", "month"} and not digits[out[-1][1] : start].strip():
            continue
        out.append((start, end, kind, day))
    return out


def find_dates(digits: str, now: dt.datetime, language: str) -> list[DateMention]:
    """Every date said in `digits`, in order of appearance, overlapping phrases counted once."""
    taken: list[tuple[int, int]] = []
    raw: list[_Raw] = []
    if language == "tr":  # "aralığın 15'i", "ocağın 3ü": k softens to ğ before a vowel (same length)
        digits = re.sub(r"\b(ocag|aralig)(?=in\b|a\b|i\b)", lambda m: m[1][:-1] + "k", digits)
    for kind, pattern in _TR_PATTERNS if language == "tr" else _EN_PATTERNS:
        for m in re.finditer(pattern, digits):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            day = _resolve(kind, m, now, language)
            taken.append((m.start(), m.end()))
            if day is not None and not (language == "tr" and _TR_EXCEPT.match(digits, m.end())):
                if not _BIRTH.search(digits[: m.start()]):
                    raw.append((m.start(), m.end(), kind, day))
    raw.sort()
    if language == "tr":
        raw = _counted_from(_apposition(raw, digits), digits, now.date())
    ends = _range_ends(raw, digits) if language == "tr" else set()
    return [
        DateMention(
            start,
            day,
            (language == "tr" and bool(_TR_NEGATED_AFTER.match(digits, end)))
            or _demoted(digits, start)
            or start in ends,
        )
        for start, end, _, day in raw
    ]


_TR_RANGE_JOIN = re.compile(r"^\s*(?:ile|ve|-)\s*$")
_TR_RANGE_CLOSE = re.compile(r"^\w*\s+(?:aras[ıi]\w*|kadar)\b")  # (digits folds ı to i)


def _range_ends(raw: list[_Raw], digits: str) -> set[int]:
    """ "14 Ekim ile 15 Ekim arası", "14 ekimden 16 ekime kadar": a span of days asks for its first, as a span of
    hours does ("ikiyle üç arası"); the starts of the spans' last days, to be demoted."""
    ends = set()
    for (a_start, a_end, _, _), (b_start, b_end, _, _) in itertools.pairwise(raw):
        joined = _TR_RANGE_JOIN.match(digits[a_end:b_start]) or _from_day(digits, a_start, a_end, b_start)
        if joined and _TR_RANGE_CLOSE.match(digits[b_end:]):
            ends.add(b_start)
    return ends


def pick(mentions: list[DateMention]) -> DateMention | None:
    """The caller's last word on the date (see the module docstring)."""
    preferred = [d for d in mentions if not d.demoted] or mentions
    return preferred[-1] if preferred else None
