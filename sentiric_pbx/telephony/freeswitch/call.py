"""`FsCall`: one parked FreeSWITCH channel that is ours, from CHANNEL_PARK to hangup: start mod_audio_stream,
serve its WebSocket as the call's media, play the agent's chunks with `uuid_broadcast`, control through ESL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING

import structlog
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from sentiric_pbx import metrics
from sentiric_pbx.call.transport import CallInfo, Dtmf, Hangup
from sentiric_pbx.telephony.freeswitch.control import Control
from sentiric_pbx.telephony.freeswitch.esl import (
    EslError,
    EslEvent,
    check_arg,
)
from sentiric_pbx.telephony.freeswitch.stream import FreeswitchTransport, StreamProtocolError, rate_arg
from sentiric_pbx.telephony.lifecycle import CallLife

if TYPE_CHECKING:
    from sentiric_pbx.telephony.freeswitch.ingress import FreeswitchIngress

log = structlog.get_logger("sentiric_pbx.freeswitch")

INGRESS = "freeswitch"


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
        log.debug("dtmf_received", call_id=self.uuid, digit=digit)  # digits are private: never at info
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
