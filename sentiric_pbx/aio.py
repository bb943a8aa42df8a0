"""`within()`: `asyncio.wait_for` without the flaw it has on Python 3.11, the Python of Debian 12 we run on.

Why: on 3.11, when what `wait_for` awaits completes in the same loop turn as a cancel of the task awaiting
it, `wait_for` returns the result and the cancel is lost; the task runs on as if never stopped. The
daemon's stop hung that way behind the dialplan audit (the FullyBooted of an AMI login, then the stop),
and any call or post-call task cancelled as its wait ends could do the same. 3.12 rebuilt `wait_for` on
`asyncio.timeout`, which keeps the cancel; `within()` is that, on 3.11 too. tests/test_architecture.py
keeps `asyncio.wait_for` out of the package.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(aw: Awaitable[T], timeout_s: float | None) -> T:
    """Await `aw` for at most `timeout_s` seconds (None: no limit); `TimeoutError` after that, as `wait_for`.

    Unlike `wait_for`, a coroutine runs in the calling task, not a task of its own; on timeout a future or
    task awaited here is cancelled, and not waited for (shield it to keep it running)."""
    async with asyncio.timeout(timeout_s):
        return await aw
