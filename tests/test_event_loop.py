"""`[daemon] event_loop`: the daemon and the demo run on the loop the admin chose."""

from __future__ import annotations

import asyncio

import uvloop

from sentiric_pbx.cli_common import run_event_loop
from sentiric_pbx.config import Settings


async def _loop_kind() -> type:
    return type(asyncio.get_running_loop())


def test_uvloop_is_the_default_and_asyncio_the_alternative() -> None:
    assert Settings().daemon.event_loop == "uvloop"
    assert run_event_loop(_loop_kind(), "uvloop") is uvloop.Loop
    kind = run_event_loop(_loop_kind(), "asyncio")
    assert kind is not uvloop.Loop and issubclass(kind, asyncio.BaseEventLoop)


async def test_the_suite_runs_on_the_daemons_default_loop() -> None:
    """tests/conftest.py gives every async test uvloop, so the whole suite proves the daemon on it."""
    assert type(asyncio.get_running_loop()) is uvloop.Loop
