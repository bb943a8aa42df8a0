"""The caller's name when they say it: "my name is ahmet yilmaz", "this is john smith", "adım ayşe demir".

Only after an introduction phrase, and only words that cannot be anything else: "this is about my appointment"
and "i am calling to cancel" must not produce a person called "About" or "Calling". The words after the phrase
are taken until the first common word, at most three; after "i am"/"im" two ("i am john smith", not "i am afraid").
"""

from __future__ import annotations

import re

from sentiric_pbx.dialog.nlu.normalize import normalize
from sentiric_pbx.dialog.nlu.tr_name_ben import COPULA_TR as _TR_COPULA
from sentiric_pbx.dialog.nlu.tr_name_ben import name_ending_the_turn as _name_ending_the_turn
from sentiric_pbx.dialog.nlu.tr_name_ben import number_word as _number_word
from sentiric_pbx.dialog.nlu.tr_name_endings import AFTER_NAME_VERB_TR as _TR_AFTER_NAME_VERB
from sentiric_pbx.dialog.nlu.tr_name_endings import CALLING_TR as _TR_CALLING
from sentiric_pbx.dialog.nlu.tr_name_endings import COMPOUND_PLACE_TR as _TR_COMPOUND_PLACE
from sentiric_pbx.dialog.nlu.tr_name_endings import FROM_PLACE_TR as _TR_FROM_PLACE
from sentiric_pbx.dialog.nlu.tr_name_endings import LIGHT_VERB_TR as _TR_LIGHT_VERB
from sentiric_pbx.dialog.nlu.tr_name_endings import POSSESSED_I_AM_TR as _TR_POSSESSED_I_AM
from sentiric_pbx.dialog.nlu.tr_name_endings import VERB_TR as _TR_VERB
from sentiric_pbx.dialog.nlu.tr_name_phrase import (
    INSTITUTION_TR,
    PHONE_NEXT_TR,
    Capitals,
    field_name,
    genitive_stem,
    name_in_frame,
    name_phrase_before,
    not_in_name,
    owner_stem,
    said_capitals,
    surname_alone,
    title_tr,
    unlisted_full_name,
)
from sentiric_pbx.dialog.nlu.tr_name_phrase import VERB_STEM_TR as _TR_VERB_STEM
from sentiric_pbx.dialog.nlu.tr_name_phrase import is_first_name as _is_first_name
from sentiric_pbx.dialog.nlu.tr_name_phrase import lower_tr as _lower_tr
from sentiric_pbx.dialog.nlu.tr_name_words import COMMON_TR as _COMMON_TR
from sentiric_pbx.dialog.nlu.tr_name_words import HONORIFICS_TR as _TR_HONORIFICS
from sentiric_pbx.dialog.nlu.tr_name_words import OPENERS_TR as _TR_OPENERS
from sentiric_pbx.dialog.nlu.tr_name_words import POSTPOSITIONS_TR as _TR_POSTPOSITIONS
from sentiric_pbx.dialog.nlu.tr_name_words import WHOSE_NAME_TR as _TR_WHOSE_NAME

_EN_TRIGGERS = (
    r"(?:^names|\b(?:(?:its|it is|is|booked|book it|put it) under(?: the name)?(?: of)?|under the name(?: of)?"
    r"|my name is|my names|the name is|the names|name is|this is|i am|im|its"
    r"|(?:you can |just |please )?call me))\s+"
)
_TR_TRIGGERS = (
    r"\b(?:benim ad[ıi]m soyad[ıi]m|ad[ıi]m soyad[ıi]m|ad soyad[ıi]m|ad soyad|benim ad[ıi]m|ad[ıi]m|benim [ıi]smim"
    rf"|[ıi]smim soy[ıi]smim|[ıi]smim|{_TR_WHOSE_NAME}|ben)\s+"
)
COMMON_EN = frozenset(
    """
    a about actually again all also am an and any anyone appointment are as at available back bad be because
    been being best better bit booked booking but by call called calling can cancel cant checking clinic
    confused correct could dad daughter did do doctor doing done dont down either else even every
    everything fine for free friday from fully glad going gone good great had happy has have having he her
    here hey hi him his hoping how husband i id if im in interested is it its just kind late leaving let like
    little looking lost me mom monday more morning mother my need new next no not nothing now of off ok okay
    on one only or other our out over patient perfect please pretty probably question re ready really
    regarding right running said saturday see she should sick so somebody someone sorry still sunday sure
    than thank thanks that thats the their them then there they this thursday to today tomorrow too trying
    tuesday uh um unable up urgent us very waiting want wanted was we wednesday well were what when where
    which who why wife will with wondering work would wrong yeah yes yet you your later asap anytime sometime soon
    whenever maybe first review control warranty insurance pressure construction age stress tonight
    """.split()
)


_PLACES = frozenset({"office", "clinic", "practice", "surgery", "salon", "muayenehanesi", "klinigi", "kliniği"})


def _title(word: str, language: str) -> str:
    return title_tr(word) if language == "tr" else word[0].upper() + word[1:]


# "my first name is anna and my last name is kowalski", "adım mehmet soyadım kaya": one name in two parts.
_EN_SURNAME = re.compile(r"\b(?:and )?(?:my )?(?:last name|surname|family name)(?: is)?\b")
# "soyadım", "soy ismim", "soyadım da"; "adım ve soyadım Ömer Faruk Benli" is "adım Ömer Faruk Benli"
_TR_SURNAME = re.compile(r"(?:\b| ve )(?:soy ?ad[ıi]m|soy ?[ıi]smim)(?: d[ae])?\b")


def _name_before(plain: str, caps: Capitals | None) -> str | None:
    """ "Ahmet Yılmaz adına randevu", "Kayıt Ayşe adına olsun": in Turkish the name comes before "adına" (in the
    name of); a name the list lacks is taken there too ("Roman Mordovtsev adına")."""
    words = plain.split()
    for i, word in enumerate(words):
        phrase = name_phrase_before(words[:i], False, caps) if word in ("adına", "adina") else None
        if phrase:
            return " ".join(_title(w, "tr") for w in phrase)
    return None


def _without_copula(word: str) -> str:
    """ "şahinim" → "şahin"; not "yıldırım" (-dır takes no "I am"); "berkayım": the given name decides."""
    m = _TR_COPULA.match(word)
    if m is None or _is_first_name(word) or _TR_VERB_STEM.search(m["stem"]) or m["stem"] in _COMMON_TR:
        return word
    if word[-3] == "y" and not _is_first_name(m["stem"]) and _is_first_name(word[:-2]):
        return word[:-2]
    return word if _TR_NAME_COPULA.match(m["stem"]) else m["stem"]


# "adım Ayşe'dir", "benim adım Mehmet Yılmaz'dır": the copula "is" on the last name word (Kadir keeps his).
_TR_NAME_COPULA = re.compile(r"^(?P<stem>\w{3,}?)(?:d[ıiuü]r|t[ıiuü]r)$")


def _without_name_copula(word: str) -> str:
    m = _TR_NAME_COPULA.match(word)
    return m["stem"] if m and not _is_first_name(word) else word


def _name_word_tr(word: str) -> bool:
    return word.isalpha() and len(word) >= 2 and word not in _COMMON_TR and not _TR_VERB.search(word)


def _ben_name(words: list[str], after: list[str]) -> list[str] | None:
    """After "ben": a first and a last name ("ben ayşe demir", "ben fatma şahin'im"), or one given name
    from the list when what follows is not the rest of a verb ("ben ahmet, randevum vardı"; not "ben umut
    ediyorum")."""
    if len(words) >= 2 and _TR_LIGHT_VERB.match(words[1]):
        return None  # "ben teşekkür ederim", "ben rica ederim": a compound verb, no name
    if len(after) >= 2 and _TR_COMPOUND_PLACE.match(_without_copula(after[1])):
        return None  # "ben deniz kenarındayım", "ben can sıkıntısından aradım": a noun compound, no name
    if len(after) > len(words) > 1 and genitive_stem(words[-1]) and _TR_POSSESSED_I_AM.match(after[len(words)]):
        return None  # "ben ahmet yılmazın eşiyim": I am Ahmet Yılmaz's wife, whose name is not said
    if len(words) >= 2 and _is_first_name(words[0]) and _without_copula(words[-1]) != words[-1]:
        words = [*words[:-1], _without_copula(words[-1])]  # "ben ayşe kaya'yım": -yım is "I am", no verb
    if len(words) >= 2 and not any(_TR_VERB.search(w) for w in words):
        return [*words[:-1], _without_copula(words[-1])]
    if len(words) >= 2 and _is_first_name(words[0]):  # "ben Burak Yıldız": a given name vouches for the rest
        named = [words[0]]
        for word in words[1:]:
            if _TR_AFTER_NAME_VERB.search(word) or _TR_VERB_STEM.search(word):
                break
            named.append(word)
        if len(named) >= 2:
            return [*named[:-1], _without_copula(named[-1])]
    words = words[:1]
    following = after[1] if len(after) > 1 else ""
    if len(words) == 1 and not following.startswith(("et", "ed", "ol")):
        if _is_first_name(words[0]):
            return words
        if _is_first_name(_without_copula(words[0])):  # "ben Ayşe'yim", "ben Mehmet'im"
            return [_without_copula(words[0])]
    return None


def _calling_from(word: str, following: str) -> bool:
    return _TR_FROM_PLACE.match(word) is not None and _TR_CALLING.match(following) is not None


# "ahmet yılmaz'ın randevusu", "oğlum ali'nin randevusunu": the person whose appointment it is; and whose
# order, booking, record or ticket ("Ali Şahin'in siparişlerini göster", "Ayşe Kaya'nın rezervasyonu").
_TR_GENITIVE = re.compile(r"\b(\w+) (?:randevus|sipari[sş]|rezervasyon|kayd[ıi]|ba[sş]vurus|bilet)")
_TR_GENITIVE_KIND = re.compile(r"\b(\w+) \w+ (?:randevus|sipari[sş]|rezervasyon)")  # "Emir'in aşı randevusu"


def _said_stems(said: str) -> dict[str, str]:
    """Words written with an apostrophe, as `plain` spells them → the part before it: "Şahin'in" says where
    the ending starts, which "şahinin" alone does not ("Şahin'in" or "Şahi'nin")."""
    stems = {}
    for token in _SAID_WORD.findall(said):
        stem, apostrophe, suffix = token.replace("’", "'").partition("'")
        if apostrophe:
            stems[_lower_tr(stem + suffix)] = _lower_tr(stem)
    return stems


# "Zeynep Kara'ya randevu ver", "oğlum Ali'ye bir randevu": the dative, with its apostrophe, says for whom.
_TR_FOR_WHOM = re.compile(r"\b(\w+)(?= (?:\w+ ){0,2}randevu\b)")  # "Umutcan'a cuma günü randevu verelim"


def _name_of_owner(plain: str, said: str, caps: Capitals | None) -> str | None:
    said_stems = _said_stems(said)
    genitives = [*_TR_GENITIVE.finditer(plain), *_TR_GENITIVE_KIND.finditer(plain)]
    owners = [(m, owner_stem(m[1], said_stems)) for m in genitives]
    for m in _TR_FOR_WHOM.finditer(plain):
        stem, between = said_stems.get(m[1], ""), plain[m.end(1) :].split()[:2]
        if any(w in _TR_POSTPOSITIONS or w in ("göre", "gore") or _TR_AFTER_NAME_VERB.search(w) for w in between):
            continue  # "Ahmet'e göre yarın randevu yok", "Ayşe'ye söyledim, yarın randevu var"
        if stem and re.fullmatch(r"y?[ae]", m[1][len(stem) :]):
            owners.append((m, stem))
    for m, stem in sorted(owners, key=lambda found: found[0].start()):
        # one known given name at least: "kardeşimin randevusu" is no name, "Doktor Ayşe'ye randevu" the doctor's;
        # a proper noun in the genitive owns a booking though the list lacks it ("Öykü'nün randevusu": only a
        # person has one, where "İstanbul'a randevu" in the dative is a place)
        listed = m.re is _TR_FOR_WHOM or m[1] not in said_stems
        before = [*plain[: m.start(1)].split(), stem]
        if stem in _TR_HONORIFICS and m.re is not _TR_FOR_WHOM:  # "Fatma Hanım'ın randevusu": the name before
            before, listed = before[:-1], True  # the title, from the list ("Ahmet Bey'e randevu": with Mr Ahmet)
        phrase = name_phrase_before(before, listed, caps) if stem and before else None
        if phrase:
            return " ".join(_title(w, "tr") for w in phrase)
    return None


_SAID_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


# "Kemal Bey'in yerine ben geleceğim", "Ahmet Kaya'nın yerine", "Ahmet Bey'e ben söylerim": a name in a case,
# or before a postposition, is the person the caller speaks of (here, the booking's), not the caller. The
# caller's own name is not said, so there is none: greeting them as Kemal would be wrong.
_TR_HONORIFIC_CASE = re.compile(r"^(?:bey|han[ıi]m)(?:[ıi]n|e|a|i|ı|y?le|y?la|den|dan|de|da|ler|lar)\w*$")
_SAID_COPULA = re.compile(r"^(?:y?[ıiuü]m|y?[ıiuü]z|d[ıiuü]r|t[ıiuü]r)$")


def _said_in_a_case(said: str) -> frozenset[str]:
    """Words written with an apostrophe and a case ending ("Kaya'nın", "Ayşe'ye"), as `plain` spells them;
    not the copula ("Şahin'im", "Ayşe'dir"), which keeps a name the caller's."""
    cased = set()
    for token in _SAID_WORD.findall(said):
        stem, _, suffix = token.replace("’", "'").partition("'")
        if suffix and not _SAID_COPULA.match(_lower_tr(suffix)):
            cased.add(_lower_tr(stem + suffix))
    return frozenset(cased)


# "Benim adım Mehmet Ali. Modern web…", "Adım Zeynep, kaydet.", "Ayşe ben, sesimi duyan var mı?": the turn as
# said ends a name at a comma or a full stop, which `plain` has lost. A colon does not ("Ad soyad: Zeynep Kaya"),
# nor a dot between digits ("14.30").
_SAID_BREAK = re.compile(r"[,;!?…]+|(?<!\d)\.+|\.+(?!\d)")
_BREAK = "|"


def _with_breaks(plain: str, said: str, language: str) -> str:
    """`plain` with "|" where a Turkish turn as said has a comma or a full stop; `plain` itself when the two do
    not line up word for word (or nothing was said with punctuation)."""
    if language != "tr" or not said or not _SAID_BREAK.search(said):
        return plain  # English is read as before: its figures were measured without the breaks
    parts = [normalize(c, language).plain for c in _SAID_BREAK.split(said)]
    marked = f" {_BREAK} ".join(p for p in parts if p)
    return marked if marked.replace(f" {_BREAK} ", " ") == plain else plain


# "ismim Ahmet değil" (my name is not Ahmet), "ben Ahmet değilim": no name, rather than the one denied; "Adım
# Zeynep değil, Ayşe": the one said instead, when it opens with a given name.
_TR_NOT = re.compile(r"^de[gğ]il(?:im|iz)?$")
_TR_INSTEAD = frozenset({_BREAK, "ama", "aslında", "aslinda", "yani", "sadece", "benim", "adım", "adim", "ismim"})


def _corrected_name(words: list[str], caps: Capitals | None = None) -> list[str]:
    """The name said instead of a denied one: next ("Adım Zeynep değil, Ayşe") or closing the turn on its own
    after a clause ("Benim adım Tolga değil, yanlış kaydetmişsiniz, Tolgahan.", capitalised if the list lacks it)."""
    last = " ".join(words).split(_BREAK)[-1].split()
    if _BREAK in words and 1 <= len(last) <= 3 and words[:1] != last[:1]:
        named = _corrected_name(words[:1]) or _corrected_name(last)  # the next word if a name, else the last clause
        said = caps is not None and all(w in caps.said and _name_word_tr(w) for w in last)
        return named or (last if said else [])
    while words and words[0] in _TR_INSTEAD:
        words = words[1:]
    if words and not _is_first_name(words[0]):
        words = [_without_copula(words[0]), *words[1:]]  # "…, Mehmet'im"
    if not words or not _is_first_name(words[0]):
        return []
    named = [words[0]]
    for word in words[1:3]:
        if not word.isalpha() or word in _COMMON_TR or _TR_AFTER_NAME_VERB.search(word) or _TR_VERB_STEM.search(word):
            break  # (not `_TR_VERB`: a surname may end like one, "Yıldız")
        named.append(word)
    return named


def find_person_name(plain: str, language: str, said: str = "") -> str | None:
    """A name after an introduction phrase (or, in Turkish, before "adına"), title-cased, or None. `said` is
    the turn with its capitals and punctuation ("" when not known): in Turkish, "Ahmet Kaya, randevum
    vardı" is a name where "ahmet kaya randevum vardı" is not sure to be one."""
    marked = _with_breaks(plain, said, language)
    plain = (_TR_SURNAME if language == "tr" else _EN_SURNAME).sub(" ", plain)
    plain = re.sub(r"\bmy first name is\b", "my name is", plain)
    common = _COMMON_TR if language == "tr" else COMMON_EN
    trigger = _TR_TRIGGERS if language == "tr" else _EN_TRIGGERS
    cased = _said_in_a_case(said) if language == "tr" else frozenset()
    caps = said_capitals(said) if language == "tr" else None
    said_copula = _said_with_copula(said) if language == "tr" else {}
    surname = _TR_SURNAME if language == "tr" else _EN_SURNAME
    # "adım Hakan, soyadım Öztürk": the surname goes on with the name across the comma
    marked = surname.sub(" ", re.sub(rf"\{_BREAK} (?=(?:{surname.pattern}))", "", marked))
    marked = re.sub(r"\bmy first name is\b", "my name is", marked)
    if language == "tr":  # "Merhaba Alice, ben de Ayla.": "and I am Ayla", the name read as after "ben"
        marked = re.sub(r"\b(ben|ad[ıi]m|[ıi]smim) d[ae] ", r"\1 ", marked)  # "benim adım da Ayşe" too
    for m in re.finditer(trigger, marked):
        words: list[str] = []
        for word in marked[m.end() :].split()[:3]:
            following = (marked[m.end() :].split() + [""] * 4)[len(words) + 1]
            honorific = language == "tr" and _TR_HONORIFIC_CASE.match(word)
            institution = language == "tr" and INSTITUTION_TR.match(word)
            named_place = institution and re.match(r"[sğ]?[ıiuü]", word[institution.end() :])  # "Şube-si", "Banka-sı"
            if language == "tr" and words and not named_place and _calling_from(word, following):
                break  # "ben ayşe ankaradan arıyorum", "Ben Ayşe Ankara'dan arıyorum": Ayşe, calling from Ankara
            if honorific or named_place or (language == "tr" and (word in _TR_POSTPOSITIONS or word in cased)):
                # "ben Ahmet Kaya yerine geldim", "…Kaya'nın eşiyim": someone else; not the word before "Bey'in" ("adım
                # Ahmet Kemal Bey'in yerine") or "Şubesi" ("Ben Ankara Şubesi"), but all before "I am his secretary"
                keep = named_place or (honorific and not _TR_POSSESSED_I_AM.match(following))
                words = words[:-1] if keep else []
                break
            if word in common or not word.isalpha() or len(word) < 2 or word.endswith("ing"):
                break
            if language == "tr" and (_TR_NOT.match(word) or _number_word(word)):
                break  # "ben Ahmet değilim"; "Ben on dört gün diye biliyordum": a number is no name
            if language == "tr" and words and m.group(0).strip() != "ben" and _TR_AFTER_NAME_VERB.search(word):
                break  # (after "ben", `_ben_name` reads "kaya'yım" as "I am Kaya")
            if caps and words and words[0] in caps.said and word not in caps.said:
                break  # "Adım Ayşe telefonum …" said with capitals and no comma: each word of a name has one
            if (
                language == "tr"
                and (words or not (_is_first_name(word) or (caps and word in caps.inside)))  # "adım Rustam"
                and word not in said_copula
                and not_in_name(word, following)
            ):
                break  # "adım ayşe telefonum …", "ismim ayşe müsait misiniz", "ismim kayıtlı mı?"; not "Kılıç'ım"
            words.append(word)
        if language == "tr" and words and m.group(0).strip() != "ben":
            words[-1] = _without_name_copula(words[-1])
        if language == "tr" and words:
            rest = marked[m.end() :].split()[len(words) :]
            if rest and _TR_NOT.match(rest[0]):
                words = _corrected_name(rest[1:], caps)
                if not words:
                    continue
                return " ".join(_title(w, "tr") for w in words)
        after = marked[m.end() :].split()[: len(words) + 1]
        if any(w in _PLACES for w in after):
            continue  # "this is dr lees office": a place answering, not a caller's name
        # "i am …" is as often "i am afraid" as a name: there we want a first and a last name.
        strict = m.group(0).strip() in {"i am", "im", "its", "ben"}
        if m.group(0).strip() == "ben":
            found = _ben_name(words, after)
            if not found and caps and len(words) >= 2 and all(w in caps.inside for w in words):
                found = [*words[:-1], _without_copula(words[-1])]  # "Ben Menekşe Yıldız": capitals mid-sentence
            if found and (not caps or any(w in caps.said or _is_first_name(w) for w in found)):
                return " ".join(_title(w, language) for w in found)  # not "Merhaba, ben üst kata taşındım."
            continue
        if len(words) >= (2 if strict else 1):
            return " ".join(_title(w, language) for w in words)
    if language != "tr":
        return None
    # the caller's own ("Ayşe ben, …", "…, ben Menekşe.") before the booking's ("Ayşe ben, eşim Şule için randevu")
    return (
        field_name(said) or _name_at_start(marked, said, cased, caps, said_copula) or _name_ending_the_turn(said)
        or _name_closing_the_turn(said, cased) or _name_before(marked, caps) or _name_of_owner(plain, said, caps)
        or _name_in_frame(marked, said, caps)
        or _given_name_alone(said) or _name_registered_as(said, cased) or surname_alone(said)
    )  # fmt: skip


def _name_in_frame(marked: str, said: str, caps: Capitals | None) -> str | None:
    booking = _BOOKING.search(_lower_tr(said) or marked) is not None
    phrase = name_in_frame(marked.split(), booking, caps)
    return " ".join(_title(w, "tr") for w in phrase) if phrase else None


# "Ali Rıza Kaya olarak kayıtlıyım", "Filiz Kaplan olarak doğruluyorum": the name the caller is known under;
# "Ahmet Yılmaz randevusunu iptal et", "Ayşe Kaya rezervasyonu": the owner said without the genitive ending;
# "Ali Yılmaz için randevu": whom a booking is for (only in a turn about one: "Ahmet Konağı için bir fikir").
_SAID_AS = re.compile(  # starts only where a word does: from inside one, every letter was a new start (quadratic)
    r"(?<![^\W\d_])((?:[^\W\d_]+ ){1,2}[^\W\d_]+) (?:olarak\b|(?P<for>i[çc]in)\b|(?:randevus|rezervasyon|kayd)\w*)"
)
_BOOKING = re.compile(r"randevu|rezervasyon")


def _name_registered_as(said: str, cased: frozenset[str]) -> str | None:
    """A full name (two or three words, `_said_full_name`) right before "olarak" (as), or before "randevusu" with no
    genitive ending: "Misafir olarak", "Ahmet Bey olarak", "hasta olarak" are a role or someone else, "Diş
    randevusu", "Kontrol randevusu" a kind of appointment (a full name needs capitals and a known given name)."""
    for m in _SAID_AS.finditer(said):
        if m["for"] and not _BOOKING.search(_lower_tr(said)):
            continue
        words = m[1].split()
        while len(words) > 2 and not (words[0][0].isupper() and _is_first_name(_lower_tr(words[0]))):
            words = words[1:]  # "Kaydım Ali Rıza Kaya olarak": the name is the last words before "olarak"
        name = _said_full_name(words, cased)
        if name:
            return name
    return None


def _said_full_name(words: list[str], cased: frozenset[str]) -> str | None:
    """`words` as said, title-cased, when they are a full name: each capitalised, the first a given name from the
    list, none a title, a common word, a greeting or a word in a case, and no verb after the first."""
    if not all(_SAID_WORD.fullmatch(w) and w[0].isupper() for w in words):
        return None
    named = [_said_stem(w) for w in words]
    if any(
        w in cased or w in _TR_HONORIFICS or w in _COMMON_TR or w in _TR_OPENERS or INSTITUTION_TR.match(w)
        for w in named
    ):
        return None
    if not _is_first_name(named[0]) or any(_TR_VERB.search(w) or _TR_AFTER_NAME_VERB.search(w) for w in named[1:]):
        return None
    return " ".join(_title(w, "tr") for w in named)


def _name_closing_the_turn(said: str, cased: frozenset[str]) -> str | None:
    """ "ORD-202625502 siparişim, Filiz Kaplan", "Randevu için arıyorum, Ayşe Nur Yılmaz.": a last clause after a
    comma that is a given name and a surname, each capitalised, and nothing else — the caller signing the turn,
    as "Ahmet Kaya, randevum vardı" opens it. One word ("…, Ahmet") or a title ("…, Ahmet Bey": the person
    answering) is not enough, nor a name in a case ("…, Ayşe Kaya'ya")."""
    clauses = [c.strip() for c in _SAID_CLAUSE.split(said)]
    while clauses and not clauses[-1]:
        clauses.pop()
    if len(clauses) < 2 or "," not in said:
        return None
    words = clauses[-1].split()
    return _said_full_name(words, cased) if 2 <= len(words) <= 3 else None


def _given_name_alone(said: str) -> str | None:
    """ "Filiz", "Filiz.": the whole turn one given name from the list, written with a capital — the answer to
    "adınız?". One word is otherwise not enough ("Deniz kenarında", "Ahmet, randevum vardı"); alone and
    capitalised, a caller says it as a name. A greeting before it ("Merhaba Filiz") addresses the agent."""
    words = _SAID_WORD.findall(said)
    if len(words) != 1 or "'" in words[0] or "’" in words[0] or not words[0][0].isupper():
        return None
    if re.sub(r"[\s.!…]+", "", said) != words[0]:
        return None
    word = _lower_tr(words[0])
    return _title(word, "tr") if _is_first_name(word) else None


_SAID_CLAUSE = re.compile(r"[,.;:!?]+")
_TR_ACKS = frozenset("tamam tamamdır peki anladım evet olur teşekkürler teşekkür ederim sağolun sağ olun".split())


def _named_clause(said: str, named: list[str], cased: frozenset[str]) -> bool:
    """Whether the turn as said opens (after a greeting) with `named` as a clause of its own, each word
    capitalised, and goes on after it: "Ahmet Kaya, randevum vardı", "Merhaba. Zeynep Arslan; yarın…"."""
    clauses = [c.strip() for c in _SAID_CLAUSE.split(said)]
    while clauses and all(_lower_tr(w) in _TR_OPENERS | _TR_ACKS for w in _SAID_WORD.findall(clauses[0])):
        clauses = clauses[1:]  # "Merhaba," "İyi günler," "Tamam, teşekkürler." and empty leading clauses
    if len(clauses) < 2 or not any(clauses[1:]):
        return False
    words = clauses[0].split()
    while words and _lower_tr(words[0]) in _TR_OPENERS:
        words = words[1:]
    # every word a capitalised name word, none in a case ("Ahmet Kaya'nın," is someone else; "Kaya'yım" is "I am")
    return (
        all(_SAID_WORD.fullmatch(w) and w[0].isupper() and _said_stem(w) not in cased for w in words)
        and [_said_stem(w) for w in words] == named
    )


def _said_stem(word: str) -> str:
    """A word as said, lower case, without an "I am" ending after an apostrophe: "Kaya'yım" → "kaya"."""
    stem, _, suffix = word.replace("’", "'").partition("'")
    return _lower_tr(stem if suffix and _SAID_COPULA.match(_lower_tr(suffix)) else stem + suffix)


def _said_with_copula(said: str) -> dict[str, str]:
    """Words written with an apostrophe and "I am" ("Kaya'yım"), as `plain` spells them → the name in them."""
    found = {}
    for token in _SAID_WORD.findall(said):
        if "'" in token or "’" in token:
            as_plain, stem = _lower_tr(token.replace("'", "").replace("’", "")), _said_stem(token)
            if stem != as_plain:
                found[as_plain] = stem
    return found


def _name_at_start(
    plain: str, said: str, cased: frozenset[str], caps: Capitals | None, with_copula: dict[str, str]
) -> str | None:
    """A turn that is a name and nothing else ("Ayşe Yılmaz", the answer to "adınız?"), or a name followed by
    "ben" or "konuşuyorum" ("Ayşe ben", "merhaba Ahmet Bey ben, randevum vardı", "Ayşe konuşuyorum"), by a phone
    number ("Ahmet Kaya, 0532 111 22 33", "… numaram …") or, written with capitals, by a comma and more ("Ahmet
    Kaya, randevum vardı"). It must open with a given name from the list, and a name without "ben" needs two
    words: one word ("Deniz", "Umut") is as often a word as a name, and "Mehmet Bey" alone greets the person
    answering. `plain` carries the breaks of the turn as said: the name ends at its comma ("Ali Vural, hizmet
    numaram …", "Kerem Aydın, üç sıfır beş …" are not "Ali Vural Hizmet", "Kerem Aydın Üç")."""
    words = plain.split()
    while words and (words[0] in _TR_OPENERS or words[0] in _TR_ACKS or words[0] == _BREAK):
        words = words[1:]  # "Merhaba, …", "Tamam, teşekkürler. Ahmet Kaya, 0532 …"
    listed = bool(words) and _is_first_name(with_copula.get(words[0], words[0]))
    if not listed and not unlisted_full_name([with_copula.get(w, w) for w in words[:2]], caps):
        return None  # "Öykü Kaya, 0532 …": a given name the list lacks, with a capitalised surname
    named: list[str] = []
    for i, word in enumerate(words[:3]):
        if word in with_copula:  # "Ahmet Kaya'yım", "Ayşe'yim, …": "I am Ahmet Kaya", the name ends there
            named.append(with_copula[word])
            break
        if word in _TR_HONORIFICS or word in _COMMON_TR or not word.isalpha() or len(word) < 2:
            break
        if word in _TR_POSTPOSITIONS or _TR_HONORIFIC_CASE.match(word) or INSTITUTION_TR.match(word):
            break  # "… yerine", "… Bey'in", "Nur Hastanesi"
        if named and (_TR_AFTER_NAME_VERB.search(word) or _TR_VERB_STEM.search(word)):
            break
        if named and PHONE_NEXT_TR.match(" ".join(words[i:])):
            break
        named.append(word)
    rest = words[len(named) :]
    titled = bool(rest) and rest[0] in _TR_HONORIFICS  # "Mehmet Ali Bey." alone greets the person answering
    rest = rest[1:] if titled else rest
    if rest and (_TR_HONORIFIC_CASE.match(rest[0]) or rest[0] in _TR_POSTPOSITIONS):
        return None  # "Kemal Bey'in yerine", "Ahmet Kaya yerine": someone the caller speaks of
    if any(w in cased for w in named):
        return None  # "Ahmet Kaya'nın yerine", "Ayşe Kaya'ya ben söylerim"
    tail = " ".join(rest).removeprefix(f"{_BREAK} ")  # "ayşe yılmaz, 0532 …", "…, müşteri numaram …" in lower case
    numbered = PHONE_NEXT_TR.match(tail) or re.match(r"[^\W\d_]+ numara", tail)
    alone = (not rest and not titled) or (
        len(named) >= 2 and (numbered is not None or _named_clause(said, named, cased))
    )
    said_i_am = bool(rest) and rest[0] in ("ben", "konuşuyorum", "konusuyorum")  # "Ayşe ben", "Ayşe konuşuyorum"
    if said_i_am or (named and words[len(named) - 1] in with_copula) or (alone and len(named) >= 2):
        return " ".join(_title(w, "tr") for w in [*named[:-1], _without_copula(named[-1])])
    return None
