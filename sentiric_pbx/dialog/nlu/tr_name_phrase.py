"""The Turkish name said before the word that says whose it is: "Ayşe Nur Kılıç adına", "Eşim Ayşe için randevu",
"Hatice Yıldız'ın randevusu", "Bana Ayşe diyebilirsiniz", "Ayşe olarak kaydedin".

Why apart from names.py: Turkish puts the name before its marker (a postposition, a case ending, a verb of
calling), so each of those frames reads the same way — backwards from the marker, up to three name words — and
decides the same way whose the name is. Reading them all through one phrase reader is what makes a frame work for
every name (three-word names, surnames that look like verbs such as "Yıldız") and not only for the sentences it was
tuned on. Words are `Normalized.plain` words (lower case, Turkish letters), with "|" where the turn had a comma.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sentiric_pbx.dialog.nlu.normalize import _TR_FOLD, _lower
from sentiric_pbx.dialog.nlu.tr_first_names import TR_FIRST_NAMES
from sentiric_pbx.dialog.nlu.tr_name_endings import AFTER_NAME_VERB_TR, VERB_TR
from sentiric_pbx.dialog.nlu.tr_name_words import COMMON_TR, HONORIFICS_TR, OPENERS_TR, POSTPOSITIONS_TR

_FOLDED_FIRST_NAMES = frozenset(n.translate(_TR_FOLD) for n in TR_FIRST_NAMES)

# A verb ending no surname has, read on the words after a given name (the list vouches for the first word).
VERB_STEM_TR = re.compile(r"(?:yor|aca[kğ]|ece[kğ]|[mdt][ıiuü]|m[ıiuü]ş|m[ıiuü]şt|mal[ıi]|abil|ebil)$")

# A word for a doctor or a professional before a name: the person asked for, never the caller or the patient
# ("Doktor Ayşe'ye randevu", "doktor Ayşe Hanım'dan randevu alacaktım" is no name in the dev set).
STAFF_TR = frozenset(
    "doktor doktora doktorum dr doç doc prof profesör uzman uzm op operatör hoca hocam hocaya avukat öğretmen "
    "hemşire diyetisyen psikolog fizyoterapist terapist veteriner eczacı usta kuaför berber".split()
)


def is_first_name(word: str) -> bool:
    """In the given-name list, with or without Turkish letters ("ayse", "tulay" typed on any keyboard)."""
    return word in TR_FIRST_NAMES or word.translate(_TR_FOLD) in _FOLDED_FIRST_NAMES


def title_tr(word: str) -> str:
    return {"i": "İ", "ı": "I"}.get(word[0], word[0].upper()) + word[1:]


def lower_tr(word: str) -> str:
    return _lower(word, "tr").replace("\u0307", "")  # and a decomposed "i̇" loses its dot


# The nouns of an institution's or a holiday's name ("Kadıköy Şubesi", "Ramazan Bayramı", "Acıbadem Hastanesi").
INSTITUTION_TR = re.compile(
    r"^(?:[şs]ube|bayram|hastane|merkez|klini[kğ]|eczane|[üu]niversite|poliklini|banka|belediye|bakanl[ıi]|"
    r"m[üu]d[üu]rl[üu]|kurum|vakf|derne[kğ]|fak[üu]lte|sigorta|holding)"
)


def _name_word(word: str) -> bool:
    return (
        not INSTITUTION_TR.match(word)
        and word.isalpha()
        and len(word) >= 2
        and word not in COMMON_TR
        and word not in OPENERS_TR
        and word not in HONORIFICS_TR
        and word not in POSTPOSITIONS_TR
        and word not in STAFF_TR
    )


@dataclass(frozen=True)
class Capitals:
    """The words of a turn said with capitals, as `plain` spells them and without their ending ("Kaya'ya" →
    "kayaya", "kaya"): `said` with a capital anywhere, `inside` with one inside a sentence, where Turkish writes
    one only on a proper noun ("Eşim Öykü için", not the "Kontrol" of "Kontrol için randevu")."""

    said: frozenset[str]
    inside: frozenset[str]


_SAID_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_SENTENCE_OPEN = re.compile(r"(?:^|[.!?…:;])[\s\"“(]*$")


def said_capitals(said: str) -> Capitals | None:
    """None for a turn said without capitals (STT that writes none), where no word can be told by one."""
    if not any(ch.isupper() for ch in said):
        return None
    words: dict[str, set[str]] = {"said": set(), "inside": set()}
    for m in _SAID_WORD.finditer(said.replace("’", "'")):
        if m[0][0].isupper():
            forms = {lower_tr(f) for f in (m[0].replace("'", ""), m[0].partition("'")[0])}
            words["said"] |= forms
            if not _SENTENCE_OPEN.search(said[: m.start()]):
                words["inside"] |= forms
    return Capitals(frozenset(words["said"]), frozenset(words["inside"]))


# "Eşim Öykü için", "kızım Nehir'in randevusu": a word for kin before a name says the name is that person's.
KIN_TR = frozenset(
    "eşim esim kızım kizim oğlum oglum annem babam kardeşim kardesim ablam abim ağabeyim dedem ninem anneannem "
    "babaannem teyzem halam amcam dayım yeğenim torunum kocam karım nişanlım".split()
)


# How Turkish surnames end: a surname-making word or suffix (Karaoğlu, Aksoy, Öztürk, Kaya, Altıntaş, Özdemir,
# Çelik, Yıldız, Kurt, Koç, Tekin, Akgül, Erhan, Özcan, Güler, Aktay, Doğan, Yılmaz, Şahin, Aydın).
SURNAME_END_TR = re.compile(
    r"(?:o[gğ]lu|soy|t[üu]rk|kaya|ta[şs]|demir|[çc]elik|y[ıi]ld[ıi]z|kurt|ko[çc]|tekin|g[üu]l|han|can|er|ay"
    r"|do[gğ]an|y[ıi]lmaz|[şs]ahin|ayd[ıi]n)$"
)


# Given names that are also a month or a holiday: alone before "için" or "adına" they are the time ("Kasım için
# randevu", "Bayram için"); with a surname ("Eylül Kaya için") they are a name.
_TIME_NAMES_TR = frozenset(
    "ocak subat mart nisan mayis haziran temmuz agustos eylul ekim kasim aralik bayram ramazan".split()
)  # spelled as `_TR_FOLD` writes them ("Kasim" typed without Turkish letters is "Kasım")


def name_phrase_before(words: list[str], listed: bool = True, caps: Capitals | None = None) -> list[str] | None:
    """The name that ends `words` (its last word the marker's stem), read back up to three name words and trimmed to
    start at a given name from the list ("kayıt ayşe" → "ayşe"); None after a staff word ("doktor ayşe"), or
    when `listed` and no word is a listed given name. A verb ends the phrase: the first word may not look like
    one (`VERB_TR`), the words after a given name may not be a first-person or past verb (surnames end in -ız,
    -ler too: Yıldız, Güler). In a turn said with capitals (`caps`) every name word must have one ("Deniz manzaralı
    oda için" is no name), and a name the list lacks is taken where only a name has a capital: after a word for kin
    ("Eşim Öykü"), or as two words, the last a surname by its form and capitalised inside a sentence ("Öykü Kaya
    için"; not "Kadıköy Şubesi", "Türk Telekom", which a list of places and brands would be needed to tell)."""
    phrase: list[str] = []
    for word in reversed(words[-3:]):
        if not _name_word(word) or (caps is not None and word not in caps.said):
            break
        phrase.insert(0, word)
    start = next((i for i, w in enumerate(phrase) if is_first_name(w)), None)
    if start is None and phrase and caps is not None and not any(VERB_TR.search(w) for w in phrase):
        kin = len(words) > len(phrase) and words[-len(phrase) - 1] in KIN_TR
        if kin or unlisted_full_name(phrase, caps):
            start = 0
    if start is None:
        if listed or not phrase or any(VERB_TR.search(w) for w in phrase):
            return None
        start = 0
    while start and caps is not None and phrase[start - 1] in caps.inside:
        start -= 1  # "Yarın Öykü Polat için": a capital inside a sentence keeps the word before a given name
    phrase = phrase[start:]
    if any(AFTER_NAME_VERB_TR.search(w) or VERB_STEM_TR.search(w) for w in phrase[1:]):
        return None
    if len(phrase) == 1 and phrase[0].translate(_TR_FOLD) in _TIME_NAMES_TR:
        return None
    before = words[len(words) - len(phrase) - 1] if len(words) > len(phrase) else ""
    return None if before in STAFF_TR else phrase


def unlisted_full_name(words: list[str], caps: Capitals | None) -> bool:
    """Whether `words` open with a given name the list lacks and a surname, told by their capitals: two words or
    more, each said with a capital, the last inside a sentence and a surname by its form ("Öykü Kaya", "Öykü
    Karaoğlu"; not "Kadıköy Şubesi", "Türk Telekom")."""
    if caps is None or len(words) < 2 or not all(_name_word(w) and w in caps.said for w in words):
        return False
    surname = SURNAME_END_TR.search(words[-1]) is not None  # not any given name: "Canım Ayşe" greets
    return surname and words[-1] in caps.inside and not any(VERB_TR.search(w) for w in words)


_SURNAME_ALONE = re.compile(r"^(?:benim )?soy ?(?:ad[ıi]m|[ıi]smim) (?P<w>[^\W\d_]+)$")
_FIELD = re.compile(r"^(?:ad|[ıi]sim) (?P<w>[^\W\d_]+(?: [^\W\d_]+)?)$")


def _said_words(said: str) -> list[str]:
    """The turn's words as said, punctuation gone ("Ad: Can." → ["Ad", "Can"])."""
    return re.sub(r"[^\w\s]", " ", said).split()


def field_name(said: str) -> str | None:
    """ "Ad: Can", "İsim Ayşe Kaya": the turn a form's label and a name, each of its words with its capital (not
    "ad günü", "isim değişikliği")."""
    words = _said_words(said)
    m = _FIELD.match(lower_tr(" ".join(words)))
    if m is None or not all(w[0].isupper() for w in words[1:]):
        return None
    named = m["w"].split()
    if any(not _name_word(w) or VERB_TR.search(w) or w in COMMON_TR for w in named):
        return None
    return " ".join(title_tr(w) for w in named)


def surname_alone(said: str) -> str | None:
    """ "Soyadım Yılmaz.": a surname said alone (to "soyadınız?", or after the given name in a turn of its own) is
    the name the booking can go under."""
    words = _said_words(said)
    m = _SURNAME_ALONE.match(lower_tr(" ".join(words)))
    if m is None or not _name_word(m["w"]) or VERB_TR.search(m["w"]):
        return None
    cased = any(ch.isupper() for ch in said)  # then a name has its capital: not "Soyadım değişti"
    return title_tr(m["w"]) if not cased or words[-1][0].isupper() else None


# "Ahmet Kaya 0532 111 22 33", "Ahmet Kaya numaram …", "… sıfır beş yüz otuz iki …": a phone number, or the word
# for one, right after a name at the start ("bir" alone is "a": "Deniz kenarında bir masa" is no name; a number
# run into letters is a price or a count: "Ayşe botoks 5000tl" is a note of a treatment, not "Ayşe Botoks").
PHONE_NEXT_TR = re.compile(
    r"^(?:\+?\d(?:[\d\s().+-]*\d)?(?!\w)|s[ıi]f[ıi]r\b"
    r"|(?:iki|üç|uc|dört|dort|beş|bes|altı|alti|yedi|sekiz|dokuz) y[üu]z\b"
    r"|numara|telefon|tel\b|cep\b|cebim\b|gsm\b)"
)
def genitive_stem(word: str) -> str | None:
    """ "yılmazın" → "yılmaz", "ayşenin" → "ayşe"; None when the word has no genitive ending."""
    vowels = "aeıioöuü"
    if re.search(r"n[ıiuü]n$", word) and len(word) > 4 and word[-4] in vowels:
        return word[:-3]
    if re.search(r"[ıiuü]n$", word) and len(word) > 3 and word[-3] not in vowels:
        return word[:-2]
    return None


def owner_stem(word: str, said_stems: dict[str, str]) -> str | None:
    """The name in a genitive ("Öykü'nün", "yılmazın"); not in another case ("Ankara'ya bilet": a place)."""
    stem = said_stems.get(word)
    if stem is not None:
        return stem if re.fullmatch(r"n?[ıiuü]n", word[len(stem) :]) else None
    return genitive_stem(word)


_MY_TR = re.compile(r"^(?P<stem>\w{2,}?)(?:[ıiuü]m|(?<=[aeıioöuü])m)[ıiuü]?$")  # "telefonum", "numaram", "kaydımı"
_BOOKING_HEAD_TR = re.compile(r"^(?:randevus|rezervasyonu|sipari[sş]i|kayd[ıi])")  # "diş randevusu": its kind
_QUESTION_TR = re.compile(r"^m[ıiuü](?:s[ıiuü]n[ıiuü]z|y[ıiuü]m|s[ıiuü]n|y[ıiuü]z)?$")


def not_in_name(word: str, following: str) -> bool:
    """Whether a word after a given name, in a turn with no comma to end the name, is the next thing said: a thing
    of the caller's ("Adım ayşe telefonum …", "… dişim ağrıyor") unless "I am" a name or surname ("fatma şahinim"),
    a place in the locative ("adım soyadım sistemde doğru mu"), the kind of a booking ("benim adım ayşe diş
    randevusu …"), or what a question asks about ("ismim ayşe müsait misiniz")."""
    m = _MY_TR.match(word)
    named = m is not None and (re.search(r"[dt][ıiuü]r$", m["stem"]) is not None)  # "yıldırım": no -ım after -dır
    mine = (
        m is not None and not named and not any(is_first_name(w) or SURNAME_END_TR.search(w) for w in (word, m["stem"]))
    )
    where = len(word) > 4 and word[-2:] in ("da", "de", "ta", "te") and not is_first_name(word)  # "sistemde"
    kind = _BOOKING_HEAD_TR.match(following) is not None and not (is_first_name(word) or SURNAME_END_TR.search(word))
    return mine or where or kind or _QUESTION_TR.match(following) is not None


# "Bana Ayşe diyebilirsiniz", "bana Mehmet Ali deyin", "bana Akif Taşlı derler": the name between "bana" and a
# verb of calling.
_CALL_ME = re.compile(r"^(?:de|deyin|deyiniz|diyin|diyebilir\w*|derler|diyorlar|dersiniz|hitap|seslen\w*)$")
# "Ayşe olarak kaydedin", "Ayşe Yılmaz olarak kayıtlıyım": the name a record is to be, or is, under.
_REGISTER = re.compile(r"^(?:kaydet\w*|kayded\w*|kay[ıi]t\w*|yaz\w*|ge[çc]iyor\w*|do[gğ]rul\w*)$")


def name_in_frame(words: list[str], booking: bool, caps: Capitals | None = None) -> list[str] | None:
    """The name in a frame that says it is the caller's or the booking's: before "için" in a turn about a booking
    (`booking`: "Eşim Ayşe için randevu", "Ayşe için randevu alabilir miyim?"), before "olarak" and a verb of
    recording in a turn said with capitals (lower-case "ahmet yılmaz olarak kayıtlıyım" is left
    alone), between "bana" and a verb of calling. A given name from the list must vouch, except after
    "bana … diyebilirsiniz" said with capitals ("bana abla diyebilirsiniz" is no name)."""
    for i, word in enumerate(words):
        phrase = None
        if booking and word in ("için", "icin"):
            phrase = name_phrase_before(words[:i], caps=caps)
        elif word == "olarak" and caps is not None and i + 1 < len(words) and _REGISTER.match(words[i + 1]):
            phrase = name_phrase_before(words[:i], caps=caps)
        elif word == "bana":
            end = next((j for j in range(i + 2, min(i + 5, len(words))) if _CALL_ME.match(words[j])), None)
            phrase = name_phrase_before(words[i + 1 : end], caps is None, caps) if end else None
        if phrase:
            return phrase
    return None
