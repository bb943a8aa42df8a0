"""mod_audio_stream's WebSocket (amigniter/mod_audio_stream, community edition): one call's media.

What the module does (its `mod_audio_stream.c` and `audio_streamer_glue.cpp`): `uuid_audio_stream <uuid>
start <ws-url> mono 16k <metadata>` makes FreeSWITCH open a WebSocket to `<ws-url>`, send `<metadata>`
as the first text message, then the caller's audio as binary messages of 20 ms of 16-bit signed linear
PCM in the machine's byte order (little-endian on x86 and ARM) at the asked rate (640 bytes at 16 kHz).
What it accepts back is a text message
`{"type": "streamAudio", "data": {"audioDataType": "raw", "sampleRate": 16000, "audioData": "<base64>"}}`:
it writes the audio to a file (`<temp>/<uuid>_<n>.tmp.r16`) and fires the ESL event
`mod_audio_stream::play` whose body is `data` with `file` added — it does not play the file itself. Whoever
holds the Event Socket plays it (`uuid_broadcast <uuid> <file> aleg`), and `uuid_break <uuid> all` stops
it. Any other text becomes a `mod_audio_stream::json` event; binary from us is ignored by this edition.

So the outbound half here is the usual `PacedOutput` with a clock that ticks once per `play_chunk_ms`: each
tick sends one chunk as a `streamAudio` message (nothing when quiet: FreeSWITCH fills silence itself),
kept about one chunk ahead of FreeSWITCH's playback so the next file is queued before the current one
ends, and we keep an estimate of when FreeSWITCH will have played what it was sent, for `wait_played`,
`queued_ms` and a hangup that does not cut the goodbye short.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Protocol

import structlog

from sentiric_pbx.audio.frames import FRAME_BYTES, Reframer, frame_bytes
from sentiric_pbx.audio.playout import PacedOutput, PlayoutClock
from sentiric_pbx.audio.resample import StreamResampler
from sentiric_pbx.call.transport import CallControl, CallInfo
from sentiric_pbx.telephony.edge import ControlledCallIO

log = structlog.get_logger("sentiric_pbx.freeswitch")

OUTBOUND_QUEUE_MESSAGES = 50  # chunks waiting for the socket; more means the module stopped reading


class StreamProtocolError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def stream_audio_message(pcm: bytes, rate: int) -> str:
    """The JSON the module turns into a file to play (raw L16 at `rate`, base64)."""
    data = {"audioDataType": "raw", "sampleRate": rate, "audioData": base64.b64encode(pcm).decode()}
    return json.dumps({"type": "streamAudio", "data": data}, separators=(",", ":"))


def rate_arg(rate: int) -> str:
    return "16k" if rate == 16000 else "8k"


class StreamControl(CallControl, Protocol):
    """What the control plane (ESL) does for this call's media: hang up, transfer, and stop what plays."""

    def break_playback(self) -> None: ...


class FreeswitchTransport(ControlledCallIO):
    """`CallTransport` over one mod_audio_stream WebSocket; control goes through the Event Socket."""

    control: StreamControl

    def __init__(self, info: CallInfo, control: StreamControl, rate: int, chunk_ms: int) -> None:
        super().__init__(info)
        self.control = control
        self.rate = rate
        self.chunk_s = chunk_ms / 1000.0
        self._in_rs = StreamResampler(rate, 16000) if rate != 16000 else None
        self._in_frames = Reframer(FRAME_BYTES)
        self.outbox: asyncio.Queue[str] = asyncio.Queue(OUTBOUND_QUEUE_MESSAGES)
        self.clock = PlayoutClock(self._send_chunk, b"", frame_ms=chunk_ms)
        self._out = PacedOutput(self.clock, rate, frame_bytes(rate, chunk_ms), lambda pcm: pcm)
        self._remote_until = 0.0
        self.chunks_out = 0

    # -- wire side -------------------------------------------------------------------------------
    def on_audio(self, data: bytes) -> None:
        """One binary message from the module: L16 at the stream's rate, any whole number of samples."""
        if len(data) % 2:
            raise StreamProtocolError("odd_length_audio", f"{len(data)} bytes is not whole 16-bit samples")
        if self.closed:
            return
        self.frames_in += 1
        pcm = self._in_rs.process(data) if self._in_rs is not None else data
        for frame in self._in_frames.push(pcm):
            self.deliver(frame)

    def _send_chunk(self, pcm: bytes) -> None:
        if not pcm:  # the clock's "silence": send nothing, FreeSWITCH plays silence when idle
            return
        if self.closed:
            raise ConnectionResetError("call over")
        try:
            self.outbox.put_nowait(stream_audio_message(pcm, self.rate))
        except asyncio.QueueFull:
            raise StreamProtocolError("peer_not_reading", f"{self.outbox.qsize()} chunks unsent") from None
        now = asyncio.get_running_loop().time()
        self._remote_until = max(now, self._remote_until) + len(pcm) / (2 * self.rate)
        self.chunks_out += 1
        # Keep FreeSWITCH one chunk ahead: each chunk is a file played by its own uuid_broadcast, and the
        # next must be queued before the current one ends or the caller hears a gap. So the clock runs at
        # double speed until ~1.5 chunks are queued there, then at real time. uuid_break drops the lead.
        lead = self._remote_until - now
        self.clock.period = self.chunk_s / 2 if lead < 1.5 * self.chunk_s else self.chunk_s

    def remote_playing_s(self) -> float:
        """How much of what we sent FreeSWITCH has still to play (an estimate from the send times)."""
        return max(0.0, self._remote_until - asyncio.get_running_loop().time())

    # -- CallTransport: what FreeSWITCH is still playing counts too (the rest is CallIO's) --------
    def flush(self) -> None:
        """Barge-in: drop what is queued here, and stop what FreeSWITCH is already playing."""
        playing = self.clock.queued > 0 or self.remote_playing_s() > 0
        self._out.flush()
        while not self.outbox.empty():
            self.outbox.get_nowait()
        self._remote_until = 0.0
        self.clock.period = self.chunk_s
        if playing and not self.closed:
            self.control.break_playback()

    async def wait_played(self) -> None:
        await self.clock.wait_idle()
        left = self.remote_playing_s()
        if left > 0 and not self.closed:
            await asyncio.sleep(left)

    @property
    def queued_ms(self) -> int:
        return self._out.queued_ms + round(self.remote_playing_s() * 1000)

    async def hangup(self) -> None:
        """Let FreeSWITCH finish the last words we sent (the goodbye), then hang up the channel."""
        if self.closed:
            return
        left = self.remote_playing_s()
        if left > 0:
            await asyncio.sleep(min(left, 10.0))
        await super().hangup()
