"""`within()`: a bounded wait that keeps a cancel landing in the same loop turn as its answer."""

from __future__ import annotations

import asyncio

import pytest

from sentiric_pbx.aio import within


async def test_a_cancel_that_lands_with_the_answer_still_cancels() -> None:
    answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(within(answer, 5.0))
    await asyncio.sleep(0)  # the task now waits on `answer`
    answer.set_result("too late")
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_a_wait_past_its_time_is_a_timeout_and_none_waits_as_long_as_it_takes() -> None:
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        await within(never, 0.01)
    assert never.cancelled()
    soon = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(0.01, soon.set_result, 7)
    assert await within(soon, None) == 7
