"""`ReservationTask` — the seed's example: "I want to book an appointment" → a booking in the calendar.

    caller: "Can I come tomorrow afternoon?"  → ask    "Would tomorrow at noon or 12:30 pm suit you?"
    caller: "Tomorrow at 3 pm"                → confirm "Shall I book you for tomorrow at 3 pm?"
    caller: "Yes"                             → ask    "Can I have your name for the booking?" (no name known)
    caller: "Deniz"                           → done   "Done. You're booked for tomorrow at 3 pm."

Agreeing on the time is `negotiation.negotiate`; this task only books what was agreed, and when
another call took the slot in between, apologises and offers the next two. A booking under no name is
one the reception cannot match to the person who walks in: when the caller has not said one, the CRM has
none and the caller ID carries none, it asks once (`business.ask_name`) before booking. The agreed slot
waits in the state (`naming`); the answer, or no answer, books it: a caller who will not say a name still
gets the appointment, and is never asked twice in one booking (`name_asked`). (A question instead of an answer,
"how long does it take?", is no answer: the brain says it does not know, and the question is asked again.)
"""

from __future__ import annotations

from sentiric_pbx.dialog.tasks.base import TaskContext, TaskResult
from sentiric_pbx.dialog.tasks.facts import (
    booking_fact,
    caller_name,
    caller_phone,
    customer_id,
    remember_caller,
    slot_fact,
    slot_from_state,
    slot_to_state,
)
from sentiric_pbx.dialog.tasks.negotiation import Wording, negotiate, offer_after_taken
from sentiric_pbx.dialog.tasks.phrases import say
from sentiric_pbx.dialog.tasks.registry import task
from sentiric_pbx.integrations.calendar.base import SlotTaken


@task("create_appointment")
class ReservationTask:
    """Book an appointment: ask → offer → confirm → (name) → book. State: `call.task_state` (see negotiation)."""

    async def execute(self, ctx: TaskContext) -> TaskResult:
        remember_caller(ctx)
        st = ctx.call.task_state
        wording = Wording()
        if st.get("naming") and not _says_when(ctx):
            agreed = slot_from_state(st.pop("naming"))  # the name question answered, or not: book now
        else:
            if st.get("naming"):  # "make it 4 instead": a correction of the agreed slot, confirmed again
                st["pending"] = st.pop("naming")
            agreed = await negotiate(ctx, st, wording)
            if isinstance(agreed, TaskResult):
                return agreed
            if ctx.business.ask_name and caller_name(ctx) is None and not st.get("name_asked"):
                st["naming"], st["name_asked"] = slot_to_state(agreed), True
                facts = {"slot": slot_fact(ctx, agreed, said=False)}
                return TaskResult("ask", say(ctx.language, "ask_name"), facts=facts, expects="name")
        try:
            booking = await ctx.calendar.book(
                agreed, customer_id=customer_id(ctx), phone=caller_phone(ctx), name=caller_name(ctx),
                call_id=ctx.call.call_id,
            )  # fmt: skip
        except SlotTaken:
            return await offer_after_taken(ctx, st, agreed, wording)
        fact = booking_fact(ctx, booking)
        ctx.call.slots["booking_id"] = booking.booking_id
        return TaskResult("done", say(ctx.language, "booked", when=fact["spoken"]), facts={"booking": fact})


def _says_when(ctx: TaskContext) -> bool:
    """The answer to the name question names a day or a time: the caller is changing the slot, not naming."""
    return any(key in ctx.turn.entities for key in ("date", "time", "daypart", "datetime", "week"))
