"""RTP media for ARI externalMedia: one UDP socket per call, a jitter buffer, and a paced sender.

What Asterisk does (fixture `ari/rtp-ulaw.jsonl`): externalMedia sends RTP from
127.0.0.1:`UNICASTRTP_LOCAL_PORT`, one packet every 20 ms, the sequence starting at a random value
and going +1, the timestamp starting at 160 and going +160, a random SSRC, and no marker bit. The
externalMedia answer names that address (`UNICASTRTP_LOCAL_ADDRESS`/`_PORT`), and we send there from
the first tick: a two-party bridge sends us nothing while the caller is quiet (fixtures fact 8), so
waiting for Asterisk's first packet would keep the greeting from a caller who waits to hear it. We
still latch on the first packet from an allowed source (the admin's `[rtp] allow`) and drop anything
else, so a stray sender on the LAN can neither inject audio nor steal our replies.

Codecs (checked on Asterisk 22.10.1): the UnicastRTP channel has no SDP, so it knows only the static
payload types. It *sends* slin16 as PT 118 but drops every packet we send with it (only PT <= 34 is
looked up without a mapping): slin16 RTP is one-way, and config refuses it. G.722 (static PT 9) is the
wideband choice and works both ways; its RTP clock is 8000 although it samples at 16 kHz (RFC 3551
§4.5.2), which is what Asterisk sends too: 160-byte payloads, timestamp +160 per 20 ms. G.722 is
ADPCM, so its encoder and decoder carry state: one of each per call, and every frame we send —
silence included — goes through the encoder at send time, so our encoder and Asterisk's decoder stay
in step (a frame encoded but then dropped by a barge-in would put them out of step).

UDP reorders and loses packets; the jitter buffer puts them back in sequence order, drops late and
duplicate ones, and replaces a lost packet with a silence frame of the same length, so the 16 kHz
frame stream the dialog sees keeps real time.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import random
import struct
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import G722
import numpy as np
import structlog

from sentiric_pbx.audio.frames import FRAME_BYTES, Reframer, frame_bytes
from sentiric_pbx.audio.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from sentiric_pbx.audio.playout import PacedOutput, PlayoutClock
from sentiric_pbx.audio.resample import StreamResampler
from sentiric_pbx.call.transport import CallControl, CallInfo
from sentiric_pbx.config import RtpConfig
from sentiric_pbx.telephony.edge import ControlledCallIO

log = structlog.get_logger("sentiric_pbx.rtp")

HEADER = struct.Struct("!BBHII")
PT_PCMU = 0
PT_PCMA = 8
PT_G722 = 9
PT_L16_16K = 118  # Asterisk's static mapping of slin16 in its dynamic range (rtp_engine.c): it sends it, never takes it
MAX_GAP = 100  # a sequence jump larger than this is a new stream, not 100 lost packets


# -- packets ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RtpPacket:
    pt: int
    seq: int
    ts: int
    ssrc: int
    marker: bool
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket | None:
    """One RTP datagram, or None if it is not RTP version 2 (RTCP and garbage are ignored)."""
    if len(data) < HEADER.size:
        return None
    b0, b1, seq, ts, ssrc = HEADER.unpack_from(data)
    if b0 >> 6 != 2:
        return None
    pt = b1 & 0x7F
    if 72 <= pt <= 76:  # RTCP sent to the RTP port (rtcp-mux)
        return None
    offset = HEADER.size + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension: 16-bit profile, 16-bit length in words
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if b0 & 0x20 and end > offset:  # padding: the last byte says how much
        end -= data[-1]
    if end < offset:
        return None
    return RtpPacket(pt, seq, ts, ssrc, bool(b1 & 0x80), bytes(data[offset:end]))


def build_rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    return HEADER.pack(0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


# -- codecs -------------------------------------------------------------------------------------
Transcode = Callable[[bytes], bytes]


def _l16_swap(data: bytes) -> bytes:
    """L16 on the wire is big-endian (RFC 3551); internally we are little-endian."""
    return np.frombuffer(data[: len(data) // 2 * 2], dtype=np.uint16).byteswap().tobytes()


def _stateless(fn: Transcode) -> Callable[[], Transcode]:
    return lambda: fn


def _g722_encoder() -> Transcode:
    """A G.722 64 kbit/s encoder with its own ADPCM state: 16 kHz PCM → 1 byte per 2 samples."""
    codec = G722.G722(16000, 64000)
    return lambda pcm: codec.encode(_samples(pcm))


def _g722_decoder() -> Transcode:
    codec = G722.G722(16000, 64000)

    def decode(payload: bytes) -> bytes:
        pcm = codec.decode(payload)
        if sys.byteorder == "big":
            pcm.byteswap()
        return pcm.tobytes()

    return decode


def _samples(pcm: bytes) -> array.array[int]:
    """Little-endian 16-bit PCM as the native int16 array the G722 module reads (bytes it takes as 8-bit)."""
    samples = array.array("h", pcm[: len(pcm) // 2 * 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


@dataclass(frozen=True, slots=True)
class Codec:
    """One RTP payload format: how its bytes map to 16-bit PCM at `rate`, and to RTP timestamps."""

    name: str
    pt: int
    rate: int
    """Sample rate of the PCM it encodes and decodes."""
    clock_rate: int
    """RTP timestamp units per second: the sample rate, except G.722's 8000 (RFC 3551 §4.5.2)."""
    samples_per_byte: float
    new_decoder: Callable[[], Transcode]
    """A decoder for one call's inbound stream: wire payload → 16-bit little-endian PCM at `rate`."""
    new_encoder: Callable[[], Transcode]
    """An encoder for one call's outbound stream: 16-bit little-endian PCM at `rate` → wire payload."""

    def samples(self, payload: bytes) -> int:
        return int(len(payload) * self.samples_per_byte)

    def ticks(self, payload: bytes) -> int:
        """How far this payload moves the RTP timestamp."""
        return self.samples(payload) * self.clock_rate // self.rate


CODECS: dict[str, Codec] = {
    "ulaw": Codec("ulaw", PT_PCMU, 8000, 8000, 1, _stateless(ulaw_decode), _stateless(ulaw_encode)),
    "alaw": Codec("alaw", PT_PCMA, 8000, 8000, 1, _stateless(alaw_decode), _stateless(alaw_encode)),
    "g722": Codec("g722", PT_G722, 16000, 8000, 2, _g722_decoder, _g722_encoder),
    "slin16": Codec("slin16", PT_L16_16K, 16000, 16000, 0.5, _stateless(_l16_swap), _stateless(_l16_swap)),
}


def codec_for_pt(pt: int) -> Codec | None:
    """PT 0, 8 and 9 are static; a dynamic PT (96–127) is taken as L16/16000, what Asterisk sends for slin16.

    Inbound decoding follows the PT each packet carries, not what we asked for."""
    if pt == PT_PCMU:
        return CODECS["ulaw"]
    if pt == PT_PCMA:
        return CODECS["alaw"]
    if pt == PT_G722:
        return CODECS["g722"]
    if 96 <= pt <= 127:
        return CODECS["slin16"]
    return None


# -- jitter buffer ------------------------------------------------------------------------------
@dataclass(slots=True)
class JitterStats:
    received: int = 0
    late: int = 0
    duplicates: int = 0
    lost: int = 0
    """Packets replaced by silence (never arrived in time)."""
    resyncs: int = 0


class JitterBuffer:
    """Reorders by sequence number; holds at most `depth` packets waiting for a missing one.

    `push` returns what can be played now, in order; `None` stands for a lost packet (conceal it).
    A packet older than the play point is late and dropped; one already held or played is a
    duplicate. Depth 0 plays every packet at once and conceals a gap as soon as a later one arrives.
    """

    def __init__(self, depth: int) -> None:
        self.depth = max(0, depth)
        self._next: int | None = None
        self._held: dict[int, RtpPacket] = {}
        self._recent: deque[int] = deque(maxlen=64)
        self.stats = JitterStats()

    @property
    def held(self) -> int:
        return len(self._held)

    def push(self, pkt: RtpPacket) -> list[RtpPacket | None]:
        self.stats.received += 1
        if self._next is None:
            self._next = pkt.seq
        ahead = (pkt.seq - self._next) & 0xFFFF
        if ahead >= 0x8000:  # behind the play point
            if pkt.seq in self._recent:
                self.stats.duplicates += 1
            else:
                self.stats.late += 1
            return []
        if ahead > MAX_GAP:  # the sender jumped (restart, new SSRC): start over from here
            out = self.drain()
            self.stats.resyncs += 1
            self._next = pkt.seq
            self._held[pkt.seq] = pkt
            return out + self._release(self.depth)
        if pkt.seq in self._held:
            self.stats.duplicates += 1
            return []
        self._held[pkt.seq] = pkt
        return self._release(self.depth)

    def drain(self) -> list[RtpPacket | None]:
        """Everything held, in order, gaps concealed (the sender paused or stopped)."""
        return self._release(0)

    def reset(self) -> None:
        self._next = None
        self._held.clear()
        self._recent.clear()

    def _release(self, depth: int) -> list[RtpPacket | None]:
        out: list[RtpPacket | None] = []
        while self._held and self._next is not None:
            pkt = self._held.pop(self._next, None)
            if pkt is None:
                if len(self._held) <= depth:
                    break
                self.stats.lost += 1
            else:
                self._recent.append(pkt.seq)
            out.append(pkt)
            self._next = (self._next + 1) & 0xFFFF
        return out


# -- the UDP endpoint ---------------------------------------------------------------------------
class RtpPortsExhausted(OSError):
    """Every port in [rtp] port_min..port_max is taken."""


class RtpEndpoint(asyncio.DatagramProtocol):
    """One call's RTP socket: latching, jitter buffer, decoding to 16 kHz frames, and the sender."""

    def __init__(self, cfg: RtpConfig) -> None:
        self.cfg = cfg
        self.allow = set(cfg.allow)
        self.remote: tuple[str, int] | None = None
        """Where we send: Asterisk's address from the externalMedia answer, then the latched source."""
        self.latched = False
        self.jitter = JitterBuffer(cfg.jitter_buffer_ms // 20)
        self.on_frame: Callable[[bytes], None] = lambda _pcm: None
        self.dropped_foreign = 0
        self.packets_in = 0
        self.packets_out = 0
        self.ignored = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._ssrc_in: int | None = None
        self._codec_in: Codec | None = None
        self._decoders: dict[str, Transcode] = {}
        self._in_rs: StreamResampler | None = None
        self._reframer = Reframer(FRAME_BYTES)
        self._last_samples = 160
        self._drain_timer: asyncio.TimerHandle | None = None
        # Outbound: a random SSRC, sequence and timestamp origin (RFC 3550 §5.1).
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)

    # -- socket ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a datagram transport, not a subclass

    @property
    def port(self) -> int:
        assert self._transport is not None
        return self._transport.get_extra_info("sockname")[1]

    @property
    def host(self) -> str:
        return self.cfg.host

    def close(self) -> None:
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        if self._transport is not None:
            self._transport.close()

    def send_to(self, remote: tuple[str, int]) -> bool:
        """Send to `remote` (Asterisk's RTP address from the externalMedia answer) from now on, before any
        packet of Asterisk's arrived. False, with one warning, when [rtp] allow does not admit it: its
        packets would be dropped anyway, and our audio must not go to an address the admin did not allow."""
        if remote[0] not in self.allow:
            log.warning(
                "rtp_target_not_allowed",
                remote=f"{remote[0]}:{remote[1]}",
                fix=f'add "{remote[0]}" to [rtp] allow if Asterisk sends from there',
            )
            return False
        if not self.latched:
            self.remote = remote
        return True

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:  # type: ignore[override]
        src = (str(addr[0]), int(addr[1]))  # type: ignore[call-overload]
        pkt = parse_rtp(data)
        if not self.latched:
            if src[0] not in self.allow:
                self._drop_foreign(src)
                return
            if pkt is None:  # an allowed host, but not RTP: no reason to latch on it
                self.ignored += 1
                return
            if self.remote is not None and src != self.remote:
                log.warning(
                    "rtp_source_differs", expected=f"{self.remote[0]}:{self.remote[1]}", source=f"{src[0]}:{src[1]}"
                )
            self.remote = src
            self.latched = True
            log.info("rtp_latched", remote=f"{src[0]}:{src[1]}", local_port=self.port)
        elif src != self.remote:
            self._drop_foreign(src)
            return
        if pkt is None or codec_for_pt(pkt.pt) is None:
            self.ignored += 1
            return
        self.packets_in += 1
        if pkt.ssrc != self._ssrc_in:
            if self._ssrc_in is not None:
                self._deliver(self.jitter.drain())
                self.jitter.reset()
            self._ssrc_in = pkt.ssrc
        self._deliver(self.jitter.push(pkt))
        self._arm_drain()

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that is not listening yet: not our call's end.
        log.debug("rtp_socket_error", error=str(exc))

    def _drop_foreign(self, src: tuple[str, int]) -> None:
        self.dropped_foreign += 1
        if self.dropped_foreign == 1 or self.dropped_foreign % 500 == 0:
            log.warning("rtp_foreign_packet_dropped", source=src[0], dropped=self.dropped_foreign)

    def _arm_drain(self) -> None:
        """If the sender pauses (a 2-party bridge sends only while the peer talks), play what is held."""
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if self.jitter.held:
            delay = (self.jitter.depth + 2) * 0.020
            self._drain_timer = asyncio.get_running_loop().call_later(delay, lambda: self._deliver(self.jitter.drain()))

    # -- inbound audio --------------------------------------------------------------------------
    def _deliver(self, packets: list[RtpPacket | None]) -> None:
        for pkt in packets:
            if pkt is None:
                codec = self._codec_in or CODECS["ulaw"]
                pcm = bytes(self._last_samples * 2)  # concealment: silence as long as a packet
            else:
                codec = codec_for_pt(pkt.pt)
                assert codec is not None
                decode = self._decoders.get(codec.name)
                if decode is None:
                    decode = self._decoders[codec.name] = codec.new_decoder()
                pcm = decode(pkt.payload)
                self._last_samples = codec.samples(pkt.payload)
            if codec is not self._codec_in:
                self._codec_in = codec
                self._in_rs = StreamResampler(codec.rate, 16000)
            assert self._in_rs is not None
            for frame in self._reframer.push(self._in_rs.process(pcm)):
                self.on_frame(frame)

    # -- outbound -------------------------------------------------------------------------------
    def send(self, codec: Codec, payload: bytes, marker: bool) -> None:
        """Send one packet; with nowhere to send yet (no address given, none latched) the clock still advances."""
        if self.remote is not None and self._transport is not None:
            self._transport.sendto(build_rtp(codec.pt, self.seq, self.ts, self.ssrc, payload, marker), self.remote)
            self.packets_out += 1
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + codec.ticks(payload)) & 0xFFFFFFFF


async def open_endpoint(cfg: RtpConfig) -> RtpEndpoint:
    """Bind a call's socket on the first free port of the range, starting at a random one."""
    loop = asyncio.get_running_loop()
    ports = list(range(cfg.port_min, cfg.port_max + 1))
    start = random.randrange(len(ports)) if ports else 0
    for port in ports[start:] + ports[:start]:
        try:
            _, proto = await loop.create_datagram_endpoint(lambda: RtpEndpoint(cfg), local_addr=(cfg.host, port))
        except OSError:
            continue
        return proto
    raise RtpPortsExhausted(f"no free UDP port in {cfg.port_min}..{cfg.port_max} on {cfg.host}")


# -- the call transport -------------------------------------------------------------------------
class RtpTransport(ControlledCallIO):
    """`CallTransport` over an `RtpEndpoint`; hangup and transfer go to the ARI call.

    The clock carries 20 ms PCM frames at the codec's rate, and `_send_frame` encodes each one as it
    goes out, silence included: a stateful codec's encoder then sees exactly what the far end decodes.
    """

    def __init__(self, endpoint: RtpEndpoint, fmt: str, info: CallInfo, control: CallControl) -> None:
        super().__init__(info)
        self.endpoint = endpoint
        self.control = control
        self.codec = CODECS[fmt]
        self._encode = self.codec.new_encoder()
        wire_frame = frame_bytes(self.codec.rate)
        self._silence = bytes(wire_frame)
        self._talking = False
        self.clock = PlayoutClock(self._send_frame, self._silence)
        self._out = PacedOutput(self.clock, self.codec.rate, wire_frame, bytes)
        self._clock_task: asyncio.Task[None] | None = None
        endpoint.on_frame = self._on_frame

    def start(self) -> None:
        self._clock_task = asyncio.create_task(self.clock.run(), name=f"rtp-playout-{self.info.call_id}")

    async def close(self) -> None:
        """Stop the clock and the socket (after `end`)."""
        if self._clock_task is not None:
            self._clock_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._clock_task
        self.endpoint.close()

    def _send_frame(self, pcm: bytes) -> None:
        silent = pcm is self._silence
        # Marker on the first packet of a talkspurt (RFC 3551 §4.1): the far end may resync its buffer.
        self.endpoint.send(self.codec, self._encode(pcm), marker=not silent and not self._talking)
        self._talking = not silent

    def _on_frame(self, pcm: bytes) -> None:
        if self.closed:
            return
        self.frames_in += 1
        self.deliver(pcm)


__all__ = [
    "CODECS",
    "CallControl",
    "Codec",
    "JitterBuffer",
    "RtpEndpoint",
    "RtpPacket",
    "RtpPortsExhausted",
    "RtpTransport",
    "build_rtp",
    "codec_for_pt",
    "open_endpoint",
    "parse_rtp",
]
