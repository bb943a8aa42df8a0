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
import contextlib
import json
import random
from typing import Any

import httpx
import structlog
import websockets
from websockets.asyncio.client import connect

from sentiric_pbx import metrics
from sentiric_pbx.call.agent import Agent
from sentiric_pbx.config import AriConfig, RtpConfig, Settings
from sentiric_pbx.telephony.ari.call import AriCall
from sentiric_pbx.telephony.ari.rest import AriError, AriRest, basic_auth_header, events_url
from sentiric_pbx.telephony.audiosocket.server import AudioSocketServer
from sentiric_pbx.telephony.ingress import IngressContext
from sentiric_pbx.telephony.lifecycle import ActiveCalls

log = structlog.get_logger("sentiric_pbx.ari")

BACKOFF_START_S = 0.5


def disconnect_reason(error: str, was_connected: bool) -> str:
    """The events WebSocket's failure (`error`: `http_<status>` or an exception's name) in the admin's words."""
    if error in ("http_401", "http_403"):
        return "Asterisk refused the ARI login: check [ari] username/password against ari.conf"
    if error.startswith("http_"):
        return f"Asterisk answered the events WebSocket with HTTP {error[5:]}: check [ari] url and http.conf"
    if was_connected:
        return "closed by Asterisk (restarting or stopped?); reconnecting with backoff"
    return "cannot reach Asterisk's ARI (is Asterisk running? http.conf enabled and bindport; [ari] url)"


class AriApp:
    """The Stasis application: the events WebSocket, and one `AriCall` per caller channel."""

    name = "ari"

    def __init__(self, settings: Settings, agent: Agent) -> None:
        self.cfg: AriConfig = settings.ari
        self.rtp_cfg: RtpConfig = settings.rtp
        self.agent = agent
        self.rest = AriRest(self.cfg)
        self.calls: dict[str, AriCall] = {}
        self.active = ActiveCalls("ari")
        self.media_owner: dict[str, AriCall] = {}
        self.audiosocket_owner: dict[str, AriCall] = {}
        """Media UUID → call, for externalMedia over AudioSocket."""
        self.audiosocket_server: AudioSocketServer | None = None
        self.state = "stopped"
        self.connections = 0
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.draining = False

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

    async def drain(self, timeout_s: float) -> int:
        """New Stasis callers go back to the dialplan after `Stasis()`; calls in progress get `timeout_s`."""
        self.draining = True
        tasks = {c.task for c in self.calls.values() if c.task is not None}
        if tasks and timeout_s > 0:
            await asyncio.wait(tasks, timeout=timeout_s)
        return len(self.calls)

    async def close(self) -> None:
        await self.stop()

    def listeners(self) -> dict[str, tuple[str, int]]:
        return {}  # a client of Asterisk's HTTP/WebSocket; its media ports are per call

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
        was_connected = self.connected.is_set()
        if state == "connected":
            self.connected.set()
        else:
            self.connected.clear()
        if state == "disconnected":
            # Asterisk gone or refusing us is what the admin must see (a warning, as AMI's), and why, in words.
            error = str(fields.get("error", ""))
            log.warning("ari_connection_state", state=state, app=self.cfg.app, url=self.cfg.url,
                        reason=disconnect_reason(error, was_connected), **fields)  # fmt: skip
            return
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
        if self.draining:  # the daemon is stopping: the dialplan after Stasis() has the caller
            log.info("ari_call_refused_draining", channel=channel.get("name"))
            task = asyncio.create_task(self._continue(str(channel["id"])))
            self._side_tasks.add(task)
            task.add_done_callback(self._side_tasks.discard)
            return
        call = AriCall(self, channel, args)
        self.calls[call.caller_chan] = call
        call.task = asyncio.create_task(call.run(), name=f"ari-call-{call.caller_chan}")


    async def _continue(self, channel_id: str) -> None:
        with contextlib.suppress(AriError, httpx.HTTPError):
            await self.rest.call("POST", f"/channels/{channel_id}/continue")


def build(ctx: IngressContext) -> AriApp:
    """The table's entry (telephony/ingress.py); after AudioSocket, whose listener carries `media = "audiosocket"`."""
    app = AriApp(ctx.settings, ctx.agent)
    app.active.capacity = ctx.capacity
    audiosocket = ctx.built.get("audiosocket")
    if isinstance(audiosocket, AudioSocketServer):
        app.attach_audiosocket(audiosocket)
    return app


__all__ = ["AriApp", "build"]
