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
from collections import OrderedDict
from urllib.parse import urlsplit

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve

from sentiric_pbx import metrics
from sentiric_pbx.call.agent import Agent
from sentiric_pbx.config import FreeswitchConfig, Settings
from sentiric_pbx.telephony.freeswitch.call import INGRESS, FsCall
from sentiric_pbx.telephony.freeswitch.control import EslInbound, OutboundControl
from sentiric_pbx.telephony.freeswitch.esl import (
    EslConnection,
    EslError,
    EslEvent,
    EslProtocolError,
    check_arg,
)
from sentiric_pbx.telephony.ingress import IngressContext
from sentiric_pbx.telephony.lifecycle import ActiveCalls
from sentiric_pbx.telephony.registry import CallRegistry

log = structlog.get_logger("sentiric_pbx.freeswitch")


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
        self._connecting: OrderedDict[asyncio.StreamWriter, None] = OrderedDict()
        """Outbound sockets that have not yet told us their channel, oldest first (`max_pending_connections`)."""

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
        self._connecting[writer] = None
        self._make_room()
        try:
            try:
                channel = await conn.connect_outbound()
            finally:
                self._connecting.pop(writer, None)
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

    def _make_room(self) -> None:
        """Past `max_pending_connections` sockets that have not answered `connect`, the oldest is closed: the
        `socket` application answers at once, so a flood of silent connections only closes its own."""
        while len(self._connecting) > self.cfg.max_pending_connections:
            writer, _ = self._connecting.popitem(last=False)
            peer = writer.get_extra_info("peername") or ("?", 0)
            metrics.PROTOCOL_ERRORS.labels(ingress=INGRESS, reason="too_many_pending_connections").inc()
            log.warning(
                "freeswitch_protocol_error",
                reason="too_many_pending_connections",
                detail=f"more than {self.cfg.max_pending_connections} outbound sockets have not answered connect: "
                "the oldest was closed ([freeswitch] max_pending_connections)",
                peer=f"{peer[0]}:{peer[1]}",
            )
            writer.transport.abort()

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
    ingress = FreeswitchIngress(ctx.settings, ctx.agent, ctx.registry)
    ingress.active.capacity = ctx.capacity
    return ingress
