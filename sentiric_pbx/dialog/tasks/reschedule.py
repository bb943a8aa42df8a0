"""`RescheduleTask`: find the caller's appointment, agree on a new time, book the new one, cancel the old.

The new slot is booked *before* the old one is cancelled: if the new one is taken meanwhile the caller
still has their old appointment. If the old one then cannot be cancelled, the new one is released
again and the caller hears that the calendar is unreachable — never two appointments for one person.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

import structlog

from sentiric_pbx.dialog.tasks.base import TaskContext, TaskResult
from sentiric_pbx.dialog.tasks.bookings import choose_booking
from sentiric_pbx.dialog.tasks.facts import booking_fact, caller_name, caller_phone, customer_id, remember_caller
from sentiric_pbx.dialog.tasks.negotiation import Wording, negotiate, offer_after_taken
from sentiric_pbx.dialog.tasks.phrases import say
from sentiric_pbx.dialog.tasks.registry import task
from sentiric_pbx.integrations.calendar.base import CalendarError, SlotTaken
from sentiric_pbx.integrations.calendar.hours import BusinessHours

log = structlog.get_logger(__name__)


@task("reschedule_appointment")
class RescheduleTask:
    """Move an appointment. State: `task_state["booking"]` (the old one), `task_state["slot"]` (negotiation)."""

    async def execute(self, ctx: TaskContext) -> TaskResult:
        remember_caller(ctx)
        st = ctx.call.task_state
        answering_which = "booking" not in st and bool(st.get("asked_which"))
        old = await choose_booking(ctx, st, "move_which")
        if isinstance(old, TaskResult):
            return old
        if answering_which:
            # "The one tomorrow at 3" named the *old* appointment; it is not a wish for the new time.
            ctx = replace(ctx, turn=replace(ctx.turn, entities={}, text=""))
        old_fact = booking_fact(ctx, old)
        wording = Wording(ask="move_ask_when", confirm="move_confirm", correction="move_confirm_correction",
                          extra={"old": old_fact["spoken"]})  # fmt: skip
        # "make it 4", "in the afternoon", "an hour later": of the appointment's own day, from its own time
        local = BusinessHours(ctx.business).local(old.slot.start)
        negotiation = st.setdefault("slot", {"day": local.date().isoformat(), "ref": old.slot.start.isoformat()})
        agreed = await negotiate(ctx, negotiation, wording)
        if isinstance(agreed, TaskResult):
            # Not every step names the old time ("What time would suit you better?"); only a sentence
            # that says it may carry it as "spoken".
            agreed.facts["old_booking"] = booking_fact(
                ctx, old, said=old_fact["spoken"].lower() in agreed.template.lower()
            )
            return agreed
        try:
            new = await ctx.calendar.book(
                agreed, customer_id=old.customer_id or customer_id(ctx), phone=old.phone or caller_phone(ctx),
                name=old.name or caller_name(ctx), call_id=ctx.call.call_id,
            )  # fmt: skip
        except SlotTaken:
            return await offer_after_taken(ctx, negotiation, agreed, wording)
        try:
            await ctx.calendar.cancel(old.booking_id)
        except CalendarError:
            log.error("reschedule_old_not_cancelled", old=old.booking_id, new=new.booking_id)
            with contextlib.suppress(CalendarError):
                await ctx.calendar.cancel(new.booking_id)
            raise
        new_fact = booking_fact(ctx, new)
        ctx.call.slots["booking_id"] = new.booking_id
        template = say(ctx.language, "moved", old=old_fact["spoken"], when=new_fact["spoken"])
        return TaskResult("done", template, facts={"booking": new_fact, "old_booking": old_fact})
