"""Local LLM through llama-cpp-python: one shared `Llama`, streamed, cancellable, grammar-constrained.

Build note: llama-cpp-python built with `-DGGML_NATIVE=ON` (the default) dies with an illegal
instruction at the first inference on some of our CPUs (ggml's AMX path); every install path builds
it with `CMAKE_ARGS="-DGGML_NATIVE=OFF"`.

One `Llama` holds one KV cache, and llama.cpp's high-level API is not safe to call from two threads,
so generations are serialised (runner concurrency 1). Between turns of the same call the prompt
grows by one exchange; llama.cpp reuses the longest common token prefix of the KV cache, and a
`PrefixCache` (prefix_cache.py: LRU, bounded by the bytes it really holds, `[llm] prefix_cache_mb`) keeps
each recent conversation's state so that another call's turn in between does not throw that prefix away.

Cancellation (barge-in): the generating thread checks a flag between tokens and stops; closing the
async iterator sets it.

The bundled default is gemma-3-270m, a *base* model with no chat template: we use
`chat_format="gemma"` and fold any system prompt into the first user turn (Gemma has no system
role). Its free text is weak; few-shot prompts with a grammar work for labels.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import structlog

from sentiric_pbx.engines.base import ChatMessage, LlmRequest
from sentiric_pbx.engines.llm.errors import LlmError
from sentiric_pbx.engines.runner import BoundedRunner

log = structlog.get_logger("sentiric_pbx.llm")
_DONE = object()


_GGML_LOG_ERROR = 4
"""ggml's `ggml_log_level` today: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5."""
_llama_log_callback: Any = None
"""Our callback, kept referenced for as long as llama.cpp may call it (the process)."""


def route_llama_logs() -> None:
    """llama.cpp's own log lines into our structured log: debug, or warning for its errors.

    llama-cpp-python's callback maps ggml's levels by an older enum, so with `verbose=False` it still prints
    ggml's warnings — "llama_kv_cache_iswa: using full-size SWA cache" at every context — as bare text on
    stderr, between the daemon's JSON lines (a log shipper's parse error at every start). Process-wide, once.
    """
    global _llama_log_callback
    if _llama_log_callback is not None:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[misc]
    def callback(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        message = text.decode("utf-8", "replace").strip()
        if message:
            (log.warning if level == _GGML_LOG_ERROR else log.debug)("llama_cpp_says", text=message)

    _llama_log_callback = callback
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def fold_system_prompt(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """Gemma-style templates have no system role: prepend it to the first user message."""
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system:
        for m in rest:
            if m["role"] == "user":
                m["content"] = f"{system}\n\n{m['content']}"
                break
        else:
            rest.insert(0, {"role": "user", "content": system})
    return rest  # type: ignore[return-value]


class LlamaCppLlm:
    name = "llama_cpp"

    def __init__(
        self,
        model_path: Path,
        *,
        chat_format: str | None = None,
        n_ctx: int = 2048,
        n_threads: int = 2,
        fold_system: bool | None = None,
        cache_bytes: int = 256 * 1024 * 1024,
        nice: int | None = None,
        name: str = "llama_cpp",
    ) -> None:
        """`nice`: how much lower than the event loop its thread runs (default `[daemon] engine_nice`)."""
        self.model_path = model_path
        self.chat_format = chat_format
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.fold_system = chat_format == "gemma" if fold_system is None else fold_system
        self.cache_bytes = cache_bytes
        self.name = name
        self.runner = BoundedRunner(name, 1, nice)
        self._llm: Any = None
        self._stopping: set[asyncio.Task[None]] = set()
        self.load_s: float | None = None

    def load(self) -> None:
        from llama_cpp import Llama

        from sentiric_pbx.engines.llm.prefix_cache import PrefixCache

        if not self.model_path.is_file():
            raise FileNotFoundError(f"GGUF model {self.model_path} does not exist")
        route_llama_logs()
        started = time.perf_counter()
        self._llm = Llama(
            model_path=str(self.model_path),
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            chat_format=self.chat_format,
            verbose=False,
        )
        if self.cache_bytes:
            self._llm.set_cache(PrefixCache(self.cache_bytes))
        self.load_s = time.perf_counter() - started
        log.info("llm_loaded", engine=self.name, model=str(self.model_path), load_s=round(self.load_s, 2))

    def unload(self) -> None:
        """Free the model, its context and its prefix cache (engine thread); `load()` brings it back."""
        if self._llm is None:
            return
        self._llm.set_cache(None)
        self._llm.close()
        log.info("llm_unloaded", engine=self.name, model=str(self.model_path))
        self._llm = None  # last: `loaded` turns false once the memory is back

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def warmup(self) -> None:
        self._generate(LlmRequest([{"role": "user", "content": "Hi"}], max_tokens=1), threading.Event(), None)

    def _messages(self, request: LlmRequest) -> list[ChatMessage]:
        return fold_system_prompt(request.messages) if self.fold_system else list(request.messages)

    def _kwargs(self, request: LlmRequest) -> dict[str, Any]:
        from llama_cpp import LlamaGrammar

        kwargs: dict[str, Any] = {
            "messages": self._messages(request),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stop": request.stop or None,
        }
        if request.grammar:
            kwargs["grammar"] = LlamaGrammar.from_string(request.grammar, verbose=False)
        elif request.json_schema:
            kwargs["response_format"] = {"type": "json_object", "schema": request.json_schema}
        return kwargs

    def _generate(self, request: LlmRequest, cancelled: threading.Event, emit: Any) -> str:
        """Runs in the engine thread: stream tokens to `emit` until done or cancelled."""
        if self._llm is None:
            raise RuntimeError("LlamaCppLlm.load() was not called")
        out: list[str] = []
        stream = self._llm.create_chat_completion(stream=True, **self._kwargs(request))
        try:
            for chunk in stream:
                if cancelled.is_set():
                    break
                delta = chunk["choices"][0].get("delta", {}).get("content")
                if delta:
                    out.append(delta)
                    if emit is not None:
                        emit(delta)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        return "".join(out)

    async def stream(self, request: LlmRequest) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancelled = threading.Event()

        def emit(delta: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, delta)

        async def produce() -> None:
            try:
                await self.runner.run(self._generate, request, cancelled, emit)
                queue.put_nowait(_DONE)
            except Exception as exc:
                queue.put_nowait(LlmError(self.name, "generation_failed", repr(exc)))

        task = asyncio.create_task(produce())
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, LlmError):
                    raise item
                assert isinstance(item, str)
                yield item
        finally:
            # The thread stops within one token of seeing the flag. We do not wait for it here: a
            # fallback must not queue behind a primary that is slow to stop; the runner's single
            # slot keeps the next local generation from starting until this one has.
            cancelled.set()
            if not task.done():
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)

    async def complete(self, request: LlmRequest) -> str:
        return "".join([d async for d in self.stream(request)])
