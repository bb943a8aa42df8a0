"""The Turkish word endings that tell a name from a verb where the name rules look for one (names.py).

Why apart: like tr_name_words.py, they are the rules' vocabulary, read and extended on their own, while
names.py holds how a name is found. Matched against `Normalized.plain` words (lower case, Turkish letters).
"""

from __future__ import annotations

import re

# "ben …" introduces a name as often as anything else ("ben de", "ben yarın gelemiyorum"): there, as after
# "i am", a first and a last name are needed, and no word may look like a conjugated verb.
VERB_TR = re.compile(
    r"(?:yorum|yorsun|acağım|eceğim|acagim|ecegim|mak|mek|dim|dım|dum|düm|tim|tım|tum|tüm|miş|mış|mis|mıs|sin|sın"
    r"|siniz|sınız|yim|yım|yum|yüm|nizim|nızım|nuzum|nüzüm|ız|iz|uz|üz|lar|ler)$"
)  # not a bare -im/-um: Selim, Kerim, İbrahim are names

# A verb after the name ("ismim Mehmet Demir demiştim", "adım Ayşe. Hemşireyim, …"): the name is over. Read
# from the second word on only, and only clear first-person and past endings: surnames end in -ız, -ler too
# (Yıldız, Güler), which is why `VERB_TR` cannot be used there.
AFTER_NAME_VERB_TR = re.compile(
    r"(?:yorum|yordum|m[ıiuü]şt[ıiuü]m|d[ıiuü]m|t[ıiuü]m|y[ıiuü]m|acağım|eceğim|acagim|ecegim|s[ıi]n[ıi]z|s[uü]n[uü]z)$"
)

# An order, a wish, a negative or aorist, the copula, an adverb: verb and adverb endings no name has.
NOT_NAME_ENDING_TR = re.compile(
    r"(?:y[ıiuü]n|y[ıiuü]n[ıiuü]z|[dt][ıiuü]r[ıiuü]n|s[ıiuü]n|s[ıiuü]nlar|y?[ae]l[ıi]m|maz|mez|mam|mem|m[ıi]yor\w*|d[ıiuü]r|t[ıiuü]r"
    r"|arak|erek|ken|madan|meden|ınca|ince|unca|ünce|mal[ıi]|meli)$"
)

# The verb of a compound verb said after its noun ("teşekkür ederim", "rica ederim", "özür dilerim", "kabul
# ettim"): the word before it is no given name, and the two are no name ("Ben teşekkür ederim").
LIGHT_VERB_TR = re.compile(r"^(?:ed(?:er|iyor|ecek|ece[gğ]|ebil)\w*|et(?:ti|mi[sş]|me)\w*|diler\w*)$")

# The head of a noun compound in a place or from it ("deniz kenarında", "can sıkıntısından", "ev yanında"): the
# word before it is the compound's first noun, no name, however often it is one ("Ben Deniz kenarındayım"). No
# name ends this way (possessive, then -n-, then -da/-dan); the dative (-ına) is left out: Emine, Medine do.
COMPOUND_PLACE_TR = re.compile(r"^\w{2,}?(?:s|)[ıiuü]nd[ae]n?$")

# "ben ayşe ankaradan arıyorum", "Ben Ayşe Ankara'dan arıyorum": a word in the ablative before "calling" (or
# coming, writing, speaking) is where the caller calls from, not their surname: the name ends before it.
FROM_PLACE_TR = re.compile(r"^\w{2,}[dt][ae]n$")
CALLING_TR = re.compile(r"^(?:ar[ıi]yor|arad[ıi]|ula[sş][ıi]yor|geliyor|yaz[ıi]yor|konu[sş]uyor)\w*$")

# "ben ahmet yılmazın eşiyim", "ben ayşe kayanın annesiyim": "I am X's wife / mother": the name said is someone
# else's, as "Ben Ahmet Yılmaz'ın eşiyim" is read when the apostrophe shows the case. A possessed noun and "I am".
POSSESSED_I_AM_TR = re.compile(r"^\w{2,}?s?[ıiuü]y[ıiuü]m$")
