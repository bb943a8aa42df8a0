"""Small conversions shared by the booking tasks: slots ↔ JSON state, facts to speak, who is calling.

Task state must survive `CallContext.to_dict()` → JSON → `from_dict()`, so slots are kept as
`{"start": ISO, "end": ISO}` and rebuilt on the next turn; never as `datetime` objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sentiric_pbx.call.phone import normalize_e164
from sentiric_pbx.dialog.tasks.base import TaskContext
from sentiric_pbx.dialog.tasks.speech import spoken_when
from sentiric_pbx.integrations.calendar.base import Booking, Slot
from sentiric_pbx.integrations.calendar.hours import BusinessHours


def slot_to_state(slot: Slot) -> dict[str, str]:
    return {"start": slot.start.isoformat(), "end": slot.end.isoformat()}


def slot_from_state(data: dict[str, Any]) -> Slot:
    return Slot(datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"]))


def local_now(ctx: TaskContext) -> datetime:
    """`ctx.now` in the business timezone: "today"/"tomorrow" are the business's, not the server's."""
    return BusinessHours(ctx.business).local(ctx.now)


def slot_fact(ctx: TaskContext, slot: Slot, *, said: bool = True) -> dict[str, str]:
    """{"start": ISO, "end": ISO, "spoken": "tomorrow at 3 pm"}.

    "spoken" is a promise that the template says exactly these words (the responder checks an LLM
    rephrasing against it). A slot the template mentions only in a combined phrase ("tomorrow at 3 pm
    or 4 pm") carries its rendering as "label" instead.
    """
    words = spoken_when(slot.start, local_now(ctx), ctx.language)
    return {**slot_to_state(slot), ("spoken" if said else "label"): words}


def booking_fact(ctx: TaskContext, booking: Booking, *, said: bool = True) -> dict[str, Any]:
    return {"booking_id": booking.booking_id, "name": booking.name, **slot_fact(ctx, booking.slot, said=said)}


def booking_to_state(booking: Booking) -> dict[str, Any]:
    return {"booking_id": booking.booking_id, "name": booking.name, "phone": booking.phone,
            "customer_id": booking.customer_id, "call_id": booking.call_id, **slot_to_state(booking.slot)}  # fmt: skip


def booking_from_state(data: dict[str, Any]) -> Booking:
    return Booking(data["booking_id"], slot_from_state(data), data.get("customer_id"), data.get("phone"),
                   data.get("name"), data.get("call_id"))  # fmt: skip


def remember_caller(ctx: TaskContext) -> None:
    """Keep a name or number the caller says in `call.slots`, so later turns (and other tasks) have it."""
    entities = ctx.turn.entities
    if entities.get("person_name"):
        ctx.call.slots["person_name"] = str(entities["person_name"])
    if entities.get("phone"):
        phone = normalize_e164(str(entities["phone"]), ctx.business.default_country_code)
        if phone:
            ctx.call.slots["phone"] = phone


def caller_phone(ctx: TaskContext) -> str | None:
    """A number the caller told us beats the caller ID (they may call from a colleague's phone)."""
    return ctx.call.slots.get("phone") or normalize_e164(ctx.call.caller_id, ctx.business.default_country_code)


def caller_name(ctx: TaskContext) -> str | None:
    customer = ctx.call.customer or {}
    return ctx.call.slots.get("person_name") or customer.get("name") or ctx.call.caller_name or None


def customer_id(ctx: TaskContext) -> str | None:
    value = (ctx.call.customer or {}).get("customer_id")
    return None if value is None else str(value)
