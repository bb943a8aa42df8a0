"""A real SIP phone (baresip, registered as endpoint 1001 of asterisk/pjsip.conf) calls the agent.

The phone dials 100 (the `AudioSocket()` app, 8 kHz to the daemon) and 101 (`Dial(AudioSocket/…/c(slin16))`,
16 kHz), each with PCMU and with G.722, hears the greeting, says "I would like to book an appointment
tomorrow at 3 pm." and hears the reply. What the phone heard is baresip's own decoded audio (its
`sndfile` dump), so every codec, transcoding and RTP step between the agent and a real handset is in
the path. The latencies are measured at the phone's end and printed (`pytest -s`); they are figures
to report, not goals to assert.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pbx.baresip import Phone, speech_ends
from tests.pbx.conftest import agent_settings, finished_calls, heard, running

pytestmark = pytest.mark.asyncio(loop_scope="session")

GREETING_QUIET_S = 1.5
"""The greeting is over once the phone has heard this long without speech (its sentences pause less)."""
REPLY_QUIET_S = 1.5


@pytest.mark.parametrize("codec", ["PCMU", "G722"])
@pytest.mark.parametrize("exten", ["100", "101"])
async def test_a_sip_phone_hears_the_greeting_and_a_reply_to_its_booking_request(
    pbx, engines, speech, models_dir, phones, tmp_path: Path, exten: str, codec: str
) -> None:
    async with running(agent_settings(tmp_path, models_dir, pbx), engines) as daemon:
        phone: Phone = await phones("1001", codec)
        call = await phone.dial(exten)
        greeting_end = await speech_ends(phone.heard, call.answered_at, GREETING_QUIET_S)
        turn = speech[("booking", phone.rate)]
        said_at = await phone.say(turn)
        caller_end = await speech_ends(phone.sent, said_at, 0.3, within_s=len(turn) / 2 / phone.rate + 5)
        reply_end = await speech_ends(phone.heard, caller_end, REPLY_QUIET_S)
        await phone.hang_up()
        [ctx] = await finished_calls(daemon)
    heard_by_phone = phone.heard()
    greeting_at = heard_by_phone.first_voiced(call.answered_at)
    reply_at = heard_by_phone.first_voiced(caller_end)
    assert greeting_at is not None and reply_at is not None
    print(
        f"\nphone latency exten={exten} codec={codec}: greeting {1000 * (greeting_at - call.answered_at):.0f} ms "
        f"after answer, reply {1000 * (reply_at - caller_end):.0f} ms after the caller's last voiced 20 ms"
    )

    assert f"Set audio decoder: {codec}" in phone.log_path.read_text(), "the call did not use the codec under test"
    greeting = await heard(engines, heard_by_phone.pcm_between(call.answered_at, greeting_end + 0.1), phone.rate)
    assert "calling" in greeting or "help" in greeting, greeting
    reply = await heard(engines, heard_by_phone.pcm_between(caller_end, reply_end + 0.1), phone.rate)
    # "Shall I book you for tomorrow at 3 pm?": Whisper once heard its start as "chalai buki", so the date,
    # which only a reply to this request can contain, counts too.
    assert any(word in reply for word in ("book", "appointment", "tomorrow")), reply
    # The phone's SIP user is its caller ID (stored normalised; see the report on +901001).
    assert ctx.caller_id is not None and ctx.caller_id.endswith("1001"), ctx.caller_id
    callers = [t for t in ctx.turns if t.who == "caller"]
    assert callers and ("3" in callers[0].text or "three" in callers[0].text.lower()), ctx.turns
