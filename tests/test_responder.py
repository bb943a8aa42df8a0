"""The responder in a call: a model's rephrasing is spoken only when grounded, and never leaves the caller waiting.

The models here are real HTTP servers on 127.0.0.1 speaking the OpenAI streaming protocol
(tests/openai_server.py): one that tells the truth, one that lies about the time, one that forgets the
date, one that never answers. They sit behind the daemon's own `FallbackLlm`, with the in-call budget
(`[llm] call_fallback_after_s`, `call_limit_s`) shortened so the suite stays fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sentiric_pbx import metrics
from sentiric_pbx.config import LlmConfig
from sentiric_pbx.dialog.grounding import GroundedText, Ungrounded, invented
from sentiric_pbx.dialog.responder import Responder
from sentiric_pbx.dialog.tasks.base import TaskResult
from sentiric_pbx.engines.llm.fallback import FallbackLlm
from sentiric_pbx.engines.llm.openai_compat import OpenAICompatLlm
from tests.asterisk_peer import log_lines
from tests.openai_server import FakeOpenAI

TEMPLATE = "Done. You're booked for Tuesday, 8 December at 3 pm."
BOOKED = TaskResult(
    "done",
    TEMPLATE,
    {"booking": {"start": "2026-12-08T15:00:00+03:00", "spoken": "Tuesday, 8 December at 3 pm"}},
)
BUDGET = LlmConfig(call_fallback_after_s=0.5, call_filler_after_s=0.4, call_limit_s=1.2, nlu_budget_s=0.3)


def words(text: str) -> list[str]:
    """A reply as a model streams it: a token per word."""
    parts = text.split(" ")
    return [parts[0], *(" " + p for p in parts[1:])]


TRUTH = "All set! I've booked you for Tuesday, 8 December at 3 pm. See you then."
LIE = "All set! I've booked you for Tuesday, 8 December at 4 pm."
FORGETS = "All set! You're booked for the afternoon. See you then."
LIES_LATER = "All set! I've booked you for Tuesday, 8 December at 3 pm. Please arrive by 2:45."


@pytest.fixture
async def servers() -> AsyncIterator[dict[str, FakeOpenAI]]:
    made = {
        "truth": await FakeOpenAI(words=words(TRUTH)).start(),
        "lie": await FakeOpenAI(words=words(LIE)).start(),
        "forgets": await FakeOpenAI(words=words(FORGETS)).start(),
        "lies_later": await FakeOpenAI(words=words(LIES_LATER)).start(),
        "hang": await FakeOpenAI(mode="hang").start(),
        "hang2": await FakeOpenAI(mode="hang").start(),
    }
    yield made
    for server in made.values():
        await server.stop()


def model(primary: FakeOpenAI, fallback: FakeOpenAI | None = None) -> FallbackLlm:
    """The daemon's arrangement (engines/pool.py): a remote primary behind the fallback rule, 5 s off-call."""
    remote = OpenAICompatLlm(primary.base_url, "m", timeout_s=30, name="remote")
    spare = OpenAICompatLlm(fallback.base_url, "f", timeout_s=30, name="fallback") if fallback else None
    return FallbackLlm(remote, spare, timeout_s=5.0)


async def spoken(llm: FallbackLlm) -> tuple[list[str], float]:
    """What the responder hands to TTS, sentence by sentence, and when the first one came (s)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    out: list[str] = []
    first_at = None
    async for sentence in Responder(llm, capable=True, budget=BUDGET).render(BOOKED, "en"):
        first_at = first_at if first_at is not None else loop.time() - started
        out.append(sentence.strip())
    assert first_at is not None
    return out, first_at


def templates_used(reason: str) -> float:
    return metrics.RESPONDER_TEMPLATES.labels(reason=reason)._value.get()


# -- the check itself -------------------------------------------------------------------------------------
def test_sentences_wait_for_every_fact_then_flow() -> None:
    gate = GroundedText(BOOKED.facts, TEMPLATE)
    assert gate.push("All set! I've booked you for Tuesday, 8 December") == []  # "All set!" waits for the facts
    assert gate.push(" at 3 pm. See") == ["All set!", "I've booked you for Tuesday, 8 December at 3 pm."]
    assert gate.push(" you then. Bye") == ["See you then."]
    assert gate.finish() == ["Bye"]


@pytest.mark.parametrize(
    ("text", "claims"),
    [
        ("Booked for Tuesday, 8 December at 4 pm.", ["4"]),
        ("Booked for Wednesday, 8 December at 3 pm.", ["Wednesday"]),
        ("Booked for Tuesday, 9 December at 3 pm.", ["9"]),
        ("Booked for Tuesday, 8 December at 15:30.", ["15:30"]),
        ("Booked for Tuesday, 8 December at 3 pm, that is tomorrow.", ["tomorrow"]),
        ("Booked for Tuesday, 8 December at 3 pm.", []),
    ],
)
def test_a_claim_the_task_did_not_make_is_an_invention(text: str, claims: list[str]) -> None:
    assert invented(text, BOOKED.facts, TEMPLATE) == claims


def test_a_question_must_stay_a_question() -> None:
    """"Shall I book you for …?" rephrased as "Sure, I can book you for …" leaves the caller's "yes" answering
    nothing (seen with Qwen2.5-Coder-1.5B in the demo): refused; a rephrasing that asks is released."""
    ask = "Shall I book you for tomorrow at 2 pm?"
    facts = {"slot": {"spoken": "tomorrow at 2 pm"}}
    statement = GroundedText(facts, ask)
    assert statement.push("Sure, I can book you for tomorrow at 2 pm. ") == []
    with pytest.raises(Ungrounded) as err:
        statement.finish()
    assert err.value.why == "not_a_question"
    question = GroundedText(facts, ask)
    assert question.push("Sure. Would tomorrow at 2 pm suit you? ") == ["Sure.", "Would tomorrow at 2 pm suit you?"]


def test_a_reply_that_never_says_a_fact_is_refused_at_its_end() -> None:
    gate = GroundedText(BOOKED.facts, TEMPLATE)
    assert gate.push("All set! You're booked for the afternoon.") == []
    with pytest.raises(Ungrounded) as err:
        gate.finish()
    assert (err.value.why, err.value.claims) == ("dropped", ["Tuesday, 8 December at 3 pm"])


@pytest.mark.parametrize(
    "written",
    ["Sure, I'm booked for Tuesday, 8 December at 3 pm.", "Great, we are now booked for Tuesday, 8 December at 3 pm."],
)
def test_the_callers_booking_said_as_the_speakers_is_refused(written: str) -> None:
    """Qwen2.5-Coder-1.5B said "Sure, I'm booked for tomorrow at 2 PM." in the demo: every fact, the wrong person."""
    gate = GroundedText(BOOKED.facts, TEMPLATE)
    with pytest.raises(Ungrounded) as err:
        gate.push(written + " ")
        gate.finish()
    assert err.value.why == "wrong_person"
    assert GroundedText(BOOKED.facts, TEMPLATE).push("All set! You are booked for Tuesday, 8 December at 3 pm. ")


# -- against real HTTP models -------------------------------------------------------------------------------
async def test_a_truthful_model_is_spoken_sentence_by_sentence(servers: dict[str, FakeOpenAI], logs) -> None:
    said, _ = await spoken(model(servers["truth"]))
    assert said == ["All set!", "I've booked you for Tuesday, 8 December at 3 pm.", "See you then."]
    assert not log_lines(logs, "responder_template_used")
    request = servers["truth"].requests[0]
    assert request["stream"] is True and request["messages"][1]["content"] == TEMPLATE  # type: ignore[index]


@pytest.mark.parametrize(("server", "why"), [("lie", "invented"), ("forgets", "dropped")])
async def test_a_model_that_lies_or_forgets_is_replaced_by_the_template(
    servers: dict[str, FakeOpenAI], logs, server: str, why: str
) -> None:
    before = templates_used(why)
    said, _ = await spoken(model(servers[server]))
    assert said == [TEMPLATE]
    (line,) = log_lines(logs, "responder_template_used")
    assert line["reason"] == why
    assert templates_used(why) == before + 1


async def test_a_model_that_invents_after_the_facts_is_cut_before_the_invention(
    servers: dict[str, FakeOpenAI], logs
) -> None:
    said, _ = await spoken(model(servers["lies_later"]))
    assert said == ["All set!", "I've booked you for Tuesday, 8 December at 3 pm."]
    (line,) = log_lines(logs, "responder_reply_cut")
    assert (line["why"], line["claims"]) == ("invented", ["2:45"])


async def test_a_hung_primary_hands_over_to_the_fallback_in_call_time(servers: dict[str, FakeOpenAI], logs) -> None:
    """The off-call deadline is 5 s; the call's 0.5 s applies: the fallback's words come ~0.5 s in, once."""
    said, first_at = await spoken(model(servers["hang"], servers["truth"]))
    assert said == ["All set!", "I've booked you for Tuesday, 8 December at 3 pm.", "See you then."]
    assert BUDGET.call_fallback_after_s <= first_at < BUDGET.call_limit_s
    (warning,) = log_lines(logs, "llm_fallback")
    assert (warning["primary"], warning["fallback"], warning["reason"]) == ("remote", "fallback", "no_first_token")


async def test_both_models_hung_is_the_template_at_the_in_call_limit(servers: dict[str, FakeOpenAI], logs) -> None:
    said, first_at = await spoken(model(servers["hang"], servers["hang2"]))
    assert said == [TEMPLATE]
    assert BUDGET.call_limit_s <= first_at < BUDGET.call_limit_s + 0.5
    (line,) = log_lines(logs, "responder_template_used")
    assert line["reason"] == "late"


async def test_a_dead_primary_without_fallback_is_the_template_at_once(logs) -> None:
    dead = OpenAICompatLlm("http://127.0.0.1:9/v1", "m", timeout_s=5, connect_timeout_s=1, name="remote")
    loop = asyncio.get_running_loop()
    started = loop.time()
    said = [s async for s in Responder(FallbackLlm(dead, None), capable=True, budget=BUDGET).render(BOOKED, "en")]
    assert said == [TEMPLATE] and loop.time() - started < BUDGET.call_limit_s
    (line,) = log_lines(logs, "responder_template_used")
    assert line["reason"] == "llm_failed"


def test_a_budget_that_contradicts_itself_is_refused_with_every_reason() -> None:
    with pytest.raises(ValueError) as err:
        LlmConfig(call_limit_s=1.0, call_fallback_after_s=1.5, fallback_timeout_s=1.2)
    message = str(err.value)
    assert "call_fallback_after_s (1.5 s) must be below call_limit_s (1.0 s)" in message
    assert "call_filler_after_s (1.5 s) must be below call_limit_s (1.0 s)" in message
    assert "must not exceed fallback_timeout_s (1.2 s)" in message
