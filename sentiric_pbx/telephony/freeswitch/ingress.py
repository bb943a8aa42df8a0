"""FreeSWITCH ingress: Event Socket (inbound mode) for control, mod_audio_stream's WebSocket for media.

The call recipe (`freeswitch/dialplan/sentiric.xml` is the admin's half): the dialplan sets
`sentiric_pbx=true`, answers and parks the channel. We hold one Event Socket connection subscribed to
CHANNEL_PARK, CHANNEL_HANGUP, DTMF and mod_audio_stream's events. A CHANNEL_PARK carrying our variable is
a new call: `uuid_audio_stream <uuid> start ws://…/<uuid> mono 16k <metadata>` makes FreeSWITCH dial our
WebSocket, and when that connection arrives the agent runs on a `FreeswitchTransport`. The agent's audio
goes back as `streamAudio` chunks; each `mod_audio_stream::play` event names the file FreeSWITCH wrote,
and we `uuid_broadcast` it. Barge-in is `uuid_break <uuid> all`, hangup `uuid_kill`, transfer
`uuid_transfer`. call_id is the channel UUID.

Failure handling: the Event Socket reconnects with exponential backoff (a FreeSWITCH restart is routine);
after a reconnect every call we hold is checked with `uuid_exists`, since its hangup may have been missed.
Garbage on the Event Socket is one `esl_protocol_error` line and a reconnect — the calls keep their media.
A malformed media message (odd-length audio, non-JSON text, an oversized frame) or a malformed event for
one call ends that call only, with one `freeswitch_protocol_error` line bound to its call_id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from urllib.parse import urlsplit

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from sentiric_pbx import metrics
from sentiric_pbx.call.agent import Agent
from sentiric_pbx.call.transport import CallInfo, Dtmf, Hangup
from sentiric_pbx.config import FreeswitchConfig, Settings
from sentiric_pbx.telephony.freeswitch.esl import (
    EslConnection,
    EslError,
    EslEvent,
    EslMessage,
    EslProtocolError,
    check_arg,
)
from sentiric_pbx.telephony.freeswitch.stream import FreeswitchTransport, StreamProtocolError, rate_arg
from sentiric_pbx.telephony.ingress import IngressContext
from sentiric_pbx.telephony.lifecycle import ActiveCalls, CallLife
from sentiric_pbx.telephony.registry import CallRegistry

log = structlog.get_logger("sentiric_pbx.freeswitch")

BACKOFF_START_S = 0.5
EVENTS = "CHANNEL_PARK CHANNEL_ANSWER CHANNEL_HANGUP DTMF CUSTOM mod_audio_stream::play mod_audio_stream::error"
INGRESS = "freeswitch"


class EslInbound:
    """The one Event Socket connection, kept up: connect, auth, subscribe, read; reconnect with backoff."""

    def __init__(self, cfg: FreeswitchConfig, ingress: FreeswitchIngress) -> None:
        self.cfg = cfg
        self.ingress = ingress
        self.conn: EslConnection | None = None
        self.state = "stopped"
        self.connections = 0
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="freeswitch-esl")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.conn is not None:
            self.conn.close()
        self._set_state("stopped")

    def _set_state(self, state: str, **fields: object) -> None:
        """One log line per change of state, not one per failed attempt."""
        if state == self.state:
            return
        self.state = state
        if state == "connected":
            self.connected.set()
        else:
            self.connected.clear()
        log.info("esl_connection_state", state=state, host=self.cfg.esl_host, port=self.cfg.esl_port, **fields)

    async def _loop(self) -> None:
        backoff = BACKOFF_START_S
        while True:
            why = "closed"
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.cfg.esl_host, self.cfg.esl_port, limit=2**20), 5.0
                )
                conn = EslConnection(reader, writer, self.ingress.on_event, self.cfg.max_message_bytes)
                try:
                    await conn.authenticate(self.cfg.esl_password.get_secret_value())
                    await conn.subscribe(EVENTS)
                    self.conn = conn
                    self.connections += 1
                    backoff = BACKOFF_START_S
                    self._set_state("connected", connections=self.connections)
                    self.ingress.on_esl_connected()
                    why = await conn.run()
                finally:
                    conn.close()
                    self.conn = None
            except EslProtocolError as exc:
                why = exc.reason
                metrics.PROTOCOL_ERRORS.labels(ingress="freeswitch_esl", reason=exc.reason).inc()
                log.warning("esl_protocol_error", reason=exc.reason, detail=exc.detail)
            except EslError as exc:
                why = "refused"
                self._set_state("refused", error=str(exc))
            except (OSError, TimeoutError) as exc:
                why = type(exc).__name__
            except Exception:  # never let one surprise end the reconnect loop for good
                why = "internal_error"
                log.exception("esl_loop_failed")
            self._set_state("disconnected", reason=why)
            await asyncio.sleep(backoff * (0.8 + 0.4 * random.random()))
            backoff = min(backoff * 2, self.cfg.reconnect_max_s)

    async def api(self, command: str, timeout_s: float = 5.0) -> str:
        if self.conn is None:
            raise EslError("event socket not connected")
        return await self.conn.api(command, timeout_s)

    def api_nowait(self, command: str, what: str, call_id: str) -> None:
        """Issue a command from an event handler (never block the reader); log a refusal."""
        issue_nowait(self.conn, command, what, call_id)


class OutboundControl:
    """Outbound mode: the call's own socket (`socket … async full`) carries its commands."""

    def __init__(self, conn: EslConnection) -> None:
        self.conn = conn

    async def api(self, command: str, timeout_s: float = 5.0) -> str:
        return await self.conn.api(command, timeout_s)

    def api_nowait(self, command: str, what: str, call_id: str) -> None:
        issue_nowait(None if self.conn.closed else self.conn, command, what, call_id)


def issue_nowait(conn: EslConnection | None, command: str, what: str, call_id: str) -> None:
    if conn is None:
        log.warning("freeswitch_command_failed", command=what, call_id=call_id, error="not connected")
        return
    fut = conn.command_nowait(f"api {command}")

    def done(f: asyncio.Future[EslMessage]) -> None:
        if f.cancelled():
            return
        error = f.exception()
        if error is not None and conn.closed:  # the socket went away under it: that is what gets logged
            log.debug("freeswitch_command_dropped", command=what, call_id=call_id)
        elif error is not None or (text := f.result().reply_text).startswith("-"):
            log.warning("freeswitch_command_failed", command=what, call_id=call_id, error=str(error or text))

    fut.add_done_callback(done)


Control = EslInbound | OutboundControl


class FsCall:
    """One parked channel, from CHANNEL_PARK to cleanup. Also the transport's `StreamControl`."""

    def __init__(self, ingress: FreeswitchIngress, park: EslEvent, esl: Control) -> None:
        self.ingress = ingress
        self.esl = esl
        self.cfg = ingress.cfg
        self.uuid = park.uuid or ""
        self.park = park
        self.transport: FreeswitchTransport | None = None
        self.media_connected = asyncio.Event()
        self.done = asyncio.Event()
        self.end_event: Hangup | None = None
        self.task: asyncio.Task[None] | None = None
        self.started = time.monotonic()

    def info(self) -> CallInfo:
        h = self.park.headers
        return CallInfo(
            call_id=self.uuid,
            caller_id=h.get("Caller-Caller-ID-Number") or None,
            caller_name=h.get("Caller-Caller-ID-Name") or None,
            called_number=h.get("Caller-Destination-Number") or None,
            language=h.get("variable_default_language") or None,
            channel=h.get("Channel-Name") or None,
            ingress=INGRESS,
            extra={"context": h.get("Caller-Context", "")},
        )

    # -- events -----------------------------------------------------------------------------------
    def on_dtmf(self, digit: str) -> None:
        log.info("dtmf_received", call_id=self.uuid, digit=digit)
        if self.transport is not None:
            self.transport.on_event(Dtmf(digit))

    def on_play(self, event: EslEvent) -> None:
        """mod_audio_stream wrote one of our chunks to a file: play it on the caller's leg."""
        try:
            data = json.loads(event.body)
            path = check_arg(str(data["file"]))
        except (ValueError, KeyError, TypeError, EslError) as exc:
            self.protocol_error("bad_play_event", f"mod_audio_stream::play body unusable: {type(exc).__name__}")
            return
        if self.end_event is None:
            self.esl.api_nowait(f"uuid_broadcast {self.uuid} {path} aleg", "uuid_broadcast", self.uuid)

    def on_hangup(self, cause: str) -> None:
        if self.end_event is None:
            self._end(Hangup("caller", cause.lower() or "hangup"))

    def protocol_error(self, reason: str, detail: str) -> None:
        """This call's peer broke the protocol: one line, end this call (and hang up its channel)."""
        metrics.PROTOCOL_ERRORS.labels(ingress=INGRESS, reason=reason).inc()
        log.warning("freeswitch_protocol_error", call_id=self.uuid, reason=reason, detail=detail)
        if self.end_event is None:
            self._end(Hangup("error", reason))
            self.esl.api_nowait(f"uuid_kill {self.uuid}", "uuid_kill", self.uuid)

    def shutdown(self) -> None:
        self._end(Hangup("agent", "shutdown"))

    def _end(self, event: Hangup) -> None:
        if self.end_event is None:
            self.end_event = event
        if self.transport is not None:
            self.transport.end(event)
        self.done.set()
        self.media_connected.set()  # a setup still waiting for media stops waiting

    # -- StreamControl ----------------------------------------------------------------------------
    async def hangup(self) -> None:
        self.end_event = self.end_event or Hangup("agent", "agent_hangup")
        with contextlib.suppress(EslError):
            await self.esl.api(f"uuid_kill {self.uuid}")
        self.done.set()

    async def transfer(self, target: str) -> None:
        """`uuid_transfer <uuid> <target>`: target is `<exten> [<dialplan> <context>]`, e.g. `1000 XML default`."""
        self.end_event = self.end_event or Hangup("agent", "transferred")
        log.info("freeswitch_transfer", call_id=self.uuid, target=target)
        try:
            # The media bug would go on streaming the transferred caller to us: detach it first; and unset
            # our marker, or a park further down the transferred call's dialplan would hand it back to us.
            with contextlib.suppress(EslError):
                await self.esl.api(f"uuid_audio_stream {self.uuid} stop")
                await self.esl.api(f"uuid_setvar {self.uuid} {check_arg(self.cfg.call_variable)}")
            await self.esl.api(f"uuid_transfer {self.uuid} {check_arg(target)}")
        except EslError as exc:
            log.warning("freeswitch_transfer_failed", call_id=self.uuid, error=str(exc))
        self.done.set()

    def break_playback(self) -> None:
        self.esl.api_nowait(f"uuid_break {self.uuid} all", "uuid_break", self.uuid)

    # -- the call ---------------------------------------------------------------------------------
    async def run(self) -> None:
        structlog.contextvars.bind_contextvars(call_id=self.uuid)
        life: CallLife | None = None
        try:
            await self._start_stream()
            if self.end_event is not None:
                return
            assert self.transport is not None
            life = CallLife(INGRESS, self.transport, self.ingress.agent, self.ingress.active)
            agent = life.start()
            waiter = asyncio.create_task(self.done.wait())
            await asyncio.wait({agent, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if self.end_event is None:  # the agent returned on its own: the call is over for us
                await self.hangup()
        except EslError as exc:
            self.end_event = self.end_event or Hangup("error", "stream_start_failed")
            log.warning("freeswitch_stream_start_failed", error=str(exc))
            self.esl.api_nowait(f"uuid_kill {self.uuid}", "uuid_kill", self.uuid)
        except TimeoutError:
            self.end_event = self.end_event or Hangup("error", "media_start_timeout")
            log.warning("freeswitch_media_start_timeout", timeout_s=self.cfg.media_start_timeout_s)
            self.esl.api_nowait(f"uuid_kill {self.uuid}", "uuid_kill", self.uuid)
        finally:
            await self._finish(life)
            structlog.contextvars.unbind_contextvars("call_id")

    async def _start_stream(self) -> None:
        url = f"{self.ingress.stream_base_url}/{self.uuid}"
        meta = json.dumps({"call_id": self.uuid}, separators=(",", ":"))
        await self.esl.api(f"uuid_audio_stream {self.uuid} start {url} mono {rate_arg(self.cfg.sample_rate)} {meta}")
        async with asyncio.timeout(self.cfg.media_start_timeout_s):
            await self.media_connected.wait()

    async def _finish(self, life: CallLife | None) -> None:
        end = self.end_event or Hangup("error", "setup_aborted")
        self.done.set()
        try:
            if life is not None and self.transport is not None:
                await life.finish(end, chunks_out=self.transport.chunks_out)
            else:
                if self.transport is not None:
                    self.transport.end(end)
                log.info("call_ended", ingress=INGRESS, by=end.by, reason=end.reason, setup_complete=False)
        finally:
            self.ingress.calls.pop(self.uuid, None)

    # -- media ------------------------------------------------------------------------------------
    async def serve_media(self, ws: ServerConnection) -> None:
        """The module's WebSocket for this call: metadata text, then binary L16 until the call ends."""
        transport = FreeswitchTransport(self.info(), self, self.cfg.sample_rate, self.cfg.play_chunk_ms)
        self.transport = transport
        clock = asyncio.create_task(transport.clock.run(), name=f"fs-playout-{self.uuid}")
        sender = asyncio.create_task(self._sender(ws, transport), name=f"fs-send-{self.uuid}")
        clock.add_done_callback(self._on_clock_done)
        self.media_connected.set()
        try:
            await self._read_media(ws, transport)
        except StreamProtocolError as exc:
            self.protocol_error(exc.reason, exc.detail)
        except ConnectionClosedError as exc:
            if exc.rcvd is None and exc.sent is not None and exc.sent.code == 1009:
                self.protocol_error("oversized_message", f"a message over {self.cfg.max_message_bytes} bytes")
            elif self.end_event is None:
                self._end(Hangup("caller", "media_closed"))
        finally:
            for task in (clock, sender):
                task.cancel()
            await asyncio.gather(clock, sender, return_exceptions=True)
            if self.end_event is None:
                self._end(Hangup("caller", "media_closed"))
            await self.done.wait()

    async def _read_media(self, ws: ServerConnection, transport: FreeswitchTransport) -> None:
        ended = asyncio.create_task(self.done.wait())
        try:
            while not self.done.is_set():
                recv = asyncio.create_task(ws.recv())
                await asyncio.wait({recv, ended}, return_when=asyncio.FIRST_COMPLETED)
                if not recv.done():
                    recv.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await recv
                    return
                try:
                    message = recv.result()
                except ConnectionClosedError:
                    raise
                except ConnectionClosed:
                    return
                if isinstance(message, bytes):
                    transport.on_audio(message)
                else:
                    self._on_text(message)
        finally:
            ended.cancel()

    def _on_text(self, text: str) -> None:
        """The metadata we passed to `uuid_audio_stream start` (JSON) is the only text the module sends."""
        try:
            meta = json.loads(text)
        except ValueError:
            raise StreamProtocolError("bad_text_message", f"not JSON: {text[:40]!r}") from None
        if isinstance(meta, dict) and meta.get("call_id") not in (None, self.uuid):
            raise StreamProtocolError("wrong_call", f"metadata names call {str(meta.get('call_id'))[:40]}")

    async def _sender(self, ws: ServerConnection, transport: FreeswitchTransport) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send(await transport.outbox.get())

    def _on_clock_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, StreamProtocolError):
            self.protocol_error(exc.reason, exc.detail)
        elif exc is not None and self.end_event is None:
            self._end(Hangup("error", "playout_failed"))


class FreeswitchIngress:
    """The `Ingress` for FreeSWITCH: the Event Socket client plus the WebSocket mod_audio_stream dials."""

    name = INGRESS

    def __init__(self, settings: Settings, agent: Agent, registry: CallRegistry) -> None:
        self.cfg: FreeswitchConfig = settings.freeswitch
        self.agent = agent
        self.registry = registry
        self.esl = EslInbound(self.cfg, self)
        self.calls: dict[str, FsCall] = {}
        self.active = ActiveCalls(INGRESS)
        self.accepting = True
        self._server: Server | None = None
        self._outbound: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- Ingress ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await serve(
            self._on_media,
            self.cfg.stream_host,
            self.cfg.stream_port,
            max_size=self.cfg.max_message_bytes,
            compression=None,
        )
        log.info("freeswitch_stream_listening", host=self.cfg.stream_host, port=self.stream_port)
        if self.cfg.mode == "outbound":
            self._outbound = await asyncio.start_server(
                self._on_outbound, self.cfg.outbound_host, self.cfg.outbound_port, limit=2**20
            )
            log.info("freeswitch_outbound_listening", host=self.cfg.outbound_host, port=self.outbound_port)
        else:
            self.esl.start()

    @property
    def outbound_port(self) -> int:
        assert self._outbound is not None
        return self._outbound.sockets[0].getsockname()[1]

    @property
    def stream_port(self) -> int:
        assert self._server is not None
        return next(iter(self._server.sockets)).getsockname()[1]

    @property
    def stream_base_url(self) -> str:
        if self.cfg.stream_url:
            return self.cfg.stream_url.rstrip("/")
        return f"ws://{self.cfg.stream_host}:{self.stream_port}"

    def listeners(self) -> dict[str, tuple[str, int]]:
        out = {"freeswitch stream": (self.cfg.stream_host, self.stream_port)}
        if self.cfg.mode == "outbound":
            out["freeswitch outbound"] = (self.cfg.outbound_host, self.outbound_port)
        return out

    async def drain(self, timeout_s: float) -> int:
        """No new calls (outbound: the listener closes, so the dialplan goes on past `socket`)."""
        self.accepting = False
        if self._outbound is not None:
            self._outbound.close()
        tasks = {c.task for c in self.calls.values() if c.task is not None}
        if tasks and timeout_s > 0:
            await asyncio.wait(tasks, timeout=timeout_s)
        return len(self.calls)

    async def close(self) -> None:
        self.accepting = False
        tasks = [c.task for c in self.calls.values() if c.task is not None]
        for call in list(self.calls.values()):
            call.shutdown()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.esl.stop()
        if self._outbound is not None:
            self._outbound.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._outbound.wait_closed()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @property
    def calls_active(self) -> int:
        return len(self.calls)

    # -- Event Socket -----------------------------------------------------------------------------
    def on_event(self, event: EslEvent) -> None:
        name, uuid = event.name, event.uuid
        if name == "CHANNEL_PARK":
            self._on_park(event)
            return
        call = self.calls.get(uuid or "")
        if call is None:
            return  # another application's channel
        if name == "DTMF":
            call.on_dtmf(event.get("DTMF-Digit", "") or "")
        elif name == "CHANNEL_HANGUP":
            call.on_hangup(event.get("Hangup-Cause", "") or "")
        elif name == "mod_audio_stream::play":
            call.on_play(event)
        elif name == "mod_audio_stream::error":
            call.protocol_error("stream_error", event.body[:200])

    def _on_park(self, event: EslEvent) -> None:
        uuid = event.uuid
        if not uuid or event.get(f"variable_{self.cfg.call_variable}", "").lower() not in ("true", "1", "yes"):
            return
        if uuid in self.calls:
            return  # parked again (after a uuid_break, a transfer back): already ours
        try:
            check_arg(uuid)
        except EslError:
            log.warning("freeswitch_protocol_error", reason="bad_uuid", detail=repr(uuid[:40]))
            return
        if not self.accepting:
            log.info("freeswitch_call_refused_draining", call_id=uuid)
            self.esl.api_nowait(f"uuid_kill {uuid} NORMAL_TEMPORARY_FAILURE", "uuid_kill", uuid)
            return
        call = FsCall(self, event, self.esl)
        self.calls[uuid] = call
        call.task = asyncio.create_task(call.run(), name=f"freeswitch-call-{uuid}")

    def on_esl_connected(self) -> None:
        """After a (re)connect: the hangup of a call we hold may have happened while we were away."""
        for uuid in list(self.calls):
            task = asyncio.create_task(self._recheck(uuid))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _recheck(self, uuid: str) -> None:
        try:
            exists = await self.esl.api(f"uuid_exists {uuid}")
        except EslError:
            return
        call = self.calls.get(uuid)
        if call is not None and exists.strip() == "false":
            call.on_hangup("gone_after_reconnect")

    # -- outbound mode ----------------------------------------------------------------------------
    async def _on_outbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One call's socket from the dialplan's `socket` application: connect, myevents, linger, then the call.

        Everything on this socket belongs to one call, so garbage on it ends that call only."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = EslConnection(reader, writer, self.on_event, self.cfg.max_message_bytes)
        call: FsCall | None = None
        try:
            channel = await conn.connect_outbound()
            uuid = check_arg(channel.uuid or "")
            structlog.contextvars.bind_contextvars(call_id=uuid)
            await conn.subscribe("CUSTOM mod_audio_stream::play mod_audio_stream::error")
            if not self.accepting or uuid in self.calls:
                log.info("freeswitch_call_refused", reason="draining" if not self.accepting else "duplicate")
                return
            call = FsCall(self, channel, OutboundControl(conn))
            self.calls[uuid] = call
            call.task = asyncio.create_task(call.run(), name=f"freeswitch-call-{uuid}")
            await conn.run()
            call.on_hangup("socket_closed")
        except EslProtocolError as exc:
            if call is not None:
                call.protocol_error(exc.reason, exc.detail)
            else:
                metrics.PROTOCOL_ERRORS.labels(ingress=INGRESS, reason=exc.reason).inc()
                log.warning("freeswitch_protocol_error", reason=exc.reason, detail=exc.detail)
        except (EslError, OSError, TimeoutError) as exc:
            log.warning("freeswitch_outbound_failed", error=str(exc))
            if call is not None:
                call.on_hangup("socket_error")
        except asyncio.CancelledError:
            if call is not None:
                call.shutdown()
        finally:
            if call is not None and call.task is not None:
                await asyncio.gather(call.task, return_exceptions=True)
            conn.close()
            self._tasks.discard(task)

    # -- media WebSocket --------------------------------------------------------------------------
    async def _on_media(self, ws: ServerConnection) -> None:
        path = urlsplit(ws.request.path if ws.request is not None else "").path
        uuid = path.rsplit("/", 1)[-1]
        call = self.calls.get(uuid)
        if call is None or call.transport is not None:
            log.warning("freeswitch_stream_unknown_call", path=path[:80])
            await ws.close(1008, "unknown call")
            return
        structlog.contextvars.bind_contextvars(call_id=uuid)
        await call.serve_media(ws)


def build(ctx: IngressContext) -> FreeswitchIngress:
    """The table's entry (telephony/ingress.py)."""
    return FreeswitchIngress(ctx.settings, ctx.agent, ctx.registry)
