"""A task plug-in that really plugs in: the example in examples/order_status_plugin, installed as pip would,
declares its intent, example phrasings and a digits slot; the real brain recognises "where is my order?",
asks for the number, takes it said or typed, and answers from a real HTTP API on 127.0.0.1."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio

from sentiric_pbx.call.record import CallContext
from sentiric_pbx.config import Settings
from sentiric_pbx.dialog.brain import AssistantBrain
from sentiric_pbx.dialog.nlu import NluOptions, understand_rules
from sentiric_pbx.dialog.tasks.registry import default_registry
from sentiric_pbx.integrations.calendar.sqlite import SqliteCalendar
from tests.order_api import ASKED, monkeypatch_module, order_api, order_plugin_installed  # noqa: F401 (fixtures)

pytestmark = pytest.mark.asyncio(loop_scope="module")

NOW = datetime(2030, 1, 2, 10, 0, tzinfo=ZoneInfo("Europe/Istanbul"))
SHIPPED = "Order 4 5 1 2 has shipped. It should arrive on Friday."


@pytest_asyncio.fixture(loop_scope="module")
async def brain(order_plugin_installed: Path, order_api: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:  # noqa: F811
    settings = Settings()
    calendar = SqliteCalendar(tmp_path_factory.mktemp("cal") / "s.db", settings.business, clock=lambda: NOW)
    yield AssistantBrain(settings, calendar, default_registry(), clock=lambda: NOW)
    await calendar.aclose()


async def spoken(reply: Any) -> str:
    return "".join([d async for d in reply.deltas]).strip()


async def test_the_plugin_is_loaded_with_its_intent_phrasings_and_digit_slot(brain: AssistantBrain) -> None:
    assert "check_order_status" in brain.registry
    assert brain.nlu_options.plugin_intents is not None
    assert brain.nlu_options.plugin_intents.intents == ["check_order_status"]
    assert "order_number" in brain.digit_slots


@pytest.mark.parametrize(
    ("text", "intent", "entities"),
    [
        ("Where is my order 4512?", "check_order_status", {"order_number": "4512"}),
        ("Hi, I'd like to know the status of my order, number four five one two.", "check_order_status",
         {"order_number": "4512"}),
        ("Has my order shipped yet?", "check_order_status", {}),
        ("Can you track my order please", "check_order_status", {}),
        ("I would like to book an appointment.", "create_appointment", {}),
        ("What are your opening hours?", "ask_opening_hours", {}),
        ("Can I talk to a human please?", "transfer_to_human", {}),
        ("I want to cancel my appointment.", "cancel_appointment", {}),
    ],
)  # fmt: skip
async def test_the_nlu_recognises_the_plugin_intent_without_taking_the_builtin_ones(
    brain: AssistantBrain, text: str, intent: str, entities: dict[str, str]
) -> None:
    result = understand_rules(text, now=NOW, options=brain.nlu_options)
    assert result.intent == intent, result
    assert {k: v for k, v in result.entities.items() if k == "order_number"} == entities
    without = understand_rules(text, now=NOW, options=NluOptions())
    if intent != "check_order_status":
        assert without.intent == intent  # the plug-in changed nothing the rules claimed


async def test_an_order_asked_about_with_its_number_is_answered_from_the_api(brain: AssistantBrain, order_api) -> None:  # noqa: F811
    ctx = CallContext(call_id="o1")
    reply = await brain.respond(ctx, "Where is my order 4512?")
    assert await spoken(reply) == SHIPPED
    assert ctx.intents == ["check_order_status"] and order_api[ASKED][-1] == "4512"


async def test_the_number_is_asked_for_and_may_be_typed_on_the_keypad(brain: AssistantBrain) -> None:
    ctx = CallContext(call_id="o2")
    asked = await brain.respond(ctx, "Has my order shipped yet?")
    assert "order number" in await spoken(asked)
    assert asked.digits_slot == "order_number"
    unknown = await brain.respond_keys(ctx, "999", "order_number")
    assert "can't find order 9 9 9" in await spoken(unknown) and unknown.digits_slot == "order_number"
    typed = await brain.respond_keys(ctx, "4512", "order_number")
    assert await spoken(typed) == SHIPPED
    assert ctx.active_task is None


async def test_a_broken_plugin_api_is_said_plainly(brain: AssistantBrain, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIRIC_ORDERS_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    reply = await brain.respond(CallContext(call_id="o3"), "Where is my order 4512?")
    assert await spoken(reply) == "Sorry, I can't reach the order system right now."
