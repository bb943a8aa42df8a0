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

# What a locative time may carry after it and stay a time: the relative "-ki" ("üçteki randevum", the one at
# three), the copula "-dir" ("toplantı üçtedir"), the past and reported copula ("ondaydı", "dörtteymiş").
_AFTER_LOCATIVE = r"(?:ki|d[iu]r|yd[iu]|ym[iu]s)"
_WORD_KI = re.compile(rf"\b(?:(?P<tens>{_TENS})\s?)?(?P<unit>{_UNITS})?(?P<case>de|da|te|ta){_AFTER_LOCATIVE}\b")
# "saat 2'deki", "14:00'teki", "10 daki", "3'tedir": the same after digits (the apostrophe is already gone).
_DIGIT_KI = re.compile(rf"(?<=\d)(?P<case> ?(?:de|da|te|ta)){_AFTER_LOCATIVE}\b")
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
_ORDINAL = re.compile(rf"\b(?:(?P<tens>{_TENS})\s?)?(?P<unit>{_UNITS}|dord)?(?P<suffix>(?:inci|nci|uncu|ncu)\w*)\b")
# "17.00'den sonra", "14.30'a", "9.30'da": `normalize` makes "15.00" "15:00" only when nothing is glued on, so
# a dotted time with a case ending arrives as "17 00den" (and "on dört otuza" as "14 30a", the same time
# said). An hour, two minute digits and a case ending are hours and minutes; a count in the ablative before
# "more/less" or a unit ("5-10'dan fazla kişi") is not.
_HOUR_MINUTE_CASE = re.compile(
    r"\b(?P<h>[01]?\d|2[0-3]) (?P<m>[0-5]\d)(?P<case>de|da|te|ta|den|dan|ten|tan|ye|ya|e|a|yi|yu|i|u)\b"
    r"(?! (?:fazla|az|cok|kisi\w*|tane|adet|dakika\w*|dk|gun\w*|saat\w*|hafta\w*|yas\w*|lira|tl|kez|defa|kere))"
)
# "dokuz sıfır beşte" (09:05), "saat on dört sıfır sıfır" (14:00): minutes under ten read digit by digit arrive
# as "9 0 5te", "14 0 0". With a case ending on them, or "saat" before them, they are hours and minutes; a run
# of single digits with neither (a code, a room) is left alone.
_HOUR_ZERO_MINUTE = re.compile(
    r"(?<!\d )\b(?P<h>[01]?\d|2[0-3]) 0 (?P<m>\d)(?P<case>de|da|te|ta|den|dan|ten|tan|ye|ya|e|a|yi|yu|i|u)\b"
    r"|(?<=\bsaat )(?P<h2>[01]?\d|2[0-3]) 0 (?P<m2>\d)\b(?! \d)"
)

# "saat yarımda", "öğlen yarıma doğru", "saat yarımı on geçe": after "saat" or "öğlen" the word "yarım" is half
# past twelve, and takes the endings and the minutes to or past it that "on iki buçuk" takes, so it is read as
# that ("12 bucukda", "12 bucuki 10 gece"); anywhere else it is a half ("yarım saat").
_HALF_PAST_NOON = re.compile(r"\b(?P<pre>saat|oglen|ogleyin) yarim(?P<suffix>[a-z]*)\b")

# "üçü on dakika geçe" (3:10), "dörde beş dakika kala" (3:55), "saat üçü on dakika geçiyor": the minutes may
# name their unit before any of the four words that count them; the clock rules read "üçü on geçe", and "on
# dakika geçe" must not be read as "at night" ("gece").
_MINUTES_PAST = re.compile(r"\b(?P<m>\d{1,2}) (?:dakika|dk) (?=(?:gece|geciyor|kala|var)\b)")

# "üçte biri" (a third), "dörtte üçü" (three quarters), "onda ikisi": a locative number before a number in the
# possessive is a fraction, never "at three"; it is blanked as a duration is. After "saat" the locative is the time
# ("saat üçte biri arayın": call someone at three).
_FRACTION = re.compile(r"(?<!saat )\b\d{1,2} ?(?:de|da|te|ta) \d{1,2}(?:i|u|si|su)\b")

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
# "saat ondan sonra", "saat ondan itibaren": `normalize` keeps the word "ondan" ("after that", "from him"), but
# after "saat" it can only be "from ten".
_SAAT_ONDAN = re.compile(r"(?<=\bsaat )ondan\b")


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

    digits = _SAAT_ONDAN.sub("10dan", digits)
    digits = _HALF_PAST_NOON.sub(lambda m: f"{m['pre']} 12 bucuk{m['suffix']}", digits)
    digits = _WORD_KI.sub(word_ki, digits)
    digits = _DAY_LOCATIVE.sub(day_locative, digits)
    digits = _DIGIT_DAY_KI.sub(lambda m: m["case"], digits)
    digits = _DIGIT_KI.sub(lambda m: m["case"], digits)
    digits = _MINUTES_PAST.sub(lambda m: f"{m['m']} ", digits)
    digits = _DURATION.sub("sure", digits)
    digits = _FRACTION.sub("kesir", digits)
    digits = _HOUR_ZERO_MINUTE.sub(lambda m: f"{m['h'] or m['h2']}:0{m['m'] or m['m2']}{m['case'] or ''}", digits)
    digits = _HOUR_MINUTE_CASE.sub(lambda m: f"{m['h']}:{m['m']}{m['case']}", digits)
    return _ORDINAL.sub(ordinal, digits)
