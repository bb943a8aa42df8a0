"""Line echo on a real Asterisk: the agent must not interrupt itself when the far end returns its voice.

Two far ends: a caller on a line with PSTN-typical echo (our voice back ≥ 6 dB quieter, up to 128 ms late,
mixed with what the caller says — tests/pbx/echo_line.py), and Asterisk's own `Echo()`, which returns our
voice unchanged at 0 dB.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sentiric_pbx.tools.caller import CallerOptions
from tests.pbx.conftest import agent_settings, dial, finished_calls, heard, running
from tests.pbx.echo_line import add_line_echo

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.parametrize(("gain_db", "delay_ms"), [(-6.0, 128), (-10.0, 32)])
async def test_a_line_with_pstn_echo_does_not_make_the_agent_interrupt_itself(
    pbx, ami, farend, engines, speech, models_dir, tmp_path: Path, logs, gain_db: float, delay_ms: int
) -> None:
    async with running(agent_settings(tmp_path, models_dir, pbx), engines) as daemon:
        call = await dial(ami, farend, "100")
        add_line_echo(call, gain_db, delay_ms)
        report = await call.converse(
            [speech[("booking", 8000)]], CallerOptions(rate=8000, greeting_wait_s=8.0, reply_timeout_s=12.0)
        )
        agent_audio = b"".join(pcm for _t, pcm, _v in call.wire.received)
        await call.hang_up()
        [ctx] = await finished_calls(daemon)

    assert not [e for e in logs if e["event"] == "barge_in"], "the agent took its own echo for the caller"
    agent_turns = [t for t in ctx.turns if t.who == "agent"]
    assert agent_turns and not any(t.interrupted for t in agent_turns), agent_turns
    callers = [t for t in ctx.turns if t.who == "caller"]
    assert len(callers) == 1 and "appointment" in callers[0].text.lower(), callers  # not our own words
    [turn] = report.turns
    assert turn.latency_ms is not None, "the caller, speaking over the echo, was not answered"
    words = await heard(engines, agent_audio, 8000)
    assert "hello" in words and ("book" in words or "appointment" in words), words


async def test_asterisk_echo_app_returning_our_voice_at_0_db(
    pbx, ami, engines, models_dir, tmp_path: Path, logs
) -> None:
    """Echo() sends our own voice straight back. The agent says its greeting to the end and does not
    answer itself: what comes back is recognised as its own playout, not as a caller."""
    async with running(agent_settings(tmp_path, models_dir, pbx), engines) as daemon:
        await ami.originate("Local/100@sentiric/n", Application="Echo", CallerID='"Echo" <+905550000000>')
        await asyncio.sleep(14.0)
        pbx.cli("channel request hangup all")
        [ctx] = await finished_calls(daemon)

    assert not [e for e in logs if e["event"] == "barge_in"], "the agent interrupted itself"
    greeting = ctx.turns[0]
    assert greeting.who == "agent" and not greeting.interrupted
    assert [t.text for t in ctx.turns if t.who == "caller"] == [], "the agent took its own voice for a caller"
