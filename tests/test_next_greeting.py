"""A known caller's next greeting, written by the model after their call, checked, stored, and said.

The model is a real HTTP server on 127.0.0.1 speaking the OpenAI streaming protocol (tests/openai_server.py),
the store the daemon's real SQLite file. The whole thing on real audio (two demo calls, the second opening with
the greeting the real model wrote after the first) is tests/test_qwen_demo_call.py.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sentiric_pbx import metrics
from sentiric_pbx.call.record import CallContext
from sentiric_pbx.dialog.next_greeting import NextGreeting, check_greeting
from sentiric_pbx.engines.llm.openai_compat import OpenAICompatLlm
from sentiric_pbx.integrations.crm.base import CustomerProfile
from sentiric_pbx.storage.db import Database
from sentiric_pbx.storage.greetings import GreetingStore
from tests.asterisk_peer import log_lines
from tests.openai_server import FakeOpenAI
from tests.postgres_server import BACKENDS, open_backend

AHMET = CustomerProfile("c1", "Ahmet Yilmaz", "+905551112233", title="Mr.")
NOTES = "Caller booked an appointment. Booked: Tue 08 Dec 2026 15:00."
WRITTEN = "Mr. Yilmaz, good to hear from you again. How can I help you today?"


@pytest.mark.parametrize(
    ("written", "stored", "why"),
    [
        (WRITTEN, WRITTEN, "ok"),
        (f"Hello! {WRITTEN}", WRITTEN, "ok"),  # the cached "Hello!" already said it
        ('"Hi, Mr. Yilmaz! I hope Tuesday went well."', "Mr. Yilmaz! I hope Tuesday went well.", "ok"),
        ("Welcome back! How can I help you today?", None, "does_not_name_the_caller"),
        ("Mr. Yilmaz, welcome back to the clinic. How can I help you today?", None, "the_template"),
        ("Mr. Smith, welcome back! How can I help you today?", None, "does_not_name_the_caller"),
        ("Mr. Yilmaz! Your visit on Wednesday at 4 pm is confirmed.", None, "invented: Wednesday, 4"),
        ("Mr. Yilmaz, welcome back. " + "We are always glad to hear from you. " * 3, None, "too_long"),
    ],
)
def test_a_written_greeting_is_kept_only_if_it_names_the_caller_briefly_and_invents_nothing(
    written: str, stored: str | None, why: str
) -> None:
    assert check_greeting(written, AHMET, "en", NOTES, "the clinic") == (stored, why)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """The greetings table on the SQLite file or in the PostgreSQL site store (closed by the test)."""
    return await open_backend(request, tmp_path)


async def test_the_store_keeps_one_greeting_per_number_in_its_language_while_it_is_fresh(backend: Database) -> None:
    db = backend
    try:
        store = GreetingStore(db)
        assert await store.get(AHMET.phone, "en") is None
        await store.put(AHMET.phone, "en", "Mr. Yilmaz, welcome back.", call_id="a", engine="m")
        await store.put(AHMET.phone, "en", WRITTEN, call_id="b", engine="m")
        got = await store.get(AHMET.phone, "en")
        assert got is not None and (got.text, got.call_id) == (WRITTEN, "b")
        assert await store.get(AHMET.phone, "tr") is None
        await db.execute("UPDATE greetings SET written_at = ?", (time.time() - 91 * 86400,))
        assert await store.get(AHMET.phone, "en") is None  # what it remembers is stale
    finally:
        await db.aclose()


@pytest.fixture
async def writers() -> AsyncIterator[dict[str, FakeOpenAI]]:
    made = {
        "good": await FakeOpenAI(words=[WRITTEN]).start(),
        "liar": await FakeOpenAI(words=["Mr. Yilmaz, see you on Friday at 10!"]).start(),
    }
    yield made
    for server in made.values():
        await server.stop()


async def test_the_post_call_step_stores_what_passes_and_nothing_else(writers, tmp_path: Path, logs) -> None:
    db = await Database.open(tmp_path / "sentiric.db")
    try:
        store = GreetingStore(db)
        ctx = CallContext(call_id="c-1", caller_id=AHMET.phone, language="en")
        ctx.customer = {"customer_id": "c1", "name": "Ahmet Yilmaz", "phone": AHMET.phone, "title": "Mr."}
        refused = metrics.NEXT_GREETINGS.labels(result="refused")._value.get()

        liar = NextGreeting(OpenAICompatLlm(writers["liar"].base_url, "m"), store, "the clinic")
        assert await liar(ctx, NOTES) is None
        assert await store.get(AHMET.phone, "en") is None
        (line,) = log_lines(logs, "next_greeting_refused")
        assert line["why"] == "invented: Friday, 10" and "Yilmaz" not in repr(line)  # no personal data logged
        assert metrics.NEXT_GREETINGS.labels(result="refused")._value.get() == refused + 1

        good = NextGreeting(OpenAICompatLlm(writers["good"].base_url, "m"), store, "the clinic")
        assert await good(ctx, NOTES) == WRITTEN
        stored = await store.get(AHMET.phone, "en")
        assert stored is not None and (stored.text, stored.call_id) == (WRITTEN, "c-1")
        request = writers["good"].requests[0]
        system, user = (m["content"] for m in request["messages"])  # type: ignore[union-attr]
        assert "the clinic" in system and "'Mr. Yilmaz'" in system and NOTES in user

        unknown = CallContext(call_id="c-2", caller_id="+905559999999", language="en")
        assert await good(unknown, NOTES) is None  # an unknown caller: the template, whoever they turn out to be
    finally:
        await db.aclose()
