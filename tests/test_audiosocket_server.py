"""The AudioSocket server against a fake Asterisk on real loopback sockets.

Well-behaved peers do what the captures show Asterisk doing. Each misbehaving peer runs next to a
well-formed call on another connection, and must cost exactly one `audiosocket_protocol_error` line
and nothing else: the good call keeps its 20 ms frame stream and gets its echo back. A connection
costs nothing before its UUID (no transport, no playout clock), and a peer's further errors are
counted in one summary line per window instead of one line each.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable

import pytest

from sentiric_pbx.call.transport import CallTransport
from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.telephony.audiosocket import server as audiosocket_server
from sentiric_pbx.telephony.audiosocket.problems import OVERFLOW
from sentiric_pbx.telephony.audiosocket.protocol import HEADER, Kind, encode, encode_uuid
from sentiric_pbx.telephony.audiosocket.transport import AudioSocketTransport
from tests.asterisk_peer import (
    FRAME_S,
    TCP_STATE_CLOSE,
    AudioSocketPeer,
    DeafPeer,
    eventually,
    first_word,
    log_lines,
    register,
    wait_log,
)

Logs = list[dict[str, object]]


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The shared settings, a quicker end of turn (the good call's echo), and per-test [audiosocket] knobs."""
    settings.vad.end_of_turn_silence_ms = 100
    for key, value in getattr(request, "param", {}).items():
        setattr(settings.audiosocket, key, value)
    return settings


def knobs(**values: object) -> pytest.MarkDecorator:
    """Run one test with these [audiosocket] settings (indirect parametrization of `settings`)."""
    return pytest.mark.parametrize("settings", [values], indirect=True, ids=[str(values)])


# -- a well-behaved Asterisk ----------------------------------------------------------------------
async def test_server_sends_8k_silence_as_soon_as_the_uuid_arrives(daemon: Daemon) -> None:
    """Asterisk sends the UUID the moment it connects (fact 4): the 20 ms stream starts then, before the
    caller says anything (AudioSocket() hangs up after 2 s without our audio)."""
    peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
    peer.send_uuid()
    frames = await peer.frames(3)  # we sent nothing but the UUID
    assert [(f.kind, f.payload) for f in frames] == [(Kind.SLIN_8K, bytes(320))] * 3
    await peer.close()


@pytest.fixture
def transports_built(monkeypatch: pytest.MonkeyPatch) -> list[AudioSocketTransport]:
    """Every `AudioSocketTransport` the server builds (resamplers, playout clock): one per call, none else."""
    built: list[AudioSocketTransport] = []

    class Counted(AudioSocketTransport):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            built.append(self)

    monkeypatch.setattr(audiosocket_server, "AudioSocketTransport", Counted)
    return built


@knobs(uuid_timeout_s=0.5)
async def test_a_connection_without_a_uuid_gets_no_transport_and_no_frames(
    daemon: Daemon, logs: Logs, transports_built: list[AudioSocketTransport]
) -> None:
    """Until its UUID a connection is not a call: nothing is built for it and nothing is sent to it, whether
    it stays silent (until the UUID timeout), sends garbage, or speaks HTTP. The next real call is served."""
    port = daemon.audiosocket.port
    silent = await AudioSocketPeer.connect(port)
    await run_until_server_closes(port, b"GET / HTTP/1.1\r\n\r\n")
    await run_until_server_closes(port, audio(3))
    await silent.wait_closed_by_server()  # its uuid_timeout
    assert silent.received == []
    assert transports_built == []
    await silent.close()

    good = await AudioSocketPeer.connect(port)
    good.send_uuid()
    await good.frames(3)
    assert len(transports_built) == 1 and transports_built[0].info.call_id == str(good.call_id)
    await good.close()


async def test_a_call_that_goes_bad_before_the_agent_speaks_builds_no_resampler(
    daemon: Daemon, logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Garbage behind a valid UUID is a call (clock, agent), but the agent said nothing yet: no soxr stream
    is built for it, neither way. A call that talks and hears its echo builds one each way."""
    from sentiric_pbx.audio import playout
    from sentiric_pbx.telephony.audiosocket import transport

    built: list[tuple[int, int]] = []

    class Counted(playout.StreamResampler):
        def __init__(self, in_rate: int, out_rate: int, quality: str = "HQ") -> None:
            super().__init__(in_rate, out_rate, quality)
            built.append((in_rate, out_rate))

    monkeypatch.setattr(playout, "StreamResampler", Counted)
    monkeypatch.setattr(transport, "StreamResampler", Counted)
    bad_id = uuid.uuid4()
    peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
    peer.send_raw(encode_uuid(bad_id))
    await peer.frames(2)  # the call is up: its clock ticks
    peer.send_raw(b"\x42\x00\x00")
    await peer.wait_closed_by_server()
    await peer.close()
    ended = await wait_log(logs, "call_ended", call_id=str(bad_id))
    assert (ended["by"], ended["reason"]) == ("error", "unknown_kind")
    assert built == []

    good = await AudioSocketPeer.connect(daemon.audiosocket.port)
    good.send_uuid()
    good.talk(first_word(8000))
    await good.wait_echo()
    await good.close()
    assert sorted(built) == [(8000, 16000), (16000, 8000)]


async def test_server_answers_in_the_rate_the_caller_used(daemon: Daemon, logs: Logs) -> None:
    """Dial(AudioSocket/…/c(slin16)) sends 0x12/640: after the first such frame every reply is 0x12/640."""
    peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
    peer.send_uuid()
    await peer.frames(1)
    peer.talk(first_word(16000), rate=16000)
    await peer.wait_echo()
    kinds = [f.kind for f in peer.received]
    switch = kinds.index(Kind.SLIN_16K)
    assert switch > 0 and set(kinds[:switch]) == {Kind.SLIN_8K}  # 8 kHz silence until the caller's rate is known
    assert {(f.kind, len(f.payload)) for f in peer.received[switch:]} == {(Kind.SLIN_16K, 640)}
    assert all(f.kind == Kind.SLIN_16K for f in peer.echo_frames())
    await peer.close()
    await wait_log(logs, "call_ended", call_id=str(peer.call_id))


async def test_call_takes_the_caller_id_registered_over_fastagi(daemon: Daemon, logs: Logs) -> None:
    peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
    await register(daemon.fastagi.port, str(peer.call_id))
    peer.send_uuid()
    started = await wait_log(logs, "call_started", call_id=str(peer.call_id))
    assert started["caller_id"] == "+905551112233"
    assert started["registered"] is True
    assert daemon.registry.take(str(peer.call_id)) is None  # the call claimed it
    await peer.close()


async def test_call_without_fastagi_has_no_caller_id(daemon: Daemon, logs: Logs) -> None:
    peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
    peer.send_uuid()
    started = await wait_log(logs, "call_started", call_id=str(peer.call_id))
    assert started["caller_id"] is None
    assert started["registered"] is False
    await peer.close()


async def test_dtmf_frames_are_logged_in_order_without_the_digits_by_default(daemon: Daemon, logs: Logs) -> None:
    """A caller keys a card number or a PIN: by default the journal learns that a key came, not which."""
    peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
    peer.send_uuid()
    peer.send(Kind.DTMF, b"1")
    peer.send(Kind.DTMF, b"#")
    await eventually(lambda: len(log_lines(logs, "dtmf_received")) == 2, "two dtmf_received lines")
    lines = log_lines(logs, "dtmf_received")
    assert [line.get("digit") for line in lines] == [None, None]
    assert [line["digit_chars"] for line in lines] == [1, 1]
    assert {line["call_id"] for line in lines} == {str(peer.call_id)}
    await peer.close()


async def test_dtmf_digits_are_logged_with_log_transcripts_on(settings: Settings, logs: Logs) -> None:
    settings.logging.log_transcripts = True
    daemon = Daemon(settings)
    await daemon.start()
    try:
        peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
        peer.send_uuid()
        peer.send(Kind.DTMF, b"1")
        peer.send(Kind.DTMF, b"#")
        await eventually(lambda: len(log_lines(logs, "dtmf_received")) == 2, "two dtmf_received lines")
        assert [line["digit"] for line in log_lines(logs, "dtmf_received")] == ["1", "#"]
        await peer.close()
    finally:
        await daemon.stop()


async def test_caller_hangup_is_a_plain_tcp_close(daemon: Daemon, logs: Logs) -> None:
    """Asterisk sends no 0x00 when the caller hangs up: it closes TCP (README fact 6)."""
    peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
    peer.send_uuid()
    peer.talk(first_word(8000))
    await peer.frames(5)
    await peer.close()
    ended = await wait_log(logs, "call_ended", call_id=str(peer.call_id))
    assert (ended["by"], ended["reason"]) == ("caller", "tcp_close")
    assert ended["frames_in"] > 0
    assert not log_lines(logs, "audiosocket_protocol_error")
    assert daemon.audiosocket.calls_active == 0


async def test_caller_hangup_frame_ends_the_call_and_the_server_closes(daemon: Daemon, logs: Logs) -> None:
    peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
    peer.send_uuid()
    peer.send(Kind.SLIN_8K, bytes(320))
    peer.send(Kind.HANGUP)
    await peer.wait_closed_by_server()
    ended = await wait_log(logs, "call_ended", call_id=str(peer.call_id))
    assert (ended["by"], ended["reason"]) == ("caller", "hangup_frame")
    await peer.close()


async def test_agent_hangup_sends_0x00_and_is_logged_as_the_agents(settings: Settings, logs: Logs) -> None:
    """The agent hangs up; Asterisk answers 0x00 by closing TCP (fact 9). That close is not the caller's."""

    async def hang_up_after_five_frames(call: CallTransport) -> None:
        n = 0
        async for _frame in call.frames():
            n += 1
            if n == 5:
                await call.hangup()

    daemon = Daemon(settings, agent=hang_up_after_five_frames)
    await daemon.start()
    try:
        peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
        peer.send_uuid()
        peer.talk(bytes(3200))
        await eventually(lambda: any(f.kind == Kind.HANGUP for f in peer.received), "0x00 from the server")
        await peer.close()  # what Asterisk does 0.2 ms after our 0x00
        assert peer.received[-1].kind == Kind.HANGUP  # nothing was sent after it
        ended = await wait_log(logs, "call_ended", call_id=str(peer.call_id))
        assert (ended["by"], ended["reason"]) == ("agent", "agent_hangup")
    finally:
        await daemon.stop()


@knobs(frame_timeout_s=0.3)
async def test_frames_split_across_reads_are_not_a_slow_loris(daemon: Daemon, logs: Logs) -> None:
    """TCP segments need not end on frame boundaries (Nagle, a WAN MSS): every read may end mid-frame.

    Frames keep completing, so no frame is stalled; the slow-loris guard must not fire, even after
    several frame_timeout_s of such a stream.
    """
    peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
    speech = first_word(8000)
    stream = encode_uuid(peer.call_id) + b"".join(
        encode(Kind.SLIN_8K, speech[i : i + 320].ljust(320, b"\0")) for i in range(0, len(speech), 320)
    )
    stream += encode(Kind.SLIN_8K, bytes(320)) * 40  # 0.8 s of silence after the word
    step = 484  # 1.5 frames per write, every 30 ms: the same 50 frames/s, never frame-aligned
    for i in range(0, len(stream), step):
        peer.send_raw(stream[i : i + step])
        await asyncio.sleep(0.03)
    await peer.wait_echo()
    assert not log_lines(logs, "audiosocket_protocol_error")
    await peer.close()
    ended = await wait_log(logs, "call_ended", call_id=str(peer.call_id))
    assert (ended["by"], ended["reason"]) == ("caller", "tcp_close")


# -- misbehaving peers, each beside a good call ---------------------------------------------------
Misbehave = Callable[[int], Awaitable[object]]


async def beside_a_good_call(daemon: Daemon, logs: Logs, misbehave: Misbehave) -> dict[str, object]:
    """Run `misbehave(port)` while a well-formed call talks on another connection.

    Returns the single `audiosocket_protocol_error` line, after checking that the good call kept
    receiving 0x10/320 frames (before and after the error), got its echo, and ended normally.
    """
    port = daemon.audiosocket.port
    good = await AudioSocketPeer.connect(port)
    t0 = time.monotonic()
    good.send_uuid()
    good.talk(first_word(8000))
    await good.frames(5)

    result = await misbehave(port)
    error = await wait_log(logs, "audiosocket_protocol_error")
    after_error = len(good.received)
    await good.wait_echo()
    await good.frames(after_error + 5)  # the stream went on after the other connection died
    elapsed = time.monotonic() - t0

    assert {(f.kind, len(f.payload)) for f in good.received} == {(Kind.SLIN_8K, 320)}
    assert len(good.received) >= 0.5 * elapsed / FRAME_S  # a steady stream, with a generous margin
    await good.close()
    ended = await wait_log(logs, "call_ended", call_id=str(good.call_id))
    assert (ended["by"], ended["reason"]) == ("caller", "tcp_close")

    errors = log_lines(logs, "audiosocket_protocol_error")
    assert len(errors) == 1, errors
    assert error["call_id"] != str(good.call_id)
    assert error["peer"] != f"127.0.0.1:{good.local_port}"
    error["_result"] = result
    return error


async def run_until_server_closes(port: int, data: bytes, close: bool = False) -> AudioSocketPeer:
    """Connect, send `data`, optionally close our side, and wait for the server to close the connection."""
    peer = await AudioSocketPeer.connect(port)
    peer.send_raw(data)
    if close:
        peer.writer.write_eof()
    await peer.wait_closed_by_server()
    await peer.close()
    return peer


async def misbehave_in_call(port: int, logs: Logs, call_id: uuid.UUID, data: bytes, close: bool = False) -> None:
    """Start a call properly (UUID, wait until the server took it), then send `data` on it."""
    peer = await AudioSocketPeer.connect(port)
    peer.send_raw(encode_uuid(call_id))
    await wait_log(logs, "call_started", call_id=str(call_id))
    peer.send_raw(data)
    if close:
        peer.writer.write_eof()
    await peer.wait_closed_by_server()
    await peer.close()


def audio(n: int = 1) -> bytes:
    return encode(Kind.SLIN_8K, bytes(320)) * n


async def test_unknown_kind_ends_only_that_call(daemon: Daemon, logs: Logs) -> None:
    bad_id = uuid.uuid4()
    error = await beside_a_good_call(
        daemon, logs, lambda port: misbehave_in_call(port, logs, bad_id, audio(2) + b"\x42\x00\x02hi")
    )
    assert error["reason"] == "unknown_kind"
    assert error["call_id"] == str(bad_id)
    ended = await wait_log(logs, "call_ended", call_id=str(bad_id))
    assert (ended["by"], ended["reason"]) == ("error", "unknown_kind")


async def test_length_past_the_cap_is_refused_from_the_header(daemon: Daemon, logs: Logs) -> None:
    cap = daemon.settings.audiosocket.max_payload_bytes
    bad_id = uuid.uuid4()
    header_only = HEADER.pack(Kind.SLIN_8K, cap + 1)  # we never send the payload: the header is enough
    error = await beside_a_good_call(daemon, logs, lambda port: misbehave_in_call(port, logs, bad_id, header_only))
    assert error["reason"] == "payload_too_long"
    assert error["call_id"] == str(bad_id)


async def test_audio_before_the_uuid(daemon: Daemon, logs: Logs) -> None:
    error = await beside_a_good_call(daemon, logs, lambda port: run_until_server_closes(port, audio(3)))
    assert error["reason"] == "missing_uuid"
    assert error["call_id"] is None


async def test_uuid_of_the_wrong_length(daemon: Daemon, logs: Logs) -> None:
    as_text = encode(Kind.UUID, str(uuid.uuid4()).encode())  # 36 characters instead of 16 raw bytes
    error = await beside_a_good_call(daemon, logs, lambda port: run_until_server_closes(port, as_text))
    assert error["reason"] == "bad_uuid"


async def test_a_second_uuid(daemon: Daemon, logs: Logs) -> None:
    bad_id = uuid.uuid4()
    error = await beside_a_good_call(
        daemon,
        logs,
        lambda port: misbehave_in_call(port, logs, bad_id, audio(2) + encode_uuid(uuid.uuid4())),
    )
    assert error["reason"] == "duplicate_uuid"
    assert error["call_id"] == str(bad_id)


@knobs(idle_timeout_s=0.5)
async def test_half_open_socket_hits_the_idle_timeout(daemon: Daemon, logs: Logs) -> None:
    bad_id = uuid.uuid4()
    error = await beside_a_good_call(daemon, logs, lambda port: run_until_server_closes(port, encode_uuid(bad_id)))
    assert error["reason"] == "idle_timeout"
    ended = await wait_log(logs, "call_ended", call_id=str(bad_id))
    assert (ended["by"], ended["reason"]) == ("error", "idle_timeout")


@knobs(frame_timeout_s=0.3)
async def test_slow_loris_hits_the_frame_timeout(daemon: Daemon, logs: Logs) -> None:
    two_header_bytes = encode(Kind.SLIN_8K, bytes(320))[:2]
    error = await beside_a_good_call(
        daemon, logs, lambda port: run_until_server_closes(port, encode_uuid(uuid.uuid4()) + two_header_bytes)
    )
    assert error["reason"] == "frame_timeout"


@knobs(write_buffer_limit_bytes=4096)
async def test_peer_that_never_reads_is_dropped(daemon: Daemon, logs: Logs) -> None:
    """A hung peer: it sent its UUID and one 16 kHz frame, and then neither reads nor sends.

    The server must notice on its own (not at the 30 s idle timeout) and reset the socket: a
    graceful close would wait forever for the unsent audio to drain.
    """
    deaf: list[DeafPeer] = []

    bad_id = uuid.uuid4()

    async def stop_reading(port: int) -> None:
        peer = await DeafPeer.connect(port)
        deaf.append(peer)
        await peer.send(encode_uuid(bad_id) + encode(Kind.SLIN_16K, bytes(640)))

    error = await beside_a_good_call(daemon, logs, stop_reading)
    assert error["reason"] == "peer_not_reading"
    ended = await wait_log(logs, "call_ended", call_id=str(bad_id))
    assert (ended["by"], ended["reason"]) == ("error", "peer_not_reading")
    await eventually(lambda: deaf[0].tcp_state() == TCP_STATE_CLOSE, "the server to reset the deaf peer's socket")
    deaf[0].close()


async def test_random_garbage(daemon: Daemon, logs: Logs) -> None:
    garbage = random.Random(20261126).randbytes(4096)
    assert garbage[0] not in {int(k) for k in Kind}  # so the expected reason is known
    error = await beside_a_good_call(daemon, logs, lambda port: run_until_server_closes(port, garbage))
    assert error["reason"] == "unknown_kind"


async def test_http_request_on_the_audiosocket_port(daemon: Daemon, logs: Logs) -> None:
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    error = await beside_a_good_call(daemon, logs, lambda port: run_until_server_closes(port, request))
    assert error["reason"] == "unknown_kind"


async def test_close_in_the_middle_of_a_frame(daemon: Daemon, logs: Logs) -> None:
    bad_id = uuid.uuid4()
    half_a_frame = encode(Kind.SLIN_8K, bytes(320))[:103]
    error = await beside_a_good_call(
        daemon, logs, lambda port: misbehave_in_call(port, logs, bad_id, half_a_frame, close=True)
    )
    assert error["reason"] == "truncated_frame"
    assert error["call_id"] == str(bad_id)
    ended = await wait_log(logs, "call_ended", call_id=str(bad_id))
    assert ended["by"] == "error"


async def test_a_daemon_stopped_while_a_call_is_being_stored_still_counts_it_as_ended(settings: Settings) -> None:
    """The caller hangs up, the agent is still storing the call (its grace), and the daemon stops then:
    the active-calls gauge goes back down anyway. It used to stay up for good (found by the real-PBX suite:
    /metrics then said a call was active on an idle daemon)."""
    from sentiric_pbx import metrics

    gauge = metrics.CALLS_ACTIVE.labels(ingress="audiosocket")
    storing = asyncio.Event()

    async def slow_to_store(transport: CallTransport) -> None:
        async for _ in transport.frames():
            pass
        storing.set()
        await asyncio.sleep(30)  # writing the record, the recording, post-call jobs…

    before = gauge._value.get()
    daemon = Daemon(settings, agent=slow_to_store)
    await daemon.start()
    try:
        assert daemon.audiosocket is not None
        peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
        peer.send_uuid()
        await eventually(lambda: gauge._value.get() == before + 1, "the call is counted")
        peer.writer.write_eof()  # the caller hangs up: a FIN, as Asterisk sends (fact 6)
        async with asyncio.timeout(5):
            await storing.wait()
        await asyncio.sleep(0.3)  # the connection is now giving the agent its grace
    finally:
        await daemon.stop()
        peer.writer.close()
    assert gauge._value.get() == before
    assert daemon.audiosocket.calls_active == 0


async def test_what_a_stopped_daemon_held_can_be_freed(settings: Settings) -> None:
    """start() freezes everything loaded (the cyclic GC must not walk the models during calls); stop() hands
    it back. Frozen for good, a process that ran two daemons one after the other (the demo's two calls, a
    test) kept both daemons' models: 6.3 GB with the 1.5B post-call model."""

    class Model:  # a loaded engine in a reference cycle, as real ones are (callbacks, executors)
        def __init__(self) -> None:
            self.me = self

    model = Model()
    freed = weakref.ref(model)
    daemon = Daemon(settings)
    await daemon.start()
    del model
    gc.collect()
    assert freed() is not None  # frozen while the daemon runs: the collector leaves it alone
    await daemon.stop()
    gc.collect()
    assert freed() is None


# -- a flood of errors is a few lines ---------------------------------------------------------------
async def test_a_peers_further_errors_are_one_summary_line_with_their_count(daemon: Daemon, logs: Logs) -> None:
    """Nine bad connections from one host within a window: the first (in a call) is logged at once with its
    reason and call_id; the other eight are one `audiosocket_protocol_errors` line when the window closes,
    with their count and reasons. The metric counts all nine."""
    from sentiric_pbx import metrics

    def counted(reason: str) -> float:
        return metrics.PROTOCOL_ERRORS.labels(ingress="audiosocket", reason=reason)._value.get()

    port = daemon.audiosocket.port
    daemon.audiosocket.problems.window_s = 2.0  # longer than the nine connections take, short for a test
    before = {r: counted(r) for r in ("unknown_kind", "missing_uuid")}
    first_id = uuid.uuid4()
    await misbehave_in_call(port, logs, first_id, b"\x42\x00\x00")
    for _ in range(4):
        await run_until_server_closes(port, b"\x42\x00\x00")
        await run_until_server_closes(port, audio(1))

    summary = await wait_log(logs, "audiosocket_protocol_errors", within_s=10.0)
    lines = log_lines(logs, "audiosocket_protocol_error")
    assert [(e["reason"], e["call_id"]) for e in lines] == [("unknown_kind", str(first_id))]
    assert (summary["peer"], summary["count"]) == ("127.0.0.1", 8)
    assert summary["reasons"] == {"unknown_kind": 4, "missing_uuid": 4}
    assert "call_id" not in summary  # a summary is no call's line
    assert len(log_lines(logs, "audiosocket_protocol_errors")) == 1
    assert {r: counted(r) - before[r] for r in before} == {"unknown_kind": 5, "missing_uuid": 4}


async def test_the_peer_table_holds_its_cap_when_the_source_address_keeps_changing(daemon: Daemon, logs: Logs) -> None:
    """Six hosts (127.0.0.2–7, real loopback sources), a cap of three: three peers get their own line, the
    fourth opens the shared overflow window, and the last two are counted in the overflow's summary."""
    port = daemon.audiosocket.port
    problems = daemon.audiosocket.problems
    problems.max_peers = 3
    for i in range(2, 8):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(f"127.0.0.{i}", 0))
        peer = AudioSocketPeer(reader, writer)
        peer.send_raw(b"\x42\x00\x00")
        await peer.wait_closed_by_server()
        await peer.close()
        assert problems.peers <= 3 + 1  # the cap, and the overflow
    hosts = [str(e["peer"]).split(":")[0] for e in log_lines(logs, "audiosocket_protocol_error")]
    assert hosts == ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]

    problems.close()  # what the listener does when it stops: pending counts are written, the table empties
    summaries = log_lines(logs, "audiosocket_protocol_errors")
    assert [(e["peer"], e["count"]) for e in summaries] == [(OVERFLOW, 2)]
    assert problems.peers == 0
