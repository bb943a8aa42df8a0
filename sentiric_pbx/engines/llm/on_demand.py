"""A local GGUF model that is in memory only while there is post-call work for it.

The post-call model (`[postcall] llm_model`, e.g. Qwen2.5-Coder-1.5B: ~1.9 GB resident) writes the CRM note
and the next greeting after a call. Calls never wait for it, so it has no reason to hold memory or CPU
while the lines are busy and the queue is empty:

  * it loads on the first request (the worker's first job), not at daemon start;
  * it runs on one thread (`n_threads`, default 1) at a lower CPU priority than the model threads that serve
    calls (`nice`, default 10 above the event loop; Linux keeps a nice value per thread). With one thread
    llama.cpp computes on the calling thread — ggml starts no worker threads for n_threads = 1 —, so that
    priority is the one the arithmetic runs at: on a 2-core host a live call's Whisper and Piper take the
    CPU first and the note waits (tests/test_postcall_llm.py checks where the CPU time goes);
  * `idle_s` after its last request it is freed (weights, context, prefix cache), so the daemon's RSS returns
    to what the calls need; the next job loads it again (~1 s).

Requests are serialised (one `Llama`), like the in-call model's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import structlog

from sentiric_pbx.engines.base import LlmRequest
from sentiric_pbx.engines.llm.llama_cpp import LlamaCppLlm

log = structlog.get_logger("sentiric_pbx.llm")


class OnDemandLlm:
    """An `LlmEngine`: a `LlamaCppLlm` loaded on first use and unloaded after `idle_s` without requests."""

    def __init__(
        self,
        model_path: Path,
        *,
        chat_format: str | None,
        n_ctx: int = 2048,
        n_threads: int = 1,
        nice: int = 10,
        idle_s: float = 300.0,
    ) -> None:
        self.local = LlamaCppLlm(
            model_path, chat_format=chat_format, n_ctx=n_ctx, n_threads=n_threads, nice=nice, name="postcall_llm",
            cache_bytes=0,  # one note, one greeting per call: no conversation to come back to
        )  # fmt: skip
        self.name = self.local.name
        self.idle_s = idle_s
        self._lock = asyncio.Lock()
        self._busy = 0
        self._idle: asyncio.Task[None] | None = None
        self.loads = 0
        """How many times the model was loaded (tests and logs: loaded on demand, released when idle)."""

    @property
    def loaded(self) -> bool:
        return self.local.loaded

    async def _ensure_loaded(self) -> None:
        async with self._lock:
            if not self.local.loaded:
                await self.local.runner.run(self.local.load)
                self.loads += 1

    async def stream(self, request: LlmRequest) -> AsyncIterator[str]:
        self._busy += 1
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        try:
            await self._ensure_loaded()
            async for delta in self.local.stream(request):
                yield delta
        finally:
            self._busy -= 1
            if self._busy == 0:
                self._idle = asyncio.get_running_loop().create_task(self._release_when_idle())

    async def complete(self, request: LlmRequest) -> str:
        return "".join([d async for d in self.stream(request)])

    async def _release_when_idle(self) -> None:
        await asyncio.sleep(self.idle_s)
        async with self._lock:
            if self._busy == 0 and self.local.loaded:
                # In the engine thread: after any generation still stopping there (a cancelled stream).
                await self.local.runner.run(self.local.unload)

    async def aclose(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle
        if self.local.loaded:
            await self.local.runner.run(self.local.unload)
        self.local.runner.shutdown()


__all__ = ["OnDemandLlm"]
