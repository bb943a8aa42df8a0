"""The greeting a known caller hears next time, written by the model after this call (seed §2.3).

    call ends → summary ("Booked: Tue 08 Dec 2026 15:00") → model → "Mr. Yilmaz, welcome back — I hope
    Tuesday's visit went well. How can I help you today?" → checked → stored (storage/greetings.py)
    next call → CRM lookup + stored greeting → "Hello!" (cached) + the stored text

Written after the call, by the post-call worker, so it costs the caller nothing; a model that takes 5 s
on a PBX's CPU is fine here. What it wrote is stored only if it is safe to say to that caller:

  * it names them as the greeting template would ("Mr. Yilmaz", "Ahmet Bey"): a greeting for someone
    else, or for nobody, is worse than the template;
  * one or two sentences, short: it plays before the caller has said anything;
  * no date, time, day or number that the call's notes do not contain (grounding.invented): the model
    must not promise an appointment that does not exist.

Otherwise nothing is stored and the next call gets the template. A leading "Hello"/"Hi"/"Merhaba" is
dropped: the cached "Hello!" already said it. The English prompt carries two examples: without them
Qwen2.5-Coder-1.5B wrote four sentences ("Hello Mr. Yilmaz! Welcome back! We're glad you were able to book…")
and every greeting was refused as too long.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.call.record import CallContext
from sentiric_pbx.config import Settings
from sentiric_pbx.dialog.greeting import address, greeting_text
from sentiric_pbx.dialog.grounding import invented
from sentiric_pbx.engines.base import LlmEngine, LlmRequest
from sentiric_pbx.engines.tts.sentences import split_sentences
from sentiric_pbx.integrations.crm.base import CustomerProfile
from sentiric_pbx.storage.greetings import GreetingStore

log = structlog.get_logger("sentiric_pbx.next_greeting")

MAX_CHARS = 200
_OPENER = re.compile(r"^\s*(hello|hi|hey|good (morning|afternoon|evening)|merhaba|iyi günler)\b[\s,!.]*", re.I)

PROMPT = {
    "en": "You are the receptionist of {business}. Write what you will say when this caller phones next time, "
    "right after 'Hello!': welcome them back by name, as '{address}', in one short sentence that may mention their "
    "last call, then ask how you can help. Two sentences in all, under 30 words. Mention no date, time or number "
    "that is not in the notes.\n\n"
    "Examples:\n"
    "Caller: Ms. Lopez\n"
    "Notes from their last call: Maria Lopez booked a cleaning for Friday at 10:30 am.\n"
    "You say: Ms. Lopez, welcome back, and thank you for booking your cleaning with us. How can I help you today?\n"
    "Caller: Mr. Carter\n"
    "Notes from their last call: John Carter asked about opening hours.\n"
    "You say: Good to hear from you again, Mr. Carter. What can I do for you today?",
    "tr": "{business} resepsiyonistisin. Bu kişi bir dahaki sefere aradığında 'Merhaba!' dedikten hemen sonra "
    "söyleyeceğin sözleri yaz: ona '{address}' diye hitap ederek tekrar hoş geldin de, son aramasından söz "
    "edebilirsin. Bir veya iki kısa cümle, sonunda nasıl yardımcı olabileceğini sor. Notlarda olmayan tarih, "
    "saat veya sayı söyleme.",
}


def check_greeting(
    text: str, profile: CustomerProfile, language: str, notes: str, business: str = ""
) -> tuple[str | None, str]:
    """(the text to store, "ok") or (None, why not)."""
    text = _OPENER.sub("", text.strip().strip("\"'“”")).strip()
    if not text:
        return None, "empty"
    template = greeting_text(dataclasses.replace(profile, extra={}), business, language)
    if _OPENER.sub("", template).strip().lower() == text.lower():
        return None, "the_template"  # nothing gained: the template is said anyway
    text = text[0].upper() + text[1:]
    if address(profile, language).lower() not in text.lower():
        return None, "does_not_name_the_caller"
    if len(text) > MAX_CHARS or len(split_sentences(text)) > 2:
        return None, "too_long"
    claims = invented(text, {}, f"{notes} today bugün")  # "How can I help you today?" promises nothing
    if claims:
        return None, f"invented: {', '.join(claims)}"
    return text, "ok"


class NextGreeting:
    """The post-call step that writes and stores a known caller's next greeting (the summary job calls it)."""

    def __init__(
        self,
        llm: LlmEngine,
        store: GreetingStore,
        business: str,
        budget_s: float = 20.0,
        temperature: float | None = None,
    ) -> None:
        self.llm = llm
        self.store = store
        self.business = business
        self.budget_s = budget_s
        self.temperature = 0.5 if temperature is None else temperature

    @classmethod
    def configured(cls, settings: Settings, llm: LlmEngine | None, store: GreetingStore) -> NextGreeting | None:
        """As `[postcall]` and `[business]` set it up, for the daemon's workers and `sentiric-pbx worker` alike;
        None without a post-call model (the template greets every caller)."""
        if llm is None:
            return None
        postcall = settings.postcall
        return cls(llm, store, settings.business.name, postcall.llm_budget_s, postcall.llm_temperature)

    async def __call__(self, context: CallContext, notes: str) -> str | None:
        """Write, check and store the greeting for the caller of `context`; the stored text, or None."""
        if not context.customer or not context.caller_id:
            return None  # an unknown caller is greeted by the template, whoever they turn out to be
        profile = CustomerProfile(**context.customer)
        language = context.language if context.language in PROMPT else "en"
        name = address(profile, language)
        request = LlmRequest(
            [
                {"role": "system", "content": PROMPT[language].format(business=self.business, address=name)},
                {"role": "user", "content": f"Caller: {name}\nNotes from their last call: {notes}"},
            ],
            max_tokens=80,
            temperature=self.temperature,
        )
        try:
            async with asyncio.timeout(self.budget_s):
                written = await self.llm.complete(request)
        except Exception as exc:  # a slow or failing model: next time, the template
            log.warning("next_greeting_failed", error=repr(exc))
            metrics.NEXT_GREETINGS.labels(result="failed").inc()
            return None
        text, why = check_greeting(written, profile, language, notes, self.business)
        if text is None:
            log.info("next_greeting_refused", why=why, chars=len(written))  # the text names the caller: not logged
            metrics.NEXT_GREETINGS.labels(result="refused").inc()
            return None
        await self.store.put(
            context.caller_id, language, text, call_id=context.call_id, engine=getattr(self.llm, "name", None)
        )
        metrics.NEXT_GREETINGS.labels(result="stored").inc()
        log.info("next_greeting_stored", chars=len(text))
        return text


__all__ = ["NextGreeting", "check_greeting"]
