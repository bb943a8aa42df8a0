"""[sentiric-site] in asterisk/extensions.conf through a real Asterisk: a call tries the site's daemons in
turn (AstDB sentiric/daemons) and lands on the next one when the first is busy or down.

Two daemons on one machine, as two hosts would be: A on 127.0.0.2, B on 127.0.0.1, both on the ports the
dialplan dials (4573/9092; the whole 127/8 is this machine's loopback). A is busy first (its one
`[agent] max_calls` line taken: FastAGI sets SENTIRIC_BUSY=1), then down (stopped: AGI cannot connect).
Each time the call is answered by B, and A never holds a conversation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sentiric_pbx.daemon import Daemon
from sentiric_pbx.tools.caller import CallerOptions
from tests.faults.harness import call_records
from tests.pbx.conftest import agent_settings, dial, finished_calls, running

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def answered_on(daemon: Daemon, ami, farend, calls_before: int) -> None:  # type: ignore[no-untyped-def]
    call = await dial(ami, farend, "s", context="sentiric-site")
    await call.converse([], CallerOptions(rate=8000, greeting_wait_s=8.0, reply_timeout_s=12.0, reply_silence_s=1.5))
    await call.hang_up()
    await finished_calls(daemon, count=calls_before + 1, within_s=30.0)


async def test_a_site_call_goes_to_the_next_daemon_when_the_first_is_busy_or_down(
    pbx, ami, farend, engines, models_dir, tmp_path: Path, logs
) -> None:
    assert "Updated database successfully" in pbx.cli("database put sentiric daemons 127.0.0.2&127.0.0.1")
    settings_a = agent_settings(tmp_path / "host-a", models_dir, pbx)
    settings_a.audiosocket.host = settings_a.fastagi.host = "127.0.0.2"
    settings_a.agent.max_calls = 1
    a = Daemon(settings_a, engines=engines)
    await a.start()
    async with running(agent_settings(tmp_path / "host-b", models_dir, pbx), engines) as b:
        try:
            assert a.capacity.claim()  # A's only line is taken by a call in progress
            try:
                await answered_on(b, ami, farend, 0)
            finally:
                a.capacity.release()
            busy = [e for e in logs if e["event"] == "fastagi_busy"]
            assert len(busy) == 1, busy
        finally:
            await a.stop()  # A goes down
        await answered_on(b, ami, farend, 1)
    assert call_records(settings_a.storage.db_path) == {}  # A held no conversation
    registered = [e for e in logs if e["event"] == "fastagi_registered"]
    assert len(registered) == 3  # A (busy) and B, then B alone
