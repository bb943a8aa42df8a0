"""The seed's failure rule: if the primary LLM has not started answering in 5 s, use the fallback.

A request may bring a shorter deadline of its own (`LlmRequest.first_token_s`): in a call the caller is
waiting in silence, so the dialog asks for the fallback sooner ([llm] call_fallback_after_s). With no
fallback configured, no deadline cuts the primary: a slow answer is better than none, and the caller of
`stream` bounds its own wait.

"Started answering" means its first token. Before that, a timeout or an error cancels the primary,
logs one warning (`llm_fallback` with primary, fallback, reason, waited_ms), counts a metric and
streams the fallback instead. After the first token it never switches: the caller may already be
hearing that text, and two voices answering one question is worse than a slow answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.engines.base import LlmEngine, LlmRequest
from sentiric_pbx.engines.llm.errors import LlmError

log = structlog.get_logger("sentiric_pbx.llm")


class FallbackLlm:
    """An `LlmEngine` that tries `primary`, then `fallback` (LiveKit's FallbackAdapter, with one attempt)."""

    def __init__(self, primary: LlmEngine, fallback: LlmEngine | None, timeout_s: float = 5.0) -> None:
        self.primary = primary
        self.fallback = fallback
        self.timeout_s = timeout_s
        self.name = f"{primary.name}+fallback" if fallback else primary.name

    async def stream(self, request: LlmRequest) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        primary = aiter(self.primary.stream(request))
        reason: str
        try:
            # Without a fallback there is nothing to switch to: the primary gets the time it takes, and the
            # caller's own budget decides how long that may be (the responder's call_limit_s).
            deadline = (request.first_token_s or self.timeout_s) if self.fallback is not None else None
            async with asyncio.timeout(deadline):
                first = await anext(primary)
        except TimeoutError:
            reason = "no_first_token"
        except StopAsyncIteration:
            return
        except LlmError as exc:
            reason = exc.reason
        else:
            yield first
            async for delta in primary:
                yield delta
            return
        with contextlib.suppress(Exception):
            await primary.aclose()  # type: ignore[attr-defined]
        waited_ms = round((loop.time() - started) * 1000)
        if self.fallback is None:
            raise LlmError(self.primary.name, reason, f"no fallback configured (waited {waited_ms} ms)")
        metrics.LLM_FALLBACKS.labels(primary=self.primary.name, reason=reason).inc()
        log.warning(
            "llm_fallback", primary=self.primary.name, fallback=self.fallback.name, reason=reason, waited_ms=waited_ms
        )
        async for delta in self.fallback.stream(request):
            yield delta

    async def complete(self, request: LlmRequest) -> str:
        return "".join([d async for d in self.stream(request)])
