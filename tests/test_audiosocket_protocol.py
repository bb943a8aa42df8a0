"""The AudioSocket wire format: encode/decode tables, and the recorded Asterisk 22 byte streams replayed.

The replay rebuilds exactly the bytes Asterisk sent in each capture (`audiosocket-*.jsonl`, "in"
direction) and feeds them to `FrameParser` in random-sized chunks, the way TCP may deliver them.
"""

from __future__ import annotations

import json
import random
import uuid
import wave
from pathlib import Path

import pytest

from sentiric_pbx.telephony.audiosocket.protocol import (
    HANGUP_FRAME,
    Frame,
    FrameParser,
    Kind,
    ProtocolError,
    encode,
    encode_uuid,
)

FIXTURES = Path(__file__).parent / "fixtures" / "asterisk"
CAPTURES = sorted(FIXTURES.glob("audiosocket-*.jsonl"))
DIAL_16K_WAV = FIXTURES / "recorded-audio" / "audiosocket-dial-16k-first2s.wav"
CALL_UUID = uuid.UUID("f738fb8c-8996-4219-88ad-7d97fe2df23a")
UUID_FRAME = b"\x01\x00\x10" + CALL_UUID.bytes


# -- encode ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "payload", "wire"),
    [
        (Kind.HANGUP, b"", b"\x00\x00\x00"),
        (Kind.DTMF, b"#", b"\x03\x00\x01#"),
        (Kind.SLIN_8K, b"\x01\x02", b"\x10\x00\x02\x01\x02"),
        (Kind.SLIN_8K, bytes(320), b"\x10\x01\x40" + bytes(320)),  # length big-endian: 0x0140 = 320
        (Kind.SLIN_16K, bytes(640), b"\x12\x02\x80" + bytes(640)),
        (Kind.SLIN_16K, bytes(522), b"\x12\x02\x0a" + bytes(522)),  # Asterisk's short last frame
        (0x42, b"x", b"\x42\x00\x01x"),  # encode does not judge kinds: the fuzz tests need invalid ones
        (Kind.SLIN_48K, bytes(65535), b"\x16\xff\xff" + bytes(65535)),
    ],
)
def test_encode_writes_kind_then_big_endian_length_then_payload(kind: int, payload: bytes, wire: bytes) -> None:
    assert encode(kind, payload) == wire


def test_uuid_frame_carries_the_16_raw_bytes_not_text() -> None:
    assert encode_uuid(CALL_UUID) == UUID_FRAME
    assert HANGUP_FRAME == b"\x00\x00\x00"


def test_encode_refuses_a_payload_a_u16_cannot_describe() -> None:
    with pytest.raises(ValueError, match="u16"):
        encode(Kind.SLIN_8K, bytes(65536))


# -- parse ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (UUID_FRAME, [(Kind.UUID, CALL_UUID.bytes)]),
        (
            UUID_FRAME + b"\x10\x00\x04\x01\x00\xff\xff",
            [(Kind.UUID, CALL_UUID.bytes), (Kind.SLIN_8K, b"\x01\0\xff\xff")],
        ),
        (
            UUID_FRAME + b"\x03\x00\x011\x03\x00\x01#",
            [(Kind.UUID, CALL_UUID.bytes), (Kind.DTMF, b"1"), (Kind.DTMF, b"#")],
        ),
        (UUID_FRAME + b"\x00\x00\x00", [(Kind.UUID, CALL_UUID.bytes), (Kind.HANGUP, b"")]),
        (UUID_FRAME + b"\xff\x00\x01\x01", [(Kind.UUID, CALL_UUID.bytes), (Kind.ERROR, b"\x01")]),
        (UUID_FRAME + b"\x12\x00\x00", [(Kind.UUID, CALL_UUID.bytes), (Kind.SLIN_16K, b"")]),
        (UUID_FRAME + b"\x10\x00", [(Kind.UUID, CALL_UUID.bytes)]),  # half a header waits for the rest
        (UUID_FRAME + b"\x10\x00\x04\x01\x00", [(Kind.UUID, CALL_UUID.bytes)]),  # half a payload too
    ],
    ids=["uuid", "audio", "dtmf", "hangup", "error", "empty-audio", "partial-header", "partial-payload"],
)
def test_parser_decodes(wire: bytes, expected: list[tuple[Kind, bytes]]) -> None:
    frames = FrameParser(max_payload=8192).feed(wire)
    assert [(f.kind, f.payload) for f in frames] == expected


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"\x10\x01\x40" + bytes(320), "missing_uuid"),
        (b"\x03\x00\x011", "missing_uuid"),
        (b"\x01\x00\x24" + str(CALL_UUID).encode(), "bad_uuid"),  # the UUID as 36 characters of text
        (b"\x01\x00\x00", "bad_uuid"),
        (b"\x42\x00\x00", "unknown_kind"),
        (UUID_FRAME + b"\x42\x00\x00", "unknown_kind"),
        (UUID_FRAME + b"\x02\x00\x00", "unknown_kind"),  # 0x02 is not assigned
        (b"GET / HTTP/1.1\r\n", "unknown_kind"),
        (UUID_FRAME + b"\x10\x20\x01", "payload_too_long"),  # 8193 > cap, rejected from the header alone
        (UUID_FRAME + b"\x10\x00\x03abc", "odd_audio_length"),
        (UUID_FRAME + b"\x03\x00\x0212", "bad_dtmf"),
        (UUID_FRAME + b"\x03\x00\x00", "bad_dtmf"),
    ],
)
def test_parser_rejects(wire: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as err:
        FrameParser(max_payload=8192).feed(wire)
    assert err.value.reason == reason


def test_parser_without_uuid_rule_reads_a_servers_stream() -> None:
    """The test caller parses what the server sends: audio from the first byte, no UUID."""
    frames = FrameParser(max_payload=8192, expect_uuid=False).feed(b"\x10\x00\x02\0\0\x00\x00\x00")
    assert [f.kind for f in frames] == [Kind.SLIN_8K, Kind.HANGUP]


def test_partial_is_true_only_between_the_first_and_last_byte_of_a_frame() -> None:
    parser = FrameParser(max_payload=8192)
    assert not parser.partial
    parser.feed(UUID_FRAME[:1])
    assert parser.partial
    assert parser.feed(UUID_FRAME[1:]) == [Frame(Kind.UUID, CALL_UUID.bytes)]
    assert not parser.partial


def test_frame_helpers() -> None:
    assert Frame(Kind.UUID, CALL_UUID.bytes).uuid() == CALL_UUID
    assert Frame(Kind.DTMF, b"#").digit() == "#"
    assert Frame(Kind.SLIN_16K, b"").rate == 16000
    assert Frame(Kind.DTMF, b"1").rate is None


# -- replay of the recorded Asterisk streams ------------------------------------------------------
def _records(path: Path) -> tuple[list[dict], dict]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in lines if r.get("dir") == "in"], lines[-1]


def _wav_payloads(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        return wav.readframes(wav.getnframes())


def _payload(record: dict, audio_index: int, wav_data: bytes | None) -> bytes:
    """The bytes of one recorded frame: payload_hex when kept, the WAV's data, else zeros of `len`."""
    if record["payload_hex"] is not None:
        return bytes.fromhex(record["payload_hex"])
    if wav_data is not None and audio_index < 100:
        return wav_data[audio_index * 640 : audio_index * 640 + record["len"]]
    return bytes(record["len"])


def _rebuild(path: Path) -> tuple[bytes, list[dict]]:
    """The exact byte stream Asterisk sent: kind, big-endian length, payload, frame after frame."""
    records, _eof = _records(path)
    wav_data = _wav_payloads(DIAL_16K_WAV) if path.name == "audiosocket-dial-16k.jsonl" else None
    stream = bytearray()
    audio_index = 0
    for r in records:
        payload = _payload(r, audio_index, wav_data)
        assert len(payload) == r["len"]
        stream += bytes([int(r["type"], 16)]) + r["len"].to_bytes(2, "big") + payload
        if r["type"] not in ("0x01", "0x03"):
            audio_index += 1
    return bytes(stream), records


def _chunks(data: bytes, rng: random.Random) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = rng.choice([1, 2, 3, rng.randint(1, 700), rng.randint(1, 5000)])
        out.append(data[i : i + n])
        i += n
    return out


def test_the_captures_are_all_here() -> None:
    assert [p.name for p in CAPTURES] == [
        "audiosocket-app-8k.jsonl",
        "audiosocket-dial-16k-silent.jsonl",
        "audiosocket-dial-16k.jsonl",
        "audiosocket-server-hangup.jsonl",
        "audiosocket-timeout-after-speech.jsonl",
        "audiosocket-timeout.jsonl",
    ]


def test_the_recorded_16k_wav_is_the_first_100_payloads() -> None:
    """README fact 3: the WAV's first 3200 bytes are the payload_hex of the first 5 0x12 frames."""
    records, _eof = _records(FIXTURES / "audiosocket-dial-16k.jsonl")
    audio = [r for r in records if r["type"] == "0x12"]
    data = _wav_payloads(DIAL_16K_WAV)
    assert len(data) == 100 * 640
    assert data[:3200] == b"".join(bytes.fromhex(r["payload_hex"]) for r in audio[:5])


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("capture", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_replayed_asterisk_stream_parses_frame_for_frame(capture: Path, seed: int) -> None:
    stream, records = _rebuild(capture)
    parser = FrameParser(max_payload=8192)
    frames: list[Frame] = []
    for chunk in _chunks(stream, random.Random(seed)):
        frames += parser.feed(chunk)

    assert not parser.partial  # the capture ended on a frame boundary ("partial_bytes_pending": 0)
    assert [(f"0x{f.kind:02x}", len(f.payload)) for f in frames] == [(r["type"], r["len"]) for r in records]
    for frame, record in zip(frames, records, strict=True):
        if record["payload_hex"] is not None:
            assert frame.payload.hex() == record["payload_hex"]
        if "uuid" in record:
            assert str(frame.uuid()) == record["uuid"]
        if "digit" in record:
            assert frame.digit() == record["digit"]


@pytest.mark.parametrize("capture", CAPTURES, ids=[p.stem for p in CAPTURES])
def test_replay_matches_the_captures_own_summary(capture: Path) -> None:
    """The eof line counts frames by type and length; the parser must see exactly those."""
    stream, _ = _rebuild(capture)
    _, eof = _records(capture)
    frames = FrameParser(max_payload=8192).feed(stream)
    by_type: dict[str, int] = {}
    lengths: dict[str, dict[str, int]] = {}
    for f in frames:
        t = f"0x{f.kind:02x}"
        by_type[t] = by_type.get(t, 0) + 1
        lengths.setdefault(t, {})
        lengths[t][str(len(f.payload))] = lengths[t].get(str(len(f.payload)), 0) + 1
    assert by_type == eof["frames_in_by_type"]
    assert lengths == eof["payload_len_by_type"]
    assert not eof["zero_frame_0x00_received"]
    assert Kind.HANGUP not in [f.kind for f in frames]  # Asterisk hangs up by closing TCP (fact 6)


@pytest.mark.parametrize(
    ("capture", "kind", "last_len", "digits"),
    [
        ("audiosocket-app-8k.jsonl", Kind.SLIN_8K, 238, ["1", "#"]),
        ("audiosocket-dial-16k.jsonl", Kind.SLIN_16K, 522, ["1", "#"]),
    ],
)
def test_short_last_frame_and_dtmf_parse(capture: str, kind: Kind, last_len: int, digits: list[str]) -> None:
    stream, _ = _rebuild(FIXTURES / capture)
    frames = FrameParser(max_payload=8192).feed(stream)
    audio = [f for f in frames if f.kind == kind]
    assert len(audio) == 142
    assert {len(f.payload) for f in audio[:-1]} == {640 if kind == Kind.SLIN_16K else 320}
    assert len(audio[-1].payload) == last_len
    assert [f.digit() for f in frames if f.kind == Kind.DTMF] == digits
    assert frames[0].kind == Kind.UUID
