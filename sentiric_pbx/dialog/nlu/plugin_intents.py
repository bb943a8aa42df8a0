"""Intents that task plug-ins bring: recognised from the example phrasings the plug-in declares.

The rules (`intents`, `cues`) know the built-in intents only, and a plug-in cannot add cues. So a task
class may declare, next to its `execute`::

    class OrderStatusTask:
        examples = {"en": ["where is my order", "has my order shipped"], "tr": ["siparişim nerede"]}
        slots = {"order_number": "digits"}

At start-up the registry hands every plug-in's examples to `PluginIntents` (`NluOptions.plugin_intents`),
and each turn is compared with them (`retrieval.PhraseIndex`: character n-gram TF-IDF cosine). A plug-in
intent wins when the turn is near one of its phrasings (≥ `MIN_SCORE`) and the rules either found
nothing or are less sure of their own intent than the match is. Its slots are filled from the turn:
a "digits" slot takes the longest run of digits said or typed ("order one two three four" → "1234").

Kept apart from the rules on purpose: an admin's phrasings can never change what the rules say about
the built-in intents, only win a turn the rules did not claim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sentiric_pbx.dialog.nlu.normalize import Normalized
from sentiric_pbx.dialog.retrieval import PhraseIndex, words

MIN_SCORE = 0.35
"""Cosine to the nearest example phrasing that recognises a plug-in intent (with a word of its own, below)."""
STEM = 5
"""Words are compared by their first letters: "order", "ordered" and "orders" are one word here."""
MIN_DIGITS = 3
"""A "digits" slot needs at least this many digits in a row (a reference, not "at 3")."""
_RUN = re.compile(r"\d+")
BACKGROUND = {
    "en": [
        "I would like to book an appointment", "can I make an appointment for tomorrow",
        "do you have anything on monday",
        "I want to cancel my appointment", "please cancel my booking", "can I move my appointment to friday",
        "I need to reschedule", "what are your opening hours", "when are you open", "are you open on saturday",
        "can I talk to a human", "put me through to someone", "I want to speak to a person", "yes please",
        "no thank you", "that works", "goodbye", "thank you very much", "tomorrow at three pm", "is there parking",
        "where are you located", "what is your phone number", "my name is Ahmet", "my number is 0555 111 22 33",
        "what is the status of my appointment", "I have a question", "how much does it cost", "can you help me",
    ],
    "tr": [
        "randevu almak istiyorum", "yarın için randevu alabilir miyim", "randevumu iptal etmek istiyorum",
        "randevumu cumaya alabilir miyiz", "çalışma saatleriniz nedir", "kaça kadar açıksınız",
        "bir yetkiliyle görüşmek istiyorum", "evet lütfen", "hayır teşekkürler", "görüşmek üzere",
        "yarın saat üçte", "adresiniz nedir", "adım Ahmet", "bir sorum var", "ne kadar tutar",
    ],
}  # fmt: skip
"""What callers say besides the plug-ins' intents: counted only for the IDF (`PhraseIndex(background=…)`), so
the words that set a plug-in's phrasings apart ("order") weigh most, not least."""


@dataclass(frozen=True, slots=True)
class PluginIntent:
    intent: str
    score: float
    entities: dict[str, str]


class PluginIntents:
    """Every plug-in's example phrasings per language, and the slots of each intent."""

    def __init__(self, examples: dict[str, dict[str, list[str]]], slots: dict[str, dict[str, str]]) -> None:
        self.intents = sorted(examples)
        self.slots = slots
        languages = {lang for per_lang in examples.values() for lang in per_lang}
        self._own_words = {lang: self._distinctive(examples, lang) for lang in languages}
        self._index = {
            lang: PhraseIndex(
                [(intent, p) for intent, per in examples.items() for p in per.get(lang, [])],
                background=BACKGROUND.get(lang, []),
            )
            for lang in languages
        }

    def __bool__(self) -> bool:
        return bool(self.intents)

    @staticmethod
    def _distinctive(examples: dict[str, dict[str, list[str]]], lang: str) -> set[str]:
        """The (stems of) words the plug-ins' phrasings use and callers' other requests do not: "order",
        "shipped", "track" — not "what", "status" or "my"."""
        common = {w[:STEM] for sentence in BACKGROUND.get(lang, []) for w in words(sentence)}
        said = {w[:STEM] for per in examples.values() for p in per.get(lang, []) for w in words(p) if len(w) >= 3}
        return said - common

    def match(self, norm: Normalized, text: str) -> PluginIntent | None:
        """The plug-in intent `text` is phrased like, with its slots, or None.

        Near a phrasing is not enough: the turn must also use one of the plug-ins' own words. "What is the
        status of my appointment" is close to "what is the status of my order" letter by letter, but it
        is not about an order."""
        lang = norm.language if norm.language in self._index else "en"
        index = self._index.get(lang)
        hit = index.best(text) if index is not None else None
        if hit is None or hit.score < MIN_SCORE:
            return None
        if not {w[:STEM] for w in words(text)} & self._own_words[lang]:
            return None
        return PluginIntent(hit.key, hit.score, self._slots(hit.key, norm))

    def _slots(self, intent: str, norm: Normalized) -> dict[str, str]:
        found: dict[str, str] = {}
        for slot, kind in self.slots.get(intent, {}).items():
            if kind == "digits":
                runs = [r for r in _RUN.findall(norm.digits.replace(" ", "")) if len(r) >= MIN_DIGITS]
                if runs:
                    found[slot] = max(runs, key=len)
        return found


def prefer_plugin(rules_intent: str, rules_confidence: float, plugin: PluginIntent | None) -> bool:
    """Does a plug-in's match beat the rules' verdict? Only a turn the rules did not claim, or claimed
    with less confidence than the plug-in's phrasing matched."""
    return plugin is not None and (rules_intent == "other" or plugin.score > rules_confidence)
