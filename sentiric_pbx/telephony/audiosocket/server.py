"""Asterisk AudioSocket media server: one task per connection, one call per connection.

What a connection does, in order: start the playout clock at accept (Asterisk's `AudioSocket()`
hangs up after 2 s without audio from us, and we do not know yet whether this is that app), wait for
the UUID frame, claim the call's metadata from the FastAGI registry, run the agent, and read frames
until the peer closes. On caller hangup Asterisk sends no 0x00: it closes TCP, so EOF *is* the hangup.

Anything wrong with one connection (unknown kind, oversized length, no UUID, a peer that stalls
mid-frame or stops reading) ends that connection with one `audiosocket_protocol_error` line. Nothing
here is shared between connections except the registry, so no other call notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import struct
import sys
import time
from collections.abc import Callable

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.audio.frames import FRAME_BYTES, Reframer, frame_bytes
from sentiric_pbx.audio.playout import PacedOutput, PlayoutClock
from sentiric_pbx.audio.resample import StreamResampler
from sentiric_pbx.call.agent import Agent
from sentiric_pbx.call.transport import CallControl, CallInfo, Dtmf, Hangup
from sentiric_pbx.config import AudioSocketConfig
from sentiric_pbx.telephony.asterisk.ami import AmiError
from sentiric_pbx.telephony.asterisk.ami_calls import AmiCallWatcher, Mode
from sentiric_pbx.telephony.audiosocket.protocol import (
    ERROR_CODES,
    HANGUP_FRAME,
    HEADER,
    KIND_BY_RATE,
    RATE_BY_KIND,
    Frame,
    FrameParser,
    Kind,
    ProtocolError,
    encode,
)
from sentiric_pbx.telephony.edge import CallIO, run_agent
from sentiric_pbx.telephony.registry import CallRegistry

try:  # Linux: bytes in a socket's send queue not yet acknowledged by the peer (SIOCOUTQ)
    import fcntl
    import termios

    _SIOCOUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - not Linux
    _SIOCOUTQ = None

log = structlog.get_logger("sentiric_pbx.audiosocket")

Router = Callable[[str], Agent | None]
"""UUID → who handles that connection instead of the agent (an ARI externalMedia call), or None."""
AGENT_GRACE_S = 5.0  # time the agent gets after hangup to store what it has


def _payload(frame: bytes) -> bytes:
    """An encoded audio frame's PCM (the 3-byte header off)."""
    return frame[HEADER.size :]


class AudioSocketTransport(CallIO):
    """`CallTransport` over one AudioSocket connection.

    Inbound audio is resampled to 16 kHz and cut into 20 ms frames; outbound 16 kHz PCM is resampled
    to the caller's rate and framed as the caller's kind ("answer in the rate the caller used").
    """

    def __init__(self, writer: asyncio.StreamWriter, cfg: AudioSocketConfig) -> None:
        super().__init__(CallInfo(call_id=""))
        self._writer = writer
        self._cfg = cfg
        self._in_rs: StreamResampler | None = None
        self._in_kind: Kind | None = None
        self._in_frames = Reframer(FRAME_BYTES)
        self.clock = PlayoutClock(self._send_frame, b"")
        self._set_wire_kind(KIND_BY_RATE[cfg.default_rate])
        self.hangup_sent = False
        self.hangup_reason = "agent_hangup"
        self.control: AmiCallWatcher | None = None
        """AMI for transfers (and metadata), when `[ami]` is enabled; set by the server."""
        self.owner: CallControl | None = None
        """The ARI call this connection is the externalMedia of: hangup and transfer go through ARI."""

    # -- wire side -------------------------------------------------------------------------
    def _set_wire_kind(self, kind: Kind) -> None:
        """Answer in `kind` from now on. Audio already queued in the old kind (a cached greeting queued
        within milliseconds of the UUID, before the caller's first frame told us its rate) is re-framed,
        never dropped: the caller would miss the start of the greeting."""
        rate = RATE_BY_KIND[kind]
        self.wire_kind = kind
        self.wire_rate = rate
        self._wire_frame = frame_bytes(rate)
        self._silence = encode(kind, bytes(self._wire_frame))
        self.clock.silence = self._silence
        encoder = functools.partial(encode, kind)
        if hasattr(self, "_out"):
            self._out.retarget(rate, self._wire_frame, encoder, _payload)
        else:
            self._out = PacedOutput(self.clock, rate, self._wire_frame, encoder)

    def _send_frame(self, frame: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("AudioSocket connection closed")
        unsent = self.unsent_bytes()
        if unsent > self._cfg.write_buffer_limit_bytes:
            raise ProtocolError("peer_not_reading", f"{unsent} bytes unsent; the peer stopped reading our audio")
        self._writer.write(frame)

    def unsent_bytes(self) -> int:
        """Our audio the peer has not taken yet: asyncio's buffer plus the kernel's send queue.

        The kernel part matters most: on loopback Linux sizes an accepted socket's send buffer in
        megabytes, so asyncio's own buffer stays empty for minutes while a hung peer reads nothing.
        """
        unsent = self._writer.transport.get_write_buffer_size()
        sock = self._writer.get_extra_info("socket")
        fd = sock.fileno() if sock is not None else -1  # -1 once closed: never a reused descriptor
        if _SIOCOUTQ is not None and fd >= 0:
            with contextlib.suppress(OSError):
                unsent += int.from_bytes(fcntl.ioctl(fd, _SIOCOUTQ, bytes(4)), sys.byteorder, signed=True)
        return unsent

    def on_audio(self, frame: Frame) -> None:
        if self._in_kind != frame.kind:
            first = self._in_kind is None
            self._in_kind = frame.kind
            self._in_rs = StreamResampler(RATE_BY_KIND[frame.kind], 16000)
            if first and frame.kind != self.wire_kind:
                self._set_wire_kind(frame.kind)
        assert self._in_rs is not None
        self.frames_in += 1
        for pcm in self._in_frames.push(self._in_rs.process(frame.payload)):
            self.deliver(pcm)

    # -- CallTransport (frames, events and playout are CallIO's) ---------------------------
    async def hangup(self, reason: str = "agent_hangup") -> None:
        """Send 0x00: Asterisk closes the socket and the dialplan continues after AudioSocket()."""
        if self.closed:
            return
        if self.owner is not None:  # ARI externalMedia: hang up the caller's channel, not just this leg
            await self.owner.hangup()
            self.end(Hangup("agent", reason))
            return
        self.hangup_sent = True
        self.hangup_reason = reason
        self._writer.write(HANGUP_FRAME)
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()
        self.end(Hangup("agent", reason))

    @property
    def media_mode(self) -> Mode:
        """The AudioSocket() app ("app", always 8 kHz, fact 1) or Dial(AudioSocket/…) ("dial").

        The dialplan may say so (`AGI(…/register,${UUID},dial)`); else the caller's audio tells: anything
        but 8 kHz can only be Dial(). AMI's Newexten, when it arrived, overrides both (`AmiCallWatcher`).
        """
        hint = self.info.extra.get("audiosocket_mode")
        if hint in ("app", "dial"):
            return hint  # type: ignore[return-value]
        return "app" if self._in_kind in (None, Kind.SLIN_8K) else "dial"

    async def transfer(self, target: str) -> None:
        """Hand the caller to `target` through AMI, then end this leg.

        AudioSocket itself can only end the leg (0x00). With AMI, `AmiCallWatcher.transfer` sets
        `SENTIRIC_TRANSFER` on the caller's channel (the dialplan after `AudioSocket()` dials it) or
        redirects the channel (`Dial(AudioSocket/…)` does not continue). Without AMI the 0x00 alone
        makes the dialplan go on with `SENTIRIC_TRANSFER` unset, i.e. hang up: say so loudly.
        """
        if self.owner is not None:  # ARI externalMedia: /continue or /redirect of the caller's channel
            if not self.closed:
                await self.owner.transfer(target)
                self.end(Hangup("agent", "transferred"))
            return
        control = self.control
        if control is None:
            log.warning(
                "transfer_without_ami",
                target=target,
                missing="[ami] enabled = true (with a manager.conf user)",
                effect="the dialplan continues with SENTIRIC_TRANSFER unset: the caller is hung up, not transferred",
            )
        else:
            try:
                await control.transfer(self.info, target, self.media_mode)
            except AmiError as exc:
                log.warning("transfer_failed", target=target, channel=self.info.channel, error=str(exc))
        await self.hangup("transferred")


class AudioSocketServer:
    """Accepts Asterisk's AudioSocket connections and runs `agent` for each call."""

    def __init__(self, cfg: AudioSocketConfig, registry: CallRegistry, agent: Agent) -> None:
        self.cfg = cfg
        self.registry = registry
        self.agent = agent
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls_active = 0
        self.control: AmiCallWatcher | None = None
        """AMI call control (metadata, transfer); the daemon sets it when `[ami] enabled = true`."""
        self.routers: list[Router] = []
        """Consulted with each connection's UUID: ARI claims the externalMedia connections it asked for."""

    def handler_for(self, call_id: str) -> Agent:
        for router in self.routers:
            handler = router(call_id)
            if handler is not None:
                return handler
        return self.agent

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._on_connect, self.cfg.host, self.cfg.port, limit=2**17, backlog=512
        )
        log.info("audiosocket_listening", host=self.cfg.host, port=self.port)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def drain(self, timeout_s: float) -> int:
        """Stop accepting, let the calls in progress go on for up to `timeout_s`; return how many remain.

        Graceful stop (SIGTERM): a caller mid-booking should not be cut off because the service restarts.
        New connections are refused at once (the listening socket is closed) so Asterisk fails over to
        its dialplan fallback instead of queueing on us; `close()` then ends whatever is left.
        """
        if self._server is not None:
            self._server.close()
        if self._tasks and timeout_s > 0:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
        return len(self._tasks)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await Connection(self, reader, writer).run()
        except asyncio.CancelledError:
            # Server shutdown. This is the task's outermost frame: asyncio's stream callback calls
            # task.exception() on it, which would log a spurious traceback for a cancelled task.
            pass
        finally:
            self._tasks.discard(task)


class Connection:
    """One AudioSocket TCP connection, from accept to close."""

    def __init__(self, server: AudioSocketServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.server = server
        self.cfg = server.cfg
        self.reader = reader
        self.writer = writer
        self.parser = FrameParser(self.cfg.max_payload_bytes)
        self.transport = AudioSocketTransport(writer, self.cfg)
        self.transport.control = server.control
        self.peer = writer.get_extra_info("peername")
        self.started = time.monotonic()
        self.partial_since: float | None = None
        self.last_rx = self.started
        self._pending: list[Frame] = []

    async def run(self) -> None:
        sock: socket.socket | None = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        structlog.contextvars.bind_contextvars(call_id=None, peer=f"{self.peer[0]}:{self.peer[1]}")
        clock = asyncio.create_task(self.transport.clock.run(), name="playout")
        clock.add_done_callback(self._on_clock_done)
        agent: asyncio.Task[None] | None = None
        end = Hangup("caller", "tcp_close")
        try:
            call_id = await self._read_uuid()
            if call_id is None:
                end = Hangup("caller", "closed_before_uuid")
                log.info("audiosocket_closed_before_uuid")
                return
            await self._await_metadata(call_id)
            self._claim_call(call_id)
            agent = asyncio.create_task(
                run_agent(self.server.handler_for(call_id), self.transport), name=f"agent-{call_id}"
            )
            end = await self._read_loop(clock, agent)
        except ProtocolError as exc:
            end = Hangup("error", exc.reason)
            metrics.PROTOCOL_ERRORS.labels(ingress="audiosocket", reason=exc.reason).inc()
            log.warning("audiosocket_protocol_error", reason=exc.reason, detail=exc.detail)
        except (ConnectionError, OSError) as exc:
            end = Hangup("caller", "connection_reset")
            log.info("audiosocket_connection_reset", error=str(exc))
        except asyncio.CancelledError:
            end = Hangup("agent", "daemon_shutdown")  # close(): the call outlived the drain timeout
            raise
        finally:
            await self._finish(clock, agent, end)

    async def _read_uuid(self) -> str | None:
        frames = await self._read(self.cfg.uuid_timeout_s, "uuid_timeout", "no UUID frame")
        if frames is None:
            return None
        first, rest = frames[0], frames[1:]
        self._pending = rest
        return str(first.uuid())

    async def _await_metadata(self, call_id: str) -> None:
        """With AMI, the caller's metadata may trail the UUID frame by a moment (another TCP connection)."""
        control = self.server.control
        if control is not None:
            await self.server.registry.wait_for(call_id, control.config.metadata_wait_s)

    def _claim_call(self, call_id: str) -> None:
        structlog.contextvars.bind_contextvars(call_id=call_id)
        info = self.server.registry.take(call_id)
        self.transport.info = info or CallInfo(call_id=call_id)
        self.server.calls_active += 1
        metrics.CALLS_ACTIVE.labels(ingress="audiosocket").inc()
        metrics.CALLS_TOTAL.labels(ingress="audiosocket").inc()
        log.info(
            "call_started",
            ingress="audiosocket",
            caller_id=self.transport.info.caller_id,
            registered=info is not None,
        )

    async def _read(self, timeout_s: float, reason: str, what: str) -> list[Frame] | None:
        """Read until at least one whole frame; None on a clean EOF at a frame boundary."""
        while True:
            deadline = self.last_rx + timeout_s
            if self.partial_since is not None:
                deadline = min(deadline, self.partial_since + self.cfg.frame_timeout_s)
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                async with asyncio.timeout(remaining):
                    data = await self.reader.read(65536)
            except TimeoutError:
                if self.partial_since is not None:
                    raise ProtocolError(
                        "frame_timeout", f"a frame started but did not complete within {self.cfg.frame_timeout_s}s"
                    ) from None
                raise ProtocolError(reason, f"{what} for {timeout_s}s") from None
            now = time.monotonic()
            if not data:
                if self.parser.partial:
                    raise ProtocolError("truncated_frame", "connection closed in the middle of a frame")
                return None
            self.last_rx = now
            frames = self.parser.feed(data)
            if not self.parser.partial:
                self.partial_since = None
            elif frames or self.partial_since is None:
                # The unfinished tail is a frame that started in this chunk. A peer whose TCP segments
                # never end on a frame boundary (Nagle, a WAN MSS) completes frames all the time; only
                # one frame that stays unfinished is a slow-loris.
                self.partial_since = now
            if frames:
                return frames

    async def _read_loop(self, clock: asyncio.Task[None], agent: asyncio.Task[None]) -> Hangup:
        pending = self._pending
        while True:
            for frame in pending:
                end = self._dispatch(frame)
                if end is not None:
                    return end
            if clock.done():
                clock.result()  # re-raise why the clock stopped (peer_not_reading, reset)
            if agent.done():
                return Hangup("agent", "agent_finished")
            got = await self._read(self.cfg.idle_timeout_s, "idle_timeout", "no frame from Asterisk")
            if got is None:
                return Hangup("caller", "tcp_close")
            pending = got

    def _dispatch(self, frame: Frame) -> Hangup | None:
        kind = frame.kind
        if frame.rate is not None:
            self.transport.on_audio(frame)
        elif kind == Kind.DTMF:
            if self.transport.owner is None:  # ARI delivers an externalMedia call's DTMF as events
                log.info("dtmf_received", digit=frame.digit())
                self.transport.on_event(Dtmf(frame.digit()))
        elif kind == Kind.HANGUP:
            return Hangup("caller", "hangup_frame")
        elif kind == Kind.ERROR:
            code = frame.payload[0] if frame.payload else 0
            log.warning("audiosocket_peer_error", code=code, meaning=ERROR_CODES.get(code, "application"))
            return Hangup("caller", f"peer_error_{ERROR_CODES.get(code, 'application')}")
        elif kind == Kind.UUID:
            raise ProtocolError("duplicate_uuid", "a second UUID frame on the same connection")
        return None

    def _on_clock_done(self, clock: asyncio.Task[None]) -> None:
        """The clock stopped on its own (peer_not_reading): wake the read, which may wait for a long time.

        A peer that neither reads nor sends (a hung Asterisk, a vanished host) would otherwise hold the
        connection, and the agent, until `idle_timeout_s`, with no audio going out.
        """
        if clock.cancelled() or self.transport.closed:
            return
        exc = clock.exception()
        if exc is not None:
            self.reader.set_exception(exc)

    async def _finish(self, clock: asyncio.Task[None], agent: asyncio.Task[None] | None, end: Hangup) -> None:
        """Stop playout, give the agent its grace to store the call, count the call ended, close the socket.

        The daemon may stop (cancel this task) at any await here: the call is still counted as ended and
        the agent still stopped (a call must never stay "active" on /metrics), and the socket still closed.
        """
        if self.transport.hangup_sent and end.by == "caller":
            end = Hangup("agent", self.transport.hangup_reason)  # Asterisk's close is its answer to our 0x00
        self.transport.end(end)
        clock.cancel()
        try:
            await asyncio.wait({clock})  # unlike `await clock`, never swallows our own cancellation
            if agent is not None:
                # Give the agent time to store the call (the record outlives the socket), then stop it.
                await asyncio.wait({agent}, timeout=AGENT_GRACE_S)
                if not agent.done():
                    agent.cancel()
                    await asyncio.wait({agent})
        finally:
            if agent is not None:
                if not agent.done():
                    agent.cancel()
                self._count_ended(end)
            await self._close_socket(end)
            structlog.contextvars.unbind_contextvars("call_id", "peer")

    def _count_ended(self, end: Hangup) -> None:
        self.server.calls_active -= 1
        metrics.CALLS_ACTIVE.labels(ingress="audiosocket").dec()
        stats = self.transport.clock.stats
        log.info(
            "call_ended",
            by=end.by,
            reason=end.reason,
            duration_s=round(time.monotonic() - self.started, 3),
            frames_in=self.transport.frames_in,
            frames_out=stats.frames_sent,
            audio_frames_out=stats.audio_frames_sent,
            late_ticks=stats.late_ticks,
            underruns=stats.underruns,
            dropped_inbound=self.transport.dropped_inbound,
        )
        metrics.PLAYOUT_LATE_TICKS.inc(stats.late_ticks)

    async def _close_socket(self, end: Hangup) -> None:
        if end.reason == "peer_not_reading":
            self._drop()
            return
        with contextlib.suppress(Exception):
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 1.0)
            except TimeoutError:
                self._drop()

    def _drop(self) -> None:
        """Reset the connection. `close()` waits for unsent audio to drain, which a peer that does not
        read never allows: the socket (and the event loop's transport) would stay open forever."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()
