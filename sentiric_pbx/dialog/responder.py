"""The responder (seed §3.6): a task's result → the words we say.

Grounding rule: the task's facts are the truth. A capable LLM may rephrase the task's template into
something warmer; what it writes is streamed through `grounding.GroundedText`, so a sentence reaches TTS
only once every fact has appeared and only if it invents none. A reply that drops or invents a fact is
replaced by the template, and so is one that has not produced a usable sentence within the in-call
limit (`[llm] call_limit_s`). The request asks for the fallback model after `[llm] call_fallback_after_s`
without a first token (the caller is waiting), not the off-call 5 s. With the bundled 270 M base model
(`[dialog] llm_capable = false`) the template is always said.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.config import LlmConfig
from sentiric_pbx.dialog.grounding import GroundedText, Ungrounded
from sentiric_pbx.dialog.tasks.base import TaskResult
from sentiric_pbx.engines.base import LlmEngine, LlmRequest

log = structlog.get_logger("sentiric_pbx.responder")

HELP = {
    "en": "I can book, cancel or move an appointment, tell you our opening hours, or put you through to a person. "
    "What would you like to do?",
    "tr": "Randevu alabilir, iptal edebilir ya da değiştirebilir, çalışma saatlerimizi söyleyebilir veya sizi bir "
    "yetkiliye aktarabilirim. Ne yapmak istersiniz?",
}

PROMPT = {
    "en": "You are a friendly receptionist on the phone. Each message is a line you are about to say to the caller; "
    "say it in your own words, to the caller, as \"you\": one or two short spoken sentences. A question stays a "
    "question. Keep every time, date and name exactly as written. Add no other times, dates or numbers.\n\n"
    "Examples:\n"
    "Line: Shall I book you for Friday at 11 am?\n"
    "You say: Would you like me to book you in for Friday at 11 am?\n"
    "Line: Done. You're booked for Wednesday at 9:30 am.\n"
    "You say: All set! You are booked for Wednesday at 9:30 am.\n"
    "Line: No problem. Shall I book you for Monday at 4 pm instead?\n"
    "You say: Of course. Would you like Monday at 4 pm instead?\n"
    "Line: We are open Monday to Saturday, 8 am to 6 pm.\n"
    "You say: We are open Monday to Saturday, from 8 am to 6 pm.",
    "tr": "Samimi bir telefon resepsiyonistisin. Cümleyi arayan kişiye bir veya iki kısa konuşma cümlesiyle yeniden "
    "söyle. Her saati, tarihi ve ismi aynen koru. Başka saat, tarih veya sayı ekleme.",
}
"""The English prompt shows the model what a rephrasing is (few-shot, in the system prompt so the task's line
stays the one user message): Qwen2.5-Coder-1.5B without examples answered "Done. You're booked for …" with
"Sure, I'm booked for …" (the caller's words, not ours) and every "Shall I book you …?" with a statement."""


async def _stream(text: str) -> AsyncIterator[str]:
    yield text


class Responder:
    def __init__(self, llm: LlmEngine | None, capable: bool, budget: LlmConfig | None = None) -> None:
        self.llm = llm if capable else None
        self.budget = budget or LlmConfig()

    def render(self, result: TaskResult | None, language: str) -> AsyncIterator[str]:
        if result is None:
            return _stream(HELP.get(language, HELP["en"]))
        if self.llm is None or not result.template:
            return _stream(result.template)
        return self._rephrase(result, language)

    async def _rephrase(self, result: TaskResult, language: str) -> AsyncIterator[str]:
        assert self.llm is not None
        request = LlmRequest(
            [
                {"role": "system", "content": PROMPT.get(language, PROMPT["en"])},
                {"role": "user", "content": result.template},
            ],
            max_tokens=80,
            temperature=self.budget.temperature,
            first_token_s=self.budget.call_fallback_after_s,
        )
        gate = GroundedText(result.facts, result.template)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.budget.call_limit_s
        stream = aiter(self.llm.stream(request))
        try:
            while True:
                try:
                    if gate.released:
                        delta = await anext(stream)
                    else:
                        async with asyncio.timeout_at(deadline):  # the caller waits for a usable sentence
                            delta = await anext(stream)
                except StopAsyncIteration:
                    for sentence in gate.finish():
                        yield sentence + " "  # deltas are text: the speaker splits them into sentences again
                    return
                for sentence in gate.push(delta):
                    yield sentence + " "
        except Ungrounded as exc:
            if gate.released:  # the facts are said; stop before the invention
                log.warning("responder_reply_cut", why=exc.why, claims=exc.claims)
                return
            self._template_used(result, exc.why, claims=exc.claims)
        except TimeoutError:
            self._template_used(result, "late", waited_ms=round(self.budget.call_limit_s * 1000))
        except Exception as exc:  # a failed primary with no fallback, a broken stream: the template is safe
            if gate.released:
                log.warning("responder_reply_cut", why="llm_failed", error=repr(exc))
                return
            self._template_used(result, "llm_failed", error=repr(exc))
        finally:
            with contextlib.suppress(Exception):  # a broken stream's close must not hide the answer we give
                await stream.aclose()  # type: ignore[attr-defined]
        yield result.template

    @staticmethod
    def _template_used(result: TaskResult, reason: str, **fields: object) -> None:
        metrics.RESPONDER_TEMPLATES.labels(reason=reason).inc()
        log.info("responder_template_used", reason=reason, task=result.task, status=result.status, **fields)


__all__ = ["HELP", "Responder"]
