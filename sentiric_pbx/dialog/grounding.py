"""Grounding: what a model wrote may be spoken only if it says the task's facts, and no others.

A task's result is the truth ("booked: Tuesday 8 December at 3 pm"); a model may only rephrase it. Two
ways a rephrasing lies, both checked before a word of it reaches the caller:

  * it drops a fact: every `spoken` string in the facts must appear in what the model wrote, verbatim
    (case and punctuation aside) — "3 pm" rephrased as "in the afternoon" is not the same promise;
  * it invents one: a time, a date, a weekday, a month or a number that is in neither the template nor the
    facts ("… at 4 pm", "… on Wednesday");
  * it says the caller's booking as the speaker's ("I'm booked for 2 pm"): every fact is there, but the
    caller hears that someone else got the slot.

`GroundedText` checks a stream sentence by sentence, so the reply can still be spoken as it is written:
sentences are held back only until every fact has appeared (and, when the template asks the caller
something, until the rephrasing has asked too), and each one is checked for inventions before it is
released. Names are not checked for invention (any capitalised word could be one); a task
whose facts carry a name has it checked for presence like any `spoken` fact.
"""

from __future__ import annotations

import re
from typing import Any

from sentiric_pbx.engines.tts.sentences import SentenceBuffer

_CLAIMS = re.compile(
    r"\b\d{1,2}[:.]\d{2}\b"  # 15:00, 3.30
    r"|\b\d+(?:st|nd|rd|th)?\b"  # 3, 8th, 2026
    r"|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|tomorrow|tonight|yesterday)\b"
    r"|\b(?:january|february|march|april|june|july|august|september|october|november|december)\b"
    r"|\b(?:pazartesi|salı|çarşamba|perşembe|cuma|cumartesi|pazar|bugün|yarın)\b"
    r"|\b(?:ocak|şubat|mart|nisan|mayıs|haziran|temmuz|ağustos|eylül|ekim|kasım|aralık)\b",
    re.IGNORECASE,
)
"""What a sentence may claim that only a task can know: times, numbers, days, months (en, tr)."""

_WRONG_PERSON = re.compile(
    r"\b(?:i'?m|i am|i've been|i have been|we'?re|we are)\s+(?:now\s+|all\s+)?(?:booked|scheduled|confirmed)\b",
    re.IGNORECASE,
)
"""A booking said of the speaker ("Sure, I'm booked for tomorrow at 2 PM.": Qwen2.5-Coder-1.5B in the demo): the
caller was booked, not us. The facts are all there, so only this check keeps it from being spoken."""


def spoken_facts(facts: Any) -> list[str]:
    """Every `spoken` rendering inside the facts (nested dicts/lists): what must be said verbatim."""
    found: list[str] = []
    if isinstance(facts, dict):
        for key, value in facts.items():
            if key == "spoken" and isinstance(value, str):
                found.append(value)
            else:
                found += spoken_facts(value)
    elif isinstance(facts, list):
        for value in facts:
            found += spoken_facts(value)
    return found


def _strings(facts: Any) -> list[str]:
    """Every string in the facts, said or not (labels, ISO times): what a rephrasing may mention."""
    if isinstance(facts, str):
        return [facts]
    if isinstance(facts, dict):
        return [s for v in facts.values() for s in _strings(v)]
    if isinstance(facts, list):
        return [s for v in facts for s in _strings(v)]
    return [str(facts)] if isinstance(facts, int | float) and not isinstance(facts, bool) else []


def _norm(text: str) -> str:
    return re.sub(r"[^\w:]+", " ", text.lower()).strip()


_ABBREVIATED = re.compile(
    r"\b(?:mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|jun|jul|aug|sep|oct|nov|dec)\b", re.IGNORECASE
)
"""Days and months as notes abbreviate them ("Tue 08 Dec 2026 15:00"): they allow the full name, never
count as a claim themselves ("sat", "sun" are words too)."""


def _key(claim: str) -> str:
    """A claim's identity: "Tuesday", "tue" and "TUE" are one day; "08" and "8" one number."""
    word = _norm(claim)
    if word.isdigit():
        return str(int(word))
    if word.isalpha() and _ABBREVIATED.fullmatch(word[:3]):
        return word[:3]
    return word


def invented(text: str, facts: dict[str, Any], template: str) -> list[str]:
    """The claims in `text` (times, numbers, days, months) that neither the template nor the facts make."""
    sources = (template, *_strings(facts))
    allowed = {_key(m.group()) for source in sources for pattern in (_CLAIMS, _ABBREVIATED)
               for m in pattern.finditer(source)}  # fmt: skip
    return [m.group() for m in _CLAIMS.finditer(text) if _key(m.group()) not in allowed]


class GroundedText:
    """Sentences of a model's reply, released only when they are safe to say.

    `push(delta)` returns the sentences that may be spoken now; `finish()` the rest at the end. Either raises
    `Ungrounded` when the reply invents a claim; `finish()` raises it too when a fact never appeared. Once a
    sentence has been released the facts have all been said, so a later invention only stops the reply.
    """

    def __init__(self, facts: dict[str, Any], template: str) -> None:
        self.facts = facts
        self.template = template
        self._missing = [_norm(f) for f in spoken_facts(facts)]
        self._asks = template.rstrip().endswith("?")
        """The template asks the caller something ("Shall I book you for …?"): so must the rephrasing, or the
        caller's "yes" answers nothing (a model turned it into "Sure, I can book you for …" in the demo)."""
        self._sentences = SentenceBuffer()
        self._held: list[str] = []
        self.released = False

    def push(self, delta: str) -> list[str]:
        return self._take(self._sentences.push(delta))

    def finish(self) -> list[str]:
        tail = self._sentences.flush()
        out = self._take([tail] if tail else [])
        if not self.released:
            missing = [f for f in spoken_facts(self.facts) if _norm(f) in self._missing]
            raise Ungrounded("dropped", missing) if missing else Ungrounded("not_a_question", [])
        return out

    def _take(self, sentences: list[str]) -> list[str]:
        for sentence in sentences:
            extra = invented(sentence, self.facts, self.template)
            if extra:
                raise Ungrounded("invented", extra)
            wrong = _WRONG_PERSON.search(sentence)
            if wrong and not _WRONG_PERSON.search(self.template):
                raise Ungrounded("wrong_person", [wrong.group()])
            self._held.append(sentence)
        if not self.released:
            text = _norm(" ".join(self._held))
            self._missing = [f for f in self._missing if f not in text]
            if self._missing or (self._asks and not any(h.rstrip().endswith("?") for h in self._held)):
                return []
            self.released = True
        out, self._held = self._held, []
        return out


class Ungrounded(Exception):
    """A model's reply that must not be spoken: `why` is "dropped", "invented", "not_a_question" or
    "wrong_person" (the caller's booking said as the speaker's), `claims` the words at issue."""

    def __init__(self, why: str, claims: list[str]) -> None:
        super().__init__(f"{why}: {claims}")
        self.why = why
        self.claims = claims


__all__ = ["GroundedText", "Ungrounded", "invented", "spoken_facts"]
