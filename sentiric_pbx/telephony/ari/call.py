"""`AriCall`: one caller channel in Stasis, from StasisStart to cleanup, over whichever externalMedia.

The call recipe, from the Asterisk 22 captures (`tests/fixtures/asterisk/ari/`):
answer → read CHANNEL(language) → mixing bridge → add the caller → `POST /channels/externalMedia`
→ wait for *that channel's* StasisStart → add it to the bridge (adding it earlier races: fact 13, so a
422 is retried). Its life — counted, logged, the agent given its grace — is a `CallLife`; what is ARI's
own is the set-up, the media kinds (see app.py's docstring) and the clean-up of the bridge and the media
channel. A call that ends by error hands the caller back to the dialplan after `Stasis()` (`/continue`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import structlog
import websockets
from websockets.asyncio.client import connect

from sentiric_pbx import metrics
from sentiric_pbx.call.transport import CallInfo, CallTransport, Dtmf, Hangup
from sentiric_pbx.telephony.ari.chan_websocket import SUBPROTOCOL, ChanWebSocketError, ChanWebSocketTransport
from sentiric_pbx.telephony.ari.rest import AriError, basic_auth_header, media_url, parse_transfer_target
from sentiric_pbx.telephony.ari.rtp import JitterStats, RtpEndpoint, RtpTransport, open_endpoint
from sentiric_pbx.telephony.audiosocket.server import AudioSocketServer
from sentiric_pbx.telephony.audiosocket.transport import AudioSocketTransport
from sentiric_pbx.telephony.lifecycle import CallLife

if TYPE_CHECKING:
    from sentiric_pbx.telephony.ari.app import AriApp

log = structlog.get_logger("sentiric_pbx.ari")

MEDIA_START_TIMEOUT_S = 5.0
ADD_CHANNEL_RETRIES = 5


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
        log.debug("dtmf_received", call_id=self.caller_chan, digit=digit)  # digits are private: never at info
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
        life: CallLife | None = None
        try:
            await self._setup()
            assert self.transport is not None
            life = CallLife("ari", self.transport, self.app.agent, self.app.active)
            agent = life.start(media=self.app.media)
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
            await self._finish(life)
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

    async def _finish(self, life: CallLife | None) -> None:
        """End the call (its agent gets its grace to store it), then remove the media channel and bridge."""
        self.cleaning = True
        end = self.end_event or Hangup("error", "setup_aborted")
        try:
            if life is not None:
                await life.finish(end, media=self.app.media)
            else:
                if self.transport is not None:
                    self.transport.end(end)
                log.info("call_ended", ingress="ari", by=end.by, reason=end.reason, setup_complete=False)
        finally:
            await self._clean_up(end)

    async def _clean_up(self, end: Hangup) -> None:
        """The bridge and the media channel go; the media's own socket or endpoint is closed."""
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
        if isinstance(self.transport, RtpTransport):
            await self.transport.close()
            ep = self.transport.endpoint
            observe_rtp(ep.jitter.stats)
            log.info(
                "ari_rtp_stats",
                packets_in=ep.packets_in,
                packets_out=ep.packets_out,
                lost=ep.jitter.stats.lost,
                late=ep.jitter.stats.late,
                foreign_dropped=ep.dropped_foreign,
            )
        elif self.endpoint is not None:
            self.endpoint.close()
        if self.media_uuid is not None:
            self.app.audiosocket_owner.pop(self.media_uuid, None)
            if self.app.audiosocket_server is not None:
                self.app.audiosocket_server.registry.take(self.media_uuid)  # never claimed: do not keep it
        self.app.media_owner.pop(self.media_chan, None)
        self.app.calls.pop(self.caller_chan, None)
        self.finished.set()
