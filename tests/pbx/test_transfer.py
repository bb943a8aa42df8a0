"""Transfer to a human over AMI, on a real Asterisk, to a real phone that answers.

A baresip phone (endpoint 1001) calls the agent and asks "Can I talk to a human please?". The daemon
(with `[ami] enabled`) hands the caller to its default `[business] transfer_target`, `PJSIP/reception`,
which is a second baresip registered as `reception` that picks up by itself and says who it is:
- on 100 (the `AudioSocket()` app) by `Setvar SENTIRIC_TRANSFER` and a 0x00 frame, so the dialplan after
  `AudioSocket()` dials it;
- on 101 (`Dial(AudioSocket/…)`, which does not continue after its callee hangs up) by `Redirect` of the
  caller's channel to `sentiric,transfer,1`.
The proof is at the phones: reception rang and answered, each phone heard the other (Whisper), Asterisk
dialled reception from the caller's own channel, and the daemon stored the call as transferred.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sentiric_pbx.audio.resample import resample
from sentiric_pbx.telephony.asterisk.ami import AmiEvent
from tests.pbx.ami import Message
from tests.pbx.baresip import speech_ends
from tests.pbx.conftest import agent_settings, finished_calls, heard, running

pytestmark = pytest.mark.asyncio(loop_scope="session")

RECEPTION_SAYS = "Hello, this is the front desk."
"""What the person at reception says on picking up; the caller must hear it. The bridge may clip its first
100-160 ms, so its words come after a lead-in: "Reception, Maria speaking." cut there was heard as "section
where you are speaking" (15 of 48 Piper syntheses, 0 of 48 for this sentence; and once in CI)."""
GREETING_QUIET_S = 1.5


def events(messages: list[Message], name: str, **fields: str) -> list[Message]:
    """The AMI events called `name` whose fields start with the given values (`DestChannel="PJSIP/reception-"`)."""
    return [
        m for m in messages if m.get("Event") == name and all(m.get(k, "").startswith(v) for k, v in fields.items())
    ]


@pytest.mark.parametrize(("exten", "codec"), [("100", "PCMU"), ("101", "G722")])
async def test_a_caller_who_asks_for_a_human_is_put_through_to_the_reception_phone(
    pbx, ami, engines, speech, models_dir, phones, tmp_path: Path, exten: str, codec: str
) -> None:
    introduction = await engines.tts.synthesize_sentence(RECEPTION_SAYS)
    async with running(agent_settings(tmp_path, models_dir, pbx, ami=True), engines) as daemon:
        await daemon.ami.wait_connected(10)
        reception = await phones("reception", codec, auto_answer=True)
        caller = await phones("1001", codec)
        call = await caller.dial(exten)
        await speech_ends(caller.heard, call.answered_at, GREETING_QUIET_S)
        await caller.say(speech[("human", caller.rate)])
        picked_up = (await reception.wait_answered(within_s=30)).answered_at
        await reception.say(introduction if reception.rate == 16000 else resample(introduction, 16000, reception.rate))
        introduced = await speech_ends(caller.heard, picked_up, 1.0)
        await caller.say(speech[("hours", caller.rate)])
        asked = await speech_ends(reception.heard, introduced, 1.0)
        await caller.hang_up()
        [ctx] = await finished_calls(daemon)

    [dial] = events(ami.events, "DialBegin", DestChannel="PJSIP/reception-")
    assert dial["Channel"].startswith("PJSIP/1001-"), f"reception was dialled from {dial['Channel']}, not the caller"
    [answered] = events(ami.events, "DialEnd", DestChannel="PJSIP/reception-")
    assert answered["DialStatus"] == "ANSWER", answered
    caller_heard = await heard(engines, caller.heard().pcm_between(picked_up, introduced + 0.1), caller.rate)
    assert "front desk" in caller_heard, caller_heard
    reception_heard = await heard(engines, reception.heard().pcm_between(introduced, asked + 0.1), reception.rate)
    assert "opening" in reception_heard or "hours" in reception_heard, reception_heard
    assert ctx.status == "transferred", ctx.status


async def test_the_newexten_after_a_redirect_does_not_register_the_finished_call_again(
    pbx, ami, engines, speech, models_dir, phones, tmp_path: Path
) -> None:
    """After the Redirect of a 101 caller, Asterisk emits a `Newexten` for `sentiric,transfer,1` that still
    carries the old `Dial` with `AudioSocket/…/<uuid>/…`: it must not put the ended call back into the registry."""
    async with running(agent_settings(tmp_path, models_dir, pbx, ami=True), engines) as daemon:
        await daemon.ami.wait_connected(10)
        caller_gone = asyncio.Event()

        def on_event(event: AmiEvent) -> None:
            # Wire order: once the daemon's AMI client delivered the caller's Hangup, it has also
            # delivered (and the watcher handled) every Newexten of that channel before it.
            if event.name == "Hangup" and (event.channel or "").startswith("PJSIP/1001-"):
                caller_gone.set()

        daemon.ami.subscribe("*", on_event)
        caller = await phones("1001", "PCMU")  # no reception phone: Dial(PJSIP/reception) fails and hangs up
        call = await caller.dial("101")
        await speech_ends(caller.heard, call.answered_at, GREETING_QUIET_S)
        await caller.say(speech[("human", caller.rate)])
        await asyncio.wait_for(caller_gone.wait(), 30)
        [ctx] = await finished_calls(daemon)
        registered = ctx.call_id in daemon.registry

    redirected = events(ami.events, "Newexten", Exten="transfer")
    after_redirect = [e for e in redirected if ctx.call_id in e.get("AppData", "")]
    assert after_redirect, "Asterisk emitted no Newexten naming the call after the Redirect: nothing was reproduced"
    assert ctx.status == "transferred", ctx.status
    assert not registered, f"the ended call {ctx.call_id} was registered again from {after_redirect[0]}"
