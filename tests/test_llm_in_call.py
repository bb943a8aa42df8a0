"""The LLM's time budget in a real call: a hung primary model never leaves the caller in silence.

The demo call (tools/demo.py: a daemon with the real Whisper, Piper and turn model; the caller on the
Asterisk wire, FastAGI then AudioSocket at 8 kHz, measuring on the wire) with `[dialog] llm_capable` on
and the models on real HTTP servers speaking the OpenAI streaming protocol (tests/openai_server.py):
the primary (`[llm] url`) accepts and never answers; the fallback rephrases faithfully. Every task
reply then goes: the caller stops → the NLU keeps its rules' answer → the responder asks the primary →
at `call_fallback_after_s` the fallback → its grounded words; the filler plays at `call_filler_after_s`
if they are not on the wire by then. With the fallback dead too, the template at `call_limit_s`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from sentiric_pbx.config import Settings
from sentiric_pbx.engines.pool import EnginePool
from sentiric_pbx.tools.demo import run_demo
from tests.asterisk_peer import log_lines
from tests.openai_server import FakeOpenAI

HANGOVER_MS = 400
"""The budget counts from the endpointer's last voiced frame, which trails the caller's own last voiced frame
on the wire by webrtcvad's hangover and a tick or two (~150-300 ms measured here)."""


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def models() -> AsyncIterator[dict[str, FakeOpenAI]]:
    """The primary, which never answers, and the fallback, which each test makes rephrase or hang."""
    made = {
        "hung": await FakeOpenAI(mode="hang").start(),
        "fallback": await FakeOpenAI(mode="rephrase", prefix="Certainly.").start(),
    }
    yield made
    for server in made.values():
        await server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engines(models: dict[str, FakeOpenAI], models_dir: Path) -> EnginePool:
    """The call's models loaded once for both tests, with this module's [llm] (the session's pool has the local
    model): the same two URLs for both, the fallback's behaviour being the test's."""
    pool = EnginePool(settings_for(Path("/nonexistent"), models_dir, models["hung"], models["fallback"]))
    await pool.start()
    return pool


def fallback_that(models: dict[str, FakeOpenAI], mode: str) -> FakeOpenAI:
    fallback = models["fallback"]
    fallback.mode = mode
    fallback.requests.clear()  # only this test's
    return fallback


def settings_for(tmp: Path, models_dir: Path, primary: FakeOpenAI, fallback: FakeOpenAI) -> Settings:
    s = Settings()
    s.models.dir = models_dir
    s.storage.db_path = tmp / "sentiric.db"
    s.storage.archive_dir = tmp / "archive"
    s.dialog.llm_capable = True
    s.llm.url = primary.base_url
    s.llm.fallback_url = fallback.base_url
    # The call's budget is what these tests are about, nothing after it. With post-call workers in the daemon
    # the demo also waited for the summary job: the primary's 5 s off-call timeout, and with both models hung
    # its retries, until the demo gave up on them after 30 s. (The post-call worker's own fallback is
    # tests/test_llm_fallback.py's.)
    s.postcall.workers = 0
    return s


async def test_a_hung_primary_in_a_call_is_heard_as_the_fallbacks_words(
    models: dict[str, FakeOpenAI], engines: EnginePool, models_dir: Path, tmp_path: Path, logs
) -> None:
    rephrases = fallback_that(models, "rephrase")
    settings = settings_for(tmp_path, models_dir, models["hung"], rephrases)
    budget = settings.llm
    result = await run_demo(settings, tmp_path / "caller.wav", engines=engines)
    ctx = result.context
    assert ctx is not None and ctx.status == "completed" and result.booking is not None

    agent = [t.text for t in ctx.turns if t.who == "agent"][1:]  # the greeting is the template
    assert len(agent) == 3, agent
    for text in agent:
        # The filler if the fallback's words came late, then the fallback's rephrasing of the task's words.
        assert re.fullmatch(r"(Just a moment\. )?Certainly\. .+", text), text
    assert re.search(r"booked for .*\b\d{1,2}(:\d\d)? ?[ap]m\b", agent[1]), agent[1]  # the task's slot, verbatim

    warnings = log_lines(logs, "llm_fallback")
    asked = len(rephrases.requests)
    assert asked >= 3 and len(warnings) == asked  # one warning per request the primary left unanswered
    assert all((w["primary"], w["reason"]) == ("remote", "no_first_token") for w in warnings)
    assert not log_lines(logs, "responder_template_used")

    # Wire-measured: the caller's last voiced frame → the agent's first. Never silence past the limit; the
    # filler (cached) covers the fallback's wait whenever the answer is later than call_filler_after_s.
    latencies = [t.latency_ms for t in result.report.turns]
    assert all(ms is not None and ms < budget.call_limit_s * 1000 for ms in latencies), latencies
    fillers = [text.startswith("Just a moment.") for text in agent]
    for ms, filled in zip(latencies, fillers, strict=True):
        assert ms is not None
        if not filled:
            assert ms < budget.call_filler_after_s * 1000 + HANGOVER_MS, (latencies, agent)


async def test_both_models_hung_is_the_template_within_the_in_call_limit(
    models: dict[str, FakeOpenAI], engines: EnginePool, models_dir: Path, tmp_path: Path, logs
) -> None:
    settings = settings_for(tmp_path, models_dir, models["hung"], fallback_that(models, "hang"))
    result = await run_demo(settings, tmp_path / "caller.wav", engines=engines)
    ctx = result.context
    assert ctx is not None and ctx.status == "completed" and result.booking is not None

    agent = [t.text for t in ctx.turns if t.who == "agent"][1:]
    assert agent[0].startswith("Just a moment. Shall I book you for"), agent
    assert all(text.startswith("Just a moment.") for text in agent), agent
    assert [e["reason"] for e in log_lines(logs, "responder_template_used")] == ["late"] * 3
    latencies = [t.latency_ms for t in result.report.turns]
    assert all(ms is not None and ms < settings.llm.call_filler_after_s * 1000 + HANGOVER_MS for ms in latencies), (
        latencies
    )
