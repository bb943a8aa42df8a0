"""The AudioSocket wire format, as Asterisk 22 speaks it (res_audiosocket.c, and the captures in
`shared/fixtures/asterisk/`).

A frame is `kind:u8, length:u16 big-endian, payload`. The first frame of a connection is always
0x01 with the 16 raw bytes of the call's UUID. Audio payloads are signed 16-bit *little*-endian PCM;
the kind gives the rate. A final audio frame may be shorter than 20 ms, so lengths are not assumed.

`FrameParser` is a pure incremental decoder (bytes in, frames out) so the same code is used by the
server, the test caller and the fuzz tests.
"""

from __future__ import annotations

import enum
import struct
import uuid
from dataclasses import dataclass

HEADER = struct.Struct(">BH")


class Kind(enum.IntEnum):
    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    SLIN_8K = 0x10
    SLIN_12K = 0x11
    SLIN_16K = 0x12
    SLIN_24K = 0x13
    SLIN_32K = 0x14
    SLIN_44K = 0x15
    SLIN_48K = 0x16
    SLIN_96K = 0x17
    SLIN_192K = 0x18
    ERROR = 0xFF


RATE_BY_KIND: dict[Kind, int] = {
    Kind.SLIN_8K: 8000,
    Kind.SLIN_12K: 12000,
    Kind.SLIN_16K: 16000,
    Kind.SLIN_24K: 24000,
    Kind.SLIN_32K: 32000,
    Kind.SLIN_44K: 44100,
    Kind.SLIN_48K: 48000,
    Kind.SLIN_96K: 96000,
    Kind.SLIN_192K: 192000,
}
KIND_BY_RATE: dict[int, Kind] = {rate: kind for kind, rate in RATE_BY_KIND.items()}

ERROR_CODES = {0x00: "none", 0x01: "caller_hangup", 0x02: "frame_forwarding", 0x04: "memory"}
_KNOWN_KINDS = frozenset(int(k) for k in Kind)


class ProtocolError(Exception):
    """The peer broke the protocol; `reason` is a stable machine word for logs and metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Frame:
    kind: Kind
    payload: bytes

    @property
    def rate(self) -> int | None:
        return RATE_BY_KIND.get(self.kind)

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.payload)

    def digit(self) -> str:
        return self.payload.decode("ascii", errors="replace")


def encode(kind: Kind | int, payload: bytes = b"") -> bytes:
    if len(payload) > 0xFFFF:
        raise ValueError(f"AudioSocket payload of {len(payload)} bytes does not fit a u16 length")
    return HEADER.pack(int(kind), len(payload)) + payload


def encode_uuid(call_uuid: uuid.UUID) -> bytes:
    return encode(Kind.UUID, call_uuid.bytes)


HANGUP_FRAME = encode(Kind.HANGUP)


class FrameParser:
    """Incremental decoder that enforces the rules a server must: UUID first, known kinds, a payload cap.

    Every violation raises `ProtocolError`; after that the parser must not be fed again.
    """

    def __init__(self, max_payload: int, expect_uuid: bool = True) -> None:
        self.max_payload = max_payload
        self._buf = bytearray()
        self._need_uuid = expect_uuid

    @property
    def partial(self) -> bool:
        """True while part of a frame has arrived and the rest has not (the slow-loris window)."""
        return bool(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= HEADER.size:
            kind_byte, length = HEADER.unpack_from(self._buf)
            self._check_header(kind_byte, length)
            end = HEADER.size + length
            if len(self._buf) < end:
                break
            payload = bytes(self._buf[HEADER.size : end])
            del self._buf[:end]
            frames.append(self._check_frame(Kind(kind_byte), payload))
        return frames

    def _check_header(self, kind_byte: int, length: int) -> None:
        if kind_byte not in _KNOWN_KINDS:
            raise ProtocolError("unknown_kind", f"frame kind 0x{kind_byte:02x} is not AudioSocket")
        if length > self.max_payload:
            raise ProtocolError(
                "payload_too_long", f"kind 0x{kind_byte:02x} announces {length} bytes, cap is {self.max_payload}"
            )
        if self._need_uuid and kind_byte != Kind.UUID:
            raise ProtocolError("missing_uuid", f"first frame is kind 0x{kind_byte:02x}, expected 0x01 (UUID)")

    def _check_frame(self, kind: Kind, payload: bytes) -> Frame:
        if kind == Kind.UUID:
            if len(payload) != 16:
                raise ProtocolError("bad_uuid", f"UUID frame carries {len(payload)} bytes, expected 16")
            self._need_uuid = False
        elif kind in RATE_BY_KIND and len(payload) % 2:
            raise ProtocolError("odd_audio_length", f"{len(payload)}-byte slin payload is not whole samples")
        elif kind == Kind.DTMF and len(payload) != 1:
            raise ProtocolError("bad_dtmf", f"DTMF frame carries {len(payload)} bytes, expected 1")
        return Frame(kind, payload)
