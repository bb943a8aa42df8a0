"""Which of the caller's appointments do they mean? Shared by cancelling and rescheduling.

The caller is found by phone: a number they said (`call.slots["phone"]`), else the caller ID. One
upcoming booking → that one. Several → the turn's date/time or "the second one" picks it, otherwise we
list them and ask. The choice is remembered in `state["booking"]` so later turns do not ask again.
"""

from __future__ import annotations

from typing import Any

from sentiric_pbx.dialog.tasks.base import TaskContext, TaskResult
from sentiric_pbx.dialog.tasks.facts import booking_fact, booking_from_state, booking_to_state, caller_phone, local_now
from sentiric_pbx.dialog.tasks.phrases import say
from sentiric_pbx.dialog.tasks.speech import spoken_choice
from sentiric_pbx.dialog.tasks.when import ordinal_choice, requested_time
from sentiric_pbx.integrations.calendar.base import Booking
from sentiric_pbx.integrations.calendar.hours import BusinessHours

LISTED = 3
"""At most this many appointments are read out when we ask "which one"."""


def _match(ctx: TaskContext, bookings: list[Booking]) -> Booking | None:
    hours = BusinessHours(ctx.business)
    index = ordinal_choice(ctx.turn.text, min(len(bookings), LISTED))
    if index is not None:
        return bookings[index]
    entities = ctx.turn.entities
    req = requested_time(entities, hours, ctx.now)
    if req is None:
        return None
    if req.exact is not None:
        hits = [b for b in bookings if b.slot.start == req.exact]
        # "the one at 3": no date given → match the time of day on any of the caller's days.
        if not hits and "time" in entities and "date" not in entities:
            hits = [b for b in bookings if hours.local(b.slot.start).time() == req.exact.time()]
    else:
        hits = [b for b in bookings if hours.local(b.slot.start).date() == req.day]
    return hits[0] if len(hits) == 1 else None


async def upcoming_bookings(ctx: TaskContext) -> list[Booking] | TaskResult:
    """The caller's upcoming bookings, found by phone; with no number known, the question for one."""
    phone = caller_phone(ctx)
    if phone is None:
        return TaskResult("ask", say(ctx.language, "ask_phone"), expects="phone")
    return await ctx.calendar.bookings_for(phone)


def listed(ctx: TaskContext, bookings: list[Booking]) -> tuple[str, dict[str, Any]]:
    """The first `LISTED` bookings said as one phrase ("tomorrow at 3 pm and Friday at 10 am"), and their facts."""
    shown = bookings[:LISTED]
    choice = spoken_choice([b.slot.start for b in shown], local_now(ctx), ctx.language, every=True)
    return choice, {"choice": {"spoken": choice}, "bookings": [booking_fact(ctx, b, said=False) for b in shown]}


async def choose_booking(ctx: TaskContext, st: dict[str, Any], which_key: str) -> Booking | TaskResult:
    """The booking the caller means, or what to say to find out (ask the number, list, or none found)."""
    if st.get("booking"):
        return booking_from_state(st["booking"])
    bookings = await upcoming_bookings(ctx)
    if isinstance(bookings, TaskResult):
        return bookings
    if not bookings:
        return TaskResult("failed", say(ctx.language, "none_found"), facts={"phone": caller_phone(ctx), "bookings": []})
    chosen = bookings[0] if len(bookings) == 1 else _match(ctx, bookings)
    if chosen is None:
        choice, facts = listed(ctx, bookings)
        st["asked_which"] = True
        return TaskResult("ask", say(ctx.language, which_key, choice=choice), facts=facts, expects="choice")
    st["booking"] = booking_to_state(chosen)
    return chosen
