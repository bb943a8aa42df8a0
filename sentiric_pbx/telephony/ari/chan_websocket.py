"""Asterisk chan_websocket media (ARI `externalMedia transport=websocket`, Asterisk 22.8+): one WebSocket a call.

The wire, as Asterisk 22.10.1 did it (`fixtures/asterisk/chan-websocket.txt`) and as `channels/chan_websocket.c`
says it works:

- `connection_type=server`: Asterisk waits on its own HTTP server at `/media/<MEDIA_WEBSOCKET_CONNECTION_ID>`
  (the id is in the externalMedia answer's `channelvars`); we connect with Basic auth and subprotocol `media`.
- From Asterisk: first a text `MEDIA_START connection_id:… channel:… channel_id:… format:slin16
  optimal_frame_size:640 ptime:20`; then raw slin16 in binary messages, 640 bytes every 20 ms, **only while
  the other side produces audio** (a two-party bridge sends nothing when the caller is quiet: silence is
  time, `CallIO.frames` fills it); `DTMF_END digit:1 channel_id:…` when a digit ends; `STATUS …` after
  `GET_STATUS`; `MEDIA_XOFF`/`MEDIA_XON` around its queue. **No message at hangup**: just a close (1000).
  With `transport_data=f(json)` the same messages come as JSON objects with an `event` key; both are read.
- To Asterisk: binary messages are cut into `optimal_frame_size` frames (a tail that does not fill one is
  dropped unless `START_MEDIA_BUFFERING` is on) and queued; Asterisk's own 20 ms timer takes one frame per
  tick, and plays silence when the queue is empty. The queue holds ~1000 frames (MEDIA_XOFF at 900, XON
  below 800); beyond that our audio is dropped. So there is flow control, but no reason to lean on it:
  we pace whole 20 ms frames with the project's `PlayoutClock` like every other transport, so Asterisk's
  queue stays about one frame deep, a barge-in `flush()` is heard within a frame (and `FLUSH_MEDIA` drops
  what Asterisk already holds), and replies start at the same moment on every ingress. While we have
  nothing to say we send nothing: Asterisk makes the silence itself. Each talkspurt starts with one
  frame of silence sent with its first frame, so Asterisk's queue holds a frame in hand: our tick may
  be up to 20 ms late (the event loop is busy) without Asterisk's timer finding the queue empty and
  putting a 20 ms hole in the middle of a word. That costs 20 ms at the start of each reply.

Hangup, transfer and the call's life stay with ARI (`ari.AriCall`), as for RTP: this socket only moves audio.
Anything malformed from the peer — a text message that is not a known notification, an odd-length audio
message, a message over `[ari] websocket_max_message_bytes`, audio before `MEDIA_START` — ends this call
only, with one `chan_websocket_protocol_error` line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.frames import CloseCode

from sentiric_pbx import metrics
from sentiric_pbx.aio import within
from sentiric_pbx.audio.frames import FRAME_BYTES, Reframer, frame_bytes
from sentiric_pbx.audio.playout import PacedOutput, PlayoutClock
from sentiric_pbx.audio.resample import StreamResampler
from sentiric_pbx.call.transport import CallControl, CallInfo, Dtmf, Hangup
from sentiric_pbx.logging import caller_content
from sentiric_pbx.telephony.edge import ControlledCallIO

log = structlog.get_logger("sentiric_pbx.chan_websocket")

SUBPROTOCOL = "media"
NOTIFICATIONS = frozenset(
    {
        "MEDIA_START",
        "DTMF_END",
        "STATUS",
        "MEDIA_XOFF",
        "MEDIA_XON",
        "QUEUE_DRAINED",
        "MEDIA_BUFFERING_COMPLETED",
        "MEDIA_MARK_PROCESSED",
        "ERROR",
    }
)
"""Every text message chan_websocket sends (chan_websocket.c `_create_event_*`); anything else is garbage."""
SLIN_RATES = {
    "slin": 8000,
    "slin12": 12000,
    "slin16": 16000,
    "slin24": 24000,
    "slin32": 32000,
    "slin44": 44100,
    "slin48": 48000,
    "slin96": 96000,
    "slin192": 192000,
}
"""Signed linear formats by name: the only media we take raw (we ask for slin16)."""
DTMF_DIGITS = frozenset("0123456789*#ABCD")
OUTBOX_MESSAGES = 50
"""Messages waiting for the socket (50 = 1 s of audio) beyond which Asterisk has stopped reading us."""


class ChanWebSocketError(Exception):
    """The peer broke the protocol: `reason` is a short machine word, `detail` says what was seen."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def parse_control(text: str) -> tuple[str, dict[str, str]]:
    """A control message → (event, fields).

    `DTMF_END digit:1 channel_id:1795681685.402` → ("DTMF_END", {"digit": "1", "channel_id": "…"});
    `{"event":"DTMF_END","digit":"1",…}` → the same. A word without a colon continues the previous value
    (ERROR's `error_text` has spaces). Raises `ChanWebSocketError` for empty text or JSON without an event.
    """
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            raise ChanWebSocketError("bad_json", stripped[:60]) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("event"), str):
            raise ChanWebSocketError("unknown_message", stripped[:60])
        return obj["event"], {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}
    words = stripped.split(" ")
    if not words[0]:
        raise ChanWebSocketError("unknown_message", "an empty text message")
    fields: dict[str, str] = {}
    last: str | None = None
    for word in words[1:]:
        key, sep, value = word.partition(":")
        if sep and key and " " not in key:
            fields[key] = value
            last = key
        elif last is not None:
            fields[last] += " " + word
    return words[0], fields


@dataclass(frozen=True, slots=True)
class MediaStart:
    """What `MEDIA_START` told us about the channel."""

    channel_id: str
    channel: str
    format: str
    rate: int
    optimal_frame_size: int
    ptime_ms: int


class ChanWebSocketTransport(ControlledCallIO):
    """`CallTransport` over one chan_websocket connection; hangup and transfer go to the ARI call.

    `open()` reads `MEDIA_START` (the wire's format and frame size), `start()` runs the reader, the
    playout clock and the sender; `on_gone` is told once when the connection ends the call by itself
    (Asterisk closed it, or broke the protocol), so the ARI call ends too.
    """

    def __init__(
        self,
        ws: ClientConnection,
        info: CallInfo,
        control: CallControl,
        on_gone: Callable[[Hangup], None],
        max_message_bytes: int,
    ) -> None:
        super().__init__(info)
        self.ws = ws
        self.max_message_bytes = max_message_bytes
        self.control = control
        self.on_gone = on_gone
        self.media: MediaStart | None = None
        self.rate = 16000
        self.frames_out = 0
        self.xoff_count = 0
        self._in_frames = Reframer(FRAME_BYTES)
        self._in_rs: StreamResampler | None = None
        self._outbox: asyncio.Queue[bytes | str] = asyncio.Queue(OUTBOX_MESSAGES)
        self._talking = False
        self._lead = bytes(FRAME_BYTES)
        """The silent frame a talkspurt starts with (a frame in hand for Asterisk's queue)."""
        self.clock = PlayoutClock(self._send_frame, b"")
        self._out = PacedOutput(self.clock, self.rate, FRAME_BYTES, bytes)
        self._tasks: list[asyncio.Task[None]] = []

    # -- set-up ---------------------------------------------------------------------------------
    async def open(self) -> MediaStart:
        """Read `MEDIA_START`, which Asterisk sends as soon as it accepts the connection."""
        try:
            first = await self.ws.recv()
        except ConnectionClosed as exc:
            raise ChanWebSocketError("closed_before_media_start", f"close code {exc.code}") from None
        if not isinstance(first, str):
            raise ChanWebSocketError("media_before_start", f"a {len(first)}-byte audio message before MEDIA_START")
        event, fields = parse_control(first)
        if event != "MEDIA_START":
            raise ChanWebSocketError("no_media_start", f"first message was {event[:40]!r}")
        fmt = fields.get("format", "")
        if fmt not in SLIN_RATES:
            raise ChanWebSocketError("unsupported_format", f"format {fmt[:20]!r}; ask for slin16")
        self.rate = SLIN_RATES[fmt]
        self.media = MediaStart(
            channel_id=fields.get("channel_id", ""),
            channel=fields.get("channel", ""),
            format=fmt,
            rate=self.rate,
            optimal_frame_size=_int(fields.get("optimal_frame_size"), frame_bytes(self.rate)),
            ptime_ms=_int(fields.get("ptime"), 20),
        )
        if self.rate != 16000:
            self._in_rs = StreamResampler(self.rate, 16000)
            self._out = PacedOutput(self.clock, self.rate, frame_bytes(self.rate), bytes)
            self._lead = bytes(frame_bytes(self.rate))
        log.info(
            "chan_websocket_media_start",
            media_channel_id=self.media.channel_id,
            format=fmt,
            optimal_frame_size=self.media.optimal_frame_size,
            ptime_ms=self.media.ptime_ms,
        )
        return self.media

    def start(self) -> None:
        name = self.info.call_id
        clock = asyncio.create_task(self.clock.run(), name=f"ws-playout-{name}")
        clock.add_done_callback(self._on_clock_done)
        self._tasks = [
            asyncio.create_task(self._read(), name=f"ws-read-{name}"),
            clock,
            asyncio.create_task(self._send(), name=f"ws-send-{name}"),
        ]

    async def close(self) -> None:
        """Stop the tasks and close the socket (after `end`; normally Asterisk closed it already)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await within(self.ws.close(), 2.0)

    # -- inbound --------------------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for message in self.ws:
                if isinstance(message, str):
                    self._on_text(message)
                else:
                    self._on_audio(message)
            self._gone(Hangup("error", "media_closed"))
        except ChanWebSocketError as exc:
            self.protocol_error(exc.reason, exc.detail)
        except ConnectionClosedError as exc:
            if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
                self.protocol_error("oversized_message", f"a message over {self.max_message_bytes} bytes")
            else:
                self._gone(Hangup("error", "media_connection_lost"))

    def _on_audio(self, data: bytes) -> None:
        if len(data) % 2:
            raise ChanWebSocketError("odd_length_frame", f"a {len(data)}-byte audio message (16-bit samples)")
        self.frames_in += 1
        pcm = data if self._in_rs is None else self._in_rs.process(data)
        for frame in self._in_frames.push(pcm):
            self.deliver(frame)

    def _on_text(self, text: str) -> None:
        event, fields = parse_control(text)
        if event not in NOTIFICATIONS:
            raise ChanWebSocketError("unknown_message", text.strip()[:60])
        if event == "DTMF_END":
            digit = fields.get("digit", "")
            if digit not in DTMF_DIGITS or len(digit) != 1:
                raise ChanWebSocketError("bad_dtmf", f"digit {digit[:10]!r}")
            log.info("dtmf_received", **caller_content(digit=digit))
            self.on_event(Dtmf(digit))
        elif event == "MEDIA_START":
            raise ChanWebSocketError("duplicate_media_start", "a second MEDIA_START on the same connection")
        elif event == "MEDIA_XOFF":
            # We send in real time, so Asterisk's 900-frame queue can only fill if its channel stopped
            # reading (a stuck bridge). What we send meanwhile is dropped by Asterisk; say so once per XOFF.
            self.xoff_count += 1
            log.warning("chan_websocket_xoff", queued_ms=self.queued_ms)
        elif event == "ERROR":
            log.warning("chan_websocket_error_reported", error=fields.get("error_text", "")[:120])
        else:
            log.debug("chan_websocket_notification", notification=event)

    # -- outbound -------------------------------------------------------------------------------
    def _send_frame(self, frame: bytes) -> None:
        """One clock tick: a frame of our audio, or nothing (b"": Asterisk plays silence on its own)."""
        if not frame:
            self._talking = False
            return
        if not self._talking:
            self._queue_out(self._lead)
        self._queue_out(frame)
        self.frames_out += 1
        self._talking = True

    def _queue_out(self, message: bytes | str) -> None:
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            raise ChanWebSocketError("peer_not_reading", f"{OUTBOX_MESSAGES} messages unsent") from None

    async def _send(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self.ws.send(await self._outbox.get())

    def flush(self) -> None:
        """Barge-in: drop our queue, and the frame or two Asterisk already holds (FLUSH_MEDIA)."""
        talking = self._talking or self.queued_ms > 0
        super().flush()
        while not self._outbox.empty():
            self._outbox.get_nowait()
        if talking and not self.closed:
            with contextlib.suppress(ChanWebSocketError):
                self._queue_out("FLUSH_MEDIA")
        self._talking = False

    def _on_clock_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, ChanWebSocketError):
            self.protocol_error(exc.reason, exc.detail)
        elif exc is not None:
            self._gone(Hangup("error", "playout_failed"))

    # -- the end --------------------------------------------------------------------------------
    def protocol_error(self, reason: str, detail: str) -> None:
        """One line, a metric, and the end of this call (and of nothing else)."""
        if self.closed:
            return
        metrics.PROTOCOL_ERRORS.labels(ingress="chan_websocket", reason=reason).inc()
        log.warning("chan_websocket_protocol_error", reason=reason, detail=detail)
        self._gone(Hangup("error", reason))

    def _gone(self, event: Hangup) -> None:
        if self.closed:
            return
        self.end(event)
        self.on_gone(event)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


__all__ = ["SUBPROTOCOL", "ChanWebSocketError", "ChanWebSocketTransport", "MediaStart", "parse_control"]
