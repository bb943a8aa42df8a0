"""Run an engine's blocking work in threads, at most N jobs at a time.

Two cores serve every call on a PBX host. Letting 30 calls start 30 Whisper decodes at once makes
every one of them slow; a semaphore in front of a small thread pool makes them queue instead, so the
first caller gets an answer at full speed. The wait is visible in metrics (`queued`).

The worker threads also run at a lower CPU priority than the event loop (`[daemon] engine_nice`). On two
cores a Whisper decode and a Piper synthesis each want both; at the same priority the thread that paces
every call's audio then waits its turn behind them, and callers hear 40 ms holes. Linux keeps a nice
value per thread and threads inherit it, so the model runtimes' own pools (ONNX Runtime's, CTranslate2's,
llama.cpp's), which are created from these threads, run at that priority too.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_engine_nice = 0


def set_engine_nice(nice: int) -> None:
    """How much lower than the event loop engine threads run (0 = the same); set before engines load."""
    global _engine_nice
    _engine_nice = nice


def lower_thread_priority() -> None:
    """Raise this thread's nice value by `engine_nice` (lowering needs no privilege; raising back would)."""
    if _engine_nice <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + _engine_nice))
    except OSError:
        pass  # a sandbox that forbids it: the engines then simply share the CPU equally


class BoundedRunner:
    def __init__(self, name: str, max_concurrency: int) -> None:
        self.name = name
        self.max_concurrency = max_concurrency
        self._executor = ThreadPoolExecutor(
            max_workers=max_concurrency, thread_name_prefix=f"engine-{name}", initializer=lower_thread_priority
        )
        self._slots = asyncio.Semaphore(max_concurrency)
        self.queued = 0

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(*args, **kwargs)` in a worker thread once a slot is free.

        Cancelling the awaiting task does not stop a job already running in its thread (Python
        cannot interrupt C code); callers that need prompt cancellation poll a flag inside `fn`.
        """
        self.queued += 1
        waiting = True
        try:
            async with self._slots:
                self.queued -= 1
                waiting = False
                loop = asyncio.get_running_loop()
                call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
                return await loop.run_in_executor(self._executor, call)
        finally:
            if waiting:
                self.queued -= 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
