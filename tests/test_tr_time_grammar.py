"""Turkish clock times by construction: every way the grammar lets a caller say a time, generated, not sampled.

The sentences are built from parts (an hour said as a word or in digits, minutes said one of a dozen ways,
a case ending with its vowel harmony and consonant assimilation, a daypart, a sentence around it) and the
expected "HH:MM" is computed from the same parts: never from running the extractor. A failure names the
sentence and what came out, so a rule that only fitted sample sentences shows here as a row of misses.

The clock is Thursday 2026-03-12 10:00 in Istanbul, as in `bench/nlu_tr_entities.jsonl`, whose labels fix the
conventions: a bare hour with no daypart is read by the business day (opening hours 09:00-17:00: of h and h+12
the one inside them, else the nearer; ties go to the afternoon), "gece" runs from 21:00 into the small hours,
a count of hours or minutes ("iki saat sonra", "15 dakika") is no clock time, and neither is a day of the
month ("ayın 3'ü").

Cells left out on purpose, because the grammar or our conventions do not decide them:
- the word "ona" (dative of "on") and "ondan" without "saat" or a daypart: also "to him", "from him / after
  that"; and "ona kadar" (until ten, or counting up to ten: dev_f "Birden ona kadar." has no time);
- a bare dative or nominative with nothing that makes it a time ("üçe.", "üç uygun mu?": three of anything);
- "sabah/öğleden sonra/akşam 12", "gece" with 5-8, "öğlen" with hours past two: which half of the day is meant
  is not settled by the words;
- "buçuk", "geçe", "kala" on a 24-hour hour ("on beşi çeyrek geçe"): heard in speech, but rare enough that
  our labels have none;
- a bare "yarımda" (also "half-finished") without "saat" or "öğlen";
- the word "ona"/"ondan" after a daypart without "saat" ("akşam ona gelirim": at ten, or to him in the evening);
- "ikide bir" (every so often, or "at two, a ..."), and a Turkish ten after "saat" but before "-la" ("onla").

One label here disagrees with the dev set: dev_f's "Saat yediyi on geçiyor" is 19:10 there, while its "Sekize
çeyrek var" is 07:45; the matrix keeps the documented rule (07:10), which dev_f itself does not apply evenly.

On 63d5009, before the fixes these matrices led to, 496 of these 5903 cells failed; none do after them.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sentiric_pbx.dialog.nlu import understand_rules
from tests.tr_morphology import ending, four

NOW = dt.datetime(2026, 3, 12, 10, 0, tzinfo=ZoneInfo("Europe/Istanbul"))  # a Thursday, as the bench
OPENS, CLOSES = 9 * 60, 17 * 60

# ---------------------------------------------------------------------------------------------------------
# Turkish morphology, as a grammar book states it (not as the extractor reads it)

WORDS = {
    0: "sıfır", 1: "bir", 2: "iki", 3: "üç", 4: "dört", 5: "beş", 6: "altı", 7: "yedi", 8: "sekiz", 9: "dokuz",
    10: "on", 20: "yirmi", 30: "otuz", 40: "kırk", 50: "elli",
}  # fmt: skip
_SOFT = {"dört": "dörd", "buçuk": "buçuğ"}  # final stops that voice before a vowel ("üç" does not: "üçe")


def word(n: int) -> str:
    """0-59 as said: 15 "on beş", 45 "kırk beş"."""
    if n in WORDS:
        return WORDS[n]
    tens, unit = divmod(n, 10)
    return f"{WORDS[tens * 10]} {WORDS[unit]}"


def suffix(w: str, case: str) -> str:
    """The case ending `w` takes (locative "de/da/te/ta", ablative, dative "(y)e/(y)a", accusative, instrumental
    "ikiyle", "üçle"): `tests/tr_morphology.py`."""
    return ending(w, case)


def inflect(phrase: str, case: str) -> str:
    """ "dört" + dat → "dörde", "on iki" + acc → "on ikiyi", "buçuk" + dat → "buçuğa"."""
    *head, last = phrase.split(" ")
    end = suffix(last, case)
    soft = next((last[: -len(k)] + v for k, v in _SOFT.items() if last.endswith(k)), last)  # "ondört" too
    stem = soft if end[0] in "aıoueiöü" else last
    return " ".join([*head, stem + end])


@dataclass(frozen=True, slots=True)
class Number:
    """A number as the caller says or types it, and the word its case ending agrees with."""

    text: str
    reading: str  # the words it is read as: "3" → "üç", "14:30" → "on dört otuz"
    is_digits: bool
    apostrophe: bool = True
    curly: bool = False  # "3’te": the typographic apostrophe phones and word processors put in

    def case(self, case: str) -> str:
        if not self.is_digits:
            return inflect(self.text, case)
        end = suffix(self.reading.split(" ")[-1], case)
        mark = ("’" if self.curly else "'") if self.apostrophe else ""
        return f"{self.text}{mark}{end}"


def hour_forms(hours: range | list[int]) -> Iterator[tuple[int, Number]]:
    """Each hour as a word ("on üç", and every other compound written as one word: "onüç"), in digits with an
    apostrophe before the ending ("13'te", every third one typographic: "12’de") and without ("13te")."""
    for h in hours:
        said = word(h)
        yield h, Number(said.replace(" ", "") if h % 2 else said, said, False)
        yield h, Number(str(h), said, True, True, curly=h % 3 == 0)
        yield h, Number(str(h), said, True, False)


# ---------------------------------------------------------------------------------------------------------
# Which clock time a spoken hour is


def business(h12: int, minute: int) -> int:
    """Of h and h+12 the one inside opening hours, else the one nearer to them; ties go to the afternoon."""

    def distance(h: int) -> int:
        at = h * 60 + minute
        return 0 if OPENS <= at < CLOSES else min(abs(at - OPENS), abs(at - CLOSES))

    return min((h12 % 12, h12 % 12 + 12), key=lambda h: (distance(h), -h))


# daypart → the 12-hour hours it goes with unambiguously, and how it turns one into a 24-hour hour
DAYPARTS: dict[str, tuple[set[int], int]] = {
    "sabah": ({5, 6, 7, 8, 9, 10, 11}, 0),
    "sabahleyin": ({5, 6, 7, 8, 9, 10, 11}, 0),
    "öğleden önce": ({8, 9, 10, 11}, 0),
    "öğlen": ({12, 1, 2}, 12),
    "öğleyin": ({12, 1, 2}, 12),
    "öğleden sonra": ({1, 2, 3, 4, 5, 6}, 12),
    "akşamüstü": ({4, 5, 6, 7}, 12),
    "akşam": ({5, 6, 7, 8, 9, 10, 11}, 12),
    "gece": ({9, 10, 11, 12, 1, 2, 3, 4}, -1),  # 21-23, then 00-04
    "sabaha karşı": ({3, 4, 5, 6}, 0),  # towards morning
}


def clock(h: int, minute: int, daypart: str | None) -> str | None:
    """The "HH:MM" meant, or None where the daypart does not go with the hour (the cell is left out)."""
    if h >= 13 or h == 0:  # a 24-hour hour says which half of the day itself
        if daypart is not None:
            return None
        return f"{h:02d}:{minute:02d}"
    if daypart is None:
        return f"{business(h, minute):02d}:{minute:02d}"
    hours, shift = DAYPARTS[daypart]
    if h not in hours:
        return None
    if shift == -1:  # the night: 9-11 before midnight, 12 and 1-4 after it
        hour = h + 12 if h >= 9 and h != 12 else h % 12
    elif shift == 12:
        hour = h if h == 12 else h + 12
    else:
        hour = h
    return f"{hour:02d}:{minute:02d}"


# ---------------------------------------------------------------------------------------------------------
# The phrases: a time said one way, with what it means and which sentences it fits


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    hour: int  # the clock hour as said after counting minutes to or past it: 1-12, or 0/13-23
    minute: int
    role: str  # "adv": before a verb ("üçte", "üçü çeyrek geçe"); "dat": dative, before a verb of coming;
    # "nom": the bare number, needing "saat", a daypart or a day to be a time; "stmt": telling the time


POSTPOSITIONS = ("gibi", "civarı", "civarında", "sularında", "raddelerinde", "sıralarında")


def cased(n: Number, h: int, minute: int, *, strong: bool) -> Iterator[Phrase]:
    """One number with every ending and postposition that keeps it a time. `strong`: "saat" or a daypart
    is said before it, so the word "ona"/"ondan" is ten and the bare number a time."""
    ambiguous_on = not n.is_digits and n.text == "on" and not strong
    yield Phrase(n.case("loc"), h, minute, "adv")
    yield Phrase(n.case("loc") + " falan", h, minute, "adv")
    if not ambiguous_on:
        yield Phrase(n.case("dat"), h, minute, "dat")
        yield Phrase(n.case("abl") + " sonra", h, minute, "adv")
        yield Phrase(n.case("abl") + " itibaren", h, minute, "adv")
        yield Phrase(n.case("dat") + " kadar", h, minute, "adv")
        yield Phrase(n.case("dat") + " doğru", h, minute, "adv")
        yield Phrase(n.case("abl") + " önce", h, minute, "adv")
    yield Phrase("tam " + n.case("loc"), h, minute, "adv")  # exactly at
    yield Phrase("en geç " + n.case("loc"), h, minute, "adv")  # at the latest
    for post in POSTPOSITIONS:
        yield Phrase(f"{n.text} {post}", h, minute, "adv")
    if strong:
        yield Phrase(n.text, h, minute, "nom")


def relative(n: Number, h: int, m_text: str, minute: int, *, dakika: bool) -> Iterator[Phrase]:
    """Minutes past and to the hour: "üçü on geçe" 3:10, "dörde on kala" 3:50, "saat üçü on geçiyor",
    "saat dörde on var"."""
    unit = " dakika" if dakika else ""
    before = h - 1 or 12
    yield Phrase(f"{n.case('acc')} {m_text}{unit} geçe", h, minute, "adv")
    yield Phrase(f"{n.case('dat')} {m_text}{unit} kala", before, 60 - minute, "adv")
    yield Phrase(f"saat {n.case('acc')} {m_text}{unit} geçiyor", h, minute, "stmt")
    yield Phrase(f"saat {n.case('dat')} {m_text}{unit} var", before, 60 - minute, "stmt")


def with_minutes(n: Number, h: int) -> Iterator[Phrase]:
    """An hour of 1-12 with its minutes said the ways Turkish says them."""
    half = Number(f"{n.text} buçuk", "buçuk", False)
    yield Phrase(inflect(half.text, "loc"), h, 30, "adv")
    yield Phrase(inflect(half.text, "dat"), h, 30, "dat")
    yield Phrase(inflect(half.text, "abl") + " sonra", h, 30, "adv")
    yield Phrase(f"{half.text} gibi", h, 30, "adv")
    # minutes counted from the half hour: "beş buçuğu iki geçe" 5:32, "beş buçuğa iki kala" 5:28
    yield Phrase(f"{inflect(half.text, 'acc')} {'5' if n.is_digits else 'beş'} geçe", h, 35, "adv")
    yield Phrase(f"{inflect(half.text, 'dat')} {'5' if n.is_digits else 'beş'} kala", h, 25, "adv")
    yield Phrase(f"{n.case('acc')} çeyrek geçe", h, 15, "adv")
    yield Phrase(f"{n.case('dat')} çeyrek kala", h - 1 or 12, 45, "adv")
    yield Phrase(f"saat {n.case('acc')} çeyrek geçiyor", h, 15, "stmt")
    yield Phrase(f"saat {n.case('dat')} çeyrek var", h - 1 or 12, 45, "stmt")
    for minute in (5, 20, 7):  # and not only fives ("üçe yedi kala" 2:53)
        yield from relative(n, h, str(minute) if n.is_digits else word(minute), minute, dakika=False)
    yield from relative(n, h, "on" if not n.is_digits else "10", 10, dakika=True)


def clock_digits(h: int, minute: int) -> Iterator[Phrase]:
    """ "14:30", "14.30", "09:05" with the ending the minutes (or, at :00, the hour) take; the separator and
    the leading zero alternate."""
    reading = f"{word(h)} {word(minute)}" if minute else word(h)
    sep = ":" if (h + minute // 5) % 2 else "."
    pad = f"{h:02d}" if h < 10 and minute % 10 == 0 else str(h)
    n = Number(f"{pad}{sep}{minute:02d}", reading, True)
    yield Phrase(n.text, h, minute, "adv")
    yield Phrase(n.case("loc"), h, minute, "adv")
    yield Phrase(n.case("abl") + " sonra", h, minute, "adv")
    yield Phrase(n.case("dat"), h, minute, "dat")


def clock_spoken(h: int, minute: int) -> Iterator[Phrase]:
    """ "on beş otuz", "dokuz kırk beşte", "dokuz sıfır beşte", "on dört sıfır sıfır": hour and minutes
    read out as numbers. Bare, they need "saat" before them; with the locative they are a time alone."""
    if minute < 10:
        said = f"{word(h)} sıfır {word(minute)}"
    else:
        said = f"{word(h)} {word(minute)}"
    yield Phrase(inflect(said, "loc"), h, minute, "adv")
    yield Phrase(said, h, minute, "nom")


# ---------------------------------------------------------------------------------------------------------
# Sentences around a phrase

FRAMES = {
    "adv": (
        "{d}{t} gelebilir miyim",
        "{d}{t} uygun mu?",
        "{d}{t} müsait misiniz",
        "randevu {d}{t} olsun",
        "{d}{t} boş musunuz?",
        "randevumu {d}{t} alabilir miyiz",
    ),
    "dat": ("{d}{t} gelebilir miyim", "{d}{t} randevu alabilir miyim", "beni {d}{t} yazın"),
    "nom": (
        "{d}{t} uygun mu?",
        "randevu {d}{t} olsun",
        "merhaba, {d}{t} için randevu almak istiyorum",
        "{d}{t} için yer var mı?",
    ),
    "stmt": ("{t}.",),
}


def _cap(text: str) -> str:
    """Capitalised the Turkish way: "ikide" → "İkide", "ılık" → "Ilık"."""
    return {"i": "İ", "ı": "I"}.get(text[0], text[0].upper()) + text[1:]


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    want: str | None


def got(text: str) -> str | None:
    return understand_rules(text, now=NOW, language="tr").entities.get("time")


def failures(cells: list[Cell]) -> list[str]:
    return [f"{c.text!r}: want {c.want}, got {g}" for c in cells if (g := got(c.text)) != c.want]


def _sentences(phrases: Iterator[Phrase], daypart: str | None, dates: tuple[str, ...]) -> Iterator[Cell]:
    """Each phrase in one sentence of its role, the frames and days taken in turn, so that every frame and
    day meets every kind of phrase without multiplying the matrix by them (`frame_matrix` does that)."""
    turn = itertools.count()
    seen: set[str] = set()
    for p in phrases:
        want = clock(p.hour, p.minute, daypart)
        if want is None or (p.role == "stmt" and daypart) or p.text in seen:
            continue
        seen.add(p.text)
        i = next(turn)
        frame, d = FRAMES[p.role][i % len(FRAMES[p.role])], dates[i % len(dates)]
        lead = f"{daypart} " if daypart else ""
        text = frame.format(d=d + lead, t=p.text)
        yield Cell(_cap(text), want)


# ---------------------------------------------------------------------------------------------------------
# The matrices


def _with_saat(p: Phrase, saat: bool) -> Phrase:
    return Phrase("saat " + p.text, p.hour, p.minute, p.role) if saat and p.role != "stmt" else p


def case_matrix() -> list[Cell]:
    """Every hour 1-23, word or digits, with every case ending and postposition; "saat" before every other one
    (by hour, so each ending meets both), and always where only "saat" makes it a time."""
    phrases = []
    for h, n in hour_forms(range(1, 24)):
        bare = list(cased(n, h, 0, strong=False))
        phrases += [_with_saat(p, k % 2 == h % 2) for k, p in enumerate(bare)]
        phrases += [_with_saat(p, True) for p in cased(n, h, 0, strong=True) if p not in bare]
    return list(_sentences(iter(phrases), None, ("",)))


def minutes_matrix() -> list[Cell]:
    """Hours 1-12 with "buçuk", "çeyrek", minutes past and to, with and without "saat"; hours 0-23 with
    their minutes in digits ("14:30'da") and read out ("on dört otuzda", "dokuz sıfır beşte")."""
    phrases = [
        _with_saat(p, k % 2 == h % 2)  # "saat" before every other one, by hour, so each form meets both
        for h, n in hour_forms(range(1, 13))
        if not n.is_digits or n.apostrophe  # nobody types "3ü çeyrek geçe"; bare endings are in case_matrix
        for k, p in enumerate(with_minutes(n, h))
    ]
    phrases += [
        p for h, minute in itertools.product(range(24), (0, 5, 15, 30, 45, 50)) for p in clock_digits(h, minute)
    ]
    phrases += [
        _with_saat(p, p.role == "nom")
        for h, minute in itertools.product(range(1, 24), (0, 5, 15, 20, 30, 45, 50))
        for p in clock_spoken(h, minute)
    ]
    return list(_sentences(iter(phrases), None, ("",)))


def daypart_matrix() -> list[Cell]:
    """Each daypart with the hours it goes with: "akşam yedide", "gece 2'de", "öğleden sonra üçü çeyrek geçe";
    "saat" said after the daypart every other time ("akşam saat yedide")."""
    cells: list[Cell] = []
    for daypart, (hours, _) in DAYPARTS.items():
        phrases = []
        for h in sorted(hours):
            word_form, digit_form = (n for _, n in hour_forms([h]) if not n.is_digits or n.apostrophe)
            said = [
                [p for p in [*cased(n, h, 0, strong=True), *with_minutes(n, h)] if p.role in {"adv", "nom"}]
                for n in (word_form, digit_form)
            ]
            # the word and the digits take turns, and so does "saat" after the daypart ("akşam saat yedide")
            phrases += [_with_saat(pair[k % 2], k % 4 >= 2) for k, pair in enumerate(zip(*said, strict=True))]
            # "akşam 7:30'da", "sabah 09.15'te", "akşam yedi otuzda", "sabah dokuz sıfır beşte"
            minute = (15, 30, 45, 5)[h % 4]
            phrases += [p for p in clock_digits(h, minute) if p.role == "adv"]
            phrases += [_with_saat(p, p.role == "nom") for p in clock_spoken(h, minute)]
        cells += _sentences(iter(phrases), daypart, ("", "yarın "))
    for noon in ("öğlen", "öğleyin", "öğlende"):  # noon itself
        cells.append(Cell(f"yarın {noon} gelebilir miyim", "12:00"))
    for daypart in ("öğlen", "öğleyin"):  # half past twelve has its own word
        cells.append(Cell(f"{daypart} yarımda gelebilir miyim", "12:30"))
    cells += [Cell("saat yarımda gelebilir miyim", "12:30"), Cell("Saat yarımda", "12:30")]
    cells += [Cell("saat yarımı on geçe gelebilir miyim", "12:40"), Cell("öğlen yarıma doğru gelirim", "12:30")]
    return cells


def copula_matrix() -> list[Cell]:
    """The locative as a predicate and a modifier: "randevum üçte mi?", "onda mıydı", "saat 3'teydi",
    "dörttedir", "üçteki randevum"; and one time corrected by another ("üçte değil, dörtte" asks for four)."""
    cells: list[Cell] = []
    for h, n in hour_forms(range(1, 13)):
        if n.is_digits and not n.apostrophe:
            continue
        at = n.case("loc")
        v = four(at)
        want = clock(h, 0, None)
        cells += [
            Cell(f"Randevum yarın {at} m{v}?", want),
            Cell(f"Randevum {at} m{v}yd{v}?", want),
            Cell(f"Randevum saat {at}yd{v}.", want),
            Cell(f"Toplantı {at}d{v}r.", want),
            Cell(f"Randevusu {at}ym{v}ş.", want),
            Cell(f"{at}ki randevumu iptal etmek istiyorum", want),
        ]
    for (_, n1), (h2, n2) in itertools.product(hour_forms([3, 9, 11]), hour_forms([4, 10, 2])):
        if (n1.is_digits and not n1.apostrophe) or (n2.is_digits and not n2.apostrophe):
            continue
        want = clock(h2, 0, None)
        cells.append(Cell(f"{n1.case('loc')} değil, {n2.case('loc')} gelebilir miyim?", want))
        cells.append(Cell(f"saat {n1.text} olmaz, {n2.case('loc')} olur mu?", want))
    return cells


def range_matrix() -> list[Cell]:
    """A span of hours asks for its start: "üç ile beş arası", "ikiyle dört arasında", "3-5 arası", "üçten beşe
    kadar", with and without "saat" (the start read as any bare hour is)."""
    phrases = []
    for (h, n), span, saat in itertools.product(hour_forms(range(1, 13)), (1, 2), (False, True)):
        if n.is_digits and not n.apostrophe:
            continue
        end_h = (h + span - 1) % 12 + 1
        end = Number(str(end_h), word(end_h), True) if n.is_digits else Number(word(end_h), word(end_h), False)
        forms = [f"{n.text} ile {end.text} arası", f"{n.text} ile {end.text} arasında"]
        if n.is_digits or n.text != "on" or saat:  # without "saat", "ondan" is "after that"
            forms.append(f"{n.case('abl')} {end.case('dat')} kadar")
        if n.is_digits:
            forms.append(f"{n.text}-{end.text} arası")
        elif n.text != "on":  # "onla" is "with him"
            forms.append(f"{n.case('ins')} {end.text} arası")
        phrases += [_with_saat(Phrase(f, h, 0, "adv"), saat) for f in forms]
    return list(_sentences(iter(phrases), None, ("", "yarın ")))


REPRESENTATIVE = (
    Phrase("üçte", 3, 0, "adv"),
    Phrase("saat 15'te", 15, 0, "adv"),
    Phrase("on bir buçukta", 11, 30, "adv"),
    Phrase("dördü çeyrek geçe", 4, 15, "adv"),
    Phrase("ona çeyrek kala", 9, 45, "adv"),
    Phrase("ikiyi yirmi geçe", 2, 20, "adv"),
    Phrase("saat 14:30'da", 14, 30, "adv"),
    Phrase("beş gibi", 5, 0, "adv"),
    Phrase("dörtten sonra", 4, 0, "adv"),
    Phrase("on dört otuzda", 14, 30, "adv"),
    Phrase("dokuza", 9, 0, "dat"),
    Phrase("3'e", 3, 0, "dat"),
    Phrase("saat üç", 3, 0, "nom"),
    Phrase("saat 16.00", 16, 0, "nom"),
)
DATES = ("", "yarın ", "cuma günü ", "pazartesi ", "haftaya salı ", "bugün ")


def frame_matrix() -> list[Cell]:
    """Representative times at the start, middle and end of a turn, after a day, in questions."""
    cells = []
    for p, d in itertools.product(REPRESENTATIVE, DATES):
        want = clock(p.hour, p.minute, None)
        for frame in FRAMES[p.role]:
            text = frame.format(d=d, t=p.text)
            cells.append(Cell(_cap(text), want))
        if p.role == "adv":
            cells.append(Cell(f"{_cap(p.text)}, {d}gelirim.", want))
            cells.append(Cell(f"Merhaba, {d}{p.text} gelmek istiyorum, olur mu?", want))
    # a day and the bare number: "yarın 3 olur mu", "cuma günü üç uygun mu"
    for (h, n), d in itertools.product(hour_forms([2, 3, 10, 11, 15]), DATES[1:]):
        if n.is_digits and not n.apostrophe:
            continue
        cells.append(Cell(f"{d}{n.text} olur mu?", clock(h, 0, None)))
        cells.append(Cell(f"{d}{n.text} uygun mu?", clock(h, 0, None)))
    return cells


NOT_TIMES = (
    "iki kişi", "3 kişi", "dört kişilik masa", "4 kişilik bir oda", "3 gün", "üç gün sonra", "iki gündür",
    "bir saat sürer", "bir saat sürer mi", "bir buçuk saat", "15 dakika", "on beş dakika sonra", "beş dakika",
    "saat kaçta", "saat kaç", "saat kaça kadar açıksınız", "kaçta açılıyorsunuz", "kaç saat sürer",
    "iki saat sonra", "2 saat sonra", "yarım saat sonra", "bir saniye", "iki hafta sonra", "3 ay",
    "3 numaralı oda", "oda numaram 305", "ayın 3'ü", "ayın üçünde", "ayın 15'inde", "3 mart", "on beş mart",
    "2026 yılında", "1990 doğumluyum", "3 yaşında", "5 tane", "100 lira", "iki yüz lira", "iki kere",
    "üç kez", "numaram 0532 123 45 67", "bir randevu", "bir de fiyat soracaktım", "2 ile 3 gün arası",
    "haftada 3 gün", "günde iki kez", "üçüncü kat", "iki üç kişi", "bir iki gün içinde", "saat başı",
    "her saat başı", "on beş dakikada bir", "iki saatte bir", "üç saatlik", "yarım saatlik", "saatte 60 km",
    "üçte biri", "dörtte üçü", "onda biri", "üçte ikisi", "birden fazla kişi", "ikiden az",
)  # not "ikide bir" (every so often): "ikide bir toplantım var" is a meeting at two  # fmt: skip
NEGATIVE_FRAMES = ("{d}{t}", "{d}{t} lütfen", "merhaba, {d}{t} için arıyorum", "{d}{t}, ne dersiniz?")


def negative_matrix() -> list[Cell]:
    """Numbers that are no clock time, alone, after a day or a daypart, in a sentence."""
    cells = []
    days = ("", "yarın ", "cuma günü ", "yarın akşam ")
    for t, (k, frame) in itertools.product(NOT_TIMES, enumerate(NEGATIVE_FRAMES)):
        dated = not t.startswith(("ayın", "3 mart", "on beş mart", "2026", "1990", "numaram"))
        cells.append(Cell(frame.format(d=days[k % len(days)] if dated else "", t=t), None))
    return cells


MATRICES = {
    "case": case_matrix,
    "minutes": minutes_matrix,
    "daypart": daypart_matrix,
    "frame": frame_matrix,
    "range": range_matrix,
    "copula": copula_matrix,
    "negative": negative_matrix,
}


def _check(name: str) -> None:
    cells = MATRICES[name]()
    bad = failures(cells)
    assert not bad, f"{len(bad)}/{len(cells)} {name} cells wrong:\n" + "\n".join(bad[:40])


def test_case_endings_and_postpositions_on_every_hour() -> None:
    _check("case")


def test_minutes_said_every_way() -> None:
    _check("minutes")


def test_dayparts_decide_the_half_of_the_day() -> None:
    _check("daypart")


def test_times_in_sentences_and_after_a_day() -> None:
    _check("frame")


def test_a_span_of_hours_asks_for_its_start() -> None:
    _check("range")


def test_the_locative_as_a_predicate_and_a_correction() -> None:
    _check("copula")


def test_numbers_that_are_not_clock_times() -> None:
    _check("negative")


def test_the_morphology_helper_agrees_with_the_grammar_book() -> None:
    """The generator's own spelling, checked against forms written out by hand."""
    forms = {
        ("üç", "loc"): "üçte", ("dört", "dat"): "dörde", ("dört", "acc"): "dördü", ("altı", "dat"): "altıya",
        ("on", "loc"): "onda", ("dokuz", "dat"): "dokuza", ("on iki", "acc"): "on ikiyi", ("beş", "abl"): "beşten",
        ("buçuk", "dat"): "buçuğa", ("buçuk", "loc"): "buçukta", ("yirmi bir", "loc"): "yirmi birde",
        ("yarım", "loc"): "yarımda", ("kırk beş", "loc"): "kırk beşte", ("sıfır", "loc"): "sıfırda",
        ("ondört", "dat"): "ondörde", ("iki", "ins"): "ikiyle", ("üç", "ins"): "üçle",
    }  # fmt: skip
    assert {k: inflect(*k) for k in forms} == forms
    assert Number("3", "üç", True).case("loc") == "3'te"
    assert Number("10", "on", True).case("loc") == "10'da"
    assert Number("9", "dokuz", True).case("dat") == "9'a"
    assert Number("14:30", "on dört otuz", True).case("loc") == "14:30'da"
    assert clock(7, 45, None) == "07:45" and clock(4, 0, None) == "16:00" and clock(6, 0, None) == "18:00"
    assert clock(12, 30, "gece") == "00:30" and clock(10, 0, "gece") == "22:00" and clock(2, 0, "gece") == "02:00"
