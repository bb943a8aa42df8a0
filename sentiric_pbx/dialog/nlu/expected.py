"""What the agent's last question makes of a bare answer: "Deniz" to "Adınız?" is a name, "üç" to "Saat
kaçta?" a time, "5 3 2 1 1 1 2" to "Numaranız?" a phone number.

Why apart from the extractors: they read a turn alone, and must, since alone "Deniz" is as often the sea
and "üç" a count. The dialog knows what it asked (`TaskResult.expects`), and an answer to a question is
mostly the answer and nothing else. So each rule here reads only a turn that is the answer and a few
fillers ("ben", "adım", "evet", "saat", "my name is", "at"), and only fills an entity the turn's own rules
left empty. Everything it parses it hands to the extractors' own helpers (`times`, `dates`, the phone
rule): the question changes which words count, never how a time or a number is read.
"""

from __future__ import annotations

import datetime as dt
import re

from sentiric_pbx.dialog.nlu.dates import day_of_month
from sentiric_pbx.dialog.nlu.entities import local_datetime, take_phone
from sentiric_pbx.dialog.nlu.names import COMMON_EN
from sentiric_pbx.dialog.nlu.normalize import Normalized
from sentiric_pbx.dialog.nlu.options import NluOptions
from sentiric_pbx.dialog.nlu.times import find_dayparts, find_times, to_clock
from sentiric_pbx.dialog.nlu.tr_name_ben import not_a_name as not_a_name_tr
from sentiric_pbx.dialog.nlu.tr_name_endings import AFTER_NAME_VERB_TR
from sentiric_pbx.dialog.nlu.tr_name_phrase import (
    STAFF_TR,
    VERB_STEM_TR,
    is_first_name,
    lower_tr,
    not_in_name,
    title_tr,
)
from sentiric_pbx.dialog.nlu.tr_name_words import COMMON_TR, OPENERS_TR, POSTPOSITIONS_TR

_SAID_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_COPULA_AFTER_APOSTROPHE = re.compile(r"^(?:y?[ıiuü]m|d[ıiuü]r|t[ıiuü]r)$")  # "Deniz'im", "Ayşe'yim", "Kaya'dır"

# Words said around a name that are not the name: "ben Deniz", "adım Deniz", "evet, Deniz Bey", "my name is John".
_NAME_FILLERS = {
    "tr": frozenset(
        "ben benim adım adim ismim isim adımı adimi evet tabii tabi tabiki elbette efendim bey hanım hanim "
        "lütfen lutfen şey sey yani teşekkürler tesekkurler teşekkür tesekkur ederim sağolun sagolun sağol sagol "
        "teyze amca abla abi dr doktor prof".split()
    ),
    "en": frozenset(
        "its it is my name names this yes yeah sure please im i am me call mr mrs ms miss thanks thank you just dr "
        "doctor".split()
    ),
}
# Answers that are no name, though alone and capitalised: a refusal, a question back, a "what?"
_NOT_A_NAME_EN = frozenset(
    """
    whatever nevermind never mind dunno nope nah yep yup pardon what huh excuse repeat hello help operator human
    agent receptionist nobody anybody wait hold hang bye goodbye book fine cool correct know remember forgot
    unknown none private anonymous
    """.split()
)
_MODAL_TR = re.compile(r"[ae]bil\w*$")  # "Olabilir.", "Gelebilirim."
_NOT_A_NAME_TR = frozenset("bilmem bilmiyorum pardon anlamadım anlamadim efendim kimse".split())

# Words said around a bare hour or day ("saat üç", "evet, üçte", "at three", "the 15th").
_WHEN_FILLERS = {
    "tr": frozenset("saat evet tamam peki olur tabii tabi lutfen ayin".split()),
    "en": frozenset("at around about say maybe yes yeah ok okay sure please the on".split()),
}
_BARE_HOUR = {
    "tr": re.compile(r"\d{1,2}(?: ?(?:de|da|te|ta|e|a|ye|ya))?"),  # "3", "3te", "3 e"
    "en": re.compile(r"\d{1,2}"),
}
_TIME_FRAME = {"tr": "saat {}", "en": "at {}"}  # the word that makes a bare number a time to the time rules
# "on beşi", "15'ini", "on beşinde" (folded digits "15i", "15ini", "15inde"); "the 15th"
_BARE_DAY = {
    "tr": re.compile(r"(?P<d>\d{1,2}) ?(?:i|u|si|su|ini|unu|sini|sunu|inde|unda|sinde|sunda|ine|una|sine|suna)"),
    "en": re.compile(r"(?P<d>\d{1,2})(?:st|nd|rd|th)"),
}
_SMALLEST_BARE_DAY_TR = 5  # "ikisi", "üçünde" are "both of them", "in all three" as often (test_tr_date_grammar)

# Words said around a number: "numaram 0532 …", "my number is …".
_PHONE_FILLERS = frozenset(
    "numaram numara numarasi telefonum telefon cep cebim evet tabii tabi my number phone is its it yes sure".split()
)
_DIGITS_ONLY = re.compile(r"\+?\d+(?: \d+)*")


def answer_to(
    expects: str,
    norm: Normalized,
    said: str,
    intent: str,
    now: dt.datetime,
    options: NluOptions,
    found: dict[str, str],
) -> dict[str, str]:
    """`found` (the turn's own entities) with what the question adds: a "person_name" for "name", a "time"
    or "date" for "datetime", a "phone" for "phone"; `found` itself when the turn is no bare answer.
    `intent` is the rules' verdict on the turn, already made by the caller."""
    if expects == "name" and not found:  # a time or a number said is no name ("salı öğleden sonra")
        name = bare_name(norm, said, intent) or _name_then_more(norm, said, intent)
        return {**found, "person_name": name} if name else found
    if expects == "datetime":
        return _bare_when(norm, now, options, found)
    if expects == "phone" and "phone" not in found:
        return _bare_phone(norm, options, found)
    if expects == "choice" and "person_name" in found and bare_name(norm, said, intent) == found["person_name"]:
        return {k: v for k, v in found.items() if k != "person_name"}  # "Emre" to "Hangi berber?": the one chosen
    return found


def bare_name(norm: Normalized, said: str, intent: str) -> str | None:
    """The name a turn says when it says nothing else: one to three name words after the fillers. The first a
    given name from the list ("deniz", as lower-case STT writes it) or a capitalised word that is no common word
    or verb; the others a surname (capitalised, or after a listed given name). Refused: a question ("Deniz?"),
    digits, a turn that is an intent ("Hayır", "İptal"), or any word that is not a name word ("bilmiyorum")."""
    lang = norm.language
    if "?" in said or any(ch.isdigit() for ch in norm.digits) or intent not in ("other", "affirm", "end_call"):
        return None
    words = _name_words(said or norm.plain, lang, frozenset(norm.plain.split()))
    if words and len(words) > 1 and words[0][0] == words[1][0]:
        words = words[1:]  # "Ayşe. Ayşe Yılmaz.": the name said again, whole
    if words is None or not 1 <= len(words) <= 3:
        return None
    (first, first_caps), rest = words[0], words[1:]
    listed = is_first_name(first)
    known = listed if lang == "tr" else first_caps  # (the given-name list is Turkish)
    if intent == "end_call" and (not known or {"bey", "hanım", "hanim"} & set(norm.plain.split())):
        return None  # "Murat. Teşekkürler." is a name and thanks; "Hoşça kalın." a goodbye, "Sağolun Hakan Bey" thanks
    if not _name_word(first, lang, first=True) or not (listed or first_caps):
        return None  # (a listed name may be a greeting too: "günaydın")
    if intent == "affirm" and not listed and norm.plain.split()[0] == first:
        return None  # "Tamamdır." is a yes, not a Mr Tamamdır ("Sure, Mark Jones." is a yes and a name)
    for word, caps in rest:
        if not (caps or (listed and lang == "tr")) or not _name_word(word, lang, first=False):
            return None
    if lang == "tr":
        return " ".join(title_tr(w) for w, _ in words)
    return " ".join(w[0].upper() + w[1:] for w, _ in words)


_CLAUSE_END = re.compile(r"\s*[,.;!]+\s+(?=\S)")


def _name_then_more(norm: Normalized, said: str, intent: str) -> str | None:
    """ "Tom Baker, from Leeds", "Sarah Jones. I'm a new patient.", "It's for my son, Jack Smith": in English, the
    answer to "your name?" is a full name said as the first or the last clause, whatever else is said. (One word
    there is as often "Sure" or "Great" as a name; Turkish has its own rule for a name beside a comma, in names.py.)"""
    clauses = _CLAUSE_END.split(said)
    if norm.language != "en" or len(clauses) < 2:
        return None
    for clause in (clauses[0], clauses[-1]):  # "It's for my son, Jack Smith": the name last
        name = bare_name(norm, clause, intent)
        if name and " " in name:
            return name
    return None


def _name_words(said: str, lang: str, plain: frozenset[str]) -> list[tuple[str, bool]] | None:
    """The turn's words without the fillers, lower case ("O'Brien" as said), each with whether it was said with a
    capital; None when a word carries a case ending after an apostrophe ("Deniz'e": someone else). A word
    `normalize` drops ("hmm", "şey") is a filler too."""
    words = []
    for token in _SAID_WORD.findall(said):
        stem, apostrophe, suffix = token.replace("’", "'").partition("'")
        lower = lower_tr(stem) if lang == "tr" else token.lower().replace("'", "").replace("’", "")
        if lower in _NAME_FILLERS[lang] or (lower_tr(stem + suffix) if lang == "tr" else lower) not in plain:
            continue
        if apostrophe and lang == "tr" and not _COPULA_AFTER_APOSTROPHE.match(lower_tr(suffix)):
            return None
        words.append((token if apostrophe and lang != "tr" else lower, stem[:1].isupper()))
    return words


def _name_word(word: str, lang: str, *, first: bool) -> bool:
    """Whether `word` may be (part of) a name: no common word, answer, verb or number. A surname is read as the
    name rules read it after a given name: some end like a verb ("Yıldız"), so only clear verb endings refuse it."""
    if lang != "tr":
        plain = word.replace("'", "").lower()
        return plain.isalpha() and len(plain) >= 2 and plain not in COMMON_EN and plain not in _NOT_A_NAME_EN
    if not word.isalpha() or len(word) < 2 or word in _NOT_A_NAME_TR or word in COMMON_TR or word in OPENERS_TR:
        return False
    if word in POSTPOSITIONS_TR or word in STAFF_TR:
        return False
    if is_first_name(word):
        return True
    if first:
        return not not_a_name_tr(word) and not _MODAL_TR.search(word)
    # ("arkadaşım": a thing of the caller's, `not_in_name`)
    return not AFTER_NAME_VERB_TR.search(word) and not VERB_STEM_TR.search(word) and not not_in_name(word, "")


def _rest(digits: str, fillers: frozenset[str]) -> str:
    return " ".join(w for w in digits.split() if w not in fillers)


def _bare_when(norm: Normalized, now: dt.datetime, options: NluOptions, found: dict[str, str]) -> dict[str, str]:
    """A bare hour ("üç", "üçte", "three") as a time, by the rule the time extractor applies to any hour said
    without am/pm (`times.to_clock`); a bare day of the month ("on beşi", "the 15th") as the next such day."""
    lang = norm.language
    rest = _rest(norm.digits, _WHEN_FILLERS[lang])
    out = dict(found)
    if "time" not in found and _BARE_HOUR[lang].fullmatch(rest):
        mentions = find_times(_TIME_FRAME[lang].format(rest), lang)
        dayparts = find_dayparts(norm.digits, lang)
        daypart = dayparts[-1][1] if dayparts else None
        clock = to_clock(mentions[0], daypart, options.opens, options.closes) if len(mentions) == 1 else None
        if clock is not None:
            out["time"] = clock.strftime("%H:%M")
            out.pop("daypart", None)
    day = _BARE_DAY[lang].fullmatch(rest)
    if "date" not in found and day and (lang != "tr" or int(day["d"]) >= _SMALLEST_BARE_DAY_TR):
        date = day_of_month(now.date(), int(day["d"]))
        if date is not None:
            out["date"] = date.isoformat()
    if "datetime" not in out and "date" in out and "time" in out and out != found:
        day, clock = dt.date.fromisoformat(out["date"]), dt.time.fromisoformat(out["time"])
        out["datetime"] = local_datetime(day, clock, options.timezone)
    return out


def _bare_phone(norm: Normalized, options: NluOptions, found: dict[str, str]) -> dict[str, str]:
    """Digits alone, 7 to 15 of them, as the phone rule reads a number (`entities.take_phone`), though they are
    too short or unframed for it ("111 22 33" in Turkish): asked for a number, the caller gives one. Whatever
    the date and time rules made of those digits goes."""
    rest = _rest(norm.digits, _PHONE_FILLERS)
    if not _DIGITS_ONLY.fullmatch(rest):
        return found
    phone, _ = take_phone(rest, options.default_country_code)
    if phone is None:
        return found
    kept = {k: v for k, v in found.items() if k not in ("date", "time", "datetime", "daypart")}
    return {**kept, "phone": phone}
