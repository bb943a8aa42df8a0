"""`CallIO`, the inbound/event half every transport shares, on real transports and real sockets.

An agent that has fallen 30 s behind its caller (the inbound queue is full) must still learn that the
call ended: `end()` makes room for the end marker instead of losing it, the frames it could not take
are counted, and a second `end()` does not wake anyone twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from sentiric_pbx.call.transport import CallInfo, CallTransport, Dtmf, Hangup
from sentiric_pbx.config import AudioSocketConfig, RtpConfig
from sentiric_pbx.telephony.ari.rtp import RtpTransport, open_endpoint
from sentiric_pbx.telephony.audiosocket.protocol import Frame, Kind
from sentiric_pbx.telephony.audiosocket.server import AudioSocketTransport
from sentiric_pbx.telephony.edge import INBOUND_QUEUE_FRAMES, CallIO

FRAME = bytes(640)


class NoCallControl:
    """The ARI side of an externalMedia call; these tests never hang up or transfer through it."""

    async def hangup(self) -> None:
        raise AssertionError("not expected")

    async def transfer(self, target: str) -> None:
        raise AssertionError("not expected")


async def count_frames(transport: CallIO) -> int:
    """How many frames the agent reads before the iterator ends (fails the test if it never ends)."""
    n = 0
    async with asyncio.timeout(10):
        async for _ in transport.frames():
            n += 1
    return n


async def test_rtp_agent_far_behind_still_sees_the_end() -> None:
    ep = await open_endpoint(RtpConfig(port_min=43000, port_max=43999))
    transport = RtpTransport(ep, "slin16", CallInfo(call_id="behind"), NoCallControl())
    try:
        assert isinstance(transport, CallTransport)
        for _ in range(INBOUND_QUEUE_FRAMES + 1):
            ep.on_frame(FRAME)
        assert transport.frames_in == INBOUND_QUEUE_FRAMES + 1
        assert transport.dropped_inbound == 1
        transport.end(Hangup("caller", "hangup"))
        transport.end(Hangup("agent", "agent_hangup"))  # already over: ignored
        ep.on_frame(FRAME)  # a late packet after the end is not counted as heard
        assert transport.frames_in == INBOUND_QUEUE_FRAMES + 1
        # The end marker took the oldest frame's place.
        assert await count_frames(transport) == INBOUND_QUEUE_FRAMES - 1
        assert await transport.next_event() == Hangup("caller", "hangup")
        transport.on_event(Dtmf("1"))
        assert await transport.next_event() == Dtmf("1")  # the second end() queued no second Hangup
        transport.play(FRAME)  # nothing is queued for playout once the call is over
        assert transport.queued_ms == 0
    finally:
        await transport.close()


@pytest.fixture
async def writer() -> AsyncIterator[asyncio.StreamWriter]:
    """The writing end of a real loopback TCP connection, as an AudioSocket connection has."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, w = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield w
    finally:
        w.close()
        server.close()
        await server.wait_closed()


async def test_audiosocket_agent_far_behind_still_sees_the_end(writer: asyncio.StreamWriter) -> None:
    transport = AudioSocketTransport(writer, AudioSocketConfig())
    for _ in range(INBOUND_QUEUE_FRAMES + 20):
        transport.on_audio(Frame(Kind.SLIN_16K, FRAME))
    assert transport.dropped_inbound > 0
    transport.end(Hangup("caller", "hangup"))
    assert 0 < await count_frames(transport) < INBOUND_QUEUE_FRAMES
    assert await transport.next_event() == Hangup("caller", "hangup")


async def test_a_caller_who_sends_nothing_is_heard_as_silence_on_the_calls_clock() -> None:
    """Asterisk sends nothing while the far end is quiet (fixtures fact 8): the agent's stream must still
    move on, one silent frame per 20 ms, or a turn that ended in silence would never end."""
    ep = await open_endpoint(RtpConfig(port_min=43000, port_max=43999))
    transport = RtpTransport(ep, "slin16", CallInfo(call_id="quiet"), NoCallControl())
    voiced = [bytes([i + 1]) * 640 for i in range(8)]
    got: list[bytes] = []

    async def read() -> None:
        async for frame in transport.frames():
            got.append(frame)

    reader = asyncio.create_task(read())
    try:
        for frame in voiced[:5]:
            ep.on_frame(frame)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.6)  # the caller is quiet and sends nothing
        silent_so_far = len(got) - 5
        for frame in voiced[5:]:
            ep.on_frame(frame)
            await asyncio.sleep(0.02)
        transport.end(Hangup("caller", "hangup"))
        async with asyncio.timeout(5):
            await reader
    finally:
        await transport.close()
    assert [f for f in got if f != FRAME] == voiced  # every real frame, in order, none lost
    assert got[:5] == voiced[:5] and got[-3:] == voiced[5:]
    # ~0.6 s of silence became ~30 frames while it lasted, not after it ended.
    assert 22 <= silent_so_far <= 34, silent_so_far
    assert transport.silence_frames == len(got) - len(voiced)
