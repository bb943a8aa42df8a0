"""NLU: one caller turn (STT text) → intent, entities, confidence. The seed's step 3.

    result = await understand("uh tomorrow at three pm works", now=now, language="en", llm=pool.llm)
    result.intent == "affirm"; result.entities == {"date": ..., "time": "15:00", "datetime": ...}

Rules first, always: a deterministic classifier (`intents`, `cues`) and entity extractors
(`entities`: dates via our phrase rules + dateparser, times, names, phone numbers) answer in a few
milliseconds and are right on the phrasing they were written from. Where the rules are unsure, a
learned model over character and word n-grams (`classifier`, trained at build time on paraphrases,
shipped as arrays) gives the second opinion, and `combine` decides between them. Only when the result
is still unsure, and an LLM is given, the LLM picks the label (`llm`), inside a time budget; entities
are always the rules'.

Modules: normalize (STT text → one shape), cues + intents (the rules), classifier + combine (the
learned second opinion), dates + times + names + entities (extraction), llm (the last resort),
options (business facts and budgets).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from zoneinfo import ZoneInfo

import structlog

from sentiric_pbx.dialog.nlu import classifier, combine
from sentiric_pbx.dialog.nlu.entities import extract
from sentiric_pbx.dialog.nlu.expected import answer_to
from sentiric_pbx.dialog.nlu.intents import INTENTS, RulesVerdict, classify
from sentiric_pbx.dialog.nlu.llm import LLM_CONFIDENCE, ask_llm
from sentiric_pbx.dialog.nlu.normalize import Normalized, normalize
from sentiric_pbx.dialog.nlu.options import NluOptions
from sentiric_pbx.dialog.nlu.plugin_intents import prefer_plugin
from sentiric_pbx.engines.base import LlmEngine

__all__ = ["INTENTS", "NluOptions", "NluResult", "understand", "understand_local", "understand_rules", "warmup"]

log = structlog.get_logger("sentiric_pbx.nlu")


@dataclass(frozen=True, slots=True)
class NluResult:
    """What the caller wants in this turn. `entities` holds only what was said (see `entities`)."""

    intent: str
    entities: dict[str, str] = field(default_factory=dict)
    confidence: float = 0.0
    """0..1; below `NluOptions.llm_below_confidence` the rules were unsure."""
    source: Literal["rules", "model", "llm"] = "rules"
    """Who chose the intent: the rules, the learned model (`classifier`) or the LLM."""
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "entities": dict(self.entities),
            "confidence": self.confidence,
            "source": self.source,
            "elapsed_ms": self.elapsed_ms,
        }


def _local(now: dt.datetime, timezone: str) -> dt.datetime:
    """`now` in the business's zone; a naive `now` is taken to be business-local already."""
    zone = ZoneInfo(timezone)
    return now.replace(tzinfo=zone) if now.tzinfo is None else now.astimezone(zone)


def understand_rules(
    text: str,
    *,
    now: dt.datetime,
    language: str = "en",
    options: NluOptions | None = None,
    expects: str | None = None,
) -> NluResult:
    """The rules' answer alone: synchronous, deterministic, a few milliseconds. `expects` is what the agent's
    last question asked for (`TaskResult.expects`: "name", "datetime", "phone", …), or None."""
    started = time.perf_counter()
    rules = _apply_rules(text, now, language, options or NluOptions(), expects)
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return NluResult(rules.intent, rules.entities, rules.confidence, "rules", elapsed)


@dataclass(slots=True)
class _Rules:
    """The rules' pass over one turn: what `understand_local` goes on from (the model reads `norm`)."""

    norm: Normalized
    verdict: RulesVerdict
    entities: dict[str, str]
    intent: str
    confidence: float
    answered: bool = False
    """The turn is a bare answer to the agent's question (`expected`): it gave an entity only the question
    makes one ("üç" to "Saat kaçta?")."""


def _apply_rules(text: str, now: dt.datetime, language: str, opts: NluOptions, expects: str | None = None) -> _Rules:
    """Normalise, classify, extract (and read the turn as an answer to what the agent asked), and let a plug-in
    claim the turn."""
    norm = normalize(text, language)
    verdict = classify(norm)
    local_now = _local(now, opts.timezone)
    found = extract(norm, local_now, opts, text)
    entities = answer_to(expects, norm, text, verdict.intent, local_now, opts, found) if expects else found
    answered = entities != found
    if answered and verdict.intent == "end_call":  # "Murat, teşekkürler" to "Adınız?": thanks, not a goodbye
        verdict = replace(verdict, intent="other")
    intent, confidence = _plugin_intent(norm, text, verdict.intent, verdict.confidence, entities, opts)
    return _Rules(norm, verdict, entities, intent, confidence, answered)


def _plugin_intent(
    norm: Normalized, text: str, intent: str, confidence: float, entities: dict[str, str], opts: NluOptions
) -> tuple[str, float]:
    """A plug-in's intent instead of the rules' when its example phrasings claim the turn (plugin_intents);
    its slots join the entities."""
    if not opts.plugin_intents:
        return intent, confidence
    found = opts.plugin_intents.match(norm, text)
    if found is None or not prefer_plugin(intent, confidence, found):
        return intent, confidence
    entities.update(found.entities)
    return found.intent, found.score


def _plugin(result: NluResult, opts: NluOptions) -> bool:
    """A plug-in's intent is never overruled by the LLM, which knows only the built-in ones."""
    return bool(opts.plugin_intents) and result.intent in opts.plugin_intents.intents  # type: ignore[union-attr]


def understand_local(
    text: str,
    *,
    now: dt.datetime,
    language: str = "en",
    options: NluOptions | None = None,
    expects: str | None = None,
) -> NluResult:
    """Rules, and the learned model where they are unsure (`combine`): synchronous, ~1 ms, no LLM."""
    return _understand_local(text, now, language, options or NluOptions(), expects)[0]


def _understand_local(
    text: str, now: dt.datetime, language: str, opts: NluOptions, expects: str | None
) -> tuple[NluResult, bool]:
    """`understand_local`'s result, and whether the turn was a bare answer to the agent's question."""
    started = time.perf_counter()
    rules = _apply_rules(text, now, language, opts, expects)
    verdict, intent, confidence, source = rules.verdict, rules.intent, rules.confidence, "rules"
    # Digits alone (a keypad string, a number said on its own) carry no intent: the model, which must
    # spread its probability over the intents it knows, would still name one ("12" came out "affirm"). Nor
    # does a bare answer to the agent's question ("üç" to "Saat kaçta?" came out "transfer_to_human").
    # With a question pending, a turn that answers it is not the model's to re-classify: its guess switched tasks
    # ("Cuma 10" to "Ne zamana almak istersiniz?" came out create_appointment, booking anew instead of moving the
    # booking; "Evet, teşekkürler" to "Kaydedeyim mi?" end_call). It is still asked about anything else ("boşverin,
    # sonra ararım": end_call).
    answers = bool(rules.entities) or (expects in _OFFERING and verdict.intent in ("affirm", "deny"))
    worded = any(ch.isalpha() for ch in text) and not rules.answered and not (expects and answers)
    rules_sure, model_sure = combine.thresholds(rules.norm.language)
    if opts.use_model and worded and verdict.confidence < rules_sure and intent == verdict.intent:
        guess = classifier.predict(rules.norm)
        if guess is not None:
            intent, confidence, source = combine.choose(
                verdict, guess.intent, guess.probability, rules_sure, model_sure
            )
    if expects and source == "model" and intent in _BOOKING_INTENTS:  # "The earlier one" to "9 or 9:30?": the
        intent, source = verdict.intent, "rules"  # model's reschedule would leave the offer for a task switch
    if expects and intent == "end_call" and _courtesy_only(verdict, rules.entities):
        intent, source = (verdict.intent if verdict.intent != "end_call" else "other"), "rules"
    plain = rules.norm.plain
    if expects in _OFFERING and _ANOTHER_TIME.search(plain) and not _OWN_BOOKING.search(plain):
        # "Hangisi daha erken?", "Hayır, başka saat var mı?" while we offer a time: not this one (or which of
        # them), not a booking of theirs to move, which switched to the reschedule task ("no appointment on
        # your number") and dropped the half-made booking
        intent, source = ("deny" if expects == "confirmation" else "other"), "rules"
    if expects in _OFFERING and intent == "cancel_appointment" and _CHANGED_MIND.search(plain):
        # "Vazgeçtim" (I changed my mind) to "Kaydedeyim mi?" is a no to it, not a booking of theirs to cancel:
        # the cancel task answered "no appointment on your number" and dropped the half-made booking
        intent, source = "deny", "rules"
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    return NluResult(intent, rules.entities, confidence, source, elapsed), rules.answered  # type: ignore[arg-type]


_OFFERING = frozenset({"choice", "confirmation"})
_BOOKING_INTENTS = frozenset({"create_appointment", "cancel_appointment", "reschedule_appointment"})
_ANOTHER_TIME = re.compile(
    r"\b(?:başka|baska|farklı|farkli) (?:bir )?(?:gün|gun|saat|zaman|tarih)|\bdaha (?:erken|geç|gec)\b"
    r"|\b(?:bir|yarım|yarim) saat (?:sonra|önce|once)\w*|\bbiraz (?:erken|geç|gec)\w*"
    r"|\b(?:different|another|other|later|earlier) (?:day|date|time|slot|hour)|\banything (?:earlier|later|else)\b"
    r"|\b(?:a bit|a little|slightly|somewhat|something|an hour|half an hour) (?:later|earlier|sooner)\b"
)
_CHANGED_MIND = re.compile(r"\bvazge[çc]\w*")
_OWN_BOOKING = re.compile(
    r"\b(?:randevu(?:m|mu|mun|muzu|muz|mla)|rezervasyonum\w*|my (?:appointment|booking|reservation))\b"
)
_GOODBYE_SCORE = 3  # a goodbye cue's weight ("hoşça kalın", "görüşürüz", "bye"); thanks weigh 1 (cues.py)


def _courtesy_only(verdict: RulesVerdict, entities: dict[str, str]) -> bool:
    """With a question pending, thanks said with the answer are courtesy, not a goodbye: "Yarın üçte olsun,
    teşekkürler" to "Ne zaman?", "0532…, teşekkürler" to "Numaranız?". Ending the call there drops the booking;
    a real goodbye still ends it."""
    if verdict.scores.get("end_call", 0) >= _GOODBYE_SCORE:
        return False
    return bool(entities)


async def understand(
    text: str,
    *,
    now: dt.datetime,
    language: str = "en",
    llm: LlmEngine | None = None,
    options: NluOptions | None = None,
    expects: str | None = None,
) -> NluResult:
    """Intent and entities of one caller turn; the LLM is asked only if rules and model are unsure.

    `expects` is what the agent's last question asked for (`TaskResult.expects`). A bare answer means what
    the question makes of it ("Deniz" to "Adınız?" is a name, "üç" to "Saat kaçta?" a time); with None
    every turn is read alone, as before the dialog passed it."""
    started = time.perf_counter()
    opts = options or NluOptions()
    local, answered = _understand_local(text, now, language, opts, expects)
    result = local
    unsure = local.confidence < opts.llm_below_confidence and text.strip() and not answered
    if llm is not None and unsure and not _plugin(local, opts):
        label = await ask_llm(llm, text, opts.llm_budget_s)
        if label is not None:
            result = NluResult(label, local.entities, max(LLM_CONFIDENCE, local.confidence), "llm")
    elapsed = round((time.perf_counter() - started) * 1000, 2)
    log.debug(
        "nlu",
        intent=result.intent,
        source=result.source,
        confidence=result.confidence,
        local_intent=local.intent,
        local_source=local.source,
        ms=elapsed,
    )
    return NluResult(result.intent, result.entities, result.confidence, result.source, elapsed)


def warmup() -> None:
    """Load dateparser's language data (~0.2 s) and the model's weights now rather than in a caller's first turn."""
    understand_rules("tomorrow at 3 pm on march 3rd", now=dt.datetime.now(dt.UTC))
    classifier.load_models()
