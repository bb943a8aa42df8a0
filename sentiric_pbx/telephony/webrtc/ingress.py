"""The browser phone: a page at `/phone`, signalling over one WebSocket, Opus both ways through aiortc.

One listener (`[webrtc] host:port`, loopback by default) serves three things:
  GET /phone      the page (call button, caller ID field, live transcript); `?caller=+905551112233`
  GET /phone.js   its script
  WS  /phone/ws   one call per socket, JSON messages:
      page → us   {"type": "offer", "sdp": "<complete offer>", "caller": "+905551112233"}   (once, first)
                  {"type": "dtmf", "digit": "0"}                        (a key of the page's keypad)
                  {"type": "hangup"}
      us → page   {"type": "answer", "sdp": "<answer>", "call_id": "<uuid>"}
                  {"type": "connected"}
                  {"type": "turn", "who": "caller" | "agent", "text": "..."}       (as each turn is stored)
                  {"type": "hangup", "by": "agent" | "caller" | "error", "reason": "..."}
                  {"type": "error", "error": "<reason>", "detail": "..."}        (then the socket closes)

No trickle ICE: the page sends its offer once gathering is complete and aiortc answers with all of its
candidates, so signalling is one request and one response. The socket stays open for the call: its
close is the caller's hangup (a closed tab ends the call at once, not after an ICE timeout), and it
carries the transcript to the page.

ICE uses host candidates only (no STUN/TURN: the page is meant for the LAN or this host), on every
address of this host but loopback (RFC 8445 §5.1.1.1), or only on `[webrtc] ice_addresses`
(`webrtc_ice.py`): a multi-homed PBX names its LAN address, and the tests name 127.0.0.1 (with a
Chromium started with --allow-loopback-in-peer-connection), so media never leaves loopback.

A malformed message (not JSON, not an offer, SDP aiortc cannot parse, no audio) ends that socket with
one `webrtc_signalling_error` line and an error message; other calls do not notice.

Who may call: every request must name an allowed host (`[webrtc] allowed_hosts`, the listener's own
address, the loopback names), or it gets 403 and one `webrtc_host_refused` line; the WebSocket must
also come from our own page (its Origin is the Host it asked for). The caller ID is the page's only if
`page_caller_id` is on. A call holds one of `max_calls` from its accepted offer, while it negotiates.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import Awaitable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sentiric_pbx import metrics
from sentiric_pbx.call.agent import Agent
from sentiric_pbx.call.transport import CallInfo, Dtmf, Hangup
from sentiric_pbx.config import Settings, WebRtcConfig
from sentiric_pbx.telephony.ingress import IngressContext
from sentiric_pbx.telephony.lifecycle import ActiveCalls, CallLife, stop_tasks
from sentiric_pbx.telephony.registry import CallRegistry
from sentiric_pbx.telephony.webrtc.ice import ice_addresses
from sentiric_pbx.telephony.webrtc.media import WebRtcTransport

log = structlog.get_logger("sentiric_pbx.webrtc")

WS_PATH = "/phone/ws"
CALLER_ID = re.compile(r"^\+?[0-9][0-9 ()./-]{1,30}$")
CLOSE_INVALID = 1007  # RFC 6455 §7.4.1: a message inconsistent with its type
CLOSE_TRY_LATER = 1013


class SignallingError(Exception):
    """The page sent something we cannot use; `reason` is a short machine word, `detail` for the log."""

    def __init__(self, reason: str, detail: str, close_code: int = CLOSE_INVALID) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.close_code = close_code


def _static(name: str) -> bytes:
    return (resources.files("sentiric_pbx.telephony.webrtc") / "static" / name).read_bytes()


def parse_offer(raw: str | bytes, cfg: WebRtcConfig) -> tuple[str, str | None]:
    """The page's first message → (offer SDP, caller ID or None), or `SignallingError`."""
    try:
        msg = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SignallingError("bad_json", str(exc)) from None
    if not isinstance(msg, dict) or msg.get("type") != "offer":
        raise SignallingError("not_an_offer", 'the first message must be {"type": "offer", "sdp": ...}')
    sdp = msg.get("sdp")
    if not isinstance(sdp, str) or not sdp.startswith("v=0"):
        raise SignallingError("bad_sdp", "the offer's sdp is not a session description")
    caller = msg.get("caller") or None
    if caller is not None and (not isinstance(caller, str) or not CALLER_ID.match(caller)):
        raise SignallingError("bad_caller_id", "caller must be a phone number such as +905551112233")
    if not cfg.page_caller_id:
        caller = None
    return sdp, caller or cfg.default_caller_id


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def host_name(value: str | None) -> str | None:
    """A `Host` header (`name`, `name:port`, `[v6]:port`) → the name, lower case, without a trailing dot."""
    if not value:
        return None
    try:
        name = urlsplit(f"//{value}").hostname
    except ValueError:  # a malformed IPv6 literal
        return None
    return name.rstrip(".") if name else None


def allowed_host_names(cfg: WebRtcConfig) -> frozenset[str]:
    """`[webrtc] allowed_hosts`, the listener's own address (unless a wildcard) and the loopback names."""
    own = {cfg.host.strip("[]").lower()} - WILDCARDS
    return LOOPBACK_NAMES | own | frozenset(cfg.allowed_hosts)


def same_origin(headers: Headers) -> bool:
    """A browser's WebSocket must come from our own page (its Origin's host:port is the Host it asked for).

    Browsers let any site open a WebSocket to 127.0.0.1; without this check a page on the web, opened by
    someone on this host, could call the agent with any caller ID and read back the greeting (the CRM's
    name for that number). Clients that are not browsers send no Origin and are not at risk. A page whose
    own name resolves to 127.0.0.1 (DNS rebinding) passes this check: the Host allow-list stops it.
    """
    origin = headers.get("Origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == (headers.get("Host") or "").lower()


class WebRtcIngress:
    """`Ingress` for browser calls; each WebSocket is one call run by `agent`."""

    name = "webrtc"

    def __init__(self, settings: Settings, agent: Agent, registry: CallRegistry) -> None:
        self.cfg = settings.webrtc
        self.agent = agent
        self.registry = registry
        self._server: Server | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self.active = ActiveCalls("webrtc")
        self._draining = False
        self._hosts = allowed_host_names(self.cfg)
        self._pages = {
            "/phone": ("text/html", _static("phone.html")),
            "/phone.js": ("text/javascript", _static("phone.js")),
        }

    # -- Ingress --------------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await serve(
            self._on_socket,
            self.cfg.host,
            self.cfg.port,
            process_request=self._http,
            max_size=self.cfg.max_message_bytes,
            server_header=None,
        )
        log.info(
            "webrtc_listening", host=self.cfg.host, port=self.port, page=f"http://{self.cfg.host}:{self.port}/phone"
        )

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def calls_active(self) -> int:
        return self.active.count

    def listeners(self) -> dict[str, tuple[str, int]]:
        return {"webrtc": (self.cfg.host, self.port)}

    async def drain(self, timeout_s: float) -> int:
        """New pages get 503 at once; calls in progress get up to `timeout_s`."""
        self._draining = True
        if self._calls and timeout_s > 0:
            await asyncio.wait(set(self._calls), timeout=timeout_s)
        return len(self._calls)

    async def close(self) -> None:
        self._draining = True
        for task in list(self._calls):
            task.cancel()
        if self._calls:
            await asyncio.gather(*self._calls, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- HTTP -----------------------------------------------------------------------------------
    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        host = request.headers.get("Host")
        if host_name(host) not in self._hosts:
            # DNS rebinding: a site re-points its own name at this host; its page's Origin then equals the Host
            # it sends, so only the name tells it from our page. One line per request, what it asked for.
            metrics.PROTOCOL_ERRORS.labels(ingress="webrtc", reason="host_not_allowed").inc()
            log.warning("webrtc_host_refused", host=(host or "")[:100], origin=request.headers.get("Origin"), path=path)
            return connection.respond(403, "this host name is not in [webrtc] allowed_hosts\n")
        if path == WS_PATH:
            if self._draining:
                return connection.respond(503, "the daemon is shutting down\n")
            if not same_origin(request.headers):
                log.warning("webrtc_cross_origin_refused", origin=request.headers.get("Origin"))
                return connection.respond(403, "calls only from this daemon's own /phone page\n")
            return None  # go on with the WebSocket handshake
        page = self._pages.get(path)
        if page is None:
            return connection.respond(404, "not found\n")
        ctype, body = page
        headers = Headers(
            [
                ("Content-Type", f"{ctype}; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                ("Connection", "close"),
            ]
        )
        return Response(200, "OK", headers, body)

    # -- one call per socket --------------------------------------------------------------------
    async def _on_socket(self, ws: ServerConnection) -> None:
        peer = ws.remote_address
        structlog.contextvars.bind_contextvars(call_id=None, peer=f"{peer[0]}:{peer[1]}" if peer else None)
        try:
            await BrowserCall(self, ws).run()
        except SignallingError as exc:
            metrics.PROTOCOL_ERRORS.labels(ingress="webrtc", reason=exc.reason).inc()
            log.warning("webrtc_signalling_error", reason=exc.reason, detail=exc.detail)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps({"type": "error", "error": exc.reason, "detail": exc.detail}))
            await ws.close(exc.close_code, exc.reason)
        except ConnectionClosed:
            log.info("webrtc_closed_before_offer")
        finally:
            structlog.contextvars.unbind_contextvars("call_id", "peer")


class BrowserCall:
    """One browser call from its offer to its hangup: peer connection, transport, agent, transcript."""

    def __init__(self, ingress: WebRtcIngress, ws: ServerConnection) -> None:
        self.ingress = ingress
        self.cfg = ingress.cfg
        self.ws = ws
        # iceServers=[]: aiortc's default is a public STUN server, which a closed network only waits on.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.transport: WebRtcTransport | None = None
        self.ended = asyncio.Event()
        self.end: Hangup = Hangup("caller", "socket_closed")
        self.started = time.monotonic()
        self._tasks: list[asyncio.Task[Any]] = []

    async def run(self) -> None:
        try:
            async with asyncio.timeout(self.cfg.connect_timeout_s):
                raw = await self.ws.recv()
        except TimeoutError:
            raise SignallingError("offer_timeout", f"no offer within {self.cfg.connect_timeout_s}s") from None
        try:
            sdp, caller = parse_offer(raw, self.cfg)
            if len(self.ingress._calls) >= self.cfg.max_calls or self.ingress._draining:
                detail = f"{self.cfg.max_calls} browser calls in progress or connecting"
                raise SignallingError("busy", detail, CLOSE_TRY_LATER)
        except SignallingError:
            await self.pc.close()
            raise
        # From the accepted offer on, this call holds one of `max_calls`: negotiating binds UDP sockets and runs
        # ICE/DTLS for up to connect_timeout_s, so offers that never connect must not be free.
        task = asyncio.current_task()
        assert task is not None
        self.ingress._calls.add(task)
        try:
            await self._offered(sdp, caller)
        finally:
            self.ingress._calls.discard(task)

    async def _offered(self, sdp: str, caller: str | None) -> None:
        call_id = str(uuid.uuid4())
        structlog.contextvars.bind_contextvars(call_id=call_id)
        info = CallInfo(call_id=call_id, caller_id=caller, channel=f"WebRTC/{call_id[:8]}", ingress="webrtc")
        info.on_turn = lambda who, text: self._notify({"type": "turn", "who": who, "text": text})
        self.transport = WebRtcTransport(info, self._agent_ends)
        try:
            await self._negotiate(sdp, call_id)
            connected = await self._connected()
        except BaseException:
            await self.pc.close()
            raise
        if not connected:  # the page went away (tab closed) while ICE was still connecting
            log.info("webrtc_left_before_connect")
            await self.pc.close()
            return
        await self._call(info)

    async def _negotiate(self, sdp: str, call_id: str) -> None:
        assert self.transport is not None
        remote: list[MediaStreamTrack] = []
        self.pc.on("track", lambda track: remote.append(track) if track.kind == "audio" else None)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as exc:  # aiortc raises ValueError and friends for SDP it cannot use
            raise SignallingError("bad_sdp", f"{type(exc).__name__}: {exc}") from None
        if not remote:
            raise SignallingError("no_audio", "the offer has no audio to send us (no microphone?)")
        self.pc.addTrack(self.transport.track)
        answer = await self.pc.createAnswer()
        with ice_addresses(self.cfg.ice_addresses):  # aiortc gathers (binds its UDP sockets) in here
            await self.pc.setLocalDescription(answer)
        self._remote = remote[0]
        await self.ws.send(json.dumps({"type": "answer", "sdp": self.pc.localDescription.sdp, "call_id": call_id}))

    async def _connected(self) -> bool:
        """Wait for ICE + DTLS: the greeting must not play into a connection that is not up yet.

        False if the page closed its socket meanwhile; `SignallingError` if the connection fails or times out.
        """
        up = asyncio.Event()

        @self.pc.on("connectionstatechange")
        def _state() -> None:
            if self.pc.connectionState in ("connected", "failed", "closed"):
                up.set()

        closed = asyncio.create_task(self.ws.wait_closed())
        try:
            waiting = asyncio.create_task(up.wait())
            done, _ = await asyncio.wait(
                {waiting, closed}, timeout=self.cfg.connect_timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            waiting.cancel()
        finally:
            closed.cancel()
        if self.pc.connectionState != "connected":
            if closed in done:
                return False
            if not done:
                raise SignallingError("connect_timeout", f"no ICE/DTLS connection within {self.cfg.connect_timeout_s}s")
            raise SignallingError("connect_failed", f"connection state {self.pc.connectionState}")
        return True

    async def _call(self, info: CallInfo) -> None:
        transport = self.transport
        assert transport is not None
        outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._outbox = outbox
        outbox.put_nowait({"type": "connected"})
        transport.start()
        life = CallLife("webrtc", transport, self.ingress.agent, self.ingress.active)
        agent = life.start()
        agent.add_done_callback(lambda _task: self._finish(Hangup("agent", "agent_finished")))
        self._tasks = [
            asyncio.create_task(self._watch(self._pump(), "media"), name="webrtc-pump"),
            asyncio.create_task(self._watch(self._read_socket(), "socket"), name="webrtc-read"),
            asyncio.create_task(self._write_socket(outbox), name="webrtc-write"),
        ]
        self.pc.on("connectionstatechange", self._on_state)
        try:
            await self.ended.wait()
        except asyncio.CancelledError:
            self._finish(Hangup("agent", "daemon_shutdown"))  # close(): the call outlived the drain
            raise
        finally:
            await self._wrap_up(life, outbox)

    async def _wrap_up(self, life: CallLife, outbox: asyncio.Queue[dict[str, Any] | None]) -> None:
        """End the call (its agent gets its grace), tell the page why, then close media and signalling."""
        transport = self.transport
        assert transport is not None
        try:
            await life.finish(self.end, dropped_outbound=transport.track.dropped)
        finally:
            await transport.stop_clock()
            outbox.put_nowait({"type": "hangup", "by": self.end.by, "reason": self.end.reason})
            outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await asyncio.shield(self._tasks[2])
            await stop_tasks(self._tasks)
            await self.pc.close()
            with contextlib.suppress(Exception):
                await self.ws.close(1000, self.end.reason)

    # -- the call's parts -----------------------------------------------------------------------
    def _finish(self, end: Hangup) -> None:
        """First reason wins: the call ends once, however many parts notice."""
        if not self.ended.is_set():
            self.end = end
            self.ended.set()

    async def _agent_ends(self, end: Hangup) -> None:
        """The agent hung up (after its goodbye has played: the session waits for playout first)."""
        self._finish(end)

    async def _watch(self, part: Awaitable[Hangup], what: str) -> None:
        try:
            self._finish(await part)
        except SignallingError as exc:
            metrics.PROTOCOL_ERRORS.labels(ingress="webrtc", reason=exc.reason).inc()
            log.warning("webrtc_signalling_error", reason=exc.reason, detail=exc.detail)
            self._notify({"type": "error", "error": exc.reason, "detail": exc.detail})
            self._finish(Hangup("error", exc.reason))
        except ConnectionClosed:
            self._finish(Hangup("caller", "socket_closed"))
        except Exception as exc:
            log.warning("webrtc_part_failed", part=what, error=repr(exc))
            self._finish(Hangup("error", f"{what}_failed"))

    async def _pump(self) -> Hangup:
        """The caller's audio; ends when the browser's track ends or goes silent for `media_timeout_s`."""
        transport = self.transport
        assert transport is not None
        try:
            await transport.pump(self._remote, self.cfg.media_timeout_s)
        except TimeoutError:
            log.warning("webrtc_media_timeout", waited_s=self.cfg.media_timeout_s)
            return Hangup("caller", "media_timeout")
        return Hangup("caller", "track_ended")

    async def _read_socket(self) -> Hangup:
        async for raw in self.ws:
            try:
                msg = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise SignallingError("bad_json", str(exc)) from None
            kind = msg.get("type") if isinstance(msg, dict) else None
            if kind == "hangup":
                return Hangup("caller", "hangup")
            if kind == "dtmf":
                assert self.transport is not None
                self.transport.on_event(parse_dtmf(msg))  # the browser's RTCDTMFSender events never reach aiortc
                continue
            raise SignallingError("unexpected_message", f"message type {kind!r} during a call")
        return Hangup("caller", "socket_closed")

    async def _write_socket(self, outbox: asyncio.Queue[dict[str, Any] | None]) -> None:
        with contextlib.suppress(ConnectionClosed):
            while (msg := await outbox.get()) is not None:
                await self.ws.send(json.dumps(msg))

    def _notify(self, msg: dict[str, Any]) -> None:
        outbox = getattr(self, "_outbox", None)
        if outbox is not None:
            outbox.put_nowait(msg)

    def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._finish(Hangup("caller", f"connection_{self.pc.connectionState}"))


def parse_dtmf(msg: dict[str, Any]) -> Dtmf:
    """A keypad message from the page: exactly one phone key, or the socket is misbehaving."""
    digit = msg.get("digit")
    if not isinstance(digit, str) or len(digit) != 1 or digit not in "0123456789*#ABCD":
        raise SignallingError("bad_dtmf", f"digit {str(digit)[:10]!r}")
    log.debug("dtmf_received", digit=digit)  # digits are private: never at info
    return Dtmf(digit)


__all__ = ["SignallingError", "WebRtcIngress", "parse_dtmf", "parse_offer"]


def build(ctx: IngressContext) -> WebRtcIngress:
    """The table's entry (telephony/ingress.py)."""
    ingress = WebRtcIngress(ctx.settings, ctx.agent, ctx.registry)
    ingress.active.capacity = ctx.capacity
    return ingress
