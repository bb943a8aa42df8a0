"""Extension 200 (`Stasis(sentiric)`) on a real Asterisk 22.10.1: every ARI media choice, end to end.

The daemon runs with `[ari] enabled = true` against the test's Asterisk; the caller's side is a `FarEnd` on
the project's `[sentiric-selftest]` context, originated into `Local/200@sentiric/n`, so the `;2` leg of that
Local pair is the channel in Stasis. For each media choice — externalMedia RTP in μ-law, RTP in G.722
(wideband: the far end at 16 kHz), AudioSocket and chan_websocket — the far end must hear the greeting and
a reply to "I would like to book an appointment tomorrow at 3 pm." (Whisper on the audio it received),
and the daemon must store the call under the caller's Asterisk channel id with the caller's words. The far
end either keeps sending silent frames while quiet (a SIP phone with continuous RTP) or sends nothing at
all (a two-party bridge, silence suppression: fixtures fact 8), which is where outbound audio that waited
for inbound audio went quiet.

Each test prints one `ari_latency` line: the greeting latency (connect to the agent's first voiced frame)
and the reply latency (the caller's last voiced frame to the agent's first voiced frame after it), measured
at the far end by `FarEndCall.converse`.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from sentiric_pbx.tools.caller import CallerOptions
from tests.pbx.ami import PbxAmi
from tests.pbx.conftest import agent_settings, dial, finished_calls, heard, running

pytestmark = pytest.mark.asyncio(loop_scope="session")

CALLER_LEG = re.compile(r"Local/200@sentiric-[0-9a-f]+;2")
"""The Local leg that runs extension 200, i.e. the channel that enters Stasis (the caller, to the agent)."""


def options(rate: int) -> CallerOptions:
    return CallerOptions(rate=rate, greeting_wait_s=8.0, reply_timeout_s=12.0, reply_silence_s=1.5)


MEDIA_CHANNEL = {"rtp": "UnicastRTP/", "audiosocket": "AudioSocket/", "websocket": "WebSocket/"}
"""How the externalMedia channel Asterisk creates is named, by `[ari] media`."""


async def caller_channel_id(ami: PbxAmi) -> str:
    """Asterisk's unique id of the `;2` leg of `Local/200@sentiric/n`: what ARI calls the caller's channel."""
    event = await ami.wait_event(
        lambda e: e.get("Event") == "Newchannel" and bool(CALLER_LEG.fullmatch(e.get("Channel", ""))), within_s=10
    )
    return event["Uniqueid"]


CASES = [
    pytest.param("rtp", "ulaw", 8000, True, id="rtp-ulaw-sends-silence"),
    pytest.param("rtp", "ulaw", 8000, False, id="rtp-ulaw-sends-nothing-when-quiet"),
    pytest.param("rtp", "g722", 16000, True, id="rtp-g722-sends-silence"),
    pytest.param("rtp", "g722", 16000, False, id="rtp-g722-sends-nothing-when-quiet"),
    pytest.param("audiosocket", "slin16", 16000, True, id="audiosocket-sends-silence"),
    pytest.param("websocket", "slin16", 16000, True, id="websocket-sends-silence"),
    pytest.param("websocket", "slin16", 16000, False, id="websocket-sends-nothing-when-quiet"),
]


@pytest.mark.parametrize(("media", "fmt", "rate", "silent_frames"), CASES)
async def test_extension_200_greets_answers_and_stores_the_call_under_the_callers_channel(
    pbx, ami, farend, engines, speech, models_dir, tmp_path: Path, media: str, fmt: str, rate: int, silent_frames: bool
) -> None:
    settings = agent_settings(tmp_path, models_dir, pbx)
    settings.ari.enabled = True
    settings.ari.media = media  # type: ignore[assignment]
    settings.ari.format = fmt  # type: ignore[assignment]
    async with running(settings, engines) as daemon:
        await asyncio.wait_for(daemon.ari.connected.wait(), 10)
        call = await dial(ami, farend, "200", rate=rate, silent_frames=silent_frames)
        channel_id = await caller_channel_id(ami)
        report = await call.converse([speech[("booking", rate)]], options(rate))
        wire = call.wire
        await call.hang_up()
        calls = await finished_calls(daemon)

    reply_ms = report.turns[0].latency_ms if report.turns else None
    print(
        f"\nari_latency media={media} format={fmt} rate={rate} far_end_sends_silence={silent_frames} "
        f"greeting_ms={report.greeting_latency_ms} reply_ms={reply_ms}"
    )
    assert report.greeting_latency_ms is not None, f"the far end heard no greeting (call ended by {report.ended_by})"
    assert reply_ms is not None, "the agent never answered the caller's turn"
    spoke = [t for t, pcm in wire.sent if wire.voiced(pcm)]
    greeting = await heard(engines, b"".join(p for t, p, _v in wire.received if t < spoke[0]), rate)
    reply = await heard(engines, b"".join(p for t, p, _v in wire.received if t > spoke[-1]), rate)
    assert any(w in greeting for w in ("help", "calling", "clinic")), greeting
    assert any(w in reply for w in ("book", "appointment", "tomorrow")), reply

    media_channels = [e["Channel"] for e in ami.events if e.get("Event") == "Newchannel" and "/" in e["Channel"]]
    assert any(c.startswith(MEDIA_CHANNEL[media]) for c in media_channels), media_channels

    stored = {c.call_id: c for c in calls}
    assert channel_id in stored, f"not stored under the caller's channel {channel_id}: {sorted(stored)}"
    ctx = stored[channel_id]
    assert ctx.caller_id == "+905551112233"
    callers = [t for t in ctx.turns if t.who == "caller"]
    assert callers and ("3" in callers[0].text or "three" in callers[0].text.lower()), [t.text for t in callers]
