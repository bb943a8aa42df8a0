"""Turkish number forms that only the entity rules read: "üçteki", "saat 2'deki", "beşinci", "17.00'den",
"ayın on beşindeki",
"üçü on dakika geçe", and durations ("bir buçuk saat") that are no clock time.

Why apart from `normalize`: the learned intent model's features come from `Normalized.digits`, so any
change there changes the shipped weights. These forms matter for days and times only, so they are
read here, on the digit string the entity rules get, and the intent model never sees them.

The entity rules compare positions only within the string they are given, so the result need not keep
the offsets of its input.
"""

from __future__ import annotations

import re

from sentiric_pbx.dialog.nlu.normalize import _TR_TENS, _TR_UNITS

_TENS = "|".join([*_TR_TENS, "[1-9]0"])  # "on ikideki" arrives as "10 ikideki"
_UNITS = "|".join(_TR_UNITS)

# "üçteki randevum", "ikideki": the relative "-ki" turns "at three" into "the one at three" — still a time.
_WORD_KI = re.compile(rf"\b(?:(?P<tens>{_TENS})\s?)?(?P<unit>{_UNITS})?(?P<case>de|da|te|ta)ki\b")
# "saat 2'deki", "14:00'teki", "10 daki": the same after digits (the apostrophe is already gone).
_DIGIT_KI = re.compile(r"(?<=\d)(?P<case> ?(?:de|da|te|ta))ki\b")
# "ayın on beşindeki randevum", "ayın üçünde", "dördündeki": a day of the month in the possessive and the
# locative, with the relative "-ki" or without it, read as "15inde" / "3unde" for the day-of-month rules;
# in the ablative, the day something starts from ("ayın on beşinden itibaren" → "15inden"); and in the
# dative ("ayın üçüne", "altısına"). `normalize`'s ending list has some of these ("on beşinde") and not
# others ("üçüne", "altısına", "onundan"): here every vowel harmony allows is read, folded to i/u and e/a.
_DAY_LOCATIVE = re.compile(
    rf"\b(?:(?P<tens>{_TENS})\s?)?(?P<unit>{_UNITS}|dord)?(?P<case>s?[iu]n(?:de|da|den|dan|e|a))(?:ki)?\b"
)
_DIGIT_DAY_KI = re.compile(r"(?<=\d)(?P<case>s?[iu]n(?:de|da))ki\b")
# "beşinci nisan", "on ikinci gün", "üçüncü": ordinals, read as "5inci" so the day-of-month rules see 5.
# "dördüncü" keeps its softened d ("dord"), "altıncı"/"yedinci"/"ikinci"/"yirminci" drop the suffix's vowel.
_ORDINAL = re.compile(
    rf"\b(?:(?P<tens>{_TENS})\s?)?(?P<unit>{_UNITS}|dord)?(?P<suffix>(?:inci|nci|uncu|ncu)\w*)\b"
)
# "17.00'den sonra", "14.30'a", "9.30'da": `normalize` makes "15.00" "15:00" only when nothing is glued on, so
# a dotted time with a case ending arrives as "17 00den" (and "on dört otuza" as "14 30a", the same time
# said). An hour, two minute digits and a case ending are hours and minutes; a count in the ablative before
# "more/less" or a unit ("5-10'dan fazla kişi") is not.
_HOUR_MINUTE_CASE = re.compile(
    r"\b(?P<h>[01]?\d|2[0-3]) (?P<m>[0-5]\d)(?P<case>de|da|te|ta|den|dan|ten|tan|ye|ya|e|a|yi|yu|i|u)\b"
    r"(?! (?:fazla|az|cok|kisi\w*|tane|adet|dakika\w*|dk|gun\w*|saat\w*|hafta\w*|yas\w*|lira|tl|kez|defa|kere))"
)

# "üçü on dakika geçe" (3:10), "dörde beş dakika kala" (3:55): the minutes may name their unit; the clock
# rules read "üçü on geçe", and "on dakika geçe" must not be read as "at night" ("gece").
_MINUTES_PAST = re.compile(r"\b(?P<m>\d{1,2}) (?:dakika|dk) (?=(?:gece|kala|var)\b)")

# "bir buçuk saat sürer mi", "iki saatlik", "45 dakika", "bir saat on beş dakika": a number counting hours or
# minutes is a duration, never a clock time ("bir buçuk" alone is 13:30, "saat 15" is 15:00). The number is
# blanked, so no clock rule reads it. "3 saat sonra" is a time relative to now, which no rule reads (nor
# "in 3 hours" in English): it gives no time, and the dialog asks. "saat 3'e 10 dakika kala" is kept above.
_DURATION = re.compile(r"\b\d{1,3}(?: bucuk)?(?= (?:saat|dakika|dk|saniye|sn)\w*\b)")
# "ona randevu ver", "ona bir toplantı ayarlayın", "ona gelirim": the word "ona" before what is booked or a verb
# of coming is "to him", not "at ten"; `normalize` made it "10a" as it makes "10'a" (said in digits, that is
# ten: "10'a gelirim"). "saat ona randevu", "sabah ona" keep the hour.
_PRONOUN_ONA = re.compile(
    r"\b(?<!saat )(?<!sabah )(?<!aksam )10a(?= (?:1 )?(?:toplanti|gorusme|randevu|rezervasyon|masa|yer|kayit)"
    r"| (?:gel|ugra|yetis))"
)
_WORD_ONA = re.compile(r"\bona\b")


def _value(m: re.Match[str]) -> int | None:
    tens, unit = m["tens"], m["unit"]
    if not tens and not unit:
        return None
    tens_value = (int(tens) if tens.isdigit() else _TR_TENS[tens]) if tens else 0
    return tens_value + (_TR_UNITS["dort" if unit == "dord" else unit] if unit else 0)


def entity_digits(digits: str, plain: str = "") -> str:
    """`Normalized.digits` with the forms above read as numbers; `plain` tells the word "ona" from "10'a"."""
    if _WORD_ONA.search(plain):
        digits = _PRONOUN_ONA.sub("ona", digits)

    def word_ki(m: re.Match[str]) -> str:
        value = _value(m)
        return m.group(0) if value is None else f"{value}{m['case']}"

    def ordinal(m: re.Match[str]) -> str:
        value = _value(m)
        return m.group(0) if value is None else f"{value}inci"

    def day_locative(m: re.Match[str]) -> str:
        value = _value(m)
        # "önünde", "önüne", "önünden" fold to "onunde", "onune", "onunden" (in front of): "on" alone is the
        # 10th only in the back-vowel endings its own harmony gives ("onunda", "onuna", "onundan")
        if value is None or (m["tens"] == "on" and not m["unit"] and "e" in m["case"]):
            return m.group(0)
        return f"{value}{m['case']}"

    digits = _WORD_KI.sub(word_ki, digits)
    digits = _DAY_LOCATIVE.sub(day_locative, digits)
    digits = _DIGIT_DAY_KI.sub(lambda m: m["case"], digits)
    digits = _DIGIT_KI.sub(lambda m: m["case"], digits)
    digits = _MINUTES_PAST.sub(lambda m: f"{m['m']} ", digits)
    digits = _DURATION.sub("sure", digits)
    digits = _HOUR_MINUTE_CASE.sub(lambda m: f"{m['h']}:{m['m']}{m['case']}", digits)
    return _ORDINAL.sub(ordinal, digits)
