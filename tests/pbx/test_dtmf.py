"""The keypad on a real Asterisk: a SIP phone presses "0" while the agent is answering, and is put through.

baresip (endpoint 1001) sends its keys as RFC 4733 telephone-events (`sndcode`), which is how a desk
phone or a trunk sends them; Asterisk's PJSIP endpoint (`dtmf_mode` rfc4733, the default) turns them into
DTMF frames, and the AudioSocket leg forwards each as a 0x03 frame when the key is released (fixtures
fact 5). The caller asks for the opening hours and, one second into the agent's answer, presses 0:
the answer stops (a key barges in like a voice), the call is handed to the reception phone (a second
baresip that answers by itself), and the daemon stores the call as transferred with the key as the
caller's turn. Extension 100 transfers by the 0x00 frame (the dialplan dials `SENTIRIC_TRANSFER`),
101 by AMI Redirect: both paths are checked.

Then a digit string: with the example plug-in installed (examples/order_status_plugin, its order API a
real aiohttp server on 127.0.0.1), the caller asks where their order is, is asked for the number, and
types it on the phone's keypad ("4512#"); the agent answers from the API.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from tests.order_api import ASKED, monkeypatch_module, order_plugin_installed, serving_orders  # noqa: F401
from tests.pbx.baresip import speech_ends
from tests.pbx.conftest import agent_settings, finished_calls, heard, running
from tests.pbx.test_transfer import GREETING_QUIET_S, events

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def first_voiced(tap, after: float, within_s: float = 20.0) -> float:
    """The arrival time of the first voiced frame the phone heard after `after`."""
    async with asyncio.timeout(within_s):
        while (at := tap().first_voiced(after)) is None:
            await asyncio.sleep(0.05)
    return at


# 101/G.722 keys are exercised by the typed order number below; one codec suffices for "0" (CI time).
@pytest.mark.parametrize(("exten", "codec"), [("100", "PCMU")])
async def test_zero_pressed_during_the_agents_reply_transfers_the_call(
    pbx, ami, engines, speech, models_dir, phones, tmp_path: Path, exten: str, codec: str
) -> None:
    async with running(agent_settings(tmp_path, models_dir, pbx, ami=True), engines) as daemon:
        await daemon.ami.wait_connected(10)
        reception = await phones("reception", codec, auto_answer=True)
        caller = await phones("1001", codec)
        call = await caller.dial(exten)
        await speech_ends(caller.heard, call.answered_at, GREETING_QUIET_S)
        asked = await caller.say(speech[("hours", caller.rate)])
        reply_started = await first_voiced(caller.heard, asked + 1.0)
        await asyncio.sleep(1.0 - (asyncio.get_running_loop().time() - reply_started))
        await caller.command("sndcode", "0")
        pressed = asyncio.get_running_loop().time()
        await reception.wait_answered(within_s=30)
        # Talk starts once Asterisk has bridged the two phones. A caller who hung up in the same millisecond as
        # the reception phone's 200 OK was seen by app_dial's wait loop too ("Nobody picked up in 30000 ms"),
        # and the dial got a second DialEnd: Asterisk's race with a test that hangs up at once, not ours
        # (seen once in 8 runs on a loaded host).
        await ami.wait_event(
            lambda e: e.get("Event") == "BridgeEnter" and e.get("Channel", "").startswith("PJSIP/1001-")
        )
        await caller.hang_up()
        [ctx] = await finished_calls(daemon)

    [answered] = events(ami.events, "DialEnd", DestChannel="PJSIP/reception-")
    assert answered["DialStatus"] == "ANSWER", answered
    assert ctx.status == "transferred", ctx.status
    callers = [t for t in ctx.turns if t.who == "caller"]
    assert callers[-1].text == "(keypad) 0" and callers[-1].intent == "transfer_to_human", callers
    hours_reply = ctx.turns[ctx.turns.index(callers[-2]) + 1]
    assert hours_reply.who == "agent" and hours_reply.interrupted, hours_reply
    assert "open" in hours_reply.text.lower(), hours_reply.text  # the caller had heard its start
    # Asterisk saw the key as the phone sent it: an RFC 4733 event on the caller's channel, not in-band audio.
    dtmf = events(ami.events, "DTMFEnd", Channel="PJSIP/1001-")
    assert [e["Digit"] for e in dtmf] == ["0"], dtmf
    assert pressed > reply_started


async def test_an_order_number_typed_on_the_phone_fills_the_slot_the_agent_asked_for(
    pbx, engines, models_dir, phones, tmp_path: Path, order_plugin_installed: Path, monkeypatch  # noqa: F811
) -> None:
    question = await engines.tts.synthesize_sentence("Hello, where is my order?")
    settings = agent_settings(tmp_path, models_dir, pbx)
    async with serving_orders(monkeypatch) as api, running(settings, engines) as daemon:
        caller = await phones("1001", "G722")
        call = await caller.dial("101")
        await speech_ends(caller.heard, call.answered_at, GREETING_QUIET_S)
        asked = await caller.say(question)
        asked_for_number = await speech_ends(caller.heard, asked + 1.0, 1.5)
        typed = asyncio.get_running_loop().time()
        await caller.command("sndcode", "4512#")
        answered = await speech_ends(caller.heard, typed, 1.5)
        await caller.hang_up()
        [ctx] = await finished_calls(daemon)

    request = await heard(engines, caller.heard().pcm_between(asked + 1.0, asked_for_number + 0.1), caller.rate)
    assert "order number" in request, request
    answer = await heard(engines, caller.heard().pcm_between(typed, answered + 0.1), caller.rate)
    # The API's answer, read back: its order number and its delivery day (Whisper hears "shipped" as "shit").
    assert "4512" in re.sub(r"\D", "", answer) and "friday" in answer, answer
    assert api[ASKED] == ["4512"]
    callers = [t.text for t in ctx.turns if t.who == "caller"]
    assert callers[-1] == "(keypad) 4512", callers
    assert ctx.intents[-2:] == ["check_order_status", "keypad"], ctx.intents
