"""Cut a reply into sentences for TTS, without cutting at "Dr." or "3.5".

The speak stage sends each sentence to Piper as soon as it is complete, so the first audio starts
while the LLM is still writing the second sentence. A naive split on ". " cut a reply at "Dr." (seen
in testing: "Hello Dr." / "Smith." were spoken as two sentences with a pause). Piper's own espeak
splitter has the same habit, so known abbreviations are also expanded before synthesis.
"""

from __future__ import annotations

import re

# Lower-case, without the trailing dot. English and Turkish titles and common abbreviations.
ABBREVIATIONS = frozenset(
    {
        "dr", "mr", "mrs", "ms", "prof", "sr", "jr", "st", "mt", "no", "vs", "etc", "e.g", "i.e", "approx",
        "apt", "dept", "est", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
        "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat", "sun", "a.m", "p.m",
        "doç", "av", "sn", "vb", "vd", "bkz", "yrd", "op", "uzm", "hz", "cad", "sok", "mah", "tel",
    }
)  # fmt: skip

EXPANSIONS: dict[str, dict[str, str]] = {
    "en": {"Dr.": "Doctor", "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "Prof.": "Professor",
           "St.": "Street", "Jr.": "Junior", "Sr.": "Senior", "No.": "Number", "vs.": "versus",
           "etc.": "etcetera", "e.g.": "for example", "i.e.": "that is", "a.m.": "A M", "p.m.": "P M"},
    "tr": {"Dr.": "Doktor", "Prof.": "Profesör", "Doç.": "Doçent", "Av.": "Avukat", "Sn.": "Sayın",
           "vb.": "ve benzeri", "vs.": "vesaire", "Cad.": "Caddesi", "Sok.": "Sokak", "Mah.": "Mahallesi"},
}  # fmt: skip

_END = re.compile(r"([.!?…]+)([\"')\]]*)(\s+|$)")
_WORD_BEFORE = re.compile(r"([\w.]+)$")


def _is_boundary(text: str, dot_at: int, after: int) -> bool:
    """Is the punctuation at `dot_at` the end of a sentence?"""
    if text[dot_at] != ".":
        return True
    word = _WORD_BEFORE.search(text, 0, dot_at)
    token = word.group(1).lower() if word else ""
    if token in ABBREVIATIONS:
        return False
    if len(token) == 1 and token.isalpha():  # an initial: "J. Smith"
        return False
    if token.isdigit() and after < len(text) and text[after].isdigit():
        return False  # "3.5" has no space, so it never gets here; kept for "No. 3. 5"-style noise
    return True


_CLAUSE = re.compile(r"[,;:](?=\s)")
MIN_CLAUSE_WORDS = 5
"""The first clause must play (~0.25 s a word) at least as long as the rest takes to synthesize,
or the caller hears a hole between them: 5 words and a rest of at most 3× as many."""
MAX_REST_FACTOR = 3


def split_first_clause(sentence: str) -> list[str]:
    """A reply's first sentence → [first clause, rest] when it has a comma-like break far enough in.

    Piper synthesizes a sentence at a time and takes ~0.13 s per second of speech here: the caller
    waits for the whole first sentence before hearing anything. Cutting "We are open Monday to Friday,
    from 9 am to 5 pm." after the comma halves that wait; the comma is a pause in speech anyway, and
    the rest is synthesized while the first clause plays. Only at a comma/semicolon/colon after at least
    `MIN_CLAUSE_WORDS` words, so "Yes, please.", "I can book, cancel or move…" and "9:30" stay whole.
    """
    for match in _CLAUSE.finditer(sentence):
        head, tail = sentence[: match.end()].strip(), sentence[match.end() :].strip()
        head_words, tail_words = len(head.split()), len(tail.split())
        if head_words >= MIN_CLAUSE_WORDS and 3 <= tail_words <= MAX_REST_FACTOR * head_words:
            return [head, tail]
    return [sentence]


def split_sentences(text: str) -> list[str]:
    """Whole text → sentences (stripped, non-empty)."""
    buf = SentenceBuffer()
    out = buf.push(text)
    tail = buf.flush()
    return [*out, tail] if tail else out


class SentenceBuffer:
    """Streaming splitter: push LLM deltas, get back the sentences completed so far.

    A sentence is complete at `.`, `!`, `?` or `…` followed by whitespace (so "3.5" and "e.g." mid-
    word never end one), unless the word before the dot is a known abbreviation or an initial.
    A newline also ends a sentence. `max_chars` cuts a run-on at the last comma or space.
    """

    def __init__(self, max_chars: int = 220) -> None:
        self.max_chars = max_chars
        self._buf = ""

    def push(self, delta: str) -> list[str]:
        self._buf += delta
        out: list[str] = []
        while True:
            cut = self._next_cut()
            if cut is None:
                break
            sentence, self._buf = self._buf[:cut].strip(), self._buf[cut:]
            if sentence:
                out.append(sentence)
        return out

    def flush(self) -> str | None:
        sentence, self._buf = self._buf.strip(), ""
        return sentence or None

    def _next_cut(self) -> int | None:
        text = self._buf
        newline = text.find("\n")
        for match in _END.finditer(text):
            if newline != -1 and newline < match.start():
                return newline + 1
            if not match.group(3):  # punctuation at the very end: wait for what follows
                break
            if _is_boundary(text, match.start(1) + len(match.group(1)) - 1, match.end()):
                return match.end()
        if newline != -1:
            return newline + 1
        if len(text) > self.max_chars:
            window = text[: self.max_chars]
            cut = max(window.rfind(", "), window.rfind("; "))
            cut = cut + 1 if cut > self.max_chars // 3 else window.rfind(" ")
            return cut if cut > 0 else self.max_chars
        return None


SPOKEN_FORMS: dict[str, list[tuple[re.Pattern[str], str]]] = {
    # espeak-ng (Piper's phonemizer too) reads "15:00" as "on beş sıfır sıfır" and "09:30" as "sıfır dokuz
    # otuz"; a Turkish speaker says "on beş", "dokuz otuz", and "9 ile 17 arası" for "09:00–17:00 arası"
    # ("Pazartesi ile Cuma" for "Pazartesi–Cuma"; a hyphen between letters, "e-posta", stays).
    "tr": [
        (re.compile(r"(?<=\d)\s*[–-]\s*(?=\d)|(?<=\w)\s*–\s*(?=\w)"), " ile "),  # espeak-ng says nothing for "–"
        (re.compile(r"\b0?(\d{1,2}):00\b"), r"\1"),
        (re.compile(r"\b0(\d):(\d\d)\b"), r"\1:\2"),
    ],
}
"""Per language, the written forms a TTS front end reads badly → what a person says; the text the caller
sees in the transcript keeps the written form."""


def expand_abbreviations(sentence: str, language: str = "en") -> str:
    """Spell out abbreviations, and times as said, so the TTS front end neither pauses nor spells them."""
    code = language.replace("-", "_").split("_")[0].lower()
    for short, long in EXPANSIONS.get(code, {}).items():
        sentence = re.sub(rf"(?<!\w){re.escape(short)}(?=\s|$)", long, sentence)
    for pattern, said in SPOKEN_FORMS.get(code, []):
        sentence = pattern.sub(said, sentence)
    return sentence
