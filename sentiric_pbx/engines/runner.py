"""Run an engine's blocking work in threads, at most N jobs at a time.

Two cores serve every call on a PBX host. Letting 30 calls start 30 Whisper decodes at once makes
every one of them slow; a semaphore in front of a small thread pool makes them queue instead, so the
first caller gets an answer at full speed. The wait is visible in metrics (`queued`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class BoundedRunner:
    def __init__(self, name: str, max_concurrency: int) -> None:
        self.name = name
        self.max_concurrency = max_concurrency
        self._executor = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix=f"engine-{name}")
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
