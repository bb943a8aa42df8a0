"""Twilio Media Streams ingress: the voice webhook and the bidirectional Media Stream, on one port.

A call, in order (all three requests signed by Twilio with the account's Auth Token):

1. `POST /twilio/voice` — the number's (or TwiML App's) voice webhook. We register the call's
   metadata (CallSid, From, To) and answer `<Connect><Stream url="wss://…/twilio/stream/{CallSid}">`
   with `<Parameter>`s for the call SID and caller ID, then a `<Redirect>` to `/twilio/after`.
2. `GET /twilio/stream/{CallSid}` upgraded to a WebSocket — `connected`, `start`, then `media` every
   20 ms, `dtmf`, our `mark`s echoed, `stop`. The CallSid is in the path (Twilio forbids a query
   string on `<Stream url>`), so the signature covers it: a signature captured for one call cannot
   open a stream for another.
3. `POST /twilio/after` — `<Connect>` ended because we closed the stream; the answer is the next step.

Hangup: Media Streams has no hangup message. We close the WebSocket, `<Connect>` ends, and the
`<Redirect>` gets `<Hangup/>`. Transfer, without Twilio's REST API (we hold no API key and want
none): the same, but `/twilio/after` answers `<Dial>` to the agent's target when it is a number or a
SIP URI, else to `[twilio] transfer_to`; with neither, a transfer ends the call (one warning line).

Unsigned or badly signed requests get 403 and one `twilio_request_rejected` line. A stream that
breaks the protocol (not JSON, binary frames, media before `start`, a wrong media format, an
oversized message, silence on the socket) ends with one `twilio_protocol_error` line bound to its
call_id; the agent stores the call as it always does, and no other stream notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from sentiric_pbx import metrics
from sentiric_pbx.call.agent import Agent
from sentiric_pbx.call.transport import CallInfo, Dtmf, Hangup
from sentiric_pbx.config import Settings
from sentiric_pbx.telephony.ingress import IngressContext
from sentiric_pbx.telephony.lifecycle import AGENT_GRACE_S, ActiveCalls, CallLife, stop_tasks
from sentiric_pbx.telephony.registry import CallRegistry
from sentiric_pbx.telephony.twilio.protocol import (
    SIGNATURE_HEADER,
    Connected,
    DtmfDigit,
    Mark,
    Media,
    ProtocolError,
    Start,
    Stop,
    Unknown,
    connect_stream_twiml,
    dial_twiml,
    dialable,
    hangup_twiml,
    parse_message,
    signature_valid,
)
from sentiric_pbx.telephony.twilio.transport import TwilioTransport

log = structlog.get_logger("sentiric_pbx.twilio")

TRANSFER_TTL_S = 120.0  # a routed call or pending transfer Twilio never follows up on is forgotten
VOICE_PATH = "/twilio/voice"
AFTER_PATH = "/twilio/after"
STREAM_PATH = "/twilio/stream/"


def _ws_scheme(url: str) -> str:
    """`https://…` → `wss://…` (and `http://` → `ws://` in a lab): the stream URL for a webhook URL."""
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if url.startswith(http):
            return ws + url[len(http) :]
    return url


class TwilioIngress:
    """The `Ingress` for Twilio: an aiohttp server with the webhook, the after-stream hook and the streams."""

    name = "twilio"

    def __init__(self, settings: Settings, agent: Agent, registry: CallRegistry) -> None:
        self.cfg = settings.twilio
        self.agent = agent
        self.registry = registry
        self._runner: web.AppRunner | None = None
        self._streams: set[TwilioStream] = set()
        self._transfers: dict[str, tuple[float, str | None]] = {}
        self._routed: dict[str, float] = {}  # CallSid → when its webhook was answered (a drain lets these in)
        self._draining = False
        self.port = self.cfg.port
        self.active = ActiveCalls("twilio")
        self.rejected = 0

    @property
    def calls_active(self) -> int:
        return self.active.count

    # -- Ingress -----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.cfg.validate_signature and self.cfg.auth_token is None:
            raise RuntimeError("[twilio] auth_token is not set: every Twilio request would be rejected (403)")
        app = web.Application(client_max_size=self.cfg.max_message_bytes)
        app.router.add_route("POST", VOICE_PATH, self._voice)
        app.router.add_route("GET", VOICE_PATH, self._voice)
        app.router.add_route("POST", AFTER_PATH, self._after)
        app.router.add_route("GET", STREAM_PATH + "{call_sid}", self._stream)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.host, self.cfg.port, backlog=512)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("twilio_listening", host=self.cfg.host, port=self.port, public_url=self.cfg.public_url)

    def listeners(self) -> dict[str, tuple[str, int]]:
        return {"twilio": (self.cfg.host, int(self.port))}

    async def drain(self, timeout_s: float) -> int:
        """Answer new webhooks and streams with 503 (Twilio's fallback URL takes over); let calls finish."""
        self._draining = True
        await self._wait_streams(timeout_s)
        return len(self._streams)

    async def close(self) -> None:
        self._draining = True
        for stream in list(self._streams):
            stream.shutdown()
        await self._wait_streams(AGENT_GRACE_S + 2)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _wait_streams(self, timeout_s: float) -> None:
        if not self._streams or timeout_s <= 0:
            return
        waits = [asyncio.create_task(s.done.wait()) for s in self._streams]
        try:
            await asyncio.wait(waits, timeout=timeout_s)
        finally:
            for w in waits:
                w.cancel()

    # -- signatures ----------------------------------------------------------------------------
    def _public_url(self, request: web.Request, websocket: bool = False) -> list[str]:
        """The URL(s) Twilio called and signed: the public base + our path, `wss://` for a stream."""
        if self.cfg.public_url is None:  # a lab without a proxy: what we see is what Twilio called
            seen = str(request.url)
            return [_ws_scheme(seen), seen] if websocket else [seen]
        https = self.cfg.public_url.rstrip("/") + request.path_qs
        if not websocket:
            return [https]
        return [_ws_scheme(https), https]

    def _reject(self, request: web.Request, reason: str) -> web.Response:
        self.rejected += 1
        metrics.PROTOCOL_ERRORS.labels(ingress="twilio", reason=reason).inc()
        log.warning("twilio_request_rejected", reason=reason, path=request.path, remote=request.remote)
        return web.Response(status=403, text="forbidden\n")

    def _check_signature(self, request: web.Request, params: list[tuple[str, str]], websocket: bool) -> str | None:
        """None if the request is Twilio's, else why not (for the log line)."""
        if not self.cfg.validate_signature:
            return None
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return "unsigned"
        assert self.cfg.auth_token is not None
        token = self.cfg.auth_token.get_secret_value()
        if any(signature_valid(token, url, params, signature) for url in self._public_url(request, websocket)):
            return None
        return "bad_signature"

    async def _signed_params(self, request: web.Request) -> dict[str, str] | web.Response:
        try:
            form = await request.post() if request.method == "POST" else {}
        except (ValueError, web.HTTPException) as exc:
            return self._reject(request, f"bad_body:{type(exc).__name__}")
        params = [(k, v) for k, v in form.items() if isinstance(v, str)]
        why = self._check_signature(request, params, websocket=False)
        if why is not None:
            return self._reject(request, why)
        if request.method == "GET":
            params = list(request.query.items())
        return dict(params)

    # -- webhooks ------------------------------------------------------------------------------
    async def _voice(self, request: web.Request) -> web.StreamResponse:
        params = await self._signed_params(request)
        if isinstance(params, web.Response):
            return params
        call_sid = params.get("CallSid", "")
        if not call_sid.isalnum():
            log.warning("twilio_webhook_without_callsid", path=request.path)
            return web.Response(status=400, text="CallSid missing\n")
        if self._draining:
            log.info("twilio_call_refused_draining", call_id=call_sid)
            return web.Response(status=503, text="draining\n")
        info = CallInfo(
            call_id=call_sid,
            caller_id=params.get("From") or None,
            caller_name=params.get("CallerName") or None,
            called_number=params.get("To") or None,
            ingress="twilio",
            extra={k: params[k] for k in ("AccountSid", "Direction", "CallStatus") if k in params},
        )
        self.registry.put(info)
        now = time.monotonic()
        self._routed = {sid: at for sid, at in self._routed.items() if now - at < TRANSFER_TTL_S}
        self._routed[call_sid] = now
        base = self._public_url(request)[0].split(VOICE_PATH)[0]
        ws_base = _ws_scheme(base)
        custom = {"callSid": call_sid, "from": info.caller_id or "", "to": info.called_number or ""}
        twiml = connect_stream_twiml(f"{ws_base}{STREAM_PATH}{call_sid}", custom, f"{base}{AFTER_PATH}")
        log.info("twilio_call_routed", call_id=call_sid, caller_id=info.caller_id, called=info.called_number)
        return web.Response(text=twiml, content_type="text/xml")

    async def _after(self, request: web.Request) -> web.StreamResponse:
        params = await self._signed_params(request)
        if isinstance(params, web.Response):
            return params
        call_sid = params.get("CallSid", "")
        _at, target = self._transfers.pop(call_sid, (0.0, None))
        if target is None:
            return web.Response(text=hangup_twiml(), content_type="text/xml")
        log.info("twilio_transfer_dial", call_id=call_sid, target=target)
        return web.Response(text=dial_twiml(target), content_type="text/xml")

    def note_transfer(self, call_sid: str, target: str) -> None:
        """Remember where `/twilio/after` should send this call (or nowhere: `<Hangup/>`)."""
        now = time.monotonic()
        for sid in [s for s, (at, _t) in self._transfers.items() if now - at > TRANSFER_TTL_S]:
            del self._transfers[sid]
        dial = target if dialable(target) else self.cfg.transfer_to
        if dial is None:
            log.warning("twilio_transfer_not_dialable", target=target, hint="set [twilio] transfer_to")
        self._transfers[call_sid] = (now, dial)

    # -- streams -------------------------------------------------------------------------------
    async def _stream(self, request: web.Request) -> web.StreamResponse:
        why = self._check_signature(request, [], websocket=True)
        if why is not None:
            return self._reject(request, why)
        call_sid = request.match_info["call_sid"]
        if self._draining and self._routed.pop(call_sid, None) is None:  # answered before the drain: let it in
            return web.Response(status=503, text="draining\n")
        ws = web.WebSocketResponse(max_msg_size=self.cfg.max_message_bytes, timeout=2.0, autoping=True)
        await ws.prepare(request)
        stream = TwilioStream(self, ws, call_sid, request.remote or "?")
        self._streams.add(stream)
        try:
            await stream.run()
        finally:
            self._streams.discard(stream)
            stream.done.set()
        return ws


class TwilioStream:
    """One Media Streams WebSocket, from upgrade to close."""

    def __init__(self, ingress: TwilioIngress, ws: web.WebSocketResponse, call_sid: str, peer: str) -> None:
        self.ingress = ingress
        self.cfg = ingress.cfg
        self.ws = ws
        self.path_sid = call_sid
        self.peer = peer
        self.transport: TwilioTransport | None = None
        self.started = time.monotonic()
        self.done = asyncio.Event()
        self._shutdown = False
        self._closing: asyncio.Future[None] | None = None

    async def run(self) -> None:
        structlog.contextvars.bind_contextvars(call_id=None, peer=self.peer)
        tasks: list[asyncio.Task[Any]] = []
        life: CallLife | None = None
        end = Hangup("caller", "ws_close")
        try:
            start = await self._await_start()
            if start is None:
                log.info("twilio_closed_before_start")
                return
            transport = self._claim(start)
            tasks = [
                asyncio.create_task(transport.clock.run(), name=f"twilio-playout-{start.call_sid}"),
                asyncio.create_task(self._writer(transport), name=f"twilio-writer-{start.call_sid}"),
            ]
            life = CallLife("twilio", transport, self.ingress.agent, self.ingress.active)
            life.start(stream_sid=start.stream_sid)
            end = await self._read_loop(tasks, life)
        except ProtocolError as exc:
            end = Hangup("error", exc.reason)
            metrics.PROTOCOL_ERRORS.labels(ingress="twilio", reason=exc.reason).inc()
            log.warning("twilio_protocol_error", reason=exc.reason, detail=exc.detail)
        except (ConnectionError, OSError) as exc:
            end = Hangup("caller", "connection_reset")
            log.info("twilio_connection_reset", error=str(exc))
        except asyncio.CancelledError:
            end = Hangup("agent", "daemon_shutdown")
            raise
        finally:
            await self._finish(tasks, life, end)

    def shutdown(self) -> None:
        """The daemon is stopping: end this call now (it outlived the drain)."""
        self._shutdown = True
        self._closing = asyncio.ensure_future(self._close(WSCloseCode.GOING_AWAY))

    # -- reading ---------------------------------------------------------------------------
    async def _receive(self, timeout_s: float, what: str) -> Any:
        """The next protocol message, or None once the socket is closing."""
        try:
            async with asyncio.timeout(timeout_s):
                msg = await self.ws.receive()
        except TimeoutError:
            reason = "idle_timeout" if what == "media" else "start_timeout"
            raise ProtocolError(reason, f"no {what} for {timeout_s}s") from None
        if msg.type == WSMsgType.TEXT:
            return parse_message(msg.data)
        if msg.type == WSMsgType.BINARY:
            raise ProtocolError("binary_frame", f"a {len(msg.data)}-byte binary frame; Media Streams sends JSON text")
        if msg.type == WSMsgType.ERROR:
            code = getattr(msg.data, "code", None)
            if code == WSCloseCode.MESSAGE_TOO_BIG:
                raise ProtocolError("oversized_message", f"over {self.cfg.max_message_bytes} bytes")
            raise ProtocolError("websocket_error", str(msg.data)[:120])
        return None  # CLOSE / CLOSING / CLOSED

    async def _await_start(self) -> Start | None:
        deadline = time.monotonic() + self.cfg.start_timeout_s
        while True:
            message = await self._receive(max(0.0, deadline - time.monotonic()), "start")
            if message is None:
                return None
            if isinstance(message, Start):
                return message
            if isinstance(message, Connected | Unknown):
                continue
            raise ProtocolError("before_start", f"`{type(message).__name__.lower()}` before `start`")

    def _claim(self, start: Start) -> TwilioTransport:
        if start.call_sid != self.path_sid:
            detail = f"stream URL is for {self.path_sid}, `start` says {start.call_sid}"
            raise ProtocolError("call_sid_mismatch", detail)
        structlog.contextvars.bind_contextvars(call_id=start.call_sid)
        info = self.ingress.registry.take(start.call_sid)
        if info is None:  # no webhook seen (a restart between the two): the TwiML's parameters say who
            custom = start.custom_parameters
            info = CallInfo(
                call_id=start.call_sid,
                caller_id=custom.get("from") or None,
                called_number=custom.get("to") or None,
                ingress="twilio",
            )
        info.extra["stream_sid"] = start.stream_sid
        self.transport = TwilioTransport(info, start.stream_sid, self.cfg, self._end_by_agent)
        return self.transport

    async def _read_loop(self, tasks: list[asyncio.Task[Any]], life: CallLife) -> Hangup:
        transport = self.transport
        assert transport is not None
        while True:
            for task in tasks:
                if task.done():
                    task.result()  # why the clock or the writer stopped (peer_not_reading, reset)
            if life.agent_done:
                return Hangup("agent", "agent_finished")
            message = await self._receive(self.cfg.idle_timeout_s, "media")
            if message is None:
                if self._shutdown:
                    return Hangup("agent", "daemon_shutdown")
                if transport.end_requested:
                    return Hangup("agent", transport.end_requested)
                return Hangup("caller", "ws_close")
            if isinstance(message, Media):
                if message.track in ("inbound", "inbound_track"):
                    transport.on_media(message.payload)
            elif isinstance(message, Mark):
                transport.on_mark(message.name)
            elif isinstance(message, DtmfDigit):
                log.debug("dtmf_received", digit=message.digit)  # digits are private: never at info
                transport.on_event(Dtmf(message.digit))
            elif isinstance(message, Stop):
                return Hangup("caller", "stop")
            elif isinstance(message, Start):
                raise ProtocolError("duplicate_start", "a second `start` on the same stream")
            elif isinstance(message, Unknown):
                log.debug("twilio_unknown_event", event=message.event[:40])

    # -- writing and ending ------------------------------------------------------------------
    async def _writer(self, transport: TwilioTransport) -> None:
        """Send the transport's messages in order; the clock, `mark` and `clear` all go through here."""
        while True:
            message = await transport.outbox.get()
            try:
                await self.ws.send_str(message)
            finally:
                transport.outbox.task_done()

    async def _end_by_agent(self, reason: str, target: str | None) -> None:
        """hangup()/transfer(): let queued messages out, then close; `<Connect>` ends on Twilio's side."""
        assert self.transport is not None
        if reason == "transferred":
            self.ingress.note_transfer(self.transport.info.call_id, target or "")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await self.transport.outbox.join()
        await self._close(WSCloseCode.OK)

    async def _close(self, code: int) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code)

    async def _finish(self, tasks: list[asyncio.Task[Any]], life: CallLife | None, end: Hangup) -> None:
        transport = self.transport
        if transport is not None:
            transport.end(end)
        try:
            await stop_tasks(tasks)
            if not self.ws.closed:
                code = WSCloseCode.POLICY_VIOLATION if end.by == "error" else WSCloseCode.OK
                await self._close(code)
        finally:
            if life is not None and transport is not None:
                await life.finish(end, marks_played=transport.marks_played, clears=transport.clears_sent)
        structlog.contextvars.unbind_contextvars("call_id", "peer")


def build(ctx: IngressContext) -> TwilioIngress:
    """The table's entry (telephony/ingress.py)."""
    ingress = TwilioIngress(ctx.settings, ctx.agent, ctx.registry)
    ingress.active.capacity = ctx.capacity
    return ingress
