"""The browser phone's audio: aiortc's decoded Opus ↔ our 16 kHz 20 ms frames, paced by the playout clock.

Inbound, aiortc hands us decoded `av.AudioFrame`s (Opus is always 48 kHz; Chrome sends stereo-coded
mono). We downmix, resample to 16 kHz with soxr and cut 640-byte frames, exactly as every other edge.

Outbound, aiortc's RTP sender pulls from a `MediaStreamTrack` as fast as `recv()` returns; the track
decides the pace. Ours does not keep its own time: the call's `PlayoutClock` ticks every 20 ms (agent
audio, silence when idle, emptied at once on barge-in), each tick encodes one 48 kHz frame to Opus and
puts the packet in a small hand-off queue that `recv()` awaits. One pacing loop per call, as on every
other ingress.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
from collections.abc import Awaitable, Callable

import av
import numpy as np
import structlog
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from sentiric_pbx.audio.frames import FRAME_BYTES, Reframer, frame_bytes
from sentiric_pbx.audio.playout import PacedOutput, PlayoutClock
from sentiric_pbx.audio.resample import StreamResampler
from sentiric_pbx.call.transport import CallInfo, Hangup
from sentiric_pbx.telephony.edge import CallIO

log = structlog.get_logger("sentiric_pbx.webrtc")

OPUS_RATE = 48_000
WIRE_FRAME_BYTES = frame_bytes(OPUS_RATE)  # 20 ms of 48 kHz mono s16: 1920 bytes
HANDOFF_FRAMES = 5
"""Clock ticks waiting for aiortc's sender. It drains them at once, so more than a few means it has stopped
(DTLS not up yet, peer gone); older frames are dropped then, never allowed to pile up into delay."""


class OpusEncoder:
    """16-bit mono 48 kHz PCM, 20 ms at a time → Opus packets (libopus through PyAV, as aiortc uses it).

    Why we encode and not aiortc: given raw frames, aiortc's sender encodes each one in the default
    thread pool, a thread hop per 20 ms that stalls for 100 ms and more when the models keep both cores
    busy (measured: 24 frames dropped in one booking call). Encoding here, in the clock's tick, costs
    ~0.1 ms on the loop and keeps the packet on the same 20 ms beat as every other transport's frame.
    """

    def __init__(self, bitrate: int = 32_000) -> None:
        codec = av.CodecContext.create("libopus", "w")
        codec.bit_rate = bitrate
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = OPUS_RATE
        codec.time_base = fractions.Fraction(1, OPUS_RATE)
        codec.options = {"application": "voip"}
        self.codec = codec
        self._pts = 0

    def encode(self, pcm48k: bytes) -> list[bytes]:
        samples = np.frombuffer(pcm48k, dtype="<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = OPUS_RATE
        frame.pts = self._pts
        self._pts += samples.shape[1]
        return [bytes(packet) for packet in self.codec.encode(frame)]


class ClockedAudioTrack(MediaStreamTrack):
    """An outbound audio track whose packets come from the call's `PlayoutClock`, one per 20 ms tick.

    `push(pcm48k)` is the clock's `send`: it encodes the frame to Opus at once; `recv()` hands aiortc
    the next packet (an `av.Packet` with a running 48 kHz timestamp), which it only packetizes.
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._encoder = OpusEncoder()
        self._handoff: asyncio.Queue[bytes] = asyncio.Queue()
        self._pts = 0
        self._time_base = fractions.Fraction(1, OPUS_RATE)
        self.dropped = 0

    def push(self, pcm48k: bytes) -> None:
        for payload in self._encoder.encode(pcm48k):
            while self._handoff.qsize() >= HANDOFF_FRAMES:
                self._handoff.get_nowait()
                self.dropped += 1
            self._handoff.put_nowait(payload)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet = av.Packet(await self._handoff.get())
        packet.pts = self._pts
        packet.time_base = self._time_base
        self._pts += WIRE_FRAME_BYTES // 2
        return packet


class InboundAudio:
    """Decoded browser audio (any rate, any channel count) → 16 kHz mono 640-byte frames."""

    def __init__(self) -> None:
        self._rs: StreamResampler | None = None
        self._frames = Reframer(FRAME_BYTES)

    def convert(self, frame: av.AudioFrame) -> list[bytes]:
        channels = len(frame.layout.channels)
        data = frame.to_ndarray()
        if frame.format.is_planar:
            mono = data.mean(axis=0) if channels > 1 else data[0]
        else:  # packed: one row, channels interleaved
            mono = data.reshape(-1, channels).mean(axis=1) if channels > 1 else data.reshape(-1)
        if frame.format.name not in ("s16", "s16p"):
            raise ValueError(f"unexpected decoded sample format {frame.format.name}")
        if self._rs is None or self._rs.in_rate != frame.sample_rate:
            self._rs = StreamResampler(frame.sample_rate, 16000)
        pcm = np.asarray(mono).astype("<i2").tobytes()
        return self._frames.push(self._rs.process(pcm))


class WebRtcTransport(CallIO):
    """`CallTransport` for one browser call: inbound from the remote track, outbound through the clock.

    Hangup and transfer are asked of the ingress (`control`), which owns the peer connection and the
    signalling socket; a browser cannot be transferred, so transfer is a polite hangup with a log line.
    """

    def __init__(self, info: CallInfo, control: Callable[[Hangup], Awaitable[None]]) -> None:
        super().__init__(info)
        self._control = control
        self.track = ClockedAudioTrack()
        silence = bytes(WIRE_FRAME_BYTES)
        self.clock = PlayoutClock(self.track.push, silence)
        self._out = PacedOutput(self.clock, OPUS_RATE, WIRE_FRAME_BYTES, lambda pcm: pcm)
        self._in = InboundAudio()
        self._clock_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._clock_task = asyncio.create_task(self.clock.run(), name=f"webrtc-playout-{self.info.call_id}")

    async def stop_clock(self) -> None:
        if self._clock_task is not None:
            self._clock_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._clock_task
        self.track.stop()

    async def pump(self, remote: MediaStreamTrack, timeout_s: float) -> None:
        """Feed the browser's audio to the agent until the track ends; `TimeoutError` after `timeout_s` without."""
        while not self.closed:
            try:
                async with asyncio.timeout(timeout_s):
                    frame = await remote.recv()
            except MediaStreamError:
                return
            for pcm in self._in.convert(frame):  # type: ignore[arg-type]
                self.frames_in += 1
                self.deliver(pcm)

    # -- CallTransport (the rest is CallIO's) ---------------------------------------------------
    async def hangup(self) -> None:
        if not self.closed:
            await self._control(Hangup("agent", "agent_hangup"))

    async def transfer(self, target: str) -> None:
        """A browser call has no PBX behind it to transfer to: say so in the log and end the call."""
        log.warning("webrtc_transfer_unsupported", target=target)
        if not self.closed:
            await self._control(Hangup("agent", "transferred"))
