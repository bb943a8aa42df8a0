"""Open questions: an FAQ answer (`ask_faq`), or "I don't know that, shall I put you through?" (`ask_unknown`), or,
asked while a task waits for an answer, "I'm sorry, I don't know that." and the task's question again
(`ask_unknown_aside`).

The NLU has no label for these: the brain (`dialog/brain.py`) relabels a turn the tasks do not cover
when the FAQ has an answer near the caller's words (`dialog/faq.py`), or when it is a question nobody
wrote an answer for. The answer is the admin's text, verbatim; with `llm_capable` the responder may
rephrase it, and every number, time and day in it must survive the rephrasing (`must_say`), as a task's
facts must.
"""

from __future__ import annotations

from typing import ClassVar

from sentiric_pbx.dialog.grounding import _CLAIMS
from sentiric_pbx.dialog.tasks.base import TaskContext, TaskResult
from sentiric_pbx.dialog.tasks.phrases import say
from sentiric_pbx.dialog.tasks.registry import task

FAQ_INTENT = "ask_faq"
UNKNOWN_INTENT = "ask_unknown"
UNKNOWN_ASIDE_INTENT = "ask_unknown_aside"

PHRASES = {
    "en": {
        "unknown": "I don't know that, shall I put you through to someone who does?",
        "not_put_through": "All right. Is there anything else I can help you with?",
        "aside": "I'm sorry, I don't know that.",
    },
    "tr": {
        "unknown": "Bunu bilmiyorum, sizi bilen birine aktarayım mı?",
        "not_put_through": "Peki. Size başka nasıl yardımcı olabilirim?",
        "aside": "Maalesef bunu bilmiyorum.",
    },
}


def _phrase(language: str, key: str) -> str:
    return PHRASES.get(language, PHRASES["en"])[key]


@task(FAQ_INTENT)
class FaqTask:
    """Say the FAQ answer the brain found (`entities["faq"]`). An interjection: a booking in progress stays."""

    interjection: ClassVar[bool] = True

    async def execute(self, ctx: TaskContext) -> TaskResult:
        found = ctx.turn.entities["faq"]
        answer = str(found["answer"])
        must_say = [{"spoken": m.group(0)} for m in _CLAIMS.finditer(answer)]
        facts = {"faq": {"question": str(found["question"]), "answer": answer, "must_say": must_say}}
        return TaskResult("done", answer, facts=facts)


@task(UNKNOWN_INTENT)
class UnknownQuestionTask:
    """A question with no answer: offer a person; "yes" puts the caller through, "no" moves on."""

    async def execute(self, ctx: TaskContext) -> TaskResult:
        if ctx.turn.intent == UNKNOWN_INTENT:  # asked (again): offer a person
            ctx.call.task_state["question"] = ctx.turn.text
            return TaskResult("confirm", _phrase(ctx.language, "unknown"), expects="confirmation")
        if ctx.turn.intent == "affirm":
            target = ctx.business.transfer_target
            return TaskResult("transfer", say(ctx.language, "transfer"), facts={"transfer_target": target})
        return TaskResult("done", _phrase(ctx.language, "not_put_through"))


@task(UNKNOWN_ASIDE_INTENT)
class UnknownAsideTask:
    """A question with no answer while a task waits for one ("How much is it?" to "Can I have your name?"): say we
    do not know, and (the router) ask the task's question again. An interjection: no transfer offer, which
    would drop the half-made booking, and no "no name" read into it."""

    interjection: ClassVar[bool] = True

    async def execute(self, ctx: TaskContext) -> TaskResult:
        return TaskResult("done", _phrase(ctx.language, "aside"))
