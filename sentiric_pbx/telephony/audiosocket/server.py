"""Asterisk AudioSocket media server: one task per connection, one call per connection.

What a connection does, in order: wait for the UUID frame, then — it is a call now — build the call's
transport and start its playout clock at once (Asterisk's `AudioSocket()` hangs up after 2 s without
audio from us, and chan_audiosocket can stall a channel that waits for our next frame), claim the
call's metadata from the FastAGI registry, run the agent, and read frames until the peer closes. On
caller hangup Asterisk sends no 0x00: it closes TCP, so EOF *is* the hangup.

Why nothing is built before the UUID: Asterisk sends it the moment it connects (fixtures fact 4), so
waiting for it delays no call's audio, and a connection that never sends one is not a call. Until then a
connection costs an accept, a read buffer and a parser — no resamplers, no playout clock ticking 50
times a second, no socket options, no log context — so a flood of garbage connections (bench/soak.py)
takes little from the event loop that paces the real calls' audio.

Anything wrong with one connection (unknown kind, oversized length, no UUID, a peer that stalls
mid-frame or stops reading) ends that connection. Its `audiosocket_protocol_error` line is rate-limited
per peer host (`problems.py`: the first at once, the rest counted in one
`audiosocket_protocol_errors` line per window); the metric counts every one. Nothing here is shared
between connections except the registry and that count, so no other call notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.aio import within
from sentiric_pbx.call.agent import Agent
from sentiric_pbx.call.transport import CallInfo, Dtmf, Hangup
from sentiric_pbx.config import AudioSocketConfig
from sentiric_pbx.logging import caller_content
from sentiric_pbx.telephony.audiosocket.problems import PeerProblems
from sentiric_pbx.telephony.audiosocket.protocol import (
    ERROR_CODES,
    Frame,
    FrameParser,
    Kind,
    ProtocolError,
)
from sentiric_pbx.telephony.audiosocket.transport import AudioSocketControl, AudioSocketTransport
from sentiric_pbx.telephony.ingress import IngressContext
from sentiric_pbx.telephony.lifecycle import ActiveCalls, CallLife
from sentiric_pbx.telephony.registry import CallRegistry

ACCEPTS_PER_TURN = 8
"""Connections asyncio accepts per event-loop turn (its `backlog`): few enough not to delay a 20 ms tick."""
LISTEN_BACKLOG = 512
"""The kernel's queue of connections not yet accepted."""

log = structlog.get_logger("sentiric_pbx.audiosocket")

Router = Callable[[str], Agent | None]
"""UUID → who handles that connection instead of the agent (an ARI externalMedia call), or None."""


class AudioSocketServer:
    """Accepts Asterisk's AudioSocket connections and runs `agent` for each call."""

    name = "audiosocket"

    def __init__(self, cfg: AudioSocketConfig, registry: CallRegistry, agent: Agent) -> None:
        self.cfg = cfg
        self.registry = registry
        self.agent = agent
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.active = ActiveCalls("audiosocket")
        self.control: AudioSocketControl | None = None
        """AMI call control (metadata, transfer); the daemon sets it when `[ami] enabled = true`."""
        self.routers: list[Router] = []
        """Consulted with each connection's UUID: ARI claims the externalMedia connections it asked for."""
        self.problems = PeerProblems(
            "audiosocket", "audiosocket_protocol_error", "audiosocket_protocol_errors", logger=log
        )
        """Protocol errors: one line at once per peer host, then a count per window (a flood is a few lines)."""
        self.guard_unregistered = False
        """The dialplan registers its calls (`[fastagi] secret` or `[ami] enabled`), so an unregistered call is
        an anomaly and at most `cfg.max_unregistered_calls` of them run at once."""
        self.unregistered_calls = 0
        self.refusals = PeerProblems("audiosocket", "audiosocket_call_refused", "audiosocket_calls_refused", logger=log)
        """Unregistered calls turned away: one line at once per peer host, then a count per window."""
        self.pending: OrderedDict[Connection, None] = OrderedDict()
        """Connections that have not sent their UUID yet, oldest first (`cfg.max_pending_connections` at most)."""

    def handler_for(self, call_id: str) -> tuple[Agent, bool]:
        """Who runs this connection, and whether it is a call of its own (False: a router claimed it as the
        media of a call counted elsewhere, e.g. an ARI externalMedia call)."""
        for router in self.routers:
            handler = router(call_id)
            if handler is not None:
                return handler, False
        return self.agent, True

    async def start(self) -> None:
        # asyncio accepts up to `backlog` connections in one go each time the socket is readable, building
        # a transport and a task for each before any timer runs: with 512, a burst of garbage connections
        # stalled every call's playout clock for milliseconds (bench/soak.py). So asyncio gets a small
        # batch, and the kernel keeps the long queue a burst of real calls needs.
        self._server = await asyncio.start_server(
            self._on_connect, self.cfg.host, self.cfg.port, limit=2**17, backlog=ACCEPTS_PER_TURN
        )
        for sock in self._server.sockets:
            with socket.socket(fileno=os.dup(sock.fileno())) as listening:
                listening.listen(LISTEN_BACKLOG)
        log.info("audiosocket_listening", host=self.cfg.host, port=self.port)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def calls_active(self) -> int:
        return self.active.count

    def listeners(self) -> dict[str, tuple[str, int]]:
        return {"audiosocket": (self.cfg.host, self.port)}

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
        self.problems.close()
        self.refusals.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            connection = Connection(self, reader, writer)
            self._make_room()
            await connection.run()
        except asyncio.CancelledError:
            # Server shutdown. This is the task's outermost frame: asyncio's stream callback calls
            # task.exception() on it, which would log a spurious traceback for a cancelled task.
            pass
        finally:
            self._tasks.discard(task)


    def _make_room(self) -> None:
        """Over `max_pending_connections`, the connection that has waited longest without a UUID is closed.

        The oldest, not the newest: Asterisk sends the UUID the moment it connects (fixtures fact 4), so a
        connection that has said nothing for a while is the one least likely to be a call, and a flood of
        idle connections can then never keep a real call out — it only keeps closing its own.
        """
        while len(self.pending) > self.cfg.max_pending_connections:
            oldest = next(iter(self.pending))
            oldest.evict()
            self.problems.report(
                oldest.peer[0],
                "too_many_pending_connections",
                detail=f"more than {self.cfg.max_pending_connections} connections without a UUID "
                "([audiosocket] max_pending_connections): the oldest was closed",
                peer=oldest._peer_text(),
            )


class Connection:
    """One AudioSocket TCP connection, from accept to close.

    Until its UUID frame it is only a reader, a parser and a deadline; `transport` (and the playout clock)
    exist from the UUID on, i.e. only for calls.
    """

    def __init__(self, server: AudioSocketServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.server = server
        self.cfg = server.cfg
        self.reader = reader
        self.writer = writer
        self.parser = FrameParser(self.cfg.max_payload_bytes)
        self.unregistered = False
        """This call holds one of the server's `unregistered_calls`."""
        self.transport: AudioSocketTransport | None = None
        """Built by `_open_call` once the UUID has arrived; None for a connection that never was a call."""
        self.call_id: str | None = None
        self.peer: tuple[str, int] = writer.get_extra_info("peername") or ("?", 0)
        self.started = time.monotonic()
        self.partial_since: float | None = None
        self.last_rx = self.started
        self._pending: list[Frame] = []
        server.pending[self] = None  # until the UUID arrives or the connection ends

    async def run(self) -> None:
        clock: asyncio.Task[None] | None = None
        life: CallLife | None = None
        end = Hangup("caller", "tcp_close")
        try:
            try:
                call_id = await self._read_uuid()
            finally:
                self._release_pending()
            if call_id is None:
                end = Hangup("caller", "closed_before_uuid")
                log.info("audiosocket_closed_before_uuid", peer=self._peer_text())
                return
            clock = self._open_call(call_id)
            await self._await_metadata(call_id)
            life = self._claim_call(call_id)
            end = await self._read_loop(clock, life)
        except ProtocolError as exc:
            end = Hangup("error", exc.reason)
            self.server.problems.report(
                self.peer[0], exc.reason, detail=exc.detail, call_id=self.call_id, peer=self._peer_text()
            )
        except (ConnectionError, OSError) as exc:
            end = Hangup("caller", "connection_reset")
            log.info("audiosocket_connection_reset", error=str(exc), call_id=self.call_id, peer=self._peer_text())
        except asyncio.CancelledError:
            end = Hangup("agent", "daemon_shutdown")  # close(): the call outlived the drain timeout
            raise
        finally:
            await self._finish(clock, life, end)

    def _release_pending(self) -> None:
        self.server.pending.pop(self, None)

    def evict(self) -> None:
        """Close a connection that has not sent its UUID (`AudioSocketServer._make_room`): its read sees EOF."""
        self._release_pending()
        self.writer.transport.abort()

    def _peer_text(self) -> str:
        return f"{self.peer[0]}:{self.peer[1]}"

    async def _read_uuid(self) -> str | None:
        frames = await self._read(self.cfg.uuid_timeout_s, "uuid_timeout", "no UUID frame")
        if frames is None:
            return None
        first, rest = frames[0], frames[1:]
        self._pending = rest
        return str(first.uuid())

    def _open_call(self, call_id: str) -> asyncio.Task[None]:
        """The UUID arrived, so this is a call: build its transport and start its playout clock now.

        Now, before anything that waits (AMI metadata): the first 20 ms frame goes out on the loop's next
        turn, well within `AudioSocket()`'s 2 s, and a cached greeting on the tick after it is queued.
        """
        self.call_id = call_id
        sock: socket.socket | None = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        structlog.contextvars.bind_contextvars(call_id=call_id, peer=self._peer_text())
        transport = self.transport = AudioSocketTransport(self.writer, self.cfg)
        transport.control = self.server.control
        clock = asyncio.create_task(transport.clock.run(), name="playout")
        clock.add_done_callback(self._on_clock_done)
        return clock

    async def _await_metadata(self, call_id: str) -> None:
        """With AMI, the caller's metadata may trail the UUID frame by a moment (another TCP connection)."""
        control = self.server.control
        if control is not None:
            await self.server.registry.wait_for(call_id, control.metadata_wait_s)

    def _claim_call(self, call_id: str) -> CallLife:
        transport = self.transport
        assert transport is not None
        info = self.server.registry.take(call_id)
        transport.info = info or CallInfo(call_id=call_id)
        handler, own_call = self.server.handler_for(call_id)
        if own_call and (info is None or info.extra.get("metadata") == "fastagi_unverified"):
            self._anonymous(info)
        refuse = own_call and info is None and not self._admit_unregistered()
        life = CallLife("audiosocket", transport, handler, self.server.active if own_call else None)
        life.start(refuse=refuse, registered=info is not None)
        return life

    def _admit_unregistered(self) -> bool:
        """Whether a call nobody registered may run: always when the dialplan is not expected to register
        calls, else while fewer than `max_unregistered_calls` such calls are in progress."""
        server = self.server
        if not server.guard_unregistered:
            return True
        if server.unregistered_calls >= self.cfg.max_unregistered_calls:
            server.refusals.report(
                self.peer[0],
                "unregistered",
                detail=f"{server.unregistered_calls} unregistered calls in progress "
                f"([audiosocket] max_unregistered_calls = {self.cfg.max_unregistered_calls}): is the dialplan's "
                "FastAGI registration step missing or its key wrong?",
            )
            return False
        server.unregistered_calls += 1
        self.unregistered = True
        return True

    def _anonymous(self, info: CallInfo | None) -> None:
        """A call nobody vouched for: it runs, but as an unknown caller (nothing to greet by name or look up).

        Unregistered: neither a FastAGI registration nor AMI metadata named its UUID — a dialplan without
        the AGI step and without `[ami]`, a registration refused (wrong key, duplicate, over a cap), or a
        local process that made the UUID up. Unverified: registered without a key (no `[fastagi] secret`).
        """
        reason = "unregistered" if info is None else "unverified"
        metrics.ANONYMOUS_CALLS.labels(reason=reason).inc()
        if info is None:
            log.warning(
                "audiosocket_call_unregistered",
                detail="no FastAGI registration and no AMI metadata for this UUID: the call is anonymous",
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

    async def _read_loop(self, clock: asyncio.Task[None], life: CallLife) -> Hangup:
        pending = self._pending
        while True:
            for frame in pending:
                end = self._dispatch(frame)
                if end is not None:
                    return end
            if clock.done():
                clock.result()  # re-raise why the clock stopped (peer_not_reading, reset)
            if life.agent_done:
                return Hangup("agent", "agent_finished")
            got = await self._read(self.cfg.idle_timeout_s, "idle_timeout", "no frame from Asterisk")
            if got is None:
                return Hangup("caller", "tcp_close")
            pending = got

    def _dispatch(self, frame: Frame) -> Hangup | None:
        transport = self.transport
        assert transport is not None
        kind = frame.kind
        if frame.rate is not None:
            transport.on_audio(frame)
        elif kind == Kind.DTMF:
            if transport.owner is None:  # ARI delivers an externalMedia call's DTMF as events
                log.info("dtmf_received", **caller_content(digit=frame.digit()))
                transport.on_event(Dtmf(frame.digit()))
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
        if clock.cancelled() or self.transport is None or self.transport.closed:
            return
        exc = clock.exception()
        if exc is not None:
            self.reader.set_exception(exc)

    async def _finish(self, clock: asyncio.Task[None] | None, life: CallLife | None, end: Hangup) -> None:
        """Stop playout, end the call (its agent gets its grace, `CallLife`), close the socket — also when the
        daemon stops (cancels this task) at any await here."""
        transport = self.transport
        if transport is None or clock is None:  # never a call: nothing was sent, nothing runs, nothing bound
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()  # an empty send buffer: closed on the loop's next turn
            return
        transport.end(end)  # a no-op when our 0x00 ended it first: `CallLife.finish` then reports that end
        clock.cancel()
        try:
            await asyncio.wait({clock})  # unlike `await clock`, never swallows our own cancellation
        finally:
            try:
                if life is not None:
                    await life.finish(end)
            finally:
                if self.unregistered:
                    self.unregistered = False
                    self.server.unregistered_calls -= 1
                await self._close_socket(end)
                structlog.contextvars.unbind_contextvars("call_id", "peer")

    async def _close_socket(self, end: Hangup) -> None:
        if end.reason == "peer_not_reading":
            self._drop()
            return
        with contextlib.suppress(Exception):
            self.writer.close()
            try:
                await within(self.writer.wait_closed(), 1.0)
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


def build(ctx: IngressContext) -> AudioSocketServer:
    """The table's entry (telephony/ingress.py)."""
    ingress = AudioSocketServer(ctx.settings.audiosocket, ctx.registry, ctx.agent)
    ingress.active.capacity = ctx.capacity
    ingress.guard_unregistered = ctx.settings.fastagi.secret is not None or ctx.settings.ami.enabled
    return ingress
