"""The rules' intent: add up the cues (`cues`) that are not negated, take the strongest.

Negation is the classic trap of keyword NLU: "I don't want to cancel, I want to move it" contains
"cancel". A cue is negated when a negator stands before it in the same clause (English: "dont",
"not", "never", "no need to", within four words) or after it (Turkish puts it on the verb:
"iptal etmek *istemiyorum*"). Clauses end at words that start a new thought: "but", "just", "i want",
"instead", "sadece", "ama". A negated yes ("that doesn't work", "that's not right") is a no.

Confidence is a plain function of the winning score and its margin over the runner-up, so that it
is explainable: one strong cue with no rival is ~0.9; a single weak cue or a tie is below 0.6,
which is where the LLM (if any) is asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sentiric_pbx.dialog.nlu import cues
from sentiric_pbx.dialog.nlu.normalize import Normalized

INTENTS = (
    "create_appointment",
    "cancel_appointment",
    "reschedule_appointment",
    "ask_opening_hours",
    "transfer_to_human",
    "end_call",
    "affirm",
    "deny",
    "other",
)
# Ties go to the intent that asks the more specific thing ("cancel my booking": cancel, not book);
# "other" loses every tie.
_TIE_ORDER = ("reschedule_appointment", "cancel_appointment", "create_appointment", "ask_opening_hours",
              "transfer_to_human", "end_call", "deny", "affirm", "other")  # fmt: skip
_PRIORITY = {intent: i for i, intent in enumerate(_TIE_ORDER)}

_EN_NEGATOR = re.compile(
    r"\b(?:dont|do not|doesnt|does not|didnt|did not|not|never|no need to|without|isnt|wont|will not|wouldnt|cant"
    r"|cannot|no longer)\b"
)
_EN_CLAUSE = re.compile(r"\b(?:but|just|i want|i need|id like|i would like|instead|rather|so|because|please|only)\b")
_TR_NEGATOR = re.compile(r"\b(?:istemiyorum|istemiyoruz|istemem|etmeyin|etmeyelim|etme|degil|yok|gerek yok)\b")
_TR_CLAUSE = re.compile(r"\b(?:sadece|ama|fakat|ancak|bunun yerine|onun yerine|yerine)\b")


@dataclass(frozen=True, slots=True)
class RulesVerdict:
    intent: str
    confidence: float
    scores: dict[str, int]


def _negated_en(words: str, start: int) -> bool:
    clause = _EN_CLAUSE.split(words[:start])[-1]
    return bool(_EN_NEGATOR.search(" ".join(clause.split()[-4:])))


def _negated_tr(words: str, end: int) -> bool:
    clause = _TR_CLAUSE.split(words[end:])[0]
    return bool(_TR_NEGATOR.search(" ".join(clause.split()[:3])))


def score(norm: Normalized) -> dict[str, int]:
    """Summed weights of the cues found, negated ones left out (negated yes → no)."""
    scores: dict[str, int] = {}
    table = cues.TR if norm.language == "tr" else cues.EN
    for c in table:
        for m in c.pattern.finditer(norm.words):
            negated = c.negatable and (
                _negated_tr(norm.words, m.end()) if norm.language == "tr" else _negated_en(norm.words, m.start())
            )
            if negated:
                if "affirm" in c.weights:
                    scores["deny"] = scores.get("deny", 0) + c.weights["affirm"]
                continue
            for intent, weight in c.weights.items():
                scores[intent] = scores.get(intent, 0) + weight
    return scores


def confidence(best: int, runner_up: int) -> float:
    """0.3 with nothing to go on; +0.1 per point of score (max 4) and per point of margin (max 3)."""
    return round(min(0.97, 0.3 + 0.1 * min(best, 4) + 0.1 * min(best - runner_up, 3)), 2)


def classify(norm: Normalized) -> RulesVerdict:
    """The rules' intent for one normalised utterance."""
    scores = score(norm)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], _PRIORITY[kv[0]]))
    if not ranked or ranked[0][1] <= 0:
        return RulesVerdict("other", 0.3, scores)
    best_intent, best = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    return RulesVerdict(best_intent, confidence(best, runner_up), scores)
