"""ARI control plane: a Stasis app whose callers reach the agent through externalMedia (RTP, AudioSocket, WebSocket).

Why ARI next to AudioSocket: with ARI the PBX admin routes a call to `Stasis(sentiric)` and we do the
rest (answer, bridge, media, transfer, hangup) without dialplan tricks, and we learn about hangups and
DTMF as events. Control stays here; audio goes through `rtp.RtpTransport` and never through ARI.

The call recipe, from the Asterisk 22 captures (`tests/fixtures/asterisk/ari/`):
answer → read CHANNEL(language) → mixing bridge → add the caller → `POST /channels/externalMedia`
(RTP/UDP to our endpoint) → wait for *that channel's* StasisStart → add it to the bridge. Adding it
earlier races: 10 of 200 such calls got 422 "Channel not in Stasis application" (fact 13), so we wait
and still retry a 422. We send RTP to the address the externalMedia answer names
(`UNICASTRTP_LOCAL_ADDRESS`/`_PORT`) from the first tick, not after Asterisk's first packet: a caller
who stays quiet to hear the greeting makes a two-party bridge send us nothing (fact 8). The codec is
`[ari] format`: ulaw by default, g722 for wideband; never slin16, which Asterisk's SDP-less RTP
channel takes in no direction but its own (see `rtp.py`).

With `[ari] media = "audiosocket"` the externalMedia channel is AudioSocket over TCP instead
(`encapsulation=audiosocket&transport=tcp&format=slin16&data=<uuid>`): Asterisk connects to our
AudioSocket listener as a client and sends `data` as the UUID frame (fact 10), 16 kHz frames follow.
The AudioSocket server hands that connection to this call (`AudioSocketServer.routers`), so the
audio path is the one AudioSocket calls use, while hangup, DTMF and transfer stay with ARI. slin16
only: with `format=ulaw` Asterisk sends μ-law labelled as 8 kHz slin (fact 11). The UUID is only the
media's name: the call is stored under the caller's channel id, as an RTP call is.

With `[ari] media = "websocket"` it is chan_websocket (Asterisk 22.8+, `chan_websocket.py`):
`encapsulation=none&transport=websocket&connection_type=server&format=slin16`, then we connect to
Asterisk's HTTP server at `/media/<MEDIA_WEBSOCKET_CONNECTION_ID>` and wait for `MEDIA_START` before
bridging. DTMF then arrives on that socket (`DTMF_END`), so ARI's copy of it is not passed on twice.

A call that ends by error (the media gone or broken, the setup failed) hands the caller back to the
dialplan after `Stasis()` (`/continue`), as a daemon stop does, instead of leaving them in a silent app.

The events WebSocket reconnects with exponential backoff (an Asterisk restart is routine on a PBX);
each reconnect re-registers the app (the `app=` query does that) and re-checks the calls we hold,
because their hangup events may have been lost while we were away. The password is a SecretStr,
sent only as a Basic header, and never logged: neither it nor a URL carrying it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import random
import time
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import structlog
import websockets
from websockets.asyncio.client import connect

from sentiric_pbx import metrics
from sentiric_pbx.call.agent import Agent
from sentiric_pbx.call.transport import CallInfo, CallTransport, Dtmf, Hangup
from sentiric_pbx.config import AriConfig, RtpConfig, Settings
from sentiric_pbx.telephony.ari.chan_websocket import SUBPROTOCOL, ChanWebSocketError, ChanWebSocketTransport
from sentiric_pbx.telephony.ari.rtp import JitterStats, RtpEndpoint, RtpTransport, open_endpoint
from sentiric_pbx.telephony.audiosocket.server import AudioSocketServer, AudioSocketTransport
from sentiric_pbx.telephony.edge import run_agent

log = structlog.get_logger("sentiric_pbx.ari")

MEDIA_START_TIMEOUT_S = 5.0
ADD_CHANNEL_RETRIES = 5
AGENT_GRACE_S = 5.0
BACKOFF_START_S = 0.5


class AriError(Exception):
    """A non-2xx ARI answer: the status and Asterisk's `message`."""

    def __init__(self, status: int, message: str, method: str, path: str) -> None:
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.message = message


class AriRest:
    """The REST half: JSON in, JSON out, AriError on 4xx/5xx (204 → None)."""

    def __init__(self, cfg: AriConfig, timeout_s: float = 5.0) -> None:
        password = cfg.password.get_secret_value() if cfg.password is not None else ""
        self._http = httpx.AsyncClient(
            base_url=cfg.url.rstrip("/"), auth=httpx.BasicAuth(cfg.username, password), timeout=timeout_s
        )

    async def call(self, method: str, path: str, **params: str | int) -> Any:
        resp = await self._http.request(method, path, params=params or None)
        if resp.status_code >= 400:
            try:
                message = str(resp.json().get("message", resp.reason_phrase))
            except (ValueError, AttributeError):
                message = resp.reason_phrase
            raise AriError(resp.status_code, message, method, path)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    async def aclose(self) -> None:
        await self._http.aclose()


def events_url(cfg: AriConfig) -> str:
    """`ws(s)://host:port/ari/events?app=NAME&subscribeAll=false` (credentials go in a header, not here)."""
    parts = urlsplit(cfg.url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = urlencode({"app": cfg.app, "subscribeAll": "false"})
    return urlunsplit((scheme, parts.netloc, parts.path + "/events", query, ""))


def media_url(cfg: AriConfig, connection_id: str) -> str:
    """chan_websocket's server side: `/media/<id>` on the HTTP server whose `/ari` is `cfg.url` (same prefix)."""
    parts = urlsplit(cfg.url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    prefix = parts.path.removesuffix("/ari")
    return urlunsplit((scheme, parts.netloc, f"{prefix}/media/{connection_id}", "", ""))


def basic_auth_header(cfg: AriConfig) -> str:
    password = cfg.password.get_secret_value() if cfg.password is not None else ""
    return "Basic " + base64.b64encode(f"{cfg.username}:{password}".encode()).decode()


def parse_transfer_target(target: str) -> dict[str, str | int]:
    """`PJSIP/reception` (a dial string) → redirect; `exten@context` or `context,exten[,prio]` → continue."""
    if "/" in target:
        return {"endpoint": target}
    if "@" in target:
        exten, context = target.split("@", 1)
        return {"context": context, "extension": exten, "priority": 1}
    parts = target.split(",")
    if len(parts) >= 2:
        prio = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
        return {"context": parts[0], "extension": parts[1], "priority": prio}
    return {"extension": target, "priority": 1}


def _rtp_address(chanvars: dict[str, Any]) -> tuple[str, int] | None:
    """Asterisk's side of an externalMedia RTP channel, from the answer's channelvars (None if absent)."""
    host, port = chanvars.get("UNICASTRTP_LOCAL_ADDRESS"), chanvars.get("UNICASTRTP_LOCAL_PORT")
    try:
        return (str(host), int(str(port))) if host and port else None
    except ValueError:
        return None


def observe_rtp(stats: JitterStats) -> None:
    """One call's inbound RTP into the metrics: what arrived, and what the caller did not hear."""
    for result in ("received", "late", "duplicate", "lost"):
        count = stats.duplicates if result == "duplicate" else getattr(stats, result)
        metrics.RTP_PACKETS.labels(result=result).inc(count)
    # A late packet's slot was already played as concealment (counted in `lost`), so it is not a slot twice.
    slots = stats.received - stats.duplicates - stats.late + stats.lost
    if slots > 0:
        metrics.RTP_LOSS_RATIO.observe(stats.lost / slots)


class AriCall:
    """One caller channel in Stasis, from StasisStart to cleanup. Also the transport's `CallControl`."""

    def __init__(self, app: AriApp, channel: dict[str, Any], args: list[str]) -> None:
        self.app = app
        self.channel = channel
        self.args = args
        self.caller_chan: str = channel["id"]
        self.media_chan = f"{app.cfg.app}-media-{uuid.uuid4().hex[:16]}"
        self.bridge_id: str | None = None
        self.endpoint: RtpEndpoint | None = None
        self.transport: RtpTransport | AudioSocketTransport | ChanWebSocketTransport | None = None
        self.info: CallInfo | None = None
        self.media_uuid: str | None = None
        """AudioSocket media: the UUID Asterisk sends when it connects to our AudioSocket listener."""
        self.websocket: ChanWebSocketTransport | None = None
        """WebSocket media, from its connect on (before it is `transport`), so that cleanup closes it."""
        self.attached: asyncio.Future[AudioSocketTransport] = asyncio.get_running_loop().create_future()
        self.finished = asyncio.Event()
        self.media_started = asyncio.Event()
        self.done = asyncio.Event()
        self.end_event: Hangup | None = None
        self.cleaning = False
        self.task: asyncio.Task[None] | None = None
        self.started = time.monotonic()

    # -- events from the app --------------------------------------------------------------------
    def on_dtmf(self, digit: str) -> None:
        if self.app.media == "websocket":
            return  # chan_websocket brings the same digit in-band (DTMF_END): one event, not two
        log.info("dtmf_received", call_id=self.caller_chan, digit=digit)
        if self.transport is not None:
            self.transport.on_event(Dtmf(digit))

    def on_caller_gone(self, reason: str) -> None:
        if self.end_event is not None:
            return  # we hung up or transferred: this is Asterisk's confirmation
        self._end(Hangup("caller", reason))
        if self.transport is None and self.task is not None:
            self.task.cancel()  # still setting up: stop, then clean up what exists

    def on_media_gone(self, event: Hangup | None = None) -> None:
        """The media channel or its connection ended while the call was up (ARI event, or the socket)."""
        if not self.cleaning and self.end_event is None:
            self._end(event or Hangup("error", "media_channel_gone"))
            if self.transport is None and self.task is not None:
                self.task.cancel()  # still setting up

    def shutdown(self) -> None:
        """Daemon stop: end the call as the agent's decision; the caller's channel is left to Asterisk."""
        if self.transport is None and self.task is not None:
            self.end_event = self.end_event or Hangup("agent", "shutdown")
            self.task.cancel()
        else:
            self._end(Hangup("agent", "shutdown"))

    def _end(self, event: Hangup) -> None:
        if self.end_event is None:
            self.end_event = event
        if self.transport is not None:
            self.transport.end(event)
        self.done.set()

    # -- CallControl ----------------------------------------------------------------------------
    async def hangup(self) -> None:
        """Agent hangup: DELETE the caller's channel (404 means it is already gone)."""
        self.end_event = self.end_event or Hangup("agent", "agent_hangup")
        with contextlib.suppress(AriError):
            await self.app.rest.call("DELETE", f"/channels/{self.caller_chan}")
        self.done.set()

    async def transfer(self, target: str) -> None:
        """Send the caller back to the dialplan (`/continue`) or to a dial string (`/redirect`)."""
        self.end_event = self.end_event or Hangup("agent", "transferred")
        params = parse_transfer_target(target)
        action = "redirect" if "endpoint" in params else "continue"
        log.info("ari_transfer", target=target, action=action)
        try:
            await self.app.rest.call("POST", f"/channels/{self.caller_chan}/{action}", **params)
        except AriError as exc:
            log.warning("ari_transfer_failed", status=exc.status, message=exc.message)
        self.done.set()

    # -- the call -------------------------------------------------------------------------------
    async def run(self) -> None:
        structlog.contextvars.bind_contextvars(call_id=self.caller_chan)
        agent: asyncio.Task[None] | None = None
        try:
            await self._setup()
            assert self.transport is not None
            if not isinstance(self.transport, AudioSocketTransport):  # an AudioSocket connection counts itself
                metrics.CALLS_ACTIVE.labels(ingress="ari").inc()
                metrics.CALLS_TOTAL.labels(ingress="ari").inc()
            log.info("call_started", ingress="ari", caller_id=self.transport.info.caller_id, media=self.app.media)
            agent = asyncio.create_task(run_agent(self.app.agent, self.transport), name=f"agent-{self.caller_chan}")
            waiter = asyncio.create_task(self.done.wait())
            await asyncio.wait({agent, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if self.end_event is None:  # the agent returned on its own: the call is over for us
                await self.hangup()
            elif self.end_event.reason == "shutdown":  # daemon stopping: the dialplan after Stasis() takes over
                with contextlib.suppress(AriError, httpx.HTTPError):
                    await self.app.rest.call("POST", f"/channels/{self.caller_chan}/continue")
        except AriError as exc:
            self.end_event = self.end_event or Hangup("error", f"ari_{exc.status}")
            log.warning("ari_call_setup_failed", status=exc.status, message=exc.message)
        except TimeoutError:
            self.end_event = self.end_event or Hangup("error", "media_start_timeout")
            log.warning("ari_media_start_timeout", timeout_s=MEDIA_START_TIMEOUT_S)
        except httpx.HTTPError as exc:
            self.end_event = self.end_event or Hangup("error", "ari_unreachable")
            log.warning("ari_unreachable", error=type(exc).__name__)
        except ChanWebSocketError as exc:
            self.end_event = self.end_event or Hangup("error", exc.reason)
            metrics.PROTOCOL_ERRORS.labels(ingress="chan_websocket", reason=exc.reason).inc()
            log.warning("chan_websocket_protocol_error", reason=exc.reason, detail=exc.detail)
        except websockets.exceptions.InvalidStatus as exc:
            self.end_event = self.end_event or Hangup("error", "media_connect_failed")
            log.warning("ari_websocket_media_refused", status=exc.response.status_code)
        except websockets.exceptions.WebSocketException as exc:
            self.end_event = self.end_event or Hangup("error", "media_connect_failed")
            log.warning("ari_websocket_media_failed", error=type(exc).__name__)
        except OSError as exc:
            self.end_event = self.end_event or Hangup(
                "error", "rtp_unavailable" if self.app.media == "rtp" else "media_unreachable"
            )
            log.warning("ari_media_unavailable", media=self.app.media, error=str(exc))
        except asyncio.CancelledError:
            if self.end_event is None:  # not our own cancellation (caller gone, shutdown): propagate
                raise
        finally:
            await self._finish(agent)
            structlog.contextvars.unbind_contextvars("call_id")

    async def _setup(self) -> None:
        rest, cfg = self.app.rest, self.app.cfg
        await rest.call("POST", f"/channels/{self.caller_chan}/answer")
        language = await self._variable("CHANNEL(language)") or self.channel.get("language")
        bridge = await rest.call("POST", "/bridges", type="mixing", name=f"sentiric-{self.caller_chan}")
        self.bridge_id = bridge["id"]
        await rest.call("POST", f"/bridges/{self.bridge_id}/addChannel", channel=self.caller_chan)
        self.info = self._call_info(language)
        if self.app.audiosocket_server is not None:
            await self._setup_audiosocket(self.app.audiosocket_server)
            return
        if self.app.media == "websocket":
            await self._setup_websocket()
            return
        self.endpoint = await open_endpoint(self.app.rtp_cfg)
        self.app.media_owner[self.media_chan] = self
        media = await rest.call(
            "POST",
            "/channels/externalMedia",
            app=cfg.app,
            channelId=self.media_chan,
            external_host=f"{self.endpoint.host}:{self.endpoint.port}",
            format=cfg.format,
            encapsulation="rtp",
            transport="udp",
        )
        chanvars = media.get("channelvars") or {}
        asterisk_rtp = _rtp_address(chanvars)
        log.info(
            "ari_media_created",
            media_channel=self.media_chan,
            local_port=self.endpoint.port,
            format=cfg.format,
            asterisk_rtp=f"{asterisk_rtp[0]}:{asterisk_rtp[1]}" if asterisk_rtp else None,
        )
        if asterisk_rtp is not None:
            self.endpoint.send_to(asterisk_rtp)  # from the first tick: never wait for Asterisk to speak first
        async with asyncio.timeout(MEDIA_START_TIMEOUT_S):
            await self.media_started.wait()
        await self._add_media_to_bridge()
        self.transport = RtpTransport(self.endpoint, cfg.format, self._info(), self)
        self.transport.start()

    def _info(self) -> CallInfo:
        assert self.info is not None, "set in _setup once the bridge exists"
        return self.info

    async def _setup_websocket(self) -> None:
        """externalMedia over chan_websocket: we connect to Asterisk, read MEDIA_START, then bridge."""
        cfg = self.app.cfg
        self.app.media_owner[self.media_chan] = self
        media = await self.app.rest.call(
            "POST",
            "/channels/externalMedia",
            app=cfg.app,
            channelId=self.media_chan,
            format="slin16",
            encapsulation="none",
            transport="websocket",
            connection_type="server",
        )
        connection_id = str((media.get("channelvars") or {}).get("MEDIA_WEBSOCKET_CONNECTION_ID") or "")
        if not connection_id:
            raise ChanWebSocketError(
                "no_connection_id", "the externalMedia answer has no MEDIA_WEBSOCKET_CONNECTION_ID"
            )
        log.info("ari_media_created", media_channel=self.media_chan, media="websocket", connection_id=connection_id)
        async with asyncio.timeout(MEDIA_START_TIMEOUT_S):
            ws = await connect(
                media_url(cfg, connection_id),
                additional_headers={"Authorization": basic_auth_header(cfg)},
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]  # a Subprotocol is a str
                max_size=cfg.websocket_max_message_bytes,
                compression=None,
                proxy=None,
                ping_interval=None,  # ARI tells us when the channel goes; Asterisk's audio keeps TCP busy
                close_timeout=2,
                open_timeout=MEDIA_START_TIMEOUT_S,
            )
            self.websocket = ChanWebSocketTransport(
                ws, self._info(), self, self.on_media_gone, cfg.websocket_max_message_bytes
            )
            await self.websocket.open()
            await self.media_started.wait()
        await self._add_media_to_bridge()
        self.transport = self.websocket
        self.transport.start()

    async def _setup_audiosocket(self, server: AudioSocketServer) -> None:
        """externalMedia over AudioSocket: Asterisk dials our listener with `data` as the UUID."""
        self.media_uuid = str(uuid.uuid4())
        info = self._info()
        info.extra["audiosocket_uuid"] = self.media_uuid
        # The connection claims this under the UUID like a FastAGI registration; `attach_media` then gives
        # it the call's own info, whose call_id is the caller's channel id.
        server.registry.put(dataclasses.replace(info, call_id=self.media_uuid, extra=dict(info.extra)))
        self.app.audiosocket_owner[self.media_uuid] = self
        self.app.media_owner[self.media_chan] = self
        host = "127.0.0.1" if server.cfg.host in ("0.0.0.0", "") else server.cfg.host
        await self.app.rest.call(
            "POST",
            "/channels/externalMedia",
            app=self.app.cfg.app,
            channelId=self.media_chan,
            external_host=f"{host}:{server.port}",
            format="slin16",
            encapsulation="audiosocket",
            transport="tcp",
            data=self.media_uuid,
        )
        log.info("ari_media_created", media_channel=self.media_chan, media="audiosocket", uuid=self.media_uuid)
        async with asyncio.timeout(MEDIA_START_TIMEOUT_S):
            await self.media_started.wait()
        await self._add_media_to_bridge()
        async with asyncio.timeout(MEDIA_START_TIMEOUT_S):
            self.transport = await asyncio.shield(self.attached)

    async def attach_media(self, transport: CallTransport) -> None:
        """The AudioSocket connection with our UUID arrived: it is this call's media until the call ends.

        Runs as that connection's agent: the call's own agent runs in `run()`, and this returns once the
        call is cleaned up, so the connection closes after the media channel is gone.
        """
        assert isinstance(transport, AudioSocketTransport)
        transport.owner = self
        transport.info = self._info()  # stored under the caller's channel id, not the media's UUID
        if not self.attached.done():
            self.attached.set_result(transport)
        await self.finished.wait()

    async def _add_media_to_bridge(self) -> None:
        """After the media channel's StasisStart; a 422 is the race of fact 13, so retry it."""
        for attempt in range(ADD_CHANNEL_RETRIES):
            try:
                await self.app.rest.call("POST", f"/bridges/{self.bridge_id}/addChannel", channel=self.media_chan)
                return
            except AriError as exc:
                if exc.status != 422 or attempt == ADD_CHANNEL_RETRIES - 1:
                    raise
                log.info("ari_add_channel_retry", status=exc.status, attempt=attempt + 1)
                await asyncio.sleep(0.05 * (attempt + 1))

    async def _variable(self, name: str) -> str | None:
        try:
            got = await self.app.rest.call("GET", f"/channels/{self.caller_chan}/variable", variable=name)
        except AriError:
            return None
        value = (got or {}).get("value")
        return str(value) if value else None

    def _call_info(self, language: str | None) -> CallInfo:
        caller = self.channel.get("caller") or {}
        dialplan = self.channel.get("dialplan") or {}
        extra = {"bridge_id": self.bridge_id or "", "media_channel_id": self.media_chan}
        if self.args:
            extra["stasis_args"] = ",".join(self.args)
        return CallInfo(
            call_id=self.caller_chan,
            caller_id=caller.get("number") or None,
            caller_name=caller.get("name") or None,
            called_number=dialplan.get("exten") or None,
            language=language,
            channel=self.channel.get("name"),
            ingress="ari",
            extra=extra,
        )

    async def _finish(self, agent: asyncio.Task[None] | None) -> None:
        """Stop the agent (with grace to store the call), then remove the media channel and bridge."""
        self.cleaning = True
        end = self.end_event or Hangup("error", "setup_aborted")
        if self.transport is not None:
            self.transport.end(end)
        if agent is not None:
            done, _ = await asyncio.wait({agent}, timeout=AGENT_GRACE_S)
            if not done:
                agent.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await agent
        rest = self.app.rest
        with contextlib.suppress(AriError, httpx.HTTPError):
            await rest.call("DELETE", f"/channels/{self.media_chan}")
        if self.bridge_id is not None:
            with contextlib.suppress(AriError, httpx.HTTPError):
                await rest.call("DELETE", f"/bridges/{self.bridge_id}")
        if end.by == "error":  # hand the caller back to the dialplan after Stasis() rather than keep them in silence
            with contextlib.suppress(AriError, httpx.HTTPError):
                await rest.call("POST", f"/channels/{self.caller_chan}/continue")
                log.info("ari_caller_continued", reason=end.reason)
        if self.websocket is not None:
            await self.websocket.close()
        if isinstance(self.transport, AudioSocketTransport):
            log.info(
                "call_ended",
                ingress="ari",
                media="audiosocket",
                by=end.by,
                reason=end.reason,
                duration_s=round(time.monotonic() - self.started, 3),
                frames_in=self.transport.frames_in,
            )
        elif isinstance(self.transport, ChanWebSocketTransport):
            metrics.CALLS_ACTIVE.labels(ingress="ari").dec()
            stats = self.transport.clock.stats
            log.info(
                "call_ended",
                ingress="ari",
                media="websocket",
                by=end.by,
                reason=end.reason,
                duration_s=round(time.monotonic() - self.started, 3),
                frames_in=self.transport.frames_in,
                frames_out=self.transport.frames_out,
                late_ticks=stats.late_ticks,
                dropped_inbound=self.transport.dropped_inbound,
            )
        elif self.transport is not None:
            await self.transport.close()
            metrics.CALLS_ACTIVE.labels(ingress="ari").dec()
            stats = self.transport.clock.stats
            ep = self.transport.endpoint
            observe_rtp(ep.jitter.stats)
            log.info(
                "call_ended",
                ingress="ari",
                by=end.by,
                reason=end.reason,
                duration_s=round(time.monotonic() - self.started, 3),
                packets_in=ep.packets_in,
                packets_out=ep.packets_out,
                lost=ep.jitter.stats.lost,
                late=ep.jitter.stats.late,
                foreign_dropped=ep.dropped_foreign,
                late_ticks=stats.late_ticks,
            )
        elif self.endpoint is not None or self.media_uuid is not None or self.app.media == "websocket":
            if self.endpoint is not None:
                self.endpoint.close()
            log.info("call_ended", ingress="ari", by=end.by, reason=end.reason, setup_complete=False)
        if self.media_uuid is not None:
            self.app.audiosocket_owner.pop(self.media_uuid, None)
            if self.app.audiosocket_server is not None:
                self.app.audiosocket_server.registry.take(self.media_uuid)  # never claimed: do not keep it
        self.app.media_owner.pop(self.media_chan, None)
        self.app.calls.pop(self.caller_chan, None)
        self.finished.set()


class AriApp:
    """The Stasis application: the events WebSocket, and one `AriCall` per caller channel."""

    def __init__(self, settings: Settings, agent: Agent) -> None:
        self.cfg: AriConfig = settings.ari
        self.rtp_cfg: RtpConfig = settings.rtp
        self.agent = agent
        self.rest = AriRest(self.cfg)
        self.calls: dict[str, AriCall] = {}
        self.media_owner: dict[str, AriCall] = {}
        self.audiosocket_owner: dict[str, AriCall] = {}
        """Media UUID → call, for externalMedia over AudioSocket."""
        self.audiosocket_server: AudioSocketServer | None = None
        self.state = "stopped"
        self.connections = 0
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()

    def attach_audiosocket(self, server: AudioSocketServer) -> None:
        """Use `server` (the daemon's AudioSocket listener) for externalMedia when `media = "audiosocket"`."""
        if self.cfg.media == "audiosocket":
            self.audiosocket_server = server
            server.routers.append(self._route_audiosocket)

    def _route_audiosocket(self, call_id: str) -> Agent | None:
        call = self.audiosocket_owner.get(call_id.lower())
        return call.attach_media if call is not None else None

    @property
    def media(self) -> str:
        if self.cfg.media == "websocket":
            return "websocket"
        return "audiosocket" if self.audiosocket_server is not None else "rtp"

    async def start(self) -> None:
        if self.cfg.media != self.media:
            log.warning("ari_media_unsupported", media=self.cfg.media, using="rtp", reason="no AudioSocket listener")
        self._task = asyncio.create_task(self._events_loop(), name="ari-events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        tasks = [c.task for c in self.calls.values() if c.task is not None]
        for call in list(self.calls.values()):
            call.shutdown()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.rest.aclose()
        self._set_state("stopped")

    @property
    def calls_active(self) -> int:
        return len(self.calls)

    def _set_state(self, state: str, **fields: object) -> None:
        """One log line per change of state, not one per failed attempt."""
        if state == self.state:
            return
        self.state = state
        metrics.CONTROL_CONNECTED.labels(peer="ari").set(1 if state == "connected" else 0)
        if state == "connected":
            self.connected.set()
        else:
            self.connected.clear()
        log.info("ari_connection_state", state=state, app=self.cfg.app, **fields)

    async def _events_loop(self) -> None:
        backoff = BACKOFF_START_S
        url = events_url(self.cfg)
        headers = {"Authorization": basic_auth_header(self.cfg)}
        while True:
            error = "closed"
            try:
                async with connect(
                    url, additional_headers=headers, open_timeout=5, ping_interval=20, close_timeout=2
                ) as ws:
                    self.connections += 1
                    self._set_state("connected", connections=self.connections)
                    backoff = BACKOFF_START_S
                    if self.connections > 1:
                        metrics.CONTROL_RECONNECTS.labels(peer="ari").inc()
                        task = asyncio.create_task(self._recheck_calls())
                        self._side_tasks.add(task)
                        task.add_done_callback(self._side_tasks.discard)
                    async for message in ws:
                        self._on_message(message)
            except asyncio.CancelledError:
                raise
            except websockets.exceptions.InvalidStatus as exc:
                error = f"http_{exc.response.status_code}"
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
                error = type(exc).__name__
            self._set_state("disconnected", error=error)
            await asyncio.sleep(backoff * random.uniform(0.8, 1.0))
            backoff = min(backoff * 2, self.cfg.reconnect_max_s)

    async def _recheck_calls(self) -> None:
        """Events were lost while we were away: a caller that vanished meanwhile ends its call."""
        for call in list(self.calls.values()):
            try:
                await self.rest.call("GET", f"/channels/{call.caller_chan}")
            except AriError as exc:
                if exc.status == 404:
                    call.on_caller_gone("gone_after_reconnect")
            except httpx.HTTPError:
                return

    def _on_message(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
        except ValueError:
            log.warning("ari_bad_event")
            return
        if isinstance(event, dict):
            self._dispatch(event)

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        channel = event.get("channel") or {}
        chan_id = channel.get("id")
        if kind == "StasisStart":
            owner = self.media_owner.get(chan_id)
            if owner is not None:
                owner.media_started.set()
            elif chan_id not in self.calls and not self._foreign_media(channel):
                self._start_call(channel, list(event.get("args") or []))
        elif kind == "ChannelDtmfReceived" and chan_id in self.calls:
            self.calls[chan_id].on_dtmf(str(event.get("digit", "")))
        elif kind in ("StasisEnd", "ChannelDestroyed"):
            reason = "stasis_end" if kind == "StasisEnd" else "channel_destroyed"
            if chan_id in self.calls:
                self.calls[chan_id].on_caller_gone(reason)
            elif chan_id in self.media_owner:
                self.media_owner[chan_id].on_media_gone()

    def _foreign_media(self, channel: dict[str, Any]) -> bool:
        """An externalMedia channel we did not create (another instance of the app): not a caller."""
        name = str(channel.get("name", ""))
        return name.startswith(("UnicastRTP/", "AudioSocket/", "WebSocket/"))

    def _start_call(self, channel: dict[str, Any], args: list[str]) -> None:
        call = AriCall(self, channel, args)
        self.calls[call.caller_chan] = call
        call.task = asyncio.create_task(call.run(), name=f"ari-call-{call.caller_chan}")


__all__ = ["AriApp", "AriCall", "AriError", "AriRest", "events_url", "media_url", "parse_transfer_target"]
