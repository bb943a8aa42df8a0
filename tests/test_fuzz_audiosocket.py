"""Random frame sequences at one running AudioSocket server; after each, a good call must still work.

One daemon serves every example, so what one bad connection leaves behind (a task, an active call,
a stuck socket) would show up in the next example's checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import uuid

import pytest
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.telephony.audiosocket.protocol import Kind, encode, encode_uuid
from tests.asterisk_peer import AudioSocketPeer, eventually, log_lines

Logs = list[dict[str, object]]
KINDS = sorted(int(k) for k in Kind)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Short timeouts so a peer that stalls is let go of within the example."""
    settings.audiosocket.uuid_timeout_s = 0.3
    settings.audiosocket.idle_timeout_s = 0.3
    settings.audiosocket.frame_timeout_s = 0.2
    return settings


@pytest.fixture
def examples() -> list[int]:
    """One entry per hypothesis example run so far (the fixture lives for the whole test)."""
    return []


kind_byte = st.one_of(st.sampled_from(KINDS), st.integers(0, 255))
well_framed = st.builds(
    lambda kind, payload: bytes([kind]) + len(payload).to_bytes(2, "big") + payload, kind_byte, st.binary(max_size=700)
)
any_header = st.builds(
    lambda kind, length, payload: bytes([kind]) + length.to_bytes(2, "big") + payload,
    kind_byte,
    st.integers(0, 0xFFFF),
    st.binary(max_size=64),
)
audio = st.builds(lambda n: encode(Kind.SLIN_8K, bytes(320)) * n, st.integers(1, 5))
garbage = st.binary(min_size=1, max_size=200)
pieces = st.lists(st.one_of(well_framed, any_header, audio, garbage), max_size=8)


@st.composite
def bad_connections(draw: st.DrawFn) -> tuple[bytes, str]:
    """A byte stream (UUID first or not, then random pieces, maybe cut short) and how it ends."""
    stream = (encode_uuid(uuid.uuid4()) if draw(st.booleans()) else b"") + b"".join(draw(pieces))
    if stream and draw(st.booleans()):
        stream = stream[: draw(st.integers(0, len(stream)))]  # a truncated tail
    return stream, draw(st.sampled_from(["fin", "reset", "stall"]))


async def misbehave(port: int, stream: bytes, ending: str) -> None:
    """Send `stream` in two writes, end the way `ending` says, and wait until the server let go."""
    peer = await AudioSocketPeer.connect(port)
    cut = len(stream) // 2
    peer.send_raw(stream[:cut])
    await asyncio.sleep(0)
    peer.send_raw(stream[cut:])
    if ending == "reset":
        sock = peer.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.writer.transport.abort()
    else:
        if ending == "fin":
            with contextlib.suppress(OSError):
                peer.writer.write_eof()
        # "stall": send nothing more; the server's timeouts (or the bytes already sent) end it.
        await peer.wait_closed_by_server(within_s=5.0)
    await peer.close()


async def good_call(port: int) -> None:
    """UUID, some audio, and the server's 0x10/320 frames back."""
    peer = await AudioSocketPeer.connect(port)
    peer.send_uuid()
    peer.talk(bytes(3200))
    frames = await peer.frames(5)
    assert {(f.kind, len(f.payload)) for f in frames} == {(Kind.SLIN_8K, 320)}
    await peer.close()


@hyp_settings(
    max_examples=40,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failing example waits seconds per try
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(connection=bad_connections())
async def test_random_frames_leave_the_server_serving(
    daemon: Daemon, logs: Logs, examples: list[int], connection: tuple[bytes, str]
) -> None:
    server = daemon.audiosocket
    stream, ending = connection
    examples.append(1)
    await misbehave(server.port, stream, ending)
    await good_call(server.port)

    # Nothing is left behind: every connection task has finished and no call is counted as active.
    await eventually(lambda: not server._tasks, f"the server's tasks to finish ({len(server._tasks)} left)")
    assert server.calls_active == 0
    # Every started call ended, and at most one protocol error per bad connection (good calls: none).
    assert len(log_lines(logs, "call_started")) == len(log_lines(logs, "call_ended"))
    assert len(log_lines(logs, "audiosocket_protocol_error")) <= len(examples)
