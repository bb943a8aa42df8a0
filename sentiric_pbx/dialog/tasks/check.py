"""`CheckTask`: "When is my appointment?", "Randevum var mı?" — the caller's upcoming appointments, said.

One of the commonest calls to a clinic, and it changes nothing. The NLU has no label for it (its intents
are the seed's): the brain relabels a turn that asks after the caller's own appointment (`asks_own_booking`)
when no task is in progress. It used to reach the booking task ("When would you like to come in?") or the
cancel task ("You have an appointment for tomorrow at 3 pm. Shall I cancel it?").

The caller is found as cancelling finds them: a number they said, else the caller ID; with neither, asked.
"""

from __future__ import annotations

import re

from sentiric_pbx.dialog.tasks.base import TaskContext, TaskResult
from sentiric_pbx.dialog.tasks.bookings import listed, upcoming_bookings
from sentiric_pbx.dialog.tasks.facts import booking_fact, caller_phone, remember_caller
from sentiric_pbx.dialog.tasks.phrases import say
from sentiric_pbx.dialog.tasks.registry import task

CHECK_INTENT = "check_appointment"

_OWN = r"(?:my|our) (?:appointment|booking|reservation)s?"
_ASKS_OWN = re.compile(
    rf"\b(?:when(?:'s| is| was) {_OWN}|what (?:time|day|date) is {_OWN}"
    r"|do i (?:still )?have an? (?:appointment|booking)"
    rf"|is {_OWN} (?:still )?(?:on|confirmed|booked|today|tomorrow)|(?:check|confirm|remind me (?:of|about)) {_OWN}"
    rf"|am i (?:booked|on the list|scheduled)|have i got an? (?:appointment|booking)"
    r"|randevum (?:ne ?zaman|kaçta|kacta|var m[ıi]|hangi gün|hangi gun|saat kaçta|duruyor mu|geçerli mi)"
    r"|randevum(?:un)? (?:saati|günü|tarihi) (?:ne|kaç|kac)|randevumu (?:kontrol|teyit|doğrula|dogrula|hatırlat)\w*"
    r"|randevu(?:m|mu)? (?:olup olmadığını|var mı yok mu)|kayıtlı (?:bir )?randevum var m[ıi])"
)
_CHANGES = re.compile(r"\b(?:cancel|move|reschedule|change|postpone|iptal|ertele|değiştir|degistir|kaydır|kaydir)\w*")


def asks_own_booking(text: str) -> bool:
    """Whether the turn asks after the caller's own appointment, not to change it."""
    lowered = text.replace("İ", "i").lower()
    return _ASKS_OWN.search(lowered) is not None and _CHANGES.search(lowered) is None


@task(CHECK_INTENT)
class CheckTask:
    """Say the caller's upcoming appointments (at most `bookings.LISTED`); nothing is changed."""

    async def execute(self, ctx: TaskContext) -> TaskResult:
        remember_caller(ctx)
        bookings = await upcoming_bookings(ctx)
        if isinstance(bookings, TaskResult):
            return bookings
        if not bookings:
            return TaskResult(
                "done", say(ctx.language, "none_found"), facts={"phone": caller_phone(ctx), "bookings": []}
            )
        if len(bookings) == 1:
            fact = booking_fact(ctx, bookings[0])
            return TaskResult("done", say(ctx.language, "check_one", when=fact["spoken"]), facts={"bookings": [fact]})
        choice, facts = listed(ctx, bookings)
        return TaskResult("done", say(ctx.language, "check_many", choice=choice), facts=facts)
