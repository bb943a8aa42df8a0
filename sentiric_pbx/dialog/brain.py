"""Think (seed §3, steps 3–6): the caller's words → intent and entities → task → what to say.

    text ──nlu.understand──► intent + entities ──tasks.dispatch──► TaskResult ──responder──► speech

Every step is timed into the context (`nlu_ms`, `task`), and none of them may take the call down:
the session turns an exception here into an apology with an offer to transfer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog

from sentiric_pbx.call.record import CallContext
from sentiric_pbx.config import Settings
from sentiric_pbx.dialog.faq import Faq, is_question
from sentiric_pbx.dialog.greeting import greeting_text
from sentiric_pbx.dialog.keypad import OPERATOR_KEY
from sentiric_pbx.dialog.nlu import NluOptions, understand
from sentiric_pbx.dialog.nlu.plugin_intents import PluginIntents
from sentiric_pbx.dialog.responder import Responder
from sentiric_pbx.dialog.tasks.base import TaskContext, TurnInput
from sentiric_pbx.dialog.tasks.check import CHECK_INTENT, asks_own_booking
from sentiric_pbx.dialog.tasks.faq import FAQ_INTENT, UNKNOWN_ASIDE_INTENT, UNKNOWN_INTENT
from sentiric_pbx.dialog.tasks.registry import TaskRegistry
from sentiric_pbx.dialog.tasks.router import CONTINUING_STATUSES, dispatch
from sentiric_pbx.dialog.tasks.when import asks_for_times, asks_when
from sentiric_pbx.dialog.timing import timed
from sentiric_pbx.dialog.types import Reply, text_reply
from sentiric_pbx.engines.base import LlmEngine
from sentiric_pbx.integrations.calendar.base import Calendar
from sentiric_pbx.integrations.crm.base import CustomerProfile
from sentiric_pbx.logging import caller_content

log = structlog.get_logger("sentiric_pbx.brain")

PHRASES = {
    "en": {
        "reprompt": "Are you still there? How can I help you?",
        "goodbye_no_input": "I can't hear you, so I'll end the call now. Please call us again. Goodbye!",
        "apology": "Sorry, I'm having a technical problem. Let me put you through to a colleague.",
        "busy": "Sorry, all our lines are busy right now. Please call again in a few minutes. Goodbye!",
        "filler": "Just a moment.",
    },
    "tr": {
        "reprompt": "Hâlâ hatta mısınız? Size nasıl yardımcı olabilirim?",
        "goodbye_no_input": "Sizi duyamıyorum, görüşmeyi sonlandırıyorum. Lütfen tekrar arayın. İyi günler!",
        "apology": "Üzgünüm, teknik bir sorun yaşıyorum. Sizi bir yetkiliye aktarıyorum.",
        "busy": "Üzgünüm, şu anda tüm hatlarımız dolu. Lütfen birkaç dakika sonra tekrar arayın. İyi günler!",
        "filler": "Bir saniye lütfen.",
    },
}


DIGIT_SLOTS = frozenset({"phone"})
"""The built-in tasks' slots a caller may type instead of saying (`TaskResult.expects`)."""


_ASIDE_EXPECTS = frozenset({"name", "phone", "datetime"})
_HELP = re.compile(
    r"\bwhat (?:else )?(?:can|could) you do\b|\bwhat you can do\b|\bhow (?:can|could) you help\b|\bhelp me\b"
    r"|\bne yapabilirsin"
)
"""A question about the agent itself: answered with what it can do, not with "I don't know that"."""


def phrase(language: str, key: str) -> str:
    return PHRASES.get(language, PHRASES["en"])[key]


class AssistantBrain:
    def __init__(
        self,
        settings: Settings,
        calendar: Calendar,
        registry: TaskRegistry,
        llm: LlmEngine | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.calendar = calendar
        self.registry = registry
        self.llm = llm
        # The bundled 270 M model labels intents worse than the rules (bench/nlu.py: 39 % alone, and the
        # hybrid loses accuracy); it is consulted only when the admin says the model is capable.
        self.nlu_llm = llm if settings.dialog.llm_capable else None
        self.tz = ZoneInfo(settings.business.timezone)
        self.clock = clock or (lambda: datetime.now(self.tz))
        self.responder = Responder(llm, settings.dialog.llm_capable, settings.llm)
        self.faq = Faq(settings.business)
        self.digit_slots = DIGIT_SLOTS | registry.digit_slots()
        """What the agent may ask for that keypad digits can give (dialog/keypad.py)."""
        plugins = PluginIntents(registry.examples(), registry.slots())
        if plugins:
            log.info("plugin_intents", intents=plugins.intents)
        self.nlu_options = NluOptions.from_business(
            settings.business, llm_budget_s=settings.llm.nlu_budget_s, plugin_intents=plugins or None
        )

    async def greet(self, ctx: CallContext) -> Reply:
        profile = CustomerProfile(**ctx.customer) if ctx.customer else None
        return Reply(text_reply(greeting_text(profile, self.settings.business.name, ctx.language)))

    async def respond(self, ctx: CallContext, text: str) -> Reply:
        now = self.clock()
        nlu = await understand(
            text, now=now, language=ctx.language, llm=self.nlu_llm, options=self.nlu_options, expects=ctx.expects
        )
        ctx.intents.append(nlu.intent)
        timed(ctx, "nlu_ms", nlu.elapsed_ms)
        log.info("nlu", intent=nlu.intent, confidence=round(nlu.confidence, 2), source=nlu.source,
                 **caller_content(entities=nlu.entities))  # fmt: skip
        turn = self._open_question(ctx, TurnInput(nlu.intent, dict(nlu.entities), text, nlu.confidence))
        return await self._act(ctx, turn, now)

    def _open_question(self, ctx: CallContext, turn: TurnInput) -> TurnInput:
        """A turn no task is sure of may be a question the FAQ answers (`ask_faq`, which leaves a task in
        progress where it was); a question outside every task and the FAQ gets the offer of a person
        (`ask_unknown`). A question after the caller's own appointment, with no task in progress, is answered with
        it (`check_appointment`). Everything else goes on as the NLU said."""
        if ctx.active_task is None and asks_own_booking(turn.text):  # "Randevum ne zaman?": said, nothing changed
            ctx.intents[-1] = CHECK_INTENT
            return TurnInput(CHECK_INTENT, turn.entities, turn.text, turn.confidence)
        unsure = turn.intent == "other" or turn.confidence < self.nlu_options.llm_below_confidence
        if not unsure or _HELP.search(turn.text.lower()):
            return turn
        if ctx.active_task is not None and asks_for_times(turn.text):
            return turn  # "When can I come?" mid-booking asks for our free times, which the task offers: no FAQ
        found = self.faq.answer(turn.text, ctx.language) if self.faq else None
        if found is not None:
            log.info("faq_answer", question=found.question, score=found.score)
            ctx.intents[-1] = FAQ_INTENT
            faq = {"question": found.question, "answer": found.answer}
            return TurnInput(FAQ_INTENT, {**turn.entities, "faq": faq}, turn.text, found.score)
        if turn.intent == "other" and ctx.active_task is None and is_question(turn.text, ctx.language):
            ctx.intents[-1] = UNKNOWN_INTENT
            return TurnInput(UNKNOWN_INTENT, turn.entities, turn.text, turn.confidence)
        if self._aside(ctx, turn):
            ctx.intents[-1] = UNKNOWN_ASIDE_INTENT
            return TurnInput(UNKNOWN_ASIDE_INTENT, turn.entities, turn.text, turn.confidence)
        return turn

    @staticmethod
    def _aside(ctx: CallContext, turn: TurnInput) -> bool:
        """A question that answers nothing while a task waits for a name, a number or a time ("Ücret ne kadar?"
        to "Ne zaman gelmek istersiniz?"): it went to the task as no answer, so the question went unheard and a
        name question booked under none. Not a yes/no or a choice ("Emin misiniz?", "Hangisi daha erken?"), nor,
        asked when, the caller asking us for a time ("Ne zaman müsaitsiniz?"), which the task reads."""
        return (
            turn.intent == "other" and not turn.entities and ctx.active_task is not None
            and ctx.expects in _ASIDE_EXPECTS and is_question(turn.text, ctx.language)
            and not (ctx.expects == "datetime" and asks_when(turn.text))
        )  # fmt: skip

    async def respond_keys(self, ctx: CallContext, digits: str, slot: str | None) -> Reply:
        """Keypad digits: "0" alone is the operator key; digits typed while we asked for a slot fill it;
        any other string is read as the words it spells ("05551112233" is a phone number to the NLU)."""
        if digits == OPERATOR_KEY:
            ctx.intents.append("transfer_to_human")
            return await self._act(ctx, TurnInput("transfer_to_human", {}, digits, 1.0), self.clock())
        if slot is None:
            return await self.respond(ctx, digits)
        ctx.intents.append("keypad")
        return await self._act(ctx, TurnInput("keypad", {slot: digits}, digits, 1.0), self.clock())

    async def _act(self, ctx: CallContext, turn: TurnInput, now: datetime) -> Reply:
        """One task step for the turn (or none), then the words and what to do after them."""
        result = await dispatch(self.registry, TaskContext(ctx, turn, self.calendar, self.settings.business, now))
        speech = self.responder.render(result, ctx.language)
        ctx.expects = result.expects if result is not None and result.status in CONTINUING_STATUSES else None
        if result is None:
            return Reply(speech)
        self._remember_outcome(ctx, result.status, result.facts)
        if result.status == "end_call":
            return Reply(speech, action="end_call")
        if result.status == "transfer":
            target = str(result.facts.get("transfer_target") or self.settings.business.transfer_target)
            return Reply(speech, action="transfer", transfer_target=target)
        slot = result.expects if result.expects in self.digit_slots else None
        return Reply(speech, digits_slot=slot)

    @staticmethod
    def _remember_outcome(ctx: CallContext, status: str, facts: dict[str, object]) -> None:
        """A finished task's booking goes into the call's slots: the summary and the CRM read it there,
        after the router has cleared the task's working state."""
        if status != "done" or not isinstance(facts.get("booking"), dict):
            return
        key = "cancelled_booking" if facts.get("cancelled") else "booking"
        ctx.slots[key] = facts["booking"]
        if isinstance(facts.get("old_booking"), dict):
            ctx.slots["moved_from"] = facts["old_booking"]

    async def reprompt(self, ctx: CallContext, attempt: int) -> Reply:
        if attempt > self.settings.dialog.no_input_max:
            return Reply(text_reply(phrase(ctx.language, "goodbye_no_input")), action="end_call")
        return Reply(text_reply(phrase(ctx.language, "reprompt")))

    def filler(self, ctx: CallContext) -> str:
        return phrase(ctx.language, "filler")

    async def apologise(self, ctx: CallContext) -> Reply:
        return Reply(
            text_reply(phrase(ctx.language, "apology")),
            action="transfer",
            transfer_target=self.settings.business.transfer_target,
        )
