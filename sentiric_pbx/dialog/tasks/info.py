"""One-step tasks: opening hours, transfer to a human, goodbye. Everything they say comes from `[business]`."""

from __future__ import annotations

from typing import ClassVar

from sentiric_pbx.dialog.tasks.base import TaskContext, TaskResult
from sentiric_pbx.dialog.tasks.facts import local_now
from sentiric_pbx.dialog.tasks.phrases import hours_sentence, say
from sentiric_pbx.dialog.tasks.registry import task
from sentiric_pbx.integrations.calendar.hours import BusinessHours


@task("ask_opening_hours")
class OpeningHoursTask:
    """Say the opening hours. An interjection: "when are you open?" mid-booking keeps the booking's state."""

    interjection: ClassVar[bool] = True

    async def execute(self, ctx: TaskContext) -> TaskResult:
        text = hours_sentence(ctx.business, ctx.language)
        open_now = BusinessHours(ctx.business).is_open_at(local_now(ctx))
        return TaskResult("done", text, facts={"opening_hours": text, "open_now": open_now})


@task("transfer_to_human")
class TransferTask:
    """Hand the caller to `[business] transfer_target`; the session does the actual transfer."""

    async def execute(self, ctx: TaskContext) -> TaskResult:
        target = ctx.business.transfer_target
        return TaskResult("transfer", say(ctx.language, "transfer"), facts={"transfer_target": target})


@task("end_call")
class EndCallTask:
    """Say goodbye; the session hangs up after the sentence has been played."""

    async def execute(self, ctx: TaskContext) -> TaskResult:
        name = ctx.business.name
        return TaskResult("end_call", say(ctx.language, "goodbye", business=name), facts={"business": name})
