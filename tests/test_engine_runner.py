"""The engines' queue: a bounded number of jobs at once, and a freed slot for the caller who waited longest.

Real threads, a job that holds its slot until the test lets it go; what is asserted is the order in which
waiting jobs get the slot, never how long anything took.
"""

from __future__ import annotations

import asyncio
import threading

from sentiric_pbx.engines.priority import current_due, waiting_since
from sentiric_pbx.engines.runner import BoundedRunner


async def test_a_freed_slot_goes_to_the_caller_who_has_waited_longest_not_to_the_first_job_queued() -> None:
    runner = BoundedRunner("test", 1)
    gate = threading.Event()
    order: list[str] = []

    def hold() -> None:
        gate.wait(5)

    def job(name: str) -> None:
        order.append(name)

    try:
        blocker = asyncio.create_task(runner.run(hold))
        await asyncio.sleep(0.05)  # the slot is taken

        async def submit(name: str, due: float | None) -> None:
            if due is None:
                await runner.run(job, name)
            else:
                with waiting_since(due):
                    await runner.run(job, name)

        jobs = [
            asyncio.create_task(submit("preview, nobody waiting", None)),
            asyncio.create_task(submit("caller who stopped at t=12", 12.0)),
            asyncio.create_task(submit("caller who stopped at t=10", 10.0)),
            asyncio.create_task(submit("caller who stopped at t=11", 11.0)),
        ]
        await asyncio.sleep(0.05)
        assert runner.queued == 4
        gate.set()
        await asyncio.gather(blocker, *jobs)
    finally:
        gate.set()
        runner.shutdown()
    assert order == [
        "caller who stopped at t=10",
        "caller who stopped at t=11",
        "caller who stopped at t=12",
        "preview, nobody waiting",
    ]
    assert runner.queued == 0


async def test_a_job_cancelled_while_waiting_does_not_keep_the_slot_from_the_next() -> None:
    runner = BoundedRunner("test", 1)
    gate = threading.Event()
    try:
        blocker = asyncio.create_task(runner.run(gate.wait, 5))
        await asyncio.sleep(0.05)
        with waiting_since(1.0):
            gone = asyncio.create_task(runner.run(lambda: "never"))
        with waiting_since(2.0):
            kept = asyncio.create_task(runner.run(lambda: "ran"))
        await asyncio.sleep(0.05)
        gone.cancel()  # the caller hung up while their job was queued
        gate.set()
        assert await asyncio.wait_for(kept, 5) == "ran"
        await blocker
        assert gone.cancelled() and runner.queued == 0
        # The one slot is free again: the next job runs at once.
        assert await asyncio.wait_for(runner.run(lambda: "again"), 5) == "again"
    finally:
        gate.set()
        runner.shutdown()


async def test_the_due_time_travels_with_the_task_that_set_it() -> None:
    seen: list[float] = []

    async def child() -> None:
        seen.append(current_due())

    with waiting_since(7.5):
        await asyncio.create_task(child())
    await asyncio.create_task(child())
    assert seen[0] == 7.5 and seen[1] == float("inf")
