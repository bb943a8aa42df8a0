"""Keypad strings in the real brain: "0" is the operator, a typed phone number answers "which number did
you book with?" (leading 0 and all), and digits typed when nothing was asked are read like words."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sentiric_pbx.call.record import CallContext
from sentiric_pbx.config import Settings
from sentiric_pbx.dialog.brain import AssistantBrain
from sentiric_pbx.dialog.tasks.registry import default_registry
from sentiric_pbx.integrations.calendar.base import Slot
from sentiric_pbx.integrations.calendar.sqlite import SqliteCalendar

NOW = datetime(2030, 1, 2, 10, 0, tzinfo=ZoneInfo("Europe/Istanbul"))  # a Wednesday


@pytest.fixture
async def brain(tmp_path: Path) -> Any:
    settings = Settings()
    calendar = SqliteCalendar(tmp_path / "s.db", settings.business, clock=lambda: NOW)
    start = NOW.replace(hour=15) + timedelta(days=1)
    await calendar.book(Slot(start, start + timedelta(minutes=30)), customer_id=None, phone="+905551112233",
                        name="Ayşe Demir", call_id="earlier")  # fmt: skip
    yield AssistantBrain(settings, calendar, default_registry(plugins=False), clock=lambda: NOW)
    await calendar.aclose()


async def text(reply: Any) -> str:
    return "".join([d async for d in reply.deltas]).strip()


async def test_zero_is_the_operator_key(brain: AssistantBrain) -> None:
    ctx = CallContext(call_id="k1")
    reply = await brain.respond_keys(ctx, "0", None)
    assert reply.action == "transfer" and reply.transfer_target == "PJSIP/reception"
    assert ctx.intents == ["transfer_to_human"]


async def test_a_typed_phone_number_answers_which_number_the_booking_was_made_with(brain: AssistantBrain) -> None:
    ctx = CallContext(call_id="k2", caller_id=None)  # an anonymous caller: we must ask for the number
    asked = await brain.respond(ctx, "I want to cancel my appointment.")
    assert await text(asked) == "Which phone number did you make the appointment with?"
    assert asked.digits_slot == "phone"
    found = await brain.respond_keys(ctx, "05551112233", "phone")
    assert "tomorrow at 3 pm" in await text(found), ctx.task_state
    assert ctx.slots["phone"] == "+905551112233"
    assert found.digits_slot is None  # a yes/no question next: keys are no longer a number


async def test_digits_typed_when_nothing_was_asked_are_read_like_words(brain: AssistantBrain) -> None:
    ctx = CallContext(call_id="k3")
    reply = await brain.respond_keys(ctx, "12", None)
    assert reply.action == "continue" and ctx.intents == ["other"]
    assert (await text(reply)).startswith("I can book, cancel or move an appointment")
