"""Text as the NLU reads it: STT output folded into one predictable shape.

STT gives us anything from "Yeah, I'd like 3 p.m." to "yeah id like three p m". Every rule after
this module sees lowercase words separated by single spaces, apostrophes dropped ("dont", "thats"),
"a.m."/"p m" as "am"/"pm", "o'clock" as "oclock", and — in a separate string, so that "one" still
reads as a word where it is one — number words as digits ("half past 4", "on the 5th").

Turkish is folded to ASCII ("yarın" → "yarin", "üçte" → "ucte") because STT and callers' keyboards
disagree about diacritics, and a rule should not care which one it got.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sentiric_pbx.dialog.nlu.dates import MONTHS_TR

_TR_FOLD = str.maketrans("çğıöşüâîû", "cgiosuaiu")
_FILLERS = re.compile(r"\b(?:uh+|um+|uhm+|erm?|hmm+|ah+|eh+|ehm+|yani|sey|ıı+)\b")

_EN_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
_EN_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
    "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
_TR_UNITS = {
    "sifir": 0, "bir": 1, "iki": 2, "uc": 3, "dort": 4, "bes": 5, "alti": 6, "yedi": 7, "sekiz": 8, "dokuz": 9,
}  # fmt: skip
_TR_TENS = {
    "on": 10, "yirmi": 20, "otuz": 30, "kirk": 40, "elli": 50, "altmis": 60, "yetmis": 70, "seksen": 80, "doksan": 90,
}  # fmt: skip
# Turkish glues case endings to numbers: "üçte" (at three), "dörde" (to four), "beşi" (the fifth).
# "ikiyi çeyrek geçe" (-yi), "dörtten sonra" (-ten), "ikiyle üç arası" (-yle), "ayın beşine" (-ine) too, and
# "dörtteydi" (was at four).
_TR_SUFFIX = (
    r"(?:'?(?:deydi|daydi|teydi|taydi|de|da|te|ta|e|a|ye|ya|i|u|yi|yu|si|su|inde|unda|sinde|sunda|ine|una|sine|suna|nde|nda"
    r"|den|dan|ten|tan|yle|yla|le|la))?"
)


@dataclass(frozen=True, slots=True)
class Normalized:
    """One utterance in the forms the rules read. `words` for intents, `digits` for numbers."""

    language: str
    words: str
    """Lowercase, folded, fillers removed, single spaces: "i dont want to cancel"."""
    plain: str
    """Like `words` but not folded, so names keep their letters: "benim adım ayşe demir"."""
    digits: str
    """`words` with number words as digits and ordinals as "5th": "tomorrow at 3 pm"."""


def base_language(language: str) -> str:
    """ "tr-TR", "tr_TR", "TR" → "tr"; anything we have no rules for reads as English."""
    short = language.replace("_", "-").split("-")[0].lower()
    return short if short in {"en", "tr"} else "en"


def _lower(text: str, language: str) -> str:
    if language == "tr":  # Turkish casing: I → ı, İ → i, before folding
        text = text.replace("I", "ı").replace("İ", "i")
    return text.lower()


_NUMERIC_DATE = re.compile(
    r"\b(?P<d>[0-3]?\d)(?:(?P<sep>[./-])(?P<m>[01]?\d)(?P=sep)(?P<y>(?:20)?[2-9]\d)|/(?P<m2>[01]\d)|(?<=\d\d)/(?P<m3>[1-9])"
    r"|(?<=\b(?:2[4-9]|3[01]))\.(?P<m4>0[1-9]|1[0-2])(?![./-]\d)(?!\s*(?:tl|lira|kurus|kg|gr|km|cm|m|lt|usd|eur|euro|dolar)\b))\b"
    r"|\b(?P<iy>20\d\d)-(?P<im>[01]\d)-(?P<id>[0-3]\d)\b"
)


def _tr_numeric_dates(text: str) -> str:
    """ "25.03.2026", "25.03.26", "25/03/2026", "25-03-2026", "2026-03-25", "25/03" → "25 mart 2026", "25 mart": Turkish
    writes day first (ISO writes the year first, and always with dashes). A dotted pair without a year
    ("14.30") is a time, and is left for the time rules, unless its first number cannot be an hour ("25.03",
    not before a price's "TL", nor the start of "26.02.1993", a birth date whose year no booking has); a slash
    between two single digits ("1/2 saat") is a fraction."""

    def sub(m: re.Match[str]) -> str:
        day, month = int(m["d"] or m["id"]), int(m["m"] or m["m2"] or m["m3"] or m["m4"] or m["im"])
        year = m["iy"] or m["y"]
        if year and len(year) == 2:  # "15.01.27": 2027
            year = "20" + year
        if not (1 <= day <= 31 and 1 <= month <= 12):
            return m.group(0)
        return f"{day} {MONTHS_TR[month - 1]}" + (f" {year}" if year else "")

    return _NUMERIC_DATE.sub(sub, text)


def _clean(text: str, language: str, fold: bool = True) -> str:
    text = _lower(text, language).replace("\u0307", "")
    if language == "tr":
        text = _tr_numeric_dates(text)
    if language == "tr" and fold:
        text = text.translate(_TR_FOLD)
    text = re.sub(r"\b([ap])\.\s?m\b\.?", r"\1m", text)  # "p.m." → "pm"
    text = re.sub(r"\bo\W?\s?clock\b", "oclock", text)
    text = re.sub(r"(?<=\w)[’'](?=\w)", "", text)  # "don't" → "dont", "3'te" → "3te"
    # "15.00" → "15:00" (Turkish writes the dot); in Turkish not inside a dotted chain: "IP 192.168.1.10"
    chain = r"(?<![\d.])(\d+)[.:](\d\d)\b(?![.:]\d)" if language == "tr" else r"(\d)[.:](\d\d)\b"
    text = re.sub(chain, r"\1:\2", text)
    text = re.sub(r"[^\w:+]+", " ", text)
    text = re.sub(r"(?<!\d):|:(?!\d)", " ", text)
    # "uh huh" and "mm hmm" are a yes, not two fillers: keep them as one word before fillers go.
    text = re.sub(r"\b(?:uh huh|uhuh|mm hmm|mm hm|mhm+|mmhmm)\b", "uhhuh", text)
    return re.sub(r"\s+", " ", _FILLERS.sub(" ", text)).strip()


def _en_digits(words: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w in _EN_TENS and nxt in _EN_UNITS and 0 < _EN_UNITS[nxt] < 10:
            out.append(str(_EN_TENS[w] + _EN_UNITS[nxt]))
            i += 2
        elif w in _EN_TENS and nxt in _EN_ORDINALS and _EN_ORDINALS[nxt] < 10:
            out.append(f"{_EN_TENS[w] + _EN_ORDINALS[nxt]}th")
            i += 2
        else:
            if w in _EN_UNITS:
                w = str(_EN_UNITS[w])
            elif w in _EN_TENS:
                w = str(_EN_TENS[w])
            elif w in _EN_ORDINALS:
                w = f"{_EN_ORDINALS[w]}th"
            elif re.fullmatch(r"\d+(?:st|nd|rd|th)", w):
                w = re.sub(r"(st|nd|rd)$", "th", w)
            out.append(w)
            i += 1
    return out


# A ten takes a unit after it ("on beş" 15), never "sıfır": "on sıfır beş" is 10:05 read out, not 10 and 5.
_TR_NUMBER = re.compile(
    rf"\b(?:(?P<tens>{'|'.join(_TR_TENS)})(?:\s?(?P<unit>{'|'.join(k for k in _TR_UNITS if k != 'sifir')}))?"
    rf"|(?P<alone>{'|'.join(_TR_UNITS)}))"
    rf"(?P<suffix>{_TR_SUFFIX})\b"
)


# Phone numbers are said in hundreds: "beş yüz otuz iki" (532). Only a bare "yüz" is a hundred ("yüzde" is
# "per cent", "yüzü" a face); what follows it is read by _TR_NUMBER and added.
_TR_HUNDRED = re.compile(
    rf"\b(?:(?P<mul>{'|'.join(k for k in _TR_UNITS if k not in {'sifir', 'bir'})}) )?yuz\b"
    rf"(?: (?P<rest>(?:{'|'.join(_TR_TENS)})(?: (?:{'|'.join(k for k in _TR_UNITS if k != 'sifir')}))?\b"
    rf"|(?:{'|'.join(k for k in _TR_UNITS if k != 'sifir')})\b))?"
)


def _tr_hundreds(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        rest = m["rest"] or ""
        words = rest.split()
        value = _TR_TENS.get(words[0], 0) + sum(_TR_UNITS.get(w, 0) for w in words) if words else 0
        return str(100 * (_TR_UNITS[m["mul"]] if m["mul"] else 1) + value)

    return _TR_HUNDRED.sub(sub, text)


# Words that only look like a number and a case ending: "ondan sonra" is "after that", "onla" "with him".
_TR_NOT_NUMBERS = frozenset({"ondan", "onla", "onunla"})


def _also(m: re.Match[str]) -> bool:
    """ "bir de fiyatları soracaktım": "bir de" / "bir da" is "and also", not "at one" (that is "birde",
    one word). Only after "saat" is a separate "de" read as the time's ending ("saat bir de")."""
    if m.group(0) != "bir":
        return False
    return bool(re.match(r" d[ae]\b", m.string[m.end() :])) and not m.string[: m.start()].endswith("saat ")


def _tr_digits(text: str) -> str:
    """ "on beşte" → "15te", "üç buçuk" → "3 buçuk": the case ending stays, the times rules read it."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) in _TR_NOT_NUMBERS or _also(m):
            return m.group(0)
        unit = m["unit"] or m["alone"]
        value = (_TR_TENS[m["tens"]] if m["tens"] else 0) + (_TR_UNITS[unit] if unit else 0)
        return f"{value}{m['suffix'] or ''}"

    text = re.sub(r"\bdord(?=(?:e|u|un|une|unde|unu)\b)", "dort", text)  # "dörde", "dördü": dört softens
    return _TR_NUMBER.sub(sub, _tr_hundreds(text))


def normalize(text: str, language: str = "en") -> Normalized:
    """Fold one STT transcript into the shapes the rules read (see the module docstring)."""
    lang = base_language(language)
    words = _clean(text, lang)
    if lang == "tr":
        digits = _tr_digits(words)
    else:
        digits = " ".join(_en_digits(words.split()))
        digits = re.sub(r"\b(\d+) ([ap]) m\b", r"\1 \2m", digits)  # "3 p m" → "3 pm"
        # STT writes "2:30 pm" as "230pm" or "230 pm", and "10:30" as "1030": a 3–4 digit number
        # right before am/pm is hours and minutes.
        digits = re.sub(r"\b(1[0-2]|0?[1-9])([0-5]\d) ?([ap]m)\b", r"\1:\2 \3", digits)
        digits = re.sub(r"\b(\d+)([ap]m)\b", r"\1 \2", digits)  # "3pm" → "3 pm"
        digits = re.sub(r"\b(\d{1,2}:\d\d)([ap]m)\b", r"\1 \2", digits)
    return Normalized(lang, words, _clean(text, lang, fold=False), digits)
