"""The seed's rule 4.2: a primary LLM that does not answer in time is replaced by the fallback.

Every peer here is a real HTTP server on 127.0.0.1 speaking the OpenAI streaming protocol; the
timeout is shortened from the production 5 s so the suite stays fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from sentiric_pbx.config import Settings
from sentiric_pbx.engines.base import LlmRequest
from sentiric_pbx.engines.llm.errors import LlmError
from sentiric_pbx.engines.llm.fallback import FallbackLlm
from sentiric_pbx.engines.llm.openai_compat import OpenAICompatLlm
from tests.openai_server import FakeOpenAI

REQUEST = LlmRequest([{"role": "user", "content": "Can I book for tomorrow?"}], max_tokens=16)
TIMEOUT_S = 0.6


@pytest.fixture
async def servers() -> AsyncIterator[dict[str, FakeOpenAI]]:
    made = {
        "hang": await FakeOpenAI(mode="hang").start(),
        "error": await FakeOpenAI(mode="error").start(),
        "ok": await FakeOpenAI(mode="ok", words=["Sure", ",", " tomorrow", " at", " three", "."]).start(),
        "fallback": await FakeOpenAI(mode="ok").start(),
        "stall": await FakeOpenAI(mode="hang_after_first", words=["I", " think"]).start(),
    }
    yield made
    for server in made.values():
        await server.stop()


def remote(server: FakeOpenAI, name: str = "m", key: str | None = None) -> OpenAICompatLlm:
    return OpenAICompatLlm(server.base_url, name, api_key=key, timeout_s=30)


def fallback_warnings(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [e for e in logs if e["event"] == "llm_fallback"]


async def test_primary_that_never_answers_is_replaced_after_the_timeout(servers, logs) -> None:
    router = FallbackLlm(remote(servers["hang"]), remote(servers["fallback"]), TIMEOUT_S)
    text = await router.complete(REQUEST)
    assert text == "Hello from the fallback."
    (warning,) = fallback_warnings(logs)
    assert warning["log_level"] == "warning"
    assert warning["primary"] == "openai_compat" and warning["reason"] == "no_first_token"
    assert TIMEOUT_S * 1000 <= warning["waited_ms"] < TIMEOUT_S * 1000 + 2000
    assert len(servers["hang"].requests) == 1 and len(servers["fallback"].requests) == 1


async def test_primary_returning_500_falls_back_at_once(servers, logs) -> None:
    router = FallbackLlm(remote(servers["error"]), remote(servers["fallback"]), timeout_s=5.0)
    assert await router.complete(REQUEST) == "Hello from the fallback."
    (warning,) = fallback_warnings(logs)
    assert warning["reason"] == "http_500"
    assert warning["waited_ms"] < 5000  # did not wait for the timeout


async def test_healthy_primary_is_used_and_nothing_is_logged(servers, logs) -> None:
    router = FallbackLlm(remote(servers["ok"]), remote(servers["fallback"]), TIMEOUT_S)
    deltas = [d async for d in router.stream(REQUEST)]
    assert deltas == ["Sure", ",", " tomorrow", " at", " three", "."]
    assert fallback_warnings(logs) == []
    assert servers["fallback"].requests == []


async def test_never_switches_after_the_primary_has_spoken(servers, logs) -> None:
    """Once the caller may be hearing the primary's text, a second voice must not start."""
    router = FallbackLlm(remote(servers["stall"]), remote(servers["fallback"]), TIMEOUT_S)
    stream = router.stream(REQUEST)
    assert await anext(stream) == "I"
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(TIMEOUT_S * 3):
            await anext(stream)
    await stream.aclose()
    assert fallback_warnings(logs) == []
    assert servers["fallback"].requests == []


async def test_no_fallback_configured_raises_a_clear_error(servers) -> None:
    router = FallbackLlm(remote(servers["error"]), None, TIMEOUT_S)
    with pytest.raises(LlmError) as info:
        await router.complete(REQUEST)
    assert info.value.reason == "http_500" and "no fallback configured" in str(info.value)


async def test_fallback_counts_a_metric(servers) -> None:
    from sentiric_pbx import metrics

    def count() -> float:
        return metrics.LLM_FALLBACKS.labels(primary="openai_compat", reason="http_500")._value.get()

    before = count()
    await FallbackLlm(remote(servers["error"]), remote(servers["fallback"]), TIMEOUT_S).complete(REQUEST)
    assert count() == before + 1


async def test_remote_adapter_sends_the_key_but_never_logs_it(servers, logs) -> None:
    secret = "sk-test-SECRET-123"
    llm = remote(servers["fallback"], key=secret)
    assert await llm.complete(REQUEST) == "Hello from the fallback."
    assert servers["fallback"].auth_headers == [f"Bearer {secret}"]
    assert servers["fallback"].requests[0]["stream"] is True
    assert secret not in repr(logs)
    failing = remote(servers["error"], key=secret)
    with pytest.raises(LlmError) as info:
        await failing.complete(REQUEST)
    assert secret not in str(info.value)


async def test_unreachable_remote_is_a_connection_error() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connection refused
        llm = OpenAICompatLlm(f"http://127.0.0.1:{port}/v1", "m")
        with pytest.raises(LlmError) as info:
            await llm.complete(REQUEST)
    assert info.value.reason == "connection_failed"


async def test_a_remote_primary_loads_nothing_and_falls_back_like_the_local_one(servers, logs) -> None:
    """`[llm] url`: the pool's primary is that server (no GGUF is loaded, `model` points nowhere), its key
    sent as a Bearer header and never logged; when it hangs, the fallback answers under the same rule."""
    from sentiric_pbx.engines.pool import EnginePool

    settings = Settings()
    settings.llm.model = "/nonexistent/model.gguf"
    settings.llm.url = servers["ok"].base_url
    settings.llm.api_key = SecretStr("sk-primary-secret")  # type: ignore[assignment]
    pool = EnginePool(settings)
    await pool.start(stt=False, tts=False, llm=True)
    assert pool.local_llm is None
    assert await pool.llm.complete(REQUEST) == "Sure, tomorrow at three."  # type: ignore[union-attr]
    assert servers["ok"].auth_headers == ["Bearer sk-primary-secret"]

    settings.llm.url = servers["hang"].base_url
    settings.llm.fallback_url = servers["fallback"].base_url
    hung = EnginePool(settings)
    await hung.start(stt=False, tts=False, llm=True)
    short = LlmRequest(REQUEST.messages, max_tokens=16, first_token_s=TIMEOUT_S)
    assert await hung.llm.complete(short) == "Hello from the fallback."  # type: ignore[union-attr]
    (warning,) = fallback_warnings(logs)
    assert (warning["primary"], warning["fallback"]) == ("remote", "fallback")
    assert "sk-primary-secret" not in repr(logs)


async def test_the_standalone_postcall_worker_asks_the_remote_primary_then_the_fallback(servers, logs) -> None:
    """`sentiric-pbx postcall serve` loads no GGUF: its summaries come from `[llm] url`, and from
    `fallback_url` under the off-call rule when that one hangs; with neither, extractive summaries."""
    from sentiric_pbx.cli_calls import _summary_llm
    from sentiric_pbx.config import LlmConfig

    assert _summary_llm(Settings()) is None
    llm = LlmConfig(
        url=servers["hang"].base_url,
        fallback_url=servers["fallback"].base_url,
        fallback_timeout_s=TIMEOUT_S,
        call_fallback_after_s=0.3,
        call_filler_after_s=0.4,
        nlu_budget_s=0.3,
    )
    summaries = _summary_llm(Settings(llm=llm))
    assert await summaries.complete(REQUEST) == "Hello from the fallback."
    (warning,) = fallback_warnings(logs)
    assert (warning["primary"], warning["fallback"], warning["reason"]) == ("remote", "fallback", "no_first_token")
    only_primary = _summary_llm(Settings(llm=LlmConfig(url=servers["ok"].base_url)))
    assert await only_primary.complete(REQUEST) == "Sure, tomorrow at three."


async def test_without_a_fallback_a_slow_primary_is_waited_for() -> None:
    """Nothing to switch to: the first-token deadline does not cut the only model (its caller bounds the wait)."""
    slow = await FakeOpenAI(words=["Late", " but", " here."], delay_s=1.0).start()
    try:
        router = FallbackLlm(remote(slow), None, TIMEOUT_S)
        quick = LlmRequest(REQUEST.messages, max_tokens=16, first_token_s=0.3)
        assert await router.complete(quick) == "Late but here."
    finally:
        await slow.stop()
