"""`CancelTask`: find the caller's appointment by phone, confirm, cancel.

caller: "I need to cancel my appointment"
    → confirm "You have an appointment for tomorrow at 3 pm. Shall I cancel it?"
caller: "Yes"
    → done "Your appointment for tomorrow at 3 pm is cancelled."
"""

from __future__ import annotations

from sentiric_pbx.dialog.tasks.base import TaskContext, TaskResult
from sentiric_pbx.dialog.tasks.bookings import choose_booking
from sentiric_pbx.dialog.tasks.facts import booking_fact, remember_caller
from sentiric_pbx.dialog.tasks.phrases import say
from sentiric_pbx.dialog.tasks.registry import task


@task("cancel_appointment")
class CancelTask:
    """Cancel one of the caller's upcoming appointments, never without a "yes"."""

    async def execute(self, ctx: TaskContext) -> TaskResult:
        remember_caller(ctx)
        st = ctx.call.task_state
        confirming = bool(st.get("booking"))
        found = await choose_booking(ctx, st, "cancel_which")
        if isinstance(found, TaskResult):
            return found
        fact = booking_fact(ctx, found)
        when = fact["spoken"]
        if confirming and ctx.turn.intent in ("affirm", "cancel_appointment"):  # "İptal edin" to "İptal edeyim mi?"
            await ctx.calendar.cancel(found.booking_id)
            ctx.call.slots.pop("booking_id", None)
            return TaskResult("done", say(ctx.language, "cancelled", when=when),
                              facts={"booking": fact, "cancelled": True})  # fmt: skip
        if confirming and ctx.turn.intent == "deny":
            return TaskResult("done", say(ctx.language, "cancel_kept", when=when),
                              facts={"booking": fact, "cancelled": False})  # fmt: skip
        return TaskResult("confirm", say(ctx.language, "cancel_confirm", when=when), facts={"booking": fact},
                          expects="confirmation")  # fmt: skip
