"""A Turkish name beside "ben" (I) that the given-name list lacks: "Merhaba, ben Menekşe.", "Tuğrul ben, …".

Why apart from names.py: this rule reads the turn as said, capitals and punctuation, where names.py reads the
plain words; it has its own vocabulary of what a caller says after "ben" about themselves, and names.py has no
room left under its size limit. Matched against the turn as STT or a typing caller wrote it.
"""

from __future__ import annotations

import re

from sentiric_pbx.dialog.nlu.normalize import _TR_FOLD, normalize
from sentiric_pbx.dialog.nlu.tr_name_endings import AFTER_NAME_VERB_TR as _TR_AFTER_NAME_VERB
from sentiric_pbx.dialog.nlu.tr_name_endings import NOT_NAME_ENDING_TR as _TR_NOT_NAME_ENDING
from sentiric_pbx.dialog.nlu.tr_name_endings import VERB_TR as _TR_VERB
from sentiric_pbx.dialog.nlu.tr_name_phrase import INSTITUTION_TR, title_tr
from sentiric_pbx.dialog.nlu.tr_name_phrase import VERB_STEM_TR as _TR_VERB_STEM
from sentiric_pbx.dialog.nlu.tr_name_phrase import lower_tr as _lower_tr
from sentiric_pbx.dialog.nlu.tr_name_words import COMMON_TR as _COMMON_TR
from sentiric_pbx.dialog.nlu.tr_name_words import HONORIFICS_TR as _TR_HONORIFICS
from sentiric_pbx.dialog.nlu.tr_name_words import NOT_A_NAME_AFTER_BEN_TR as _TR_NOT_A_NAME_AFTER_BEN
from sentiric_pbx.dialog.nlu.tr_name_words import OPENERS_TR as _TR_OPENERS

# "ben fatma şahin'im" → "şahinim" once the apostrophe is gone: the "I am" ending is not part of the name.
COPULA_TR = re.compile(r"^(?P<stem>\w{3,}?)(?:y[ıiuü]m|[ıiuü]m)$")


# "Merhaba, ben Menekşe.": one word after "ben" that the given-name list does not hold is a name only at the
# end of the turn or of a sentence ("Ben Menekşe, randevum vardı." is not sure) and written with a capital (STT
# and a typing caller capitalise names, not words), and not a word a caller says there about themselves: a verb,
# an order or the copula ("ben geliyorum", "ben hastayım", "ben memnunum", "Bekleyin", "Olmaz"), a number ("Ben
# Beşte"), a common word ("ben de", "ben burada", "Ben Nedir") or what they are ("ben doktor", "ben müşteri"). A
# surname alone ("Ben Aydın.") is a name, and a capitalised surname may follow the name ("Ben Öykü Kaya'yım.").
# "Ben Menekşe'yim.", "Ben Menekşe Hanım." too: the copula and a title after the name keep it the caller's.
_CAPITALISED = r"[A-ZÇĞİÖŞÜ][^\W\d_]{2,}"
_TITLE = r"(?:[Hh]an[ıi]m|[Bb]ey)\b"
_NAME = rf"(?P<w>{_CAPITALISED})(?:\s+(?!{_TITLE})(?P<s>{_CAPITALISED}))?"
_SAID_BEN_LAST = re.compile(
    rf"(?<![^\W\d_])[Bb]en\s+{_NAME}(?:['’]y?[ıiuü]m|\s+{_TITLE})?"
    r"(?:[\s.!?…]*$|[.!?…;]\s)"  # the end of the turn, or of its sentence: "Merhaba, ben Alice. Ya sen?"
)
# "Tuğrul ben, kısa bir fikir.", "Merhaba, Menekşe Hanım ben.": the same name opening the turn (after a greeting)
# before "ben" and a comma, a full stop or the end, as "Ayşe ben, …" is read when the list holds the name.
_SAID_FIRST_BEN = re.compile(rf"{_NAME}(?:\s+{_TITLE})?\s+ben(?:\s*[,;.!?…]|\s*$)")
_FOLDED_NOT_NAMES = frozenset(
    w.translate(_TR_FOLD) for w in (*_COMMON_TR, *_TR_OPENERS, *_TR_HONORIFICS, *_TR_NOT_A_NAME_AFTER_BEN)
)


def name_ending_the_turn(said: str) -> str | None:
    words = said.split()
    while words and _lower_tr(words[0].strip(",.;!?…")) in _TR_OPENERS:
        words = words[1:]
    m = _SAID_BEN_LAST.search(said) or _SAID_FIRST_BEN.match(" ".join(words))
    if m is None:
        return None
    named = [_lower_tr(w) for w in (m["w"], m["s"]) if w]
    return None if any(not_a_name(w) for w in named) else " ".join(title_tr(w) for w in named)


def not_a_name(word: str) -> bool:
    return (
        word.translate(_TR_FOLD) in _FOLDED_NOT_NAMES
        or INSTITUTION_TR.match(word) is not None  # "Ben Ankara Şubesi.", "Ben Kadıköy Belediyesi."
        or _TR_NOT_NAME_ENDING.search(word) is not None
        or _TR_VERB.search(word) is not None
        or _TR_VERB_STEM.search(word) is not None
        or _TR_AFTER_NAME_VERB.search(word) is not None
        or COPULA_TR.match(word) is not None  # "Ben Memnunum", "Ben Değilim" (and Nazım, Halim: not sure to be names)
        or number_word(word)  # "Beşte", "Onda", "Doksan"
    )


def number_word(word: str) -> bool:
    return any(ch.isdigit() for ch in normalize(word, "tr").digits)
