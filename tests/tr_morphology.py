"""Turkish endings for the grammar matrices (`tests/test_tr_*_grammar.py`), written once from the grammar book.

The matrices compute what the extractor should read from how each sentence is built, so their endings must
not come from the code under test (`sentiric_pbx/dialog/nlu/`): this is a separate, deliberately plain
statement of vowel harmony, the buffer consonants and d → t after a voiceless consonant. Stem changes (k → ğ,
dört → dörd, the apostrophe on digits and names) stay with the matrix that needs them.
"""

from __future__ import annotations

BACK = "aıou"
VOWELS = "aeıioöuü"
VOICELESS = "çfhkpsşt"
ASCII = str.maketrans("çğıöşüÇĞİÖŞÜ", "cgiosuCGIOSU")  # a keyboard without Turkish letters: "Ayse", "carsamba"

_FOUR = {"a": "ı", "ı": "ı", "o": "u", "u": "u", "e": "i", "i": "i", "ö": "ü", "ü": "ü"}


def last_vowel(word: str) -> str:
    return next(c for c in reversed(word.lower()) if c in VOWELS)


def two(word: str) -> str:
    """The two-way vowel (A): a after a back vowel, e after a front one."""
    return "a" if last_vowel(word) in BACK else "e"


def four(word: str) -> str:
    """The four-way vowel (I): ı, i, u, ü after a/ı, e/i, o/u, ö/ü."""
    return _FOUR[last_vowel(word)]


def ending(word: str, case: str) -> str:
    """The ending `word` (as spoken) takes, without the word: "üç" + loc → "te", "Ayşe" + gen → "nin".

    loc, abl, dat, acc, ins, gen; poss (3rd person) and possdat, possloc, possabl; plural; the copula: cond
    ("cumaysa"), past ("salıydı"), cop ("I am": "Ayşe'yim"), dir ("is": "Zeynep'tir")."""
    vowel_end = word[-1].lower() in VOWELS
    y = "y" if vowel_end else ""
    d = "t" if word[-1].lower() in VOICELESS else "d"
    a, i = two(word), four(word)
    poss = ("s" if vowel_end else "") + i
    return {
        "loc": f"{d}{a}",
        "abl": f"{d}{a}n",
        "dat": y + a,
        "acc": y + i,
        "ins": y + "l" + a,
        "gen": ("n" if vowel_end else "") + i + "n",
        "poss": poss,
        "possdat": poss + "n" + a,
        "possloc": poss + "nd" + a,
        "possabl": poss + "nd" + a + "n",
        "plural": "l" + a + "r",
        "cond": y + "s" + a,
        "past": y + d + i,
        "cop": y + i + "m",
        "dir": f"{d}{i}r",
    }[case]


def lower_tr(text: str) -> str:
    """Lower case as Turkish writes it: İ → i, I → ı."""
    return text.replace("İ", "i").replace("I", "ı").lower()
