"""The responder (seed §3.6): a task's result → the words we say.

Grounding rule: the task's facts are the truth. A capable LLM may rephrase the task's template into
something warmer, but the rephrasing is spoken only if every fact the template carries (the times,
dates and names in `facts[...]["spoken"]`) appears in it; otherwise — and always with the bundled
270 M base model, whose free text is unreliable — the safe template is said. The chosen text is
streamed sentence by sentence so the first sentence plays while the rest is still being produced.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import structlog

from sentiric_pbx.dialog.tasks.base import TaskResult
from sentiric_pbx.engines.base import LlmEngine, LlmRequest

log = structlog.get_logger("sentiric_pbx.responder")

HELP = {
    "en": "I can book, cancel or move an appointment, tell you our opening hours, or put you through to a person. "
    "What would you like to do?",
    "tr": "Randevu alabilir, iptal edebilir ya da değiştirebilir, çalışma saatlerimizi söyleyebilir veya sizi bir "
    "yetkiliye aktarabilirim. Ne yapmak istersiniz?",
}


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


def _norm(text: str) -> str:
    return re.sub(r"[^\w:]+", " ", text.lower()).strip()


def is_grounded(text: str, facts: dict[str, Any]) -> bool:
    said = _norm(text)
    return all(_norm(fact) in said for fact in spoken_facts(facts))


async def _stream(text: str) -> AsyncIterator[str]:
    yield text


class Responder:
    def __init__(self, llm: LlmEngine | None, capable: bool, budget_s: float = 2.0) -> None:
        self.llm = llm if capable else None
        self.budget_s = budget_s

    def render(self, result: TaskResult | None, language: str) -> AsyncIterator[str]:
        if result is None:
            return _stream(HELP.get(language, HELP["en"]))
        if self.llm is None or not result.template:
            return _stream(result.template)
        return self._rephrase(result, language)

    async def _rephrase(self, result: TaskResult, language: str) -> AsyncIterator[str]:
        request = LlmRequest(
            [
                {
                    "role": "system",
                    "content": "You are a friendly phone receptionist. Rephrase the sentence for the caller in one "
                    "or two short spoken sentences. Keep every time, date and name exactly as given.",
                },
                {"role": "user", "content": result.template},
            ],
            max_tokens=80,
            temperature=0.3,
        )
        assert self.llm is not None
        try:
            async with asyncio.timeout(self.budget_s):
                text = await self.llm.complete(request)
        except Exception as exc:
            log.info("responder_template_used", reason=type(exc).__name__)
            yield result.template
            return
        if text.strip() and is_grounded(text, result.facts):
            yield text.strip()
        else:
            log.info("responder_template_used", reason="ungrounded", facts=spoken_facts(result.facts))
            yield result.template
