"""Run an engine's blocking work in threads, at most N jobs at a time.

Two cores serve every call on a PBX host. Letting 30 calls start 30 Whisper decodes at once makes
every one of them slow; a bounded number of slots in front of a small thread pool makes them queue instead,
so the first caller gets an answer at full speed — and a freed slot goes to the caller who has waited
longest for a reply (`engines/priority.py`), not to whichever job arrived first. The wait is visible in
metrics (`queued`).

The worker threads also run at a lower CPU priority than the event loop (`[daemon] engine_nice`). On two
cores a Whisper decode and a Piper synthesis each want both; at the same priority the thread that paces
every call's audio then waits its turn behind them, and callers hear 40 ms holes. Linux keeps a nice
value per thread and threads inherit it, so the model runtimes' own pools (ONNX Runtime's, CTranslate2's,
llama.cpp's), which are created from these threads, run at that priority too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import heapq
import itertools
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from sentiric_pbx.engines.priority import current_due

P = ParamSpec("P")
T = TypeVar("T")

_engine_nice = 0


def set_engine_nice(nice: int) -> None:
    """How much lower than the event loop engine threads run (0 = the same); set before engines load."""
    global _engine_nice
    _engine_nice = nice


def lower_thread_priority(by: int | None = None) -> None:
    """Raise this thread's nice value by `by` (default `engine_nice`); lowering needs no privilege, raising back
    would."""
    step = _engine_nice if by is None else by
    if step <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + step))
    except OSError:
        pass  # a sandbox that forbids it: the engines then simply share the CPU equally


class BoundedRunner:
    """At most `max_concurrency` jobs in threads; a freed slot goes to the waiting job due first.

    Due = the moment that job's caller started waiting for a reply (`engines/priority.py`); jobs nobody is
    waiting on (no due time) come after all others, in arrival order.
    """

    def __init__(self, name: str, max_concurrency: int, nice: int | None = None) -> None:
        """`nice`: how much lower than the loop its threads run; default `[daemon] engine_nice`."""
        self.name = name
        self.max_concurrency = max_concurrency
        self._executor = ThreadPoolExecutor(
            max_workers=max_concurrency,
            thread_name_prefix=f"engine-{name}",
            initializer=lower_thread_priority,
            initargs=(nice,),
        )
        self._free = max_concurrency
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @property
    def queued(self) -> int:
        """Jobs waiting for a slot (visible in metrics and logs)."""
        return sum(1 for _due, _n, fut in self._waiting if not fut.done())

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(*args, **kwargs)` in a worker thread once a slot is free (earliest due first).

        Cancelling the awaiting task does not stop a job already running in its thread (Python
        cannot interrupt C code); callers that need prompt cancellation poll a flag inside `fn`.
        """
        await self._acquire()
        try:
            loop = asyncio.get_running_loop()
            call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
            return await loop.run_in_executor(self._executor, call)
        finally:
            self._release()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[ThreadPoolExecutor]:
        """Hold one slot (earliest due first) and get the executor to run in; for an engine that schedules
        its own work inside the slot (Whisper takes the other waiting requests along as one batch)."""
        await self._acquire()
        try:
            yield self._executor
        finally:
            self._release()

    async def _acquire(self) -> None:
        if self._free > 0 and not self.queued:
            self._free -= 1
            return
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (current_due(), next(self._arrivals), granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release()  # the slot was handed to us just as we were cancelled: pass it on
            raise

    def _release(self) -> None:
        while self._waiting:
            _due, _n, granted = heapq.heappop(self._waiting)
            if not granted.done():
                granted.set_result(None)  # the slot passes straight to the job due first
                return
        self._free += 1

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
