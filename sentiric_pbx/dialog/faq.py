"""Answers to open questions: the business's FAQ and facts, found by the caller's words.

    "is there somewhere to park?" ─► nearest question variant ("is there parking", 0.38 ≥ 0.33)
                                  ─► its answer, said as written (or rephrased and grounded, `llm_capable`)
    "do you sell bicycles?"       ─► nothing near ─► "I don't know that, shall I put you through …?"

The entries come from `[business] faq` / `faq_file` and, for each fact the admin set (`address`,
`phone`, `services`), from built-in question variants here, so "where are you?" is answered once
`address` is set. Retrieval is `retrieval.PhraseIndex` over every variant; an entry with a `language`
is only for calls in that language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sentiric_pbx.config import BusinessConfig
from sentiric_pbx.config.faq import FaqEntry
from sentiric_pbx.dialog.retrieval import PhraseIndex, words

FACT_QUESTIONS: dict[str, dict[str, list[str]]] = {
    "address": {
        "en": ["where are you", "what is your address", "where is your office located", "how do I find you",
               "where are you located", "where is the clinic", "where can I find you"],
        "tr": ["neredesiniz", "adresiniz ne", "adresiniz nedir", "ofisiniz nerede", "size nasıl gelirim"],
    },
    "phone": {
        "en": ["what is your phone number", "how can I call you", "what number can I call you on"],
        "tr": ["telefon numaranız ne", "sizi hangi numaradan arayabilirim"],
    },
    "services": {
        "en": ["what services do you offer", "what kind of services do you provide", "which services do you have",
               "what treatments do you offer"],
        "tr": ["hangi hizmetleri veriyorsunuz", "neler yapıyorsunuz", "hizmetleriniz neler"],
    },
}  # fmt: skip
FACT_ANSWERS = {
    "address": {"en": "We are at {value}.", "tr": "Adresimiz: {value}."},
    "phone": {"en": "Our phone number is {value}.", "tr": "Telefon numaramız {value}."},
    "services": {"en": "We offer {value}.", "tr": "Sunduğumuz hizmetler: {value}."},
}

_QUESTION = {
    "en": re.compile(
        r"^(?:what|whats|where|wheres|when|which|who|whom|whose|why|how|hows|is|are|am|do|does|did|can|could|will|"
        r"would|should|shall|may|have|has)\b|\b(?:do you|is there|are there|can i|can you|could you|tell me|i wonder)\b"
    ),
    "tr": re.compile(r"\b(?:mi|mı|mu|mü|misiniz|mısınız|musunuz|müsünüz|ne|nedir|nerede|neresi|nasıl|hangi|kaç|"
                     r"ne zaman|neden|niye)\b"),
}  # fmt: skip


def is_question(text: str, language: str) -> bool:
    """Does the turn ask something? (Whisper rarely writes "?" for a rising tone, so the words decide.)"""
    if text.strip().endswith("?"):
        return True
    plain = " ".join(words(text))
    return bool(_QUESTION.get(language, _QUESTION["en"]).search(plain))


@dataclass(frozen=True, slots=True)
class FaqAnswer:
    question: str
    """The variant the caller's words were nearest to."""
    answer: str
    score: float


def _spoken_list(items: list[str], language: str) -> str:
    if len(items) < 2:
        return "".join(items)
    joiner = " ve " if language == "tr" else " and "
    return ", ".join(items[:-1]) + joiner + items[-1]


def fact_entries(business: BusinessConfig) -> list[FaqEntry]:
    """An FAQ entry per language for each fact the admin set."""
    values = {"address": business.address, "phone": business.phone, "services": business.services}
    out = []
    for fact, value in values.items():
        if not value:
            continue
        for language, questions in FACT_QUESTIONS[fact].items():
            said = _spoken_list(value, language) if isinstance(value, list) else value
            answer = FACT_ANSWERS[fact][language].format(value=said)
            out.append(FaqEntry(questions=questions, answer=answer, language=language))
    return out


class Faq:
    """The business's answers, searchable by what a caller says."""

    def __init__(self, business: BusinessConfig) -> None:
        self.entries = [*business.faq, *fact_entries(business)]
        self.min_score = business.faq_min_score
        self._index: dict[str | None, PhraseIndex[int]] = {}
        for language in {e.language for e in self.entries} | {None}:
            usable = [(i, q) for i, e in enumerate(self.entries) if e.language in (None, language) for q in e.questions]
            self._index[language] = PhraseIndex(usable)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def answer(self, text: str, language: str) -> FaqAnswer | None:
        """The answer whose question variant is nearest to `text`, if near enough."""
        index = self._index.get(language, self._index[None])
        hit = index.best(text)
        if hit is None or hit.score < self.min_score:
            return None
        return FaqAnswer(hit.phrasing, self.entries[hit.key].answer, hit.score)
