"""Tasks: what the agent says and does, turn by turn, against a real SQLite calendar file.

The business is the default one: Europe/Istanbul, Monday–Friday 09:00–17:00, 30 minute slots.
"Now" is Wednesday 2 January 2030, 10:07; "tomorrow" is Thursday the 3rd. The caller rings from
0555 111 22 33. Between turns the call context is saved to JSON and loaded back, as the context store
does, so every scenario also proves that a task's state survives a save.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sentiric_pbx.call.record import CallContext
from sentiric_pbx.config import BusinessConfig
from sentiric_pbx.dialog.tasks.base import TaskContext, TaskResult, TurnInput
from sentiric_pbx.dialog.tasks.builtin import ReservationTask
from sentiric_pbx.dialog.tasks.registry import ENTRY_POINT_GROUP, TaskRegistry, default_registry
from sentiric_pbx.dialog.tasks.router import dispatch
from sentiric_pbx.dialog.tasks.speech import spoken_choice, spoken_when
from sentiric_pbx.integrations.calendar.base import Booking, Calendar, CalendarError, Slot
from sentiric_pbx.integrations.calendar.sqlite import SqliteCalendar

TZ = ZoneInfo("Europe/Istanbul")
NOW = datetime(2030, 1, 2, 10, 7, tzinfo=TZ)
TODAY, TOMORROW, FRIDAY, SATURDAY = "2030-01-02", "2030-01-03", "2030-01-04", "2030-01-05"
CALLER_ID = "05551112233"
PHONE = "+905551112233"
BUSINESS = BusinessConfig()


def at(day: int, hour: int, minute: int = 0) -> Slot:
    """The 30 minute slot starting at `hour:minute` on `day` January 2030."""
    start = datetime(2030, 1, day, hour, minute, tzinfo=TZ)
    return Slot(start, start + timedelta(minutes=30))


def caller(intent: str, text: str = "", **entities: str) -> TurnInput:
    return TurnInput(intent, dict(entities), text)


@dataclass
class Conversation:
    """One call: each `turn` saves and reloads the context, then runs the router like the session does."""

    calendar: Calendar
    registry: TaskRegistry
    call: CallContext
    results: list[TaskResult | None] = field(default_factory=list)
    business: BusinessConfig = field(default_factory=lambda: BUSINESS)

    async def turn(self, said: TurnInput) -> TaskResult | None:
        self.call = CallContext.from_dict(json.loads(json.dumps(self.call.to_dict())))
        ctx = TaskContext(call=self.call, turn=said, calendar=self.calendar, business=self.business, now=NOW)
        result = await dispatch(self.registry, ctx)
        json.dumps(self.call.to_dict())  # still plain data
        self.results.append(result)
        return result


@pytest.fixture
async def calendar(tmp_path: Path) -> Any:
    cal = SqliteCalendar(tmp_path / "sentiric.db", BUSINESS, clock=lambda: NOW)
    yield cal
    await cal.aclose()


def conversation(
    calendar: Calendar, language: str = "en", caller_id: str | None = CALLER_ID, caller_name: str | None = None
) -> Conversation:
    """A call from `caller_id`; `caller_name` is its CALLERID(name). With no name known anywhere, the booking asks
    for one before it books (`business.ask_name`)."""
    call = CallContext(call_id="call-1", caller_id=caller_id, caller_name=caller_name, language=language)
    return Conversation(calendar, default_registry(plugins=False), call)


async def book(calendar: Calendar, slot: Slot, phone: str = PHONE) -> Booking:
    return await calendar.book(slot, customer_id=None, phone=phone, name="Ayşe Demir", call_id="earlier-call")


async def booked_by_another_call(tmp_path: Path, slot: Slot) -> None:
    """Another call, on a connection of its own to the same database, takes `slot` in the middle of ours."""
    other_call = SqliteCalendar(tmp_path / "sentiric.db", BUSINESS, clock=lambda: NOW)
    await book(other_call, slot, phone="+905559998877")
    await other_call.aclose()


# --- the conversations, as tables ----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """The caller says `said`; the agent answers with `status` and exactly `template`."""

    said: TurnInput
    status: str
    template: str


THURSDAY_ALL_DAY = [at(3, 9 + i // 2, 30 * (i % 2)) for i in range(16)]

SCENARIOS = [
    pytest.param([], [
        Step(caller("create_appointment", "tomorrow at 3 pm", date=TOMORROW, time="15:00"),
             "confirm", "Shall I book you for tomorrow at 3 pm?"),
        Step(caller("affirm", "yes please"), "done", "Done. You're booked for tomorrow at 3 pm."),
    ], id="caller asks for tomorrow at 3 pm, it is free → agent confirms; yes → booked"),
    pytest.param([at(3, 15)], [
        Step(caller("create_appointment", "tomorrow at 3 pm", date=TOMORROW, time="15:00"),
             "ask", "I'm sorry, tomorrow at 3 pm is already taken. Would tomorrow at 3:30 pm or 4 pm suit you?"),
        Step(caller("other", "the second one, please"), "confirm", "Shall I book you for tomorrow at 4 pm?"),
        Step(caller("affirm", "yes"), "done", "Done. You're booked for tomorrow at 4 pm."),
    ], id="asks for a taken slot → offered the next two free ones; picks the second"),
    pytest.param([], [
        Step(caller("create_appointment", "tomorrow at 3 pm", date=TOMORROW, time="15:00"),
             "confirm", "Shall I book you for tomorrow at 3 pm?"),
        Step(caller("deny", "no, make it 4", time="04:00"),
             "confirm", "No problem. Shall I book you for tomorrow at 4 pm instead?"),
        Step(caller("affirm", "yes"), "done", "Done. You're booked for tomorrow at 4 pm."),
    ], id="says no, make it 4 → the correction is confirmed for 4 pm the same day"),
    pytest.param([], [
        Step(caller("create_appointment", "tomorrow at 3 pm", date=TOMORROW, time="15:00"),
             "confirm", "Shall I book you for tomorrow at 3 pm?"),
        Step(caller("deny", "no"), "ask", "What time would suit you better?"),
        Step(caller("other", "11 then", time="11:00"), "confirm", "Shall I book you for tomorrow at 11 am?"),
    ], id="says just no → asked for another time, which keeps the day"),
    pytest.param([], [
        Step(caller("create_appointment", "I need an appointment"), "ask", "When would you like to come in?"),
        Step(caller("other", "tomorrow afternoon", date=TOMORROW, daypart="afternoon"),
             "ask", "Would tomorrow at noon or 12:30 pm suit you?"),
        Step(caller("other", "12:30", time="12:30"), "confirm", "Shall I book you for tomorrow at 12:30 pm?"),
        Step(caller("affirm", "yes"), "done", "Done. You're booked for tomorrow at 12:30 pm."),
    ], id="no time given → asked; a daypart → two slots offered; one named → confirmed"),
    pytest.param([], [
        Step(caller("create_appointment", "tomorrow morning", date=TOMORROW, daypart="morning"),
             "ask", "Would tomorrow at 9 am or 9:30 am suit you?"),
        Step(caller("affirm", "yes"), "ask", "Which would you prefer: tomorrow at 9 am or 9:30 am?"),
        Step(caller("other", "the first"), "confirm", "Shall I book you for tomorrow at 9 am?"),
    ], id="yes to a choice of two → asked which one"),
    pytest.param([], [
        Step(caller("create_appointment", "Saturday at 10", date=SATURDAY, time="10:00"), "ask",
             "We are open Monday to Friday, from 9 am to 5 pm. The nearest free times are Monday at 9 am or 9:30 am. "
             "Would one of those suit you?"),
    ], id="outside business hours (Saturday) → the hours, and the nearest two"),
    pytest.param([], [
        Step(caller("create_appointment", "tomorrow at 7 pm", date=TOMORROW, time="19:00"), "ask",
             "We are open Monday to Friday, from 9 am to 5 pm. The nearest free times are Friday at 9 am or 9:30 am. "
             "Would one of those suit you?"),
    ], id="outside business hours (after closing) → the next morning"),
    pytest.param([], [
        Step(caller("create_appointment", "tomorrow evening", date=TOMORROW, daypart="evening"), "ask",
             "We are open Monday to Friday, from 9 am to 5 pm. The nearest free times are Friday at 9 am or 9:30 am. "
             "Would one of those suit you?"),
    ], id="a daypart when closed (evening) → the hours, not 'fully booked'"),
    pytest.param([], [
        Step(caller("create_appointment", "today at 9", date=TODAY, time="09:00"), "ask",
             "That time has already passed. The next free times are today at 10:30 am or 11 am. "
             "Would one of those suit you?"),
    ], id="a time already past → the next two from now"),
    pytest.param([], [
        Step(caller("create_appointment", "this morning", date=TODAY, daypart="morning"), "ask",
             "Would today at 10:30 am or 11 am suit you?"),
    ], id="this morning, already under way → only the slots still ahead"),
    pytest.param(THURSDAY_ALL_DAY, [
        Step(caller("create_appointment", "tomorrow", date=TOMORROW),
             "ask", "I'm sorry, tomorrow is fully booked. Would Friday at 9 am or 9:30 am suit you?"),
    ], id="a fully booked day → said so, the next day offered"),
    pytest.param([], [
        Step(caller("create_appointment", "Friday the 11th at half past ten", date="2030-01-11", time="10:30"),
             "confirm", "Shall I book you for Friday the 11th at 10:30 am?"),
    ], id="more than a week ahead → the date is said with the weekday"),
    pytest.param([], [
        Step(caller("create_appointment", "tomorrow at 3", date=TOMORROW, time="15:00"),
             "confirm", "Shall I book you for tomorrow at 3 pm?"),
        Step(caller("ask_opening_hours", "when are you open anyway?"),
             "ask", "We are open Monday to Friday, from 9 am to 5 pm. Shall I book you for tomorrow at 3 pm?"),
        Step(caller("affirm", "ok, yes"), "done", "Done. You're booked for tomorrow at 3 pm."),
    ], id="opening hours asked mid-booking → answered, the booking's question again, the booking goes on"),
    pytest.param([at(3, 15)], [
        Step(caller("cancel_appointment", "I need to cancel"),
             "confirm", "You have an appointment for tomorrow at 3 pm. Shall I cancel it?"),
        Step(caller("affirm", "yes"), "done", "Your appointment for tomorrow at 3 pm is cancelled."),
    ], id="cancel: one appointment found by caller ID → confirmed → cancelled"),
    pytest.param([at(3, 15)], [
        Step(caller("cancel_appointment", "cancel it"),
             "confirm", "You have an appointment for tomorrow at 3 pm. Shall I cancel it?"),
        Step(caller("deny", "no, leave it"), "done", "All right, I'll keep your appointment for tomorrow at 3 pm."),
    ], id="cancel: no → the appointment is kept"),
    pytest.param([], [
        Step(caller("cancel_appointment", "cancel my appointment"),
             "failed", "I can't find an upcoming appointment for your number."),
    ], id="cancel: nothing booked → said so"),
    pytest.param([at(3, 15), at(4, 10)], [
        Step(caller("cancel_appointment", "cancel my appointment"), "ask",
             "You have appointments for tomorrow at 3 pm and Friday at 10 am. Which one shall I cancel?"),
        Step(caller("other", "the one on Friday", date=FRIDAY),
             "confirm", "You have an appointment for Friday at 10 am. Shall I cancel it?"),
        Step(caller("affirm", "yes"), "done", "Your appointment for Friday at 10 am is cancelled."),
    ], id="cancel: two appointments → asked which; Friday → confirmed → cancelled"),
    pytest.param([at(3, 15)], [
        Step(caller("reschedule_appointment", "can I move my appointment?"),
             "ask", "Your appointment is for tomorrow at 3 pm. When would you like to move it to?"),
        Step(caller("other", "Friday at 10", date=FRIDAY, time="10:00"),
             "confirm", "Shall I move your appointment from tomorrow at 3 pm to Friday at 10 am?"),
        Step(caller("affirm", "yes"),
             "done", "Done. Your appointment is moved from tomorrow at 3 pm to Friday at 10 am."),
    ], id="reschedule: asked when → confirmed → moved"),
    pytest.param([at(3, 15)], [
        Step(caller("reschedule_appointment", "can I move my appointment?"),
             "ask", "Your appointment is for tomorrow at 3 pm. When would you like to move it to?"),
        Step(caller("other", "4 pm", time="16:00"),
             "confirm", "Shall I move your appointment from tomorrow at 3 pm to tomorrow at 4 pm?"),
    ], id="reschedule: a time alone is on the appointment's own day (it was today)"),
    pytest.param([at(3, 15)], [
        Step(caller("reschedule_appointment", "can I move my appointment?"),
             "ask", "Your appointment is for tomorrow at 3 pm. When would you like to move it to?"),
        Step(caller("other", "push it back an hour", shift="+60"),
             "confirm", "Shall I move your appointment from tomorrow at 3 pm to tomorrow at 4 pm?"),
    ], id="reschedule: an hour later is an hour after the appointment"),
    pytest.param([], [
        Step(caller("create_appointment", "tomorrow at 3 pm", date=TOMORROW, time="15:00"),
             "confirm", "Shall I book you for tomorrow at 3 pm?"),
        Step(caller("deny", "an hour later?", shift="+60"),
             "confirm", "No problem. Shall I book you for tomorrow at 4 pm instead?"),
    ], id="an hour later than the time offered → that time, confirmed"),
    pytest.param([], [
        Step(caller("create_appointment", "tomorrow afternoon", date=TOMORROW, daypart="afternoon"),
             "ask", "Would tomorrow at noon or 12:30 pm suit you?"),
        Step(caller("other", "an hour later", shift="+60"), "confirm", "Shall I book you for tomorrow at 1 pm?"),
    ], id="an hour later than two times offered → than the first"),
    pytest.param([at(3, 15), at(4, 10)], [
        Step(caller("reschedule_appointment", "I want to move an appointment"), "ask",
             "You have appointments for tomorrow at 3 pm and Friday at 10 am. Which one would you like to move?"),
        Step(caller("other", "the one tomorrow at 3", date=TOMORROW, time="15:00"),
             "ask", "Your appointment is for tomorrow at 3 pm. When would you like to move it to?"),
        Step(caller("other", "4 pm", date=TOMORROW, time="16:00"),
             "confirm", "Shall I move your appointment from tomorrow at 3 pm to tomorrow at 4 pm?"),
        Step(caller("affirm", "yes"),
             "done", "Done. Your appointment is moved from tomorrow at 3 pm to tomorrow at 4 pm."),
    ], id="reschedule: two appointments → which → when → moved"),
    pytest.param([], [
        Step(caller("transfer_to_human", "let me talk to a person"),
             "transfer", "One moment, I'll put you through to a colleague."),
    ], id="transfer to a human"),
    pytest.param([], [
        Step(caller("end_call", "that's all, bye"), "end_call", "Thank you for calling the clinic. Goodbye!"),
    ], id="goodbye"),
]  # fmt: skip


def spoken(facts: Any) -> list[str]:
    """Every facts[…]["spoken"]: the words the template promises to contain (the responder grounds on them)."""
    if isinstance(facts, dict):
        return [v for k, v in facts.items() if k == "spoken"] + [s for v in facts.values() for s in spoken(v)]
    if isinstance(facts, list):
        return [s for v in facts for s in spoken(v)]
    return []


@pytest.mark.parametrize(("booked", "steps"), SCENARIOS)
async def test_conversation(calendar: SqliteCalendar, booked: list[Slot], steps: list[Step]) -> None:
    for slot in booked:
        await book(calendar, slot)
    talk = conversation(calendar, caller_name="Ayşe Demir")  # a name known: these are about agreeing on a time
    for number, step in enumerate(steps, 1):
        result = await talk.turn(step.said)
        assert result is not None, f"turn {number}: no task answered"
        assert (result.status, result.template) == (step.status, step.template), f"turn {number}"
        for words in spoken(result.facts):
            assert words.lower() in result.template.lower(), f"turn {number}: {words!r} is a fact but not said"


# --- what the conversations leave behind -------------------------------------------------------------


async def test_yes_books_the_slot_and_the_facts_carry_the_time(calendar: SqliteCalendar) -> None:
    talk = conversation(calendar)
    await talk.turn(caller("create_appointment", "tomorrow at 3, I'm Ayşe", date=TOMORROW, time="15:00",
                           person_name="Ayşe Demir"))  # fmt: skip
    assert talk.call.active_task == "create_appointment"
    assert talk.call.task_state["pending"] == {"start": "2030-01-03T15:00:00+03:00", "end": "2030-01-03T15:30:00+03:00"}
    result = await talk.turn(caller("affirm", "yes"))
    assert result is not None
    [booking] = await calendar.bookings_for(PHONE)
    assert (booking.slot, booking.name, booking.call_id) == (at(3, 15), "Ayşe Demir", "call-1")
    assert result.facts["booking"] == {
        "booking_id": booking.booking_id,
        "name": "Ayşe Demir",
        "start": "2030-01-03T15:00:00+03:00",
        "end": "2030-01-03T15:30:00+03:00",
        "spoken": "tomorrow at 3 pm",
    }
    assert result.task == "create_appointment"
    assert (talk.call.active_task, talk.call.task_state) == (None, {})
    assert talk.call.slots["booking_id"] == booking.booking_id


async def test_an_offer_carries_both_slots_and_the_phrase_as_facts(calendar: SqliteCalendar) -> None:
    talk = conversation(calendar)
    result = await talk.turn(caller("create_appointment", "tomorrow afternoon", date=TOMORROW, daypart="afternoon"))
    assert result is not None and result.expects == "choice"
    assert [(s["start"], s["label"]) for s in result.facts["offered"]] == [
        ("2030-01-03T12:00:00+03:00", "tomorrow at noon"),
        ("2030-01-03T12:30:00+03:00", "tomorrow at 12:30 pm"),
    ]
    assert result.facts["choice"] == {"spoken": "tomorrow at noon or 12:30 pm"}


async def test_slot_taken_while_the_caller_was_deciding(calendar: SqliteCalendar, tmp_path: Path) -> None:
    """Another call (another connection) books 3 pm between our question and the caller's yes."""
    talk = conversation(calendar, caller_name="Ayşe Demir")
    await talk.turn(caller("create_appointment", "tomorrow at 3", date=TOMORROW, time="15:00"))
    await booked_by_another_call(tmp_path, at(3, 15))
    result = await talk.turn(caller("affirm", "yes"))
    assert result is not None
    assert (result.status, result.template) == (
        "ask",
        "I'm sorry, tomorrow at 3 pm was just taken. Would tomorrow at 3:30 pm or 4 pm suit you instead?",
    )
    assert talk.call.active_task == "create_appointment"
    assert await calendar.bookings_for(PHONE) == []
    result = await talk.turn(caller("other", "3:30 then", time="15:30"))
    assert result is not None and result.template == "Shall I book you for tomorrow at 3:30 pm?"


async def test_a_caller_with_no_name_known_is_asked_for_one_before_the_booking(calendar: SqliteCalendar) -> None:
    talk = conversation(calendar)
    await talk.turn(caller("create_appointment", "tomorrow at 3 pm", date=TOMORROW, time="15:00"))
    asked = await talk.turn(caller("affirm", "yes"))
    assert asked is not None
    assert (asked.status, asked.template, asked.expects) == ("ask", "Can I have your name for the booking?", "name")
    assert talk.call.task_state["naming"] == {"start": "2030-01-03T15:00:00+03:00", "end": "2030-01-03T15:30:00+03:00"}
    assert await calendar.bookings_for(PHONE) == []  # not booked until the name question is answered
    done = await talk.turn(caller("other", "Deniz", person_name="Deniz"))
    assert done is not None and (done.status, done.template) == ("done", "Done. You're booked for tomorrow at 3 pm.")
    [booking] = await calendar.bookings_for(PHONE)
    assert (booking.slot, booking.name) == (at(3, 15), "Deniz")
    assert (talk.call.active_task, talk.call.task_state) == (None, {})


async def test_an_answer_without_a_name_still_books_and_the_name_is_asked_once(calendar: SqliteCalendar) -> None:
    talk = conversation(calendar)
    await talk.turn(caller("create_appointment", "tomorrow at 3 pm", date=TOMORROW, time="15:00"))
    await talk.turn(caller("affirm", "yes"))
    done = await talk.turn(caller("deny", "I'd rather not say"))
    assert done is not None and (done.status, done.template) == ("done", "Done. You're booked for tomorrow at 3 pm.")
    [booking] = await calendar.bookings_for(PHONE)
    assert (booking.slot, booking.name) == (at(3, 15), None)


async def test_a_slot_taken_while_the_name_was_asked_is_offered_again_without_a_second_question(
    calendar: SqliteCalendar, tmp_path: Path
) -> None:
    talk = conversation(calendar)
    await talk.turn(caller("create_appointment", "tomorrow at 3", date=TOMORROW, time="15:00"))
    await talk.turn(caller("affirm", "yes"))  # → what is your name?
    await booked_by_another_call(tmp_path, at(3, 15))
    offered = await talk.turn(caller("other", "Deniz", person_name="Deniz"))
    assert offered is not None and offered.template == (
        "I'm sorry, tomorrow at 3 pm was just taken. Would tomorrow at 3:30 pm or 4 pm suit you instead?"
    )
    await talk.turn(caller("other", "the first one"))
    done = await talk.turn(caller("affirm", "yes"))
    assert done is not None and done.template == "Done. You're booked for tomorrow at 3:30 pm."
    [booking] = await calendar.bookings_for(PHONE)
    assert (booking.slot, booking.name) == (at(3, 15, 30), "Deniz")


async def test_the_name_is_asked_only_once_even_when_none_was_given(calendar: SqliteCalendar, tmp_path: Path) -> None:
    talk = conversation(calendar)
    await talk.turn(caller("create_appointment", "tomorrow at 3", date=TOMORROW, time="15:00"))
    await talk.turn(caller("affirm", "yes"))  # → what is your name?
    await booked_by_another_call(tmp_path, at(3, 15))
    await talk.turn(caller("other", "hmm"))  # no name; the slot has gone meanwhile → two others offered
    await talk.turn(caller("other", "the first one"))
    done = await talk.turn(caller("affirm", "yes"))
    assert done is not None and done.status == "done"
    [booking] = await calendar.bookings_for(PHONE)
    assert (booking.slot, booking.name) == (at(3, 15, 30), None)


async def test_an_empty_callerid_name_is_no_name(calendar: SqliteCalendar) -> None:
    talk = conversation(calendar, caller_name="")  # a PBX that passes CALLERID(name) through unset
    await talk.turn(caller("create_appointment", "tomorrow at 3", date=TOMORROW, time="15:00"))
    asked = await talk.turn(caller("affirm", "yes"))
    assert asked is not None and (asked.status, asked.expects) == ("ask", "name")


@pytest.mark.parametrize(
    ("customer", "caller_name", "said"),
    [({"customer_id": 7, "name": "Ayşe Demir"}, None, None), (None, "Ayşe Demir", None), (None, None, "Ayşe Demir")],
    ids=["the CRM's", "CALLERID(name)", "said in the call"],
)
async def test_a_known_name_is_not_asked_again(
    calendar: SqliteCalendar, customer: dict[str, Any] | None, caller_name: str | None, said: str | None
) -> None:
    talk = conversation(calendar, caller_name=caller_name)
    talk.call.customer = customer
    names = {"person_name": said} if said else {}
    await talk.turn(caller("create_appointment", "tomorrow at 3", date=TOMORROW, time="15:00", **names))
    done = await talk.turn(caller("affirm", "yes"))
    assert done is not None and done.status == "done"
    [booking] = await calendar.bookings_for(PHONE)
    assert booking.name == "Ayşe Demir"


async def test_a_new_time_said_to_the_name_question_is_a_correction_not_a_booking(calendar: SqliteCalendar) -> None:
    talk = conversation(calendar)
    await talk.turn(caller("create_appointment", "tomorrow at 3 pm", date=TOMORROW, time="15:00"))
    await talk.turn(caller("affirm", "yes"))  # → what is your name?
    again = await talk.turn(caller("deny", "actually, make it 4", time="04:00"))
    assert again is not None and (again.status, again.template) == (
        "confirm", "No problem. Shall I book you for tomorrow at 4 pm instead?"
    )
    assert await calendar.bookings_for(PHONE) == []
    done = await talk.turn(caller("affirm", "yes"))  # the name was asked once already: booked now
    assert done is not None and (done.status, done.template) == ("done", "Done. You're booked for tomorrow at 4 pm.")
    [booking] = await calendar.bookings_for(PHONE)
    assert (booking.slot, booking.name) == (at(3, 16), None)


async def test_ask_name_off_books_under_no_name_as_before(calendar: SqliteCalendar) -> None:
    talk = conversation(calendar)
    talk.business = BusinessConfig(ask_name=False)
    await talk.turn(caller("create_appointment", "tomorrow at 3", date=TOMORROW, time="15:00"))
    done = await talk.turn(caller("affirm", "yes"))
    assert done is not None and done.status == "done"
    [booking] = await calendar.bookings_for(PHONE)
    assert booking.name is None


THIS_WEEK = "2029-12-31"  # the Monday of this week; next week's is 7 January
# One turn that opens a call, with `[business] min_notice_minutes` (at 10:07 with 120, nothing before 12:07)
ONE_TURN = [
    pytest.param(120, caller("create_appointment", "today at 11", date=TODAY, time="11:00"), "ask",
                 "That is too soon to book. The nearest free times are today at 12:30 pm or 1 pm. "
                 "Would one of those suit you?", id="a time inside the notice → too soon"),
    pytest.param(120, caller("create_appointment", "this morning", date=TODAY, daypart="morning"), "ask",
                 "That is too soon to book. The nearest free times are today at 12:30 pm or 1 pm. "
                 "Would one of those suit you?", id="a daypart wholly inside the notice → too soon, not 'closed'"),
    pytest.param(120, caller("create_appointment", "today at 9", date=TODAY, time="09:00"), "ask",
                 "That time has already passed. The next free times are today at 12:30 pm or 1 pm. "
                 "Would one of those suit you?", id="a time already past → passed, and the offer keeps the notice"),
    pytest.param(120, caller("create_appointment", "today", date=TODAY), "ask",
                 "Would today at 12:30 pm or 1 pm suit you?", id="a day → its slots after the notice"),
    pytest.param(120, caller("create_appointment", "when are you free?"), "ask",
                 "Would today at 12:30 pm or 1 pm suit you?", id="when are you free → the nearest after the notice"),
    pytest.param(120, caller("create_appointment", "today at 1 pm", date=TODAY, time="13:00"), "confirm",
                 "Shall I book you for today at 1 pm?", id="a time after the notice → confirmed"),
    pytest.param(0, caller("create_appointment", "next week", week="2030-01-07"), "ask",
                 "Would Monday at 9 am or 9:30 am suit you?", id="next week → its first two free slots"),
    pytest.param(0, caller("create_appointment", "next week in the afternoon", week="2030-01-07", daypart="afternoon"),
                 "ask", "Would Monday at noon or 12:30 pm suit you?", id="next week, afternoons → in its afternoons"),
    pytest.param(0, caller("create_appointment", "this week", week=THIS_WEEK), "ask",
                 "Would today at 10:30 am or 11 am suit you?", id="this week → from now, not from its Monday"),
    pytest.param(0, caller("create_appointment", "next week at 10", week="2030-01-07", time="10:00"), "confirm",
                 "Shall I book you for Monday at 10 am?", id="next week at a time → that time on its first day"),
    pytest.param(0, caller("create_appointment", "next week in the evening", week="2030-01-07", daypart="evening"),
                 "ask", "We are open Monday to Friday, from 9 am to 5 pm. The nearest free times are Monday at 9 am "
                 "or 9:30 am. Would one of those suit you?", id="next week, evenings → closed then: the hours"),
]  # fmt: skip


@pytest.mark.parametrize(("notice", "said", "status", "template"), ONE_TURN)
async def test_a_window_or_a_notice_in_one_turn(
    calendar: SqliteCalendar, notice: int, said: TurnInput, status: str, template: str
) -> None:
    """Two hours' notice: nothing sooner is offered or confirmed. "Next week if possible" answers "When would you
    like to come in?": it used to be asked again."""
    talk = conversation(calendar, caller_name="Ayşe Demir")
    talk.business = BusinessConfig(min_notice_minutes=notice)
    result = await talk.turn(said)
    assert result is not None and (result.status, result.template) == (status, template)


async def test_min_notice_applies_to_moving_an_appointment(calendar: SqliteCalendar) -> None:
    await book(calendar, at(3, 15))
    talk = conversation(calendar)
    talk.business = BusinessConfig(min_notice_minutes=120)
    await talk.turn(caller("reschedule_appointment", "can I move my appointment?"))
    result = await talk.turn(caller("other", "today at 11", date=TODAY, time="11:00"))
    assert result is not None and result.template.startswith("That is too soon to book.")
    assert "today at 12:30 pm or 1 pm" in result.template


async def test_a_week_fully_booked_is_said_so(calendar: SqliteCalendar) -> None:
    for day in range(7, 12):
        for i in range(16):
            await book(calendar, at(day, 9 + i // 2, 30 * (i % 2)))
    talk = conversation(calendar, caller_name="Ayşe Demir")
    result = await talk.turn(caller("create_appointment", "next week", week="2030-01-07"))
    assert result is not None and result.template == (
        "I'm sorry, that week is fully booked. Would Monday the 14th at 9 am or 9:30 am suit you?"
    )


async def test_cancel_frees_the_slot(calendar: SqliteCalendar) -> None:
    await book(calendar, at(3, 15))
    talk = conversation(calendar)
    await talk.turn(caller("cancel_appointment", "cancel please"))
    await talk.turn(caller("affirm", "yes"))
    assert await calendar.bookings_for(PHONE) == []
    assert at(3, 15) in await calendar.free_slots(at(3, 15).start, at(3, 15).end)


async def test_cancel_for_an_anonymous_caller_asks_for_the_number(calendar: SqliteCalendar) -> None:
    await book(calendar, at(3, 15))
    talk = conversation(calendar, caller_id=None)
    first = await talk.turn(caller("cancel_appointment", "cancel my appointment"))
    assert first is not None and first.template == "Which phone number did you make the appointment with?"
    assert first.expects == "phone"
    second = await talk.turn(caller("other", "0555 111 22 33", phone="0555 111 22 33"))
    assert second is not None and second.template == "You have an appointment for tomorrow at 3 pm. Shall I cancel it?"


async def test_reschedule_books_the_new_slot_and_frees_the_old(calendar: SqliteCalendar) -> None:
    old = await book(calendar, at(3, 15))
    talk = conversation(calendar)
    await talk.turn(caller("reschedule_appointment", "move my appointment to Friday at 10", date=FRIDAY, time="10:00"))
    result = await talk.turn(caller("affirm", "yes"))
    assert result is not None and result.status == "done"
    [new] = await calendar.bookings_for(PHONE)
    assert (new.slot, new.name) == (at(4, 10), "Ayşe Demir")
    assert new.booking_id != old.booking_id
    assert at(3, 15) in await calendar.free_slots(at(3, 15).start, at(3, 15).end)
    assert result.facts["old_booking"]["booking_id"] == old.booking_id
    assert result.facts["booking"]["booking_id"] == new.booking_id


@dataclass
class CancelFails:
    """A calendar whose cancellations fail: the booking system went away halfway through a reschedule."""

    inner: SqliteCalendar
    fail_ids: set[str]

    async def free_slots(self, start: datetime, end: datetime, limit: int = 10) -> list[Slot]:
        return await self.inner.free_slots(start, end, limit)

    async def book(self, slot: Slot, **who: Any) -> Booking:
        return await self.inner.book(slot, **who)

    async def bookings_for(self, phone: str) -> list[Booking]:
        return await self.inner.bookings_for(phone)

    async def cancel(self, booking_id: str) -> None:
        if booking_id in self.fail_ids:
            raise CalendarError("booking system unreachable")
        await self.inner.cancel(booking_id)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_reschedule_never_leaves_two_appointments(calendar: SqliteCalendar) -> None:
    """The old booking cannot be cancelled → the new one is released and the caller hears the calendar is down."""
    old = await book(calendar, at(3, 15))
    talk = conversation(CancelFails(calendar, {old.booking_id}))
    await talk.turn(caller("reschedule_appointment", "move it to Friday at 10", date=FRIDAY, time="10:00"))
    result = await talk.turn(caller("affirm", "yes"))
    assert result is not None
    assert (result.status, result.template) == (
        "failed",
        "I'm sorry, I can't reach the calendar right now. Please try again in a few minutes.",
    )
    assert [b.booking_id for b in await calendar.bookings_for(PHONE)] == [old.booking_id]


@dataclass
class DownCalendar:
    async def free_slots(self, start: datetime, end: datetime, limit: int = 10) -> list[Slot]:
        raise CalendarError("connection refused")

    async def book(self, slot: Slot, **who: Any) -> Booking:
        raise CalendarError("connection refused")

    async def bookings_for(self, phone: str) -> list[Booking]:
        raise CalendarError("connection refused")

    async def cancel(self, booking_id: str) -> None:
        raise CalendarError("connection refused")

    async def aclose(self) -> None:
        return None


async def test_calendar_unreachable_ends_the_task_with_an_apology(logs: list[dict[str, Any]]) -> None:
    talk = conversation(DownCalendar())
    result = await talk.turn(caller("create_appointment", "tomorrow at 3", date=TOMORROW, time="15:00"))
    assert result is not None
    assert (result.status, result.facts) == ("failed", {"error": "calendar_unavailable"})
    assert talk.call.active_task is None
    assert [e["task"] for e in logs if e["event"] == "task_calendar_error"] == ["create_appointment"]


async def test_switching_to_another_task_drops_the_half_made_booking(calendar: SqliteCalendar) -> None:
    await book(calendar, at(4, 10))
    talk = conversation(calendar)
    await talk.turn(caller("create_appointment", "tomorrow at 3", date=TOMORROW, time="15:00"))
    result = await talk.turn(caller("cancel_appointment", "actually, cancel my Friday one"))
    assert result is not None and result.template == "You have an appointment for Friday at 10 am. Shall I cancel it?"
    assert "pending" not in talk.call.task_state
    assert talk.call.active_task == "cancel_appointment"


async def test_small_talk_with_no_task_active_goes_to_the_responder(calendar: SqliteCalendar) -> None:
    talk = conversation(calendar)
    assert await talk.turn(caller("other", "how is the weather?")) is None
    assert await talk.turn(caller("affirm", "yes")) is None


async def test_transfer_carries_the_configured_target(calendar: SqliteCalendar) -> None:
    result = await conversation(calendar).turn(caller("transfer_to_human", "a human please"))
    assert result is not None and result.facts == {"transfer_target": "PJSIP/reception"}


async def test_a_turkish_call_hears_turkish(calendar: SqliteCalendar) -> None:
    talk = conversation(calendar, language="tr")
    steps = [
        (caller("create_appointment", "yarın öğleden sonra", date=TOMORROW, daypart="afternoon"),
         "Yarın saat 12:00 ya da 12:30 uygun olur mu?"),
        (caller("other", "ikincisi"), "Sizi yarın saat 12:30 için kaydedeyim mi?"),
        (caller("affirm", "evet"), "Randevu için adınızı alabilir miyim?"),
        (caller("other", "Deniz", person_name="Deniz"), "Tamam, randevunuz yarın saat 12:30 için oluşturuldu."),
        (caller("ask_opening_hours", "kaçta açıksınız?"), "Pazartesi–Cuma günleri 09:00–17:00 arası açığız."),
    ]  # fmt: skip
    for said, template in steps:
        result = await talk.turn(said)
        assert result is not None and result.template == template
        assert all(words.lower() in template.lower() for words in spoken(result.facts))


# --- speech rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "english", "turkish"),
    [
        (datetime(2030, 1, 2, 16, 30, tzinfo=TZ), "today at 4:30 pm", "bugün saat 16:30"),
        (datetime(2030, 1, 3, 15, 0, tzinfo=TZ), "tomorrow at 3 pm", "yarın saat 15:00"),
        (datetime(2030, 1, 3, 12, 0, tzinfo=TZ), "tomorrow at noon", "yarın saat 12:00"),
        (datetime(2030, 1, 8, 9, 0, tzinfo=TZ), "Tuesday at 9 am", "Salı saat 09:00"),
        (datetime(2030, 1, 11, 10, 30, tzinfo=TZ), "Friday the 11th at 10:30 am", "11 Ocak Cuma saat 10:30"),
        (datetime(2030, 1, 22, 9, 0, tzinfo=TZ), "Tuesday the 22nd at 9 am", "22 Ocak Salı saat 09:00"),
        (datetime(2030, 2, 1, 11, 0, tzinfo=TZ), "Friday the 1st of February at 11 am", "1 Şubat Cuma saat 11:00"),
        (datetime(2030, 1, 3, 12, 0, tzinfo=ZoneInfo("UTC")), "tomorrow at 3 pm", "yarın saat 15:00"),
    ],
)
def test_times_are_said_relative_to_now(when: datetime, english: str, turkish: str) -> None:
    assert spoken_when(when, NOW, "en") == english
    assert spoken_when(when, NOW, "tr-TR") == turkish


def test_a_choice_names_the_day_once_when_it_is_shared() -> None:
    same_day = [datetime(2030, 1, 3, 15, tzinfo=TZ), datetime(2030, 1, 3, 16, 30, tzinfo=TZ)]
    assert spoken_choice(same_day, NOW) == "tomorrow at 3 pm or 4:30 pm"
    two_days = [datetime(2030, 1, 3, 15, tzinfo=TZ), datetime(2030, 1, 4, 9, tzinfo=TZ)]
    assert spoken_choice(two_days, NOW, every=True) == "tomorrow at 3 pm and Friday at 9 am"


# --- registry and plugins -------------------------------------------------------------------------------


def test_the_builtin_tasks_are_registered_under_their_intents() -> None:
    registry = default_registry(plugins=False)
    assert registry.intents() == [
        "ask_faq",
        "ask_opening_hours",
        "ask_unknown",
        "ask_unknown_aside",
        "cancel_appointment",
        "check_appointment",
        "create_appointment",
        "end_call",
        "reschedule_appointment",
        "transfer_to_human",
    ]
    assert registry.get("create_appointment") is ReservationTask
    assert ReservationTask.name == "create_appointment"


PLUGIN_MODULE = """
from sentiric_pbx.dialog.tasks.base import TaskResult


class OrderStatusTask:
    async def execute(self, ctx):
        return TaskResult("done", "Your order is on its way.", facts={"order": "shipped"})


class AlwaysOpen:
    interjection = True

    async def execute(self, ctx):
        return TaskResult("done", "We never close.")


NOT_A_TASK = 42
"""

PLUGIN_ENTRY_POINTS = f"""
[{ENTRY_POINT_GROUP}]
check_order_status = acme_tasks:OrderStatusTask
ask_opening_hours = acme_tasks:AlwaysOpen
broken_import = acme_broken:Task
not_a_task = acme_tasks:NOT_A_TASK
missing_module = acme_nowhere:Task
"""


@pytest.fixture
def acme_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An installed add-on package, as pip would leave it: modules plus a .dist-info with entry_points.txt."""
    (tmp_path / "acme_tasks.py").write_text(PLUGIN_MODULE)
    (tmp_path / "acme_broken.py").write_text("raise RuntimeError('acme misconfigured: no licence key')\n")
    info = tmp_path / "acme_tasks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-tasks\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(PLUGIN_ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("acme_tasks", "acme_broken", "acme_nowhere"):
        sys.modules.pop(name, None)


async def test_an_installed_plugin_adds_and_replaces_tasks_and_broken_ones_are_skipped(
    acme_distribution: Path, calendar: SqliteCalendar, logs: list[dict[str, Any]]
) -> None:
    registry = default_registry()
    assert "check_order_status" in registry
    assert "create_appointment" in registry  # built-ins are still there
    for skipped in ("broken_import", "not_a_task", "missing_module"):
        assert skipped not in registry
    failures = {e["entry_point"]: e["error"] for e in logs if e["event"] == "task_plugin_failed"}
    assert set(failures) == {"broken_import", "not_a_task", "missing_module"}
    assert "acme misconfigured" in failures["broken_import"]
    assert "ModuleNotFoundError" in failures["missing_module"]

    talk = Conversation(calendar, registry, CallContext(call_id="call-2", caller_id=CALLER_ID))
    result = await talk.turn(caller("check_order_status", "where is my order?"))
    assert result is not None and (result.status, result.template) == ("done", "Your order is on its way.")
    hours = await talk.turn(caller("ask_opening_hours", "when are you open?"))
    assert hours is not None and hours.template == "We never close."
    assert default_registry(plugins=False).get("ask_opening_hours").__name__ == "OpeningHoursTask"


def test_load_entry_points_reports_what_it_added(logs: list[dict[str, Any]]) -> None:
    registry = TaskRegistry()
    eps = [
        importlib.metadata.EntryPoint("create_appointment", "sentiric_pbx.dialog.tasks.builtin:ReservationTask",
                                      ENTRY_POINT_GROUP),
        importlib.metadata.EntryPoint("oops", "sentiric_pbx.dialog.tasks.builtin:NoSuchTask", ENTRY_POINT_GROUP),
    ]  # fmt: skip
    assert registry.load_entry_points(eps) == ["create_appointment"]
    assert [e["entry_point"] for e in logs if e["event"] == "task_plugin_failed"] == ["oops"]


async def test_a_task_that_crashes_does_not_take_the_call_down(
    calendar: SqliteCalendar, logs: list[dict[str, Any]]
) -> None:
    class Exploding:
        async def execute(self, ctx: TaskContext) -> TaskResult:
            raise ZeroDivisionError("plugin bug")

    registry = default_registry(plugins=False)
    registry.register("check_order_status", Exploding, source="test")
    talk = Conversation(calendar, registry, CallContext(call_id="call-3", caller_id=CALLER_ID))
    result = await talk.turn(caller("check_order_status", "where is my order?"))
    assert result is not None
    assert (result.status, result.template) == ("failed", "I'm sorry, something went wrong on my side.")
    assert [e["task"] for e in logs if e["event"] == "task_failed"] == ["check_order_status"]
