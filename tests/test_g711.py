"""G.711 μ-law and A-law against the standard's tables, the reference coder (audioop) and its properties.

The reference tables here are built from ITU-T G.711's segment structure (Tables 1a/2a: decision
values and reconstruction values per segment), independently of the library's bit arithmetic.
"""

from __future__ import annotations

import bisect
import warnings

import numpy as np
import pytest

from sentiric_pbx.audio import g711

ALL_SAMPLES = np.arange(-32768, 32768, dtype="<i2")
ALL_CODES = bytes(range(256))


def _pcm(*samples: int) -> bytes:
    return np.array(samples, dtype="<i2").tobytes()


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int64)


# --- the standard's tables ------------------------------------------------------------------------
def _upper_decision_values(first_segment: list[int], widths: tuple[int, ...]) -> list[int]:
    upper = list(first_segment)
    for width in widths:
        upper += [upper[-1] + width * (i + 1) for i in range(16)]
    return upper


def _midpoints(upper: list[int]) -> list[int]:
    lower = [0, *upper[:-1]]
    return [(lo + hi) // 2 for lo, hi in zip(lower, upper, strict=True)]


# μ-law works on 14-bit magnitudes (0..8159). Segment 0 has one interval of width 1 ([0, 1)) and 15 of
# width 2; segments 1..7 have 16 intervals of width 4, 8, ..., 256. Upper decision values therefore run
# 1, 3, ..., 31, 35, ..., 95, 103, ..., 8159; reconstruction values are the interval midpoints (0 for
# the first), the largest being 8031.
_MU_UPPER = _upper_decision_values([1 + 2 * i for i in range(16)], (4, 8, 16, 32, 64, 128, 256))
_MU_RECON = _midpoints(_MU_UPPER)
# A-law works on 13-bit magnitudes (0..4095). Segments 0 and 1 have 16 intervals of width 2 each, then
# widths 4, 8, ..., 128: upper decision values 2, 4, ..., 64, 68, ..., 4096; reconstruction values are
# the midpoints 1, 3, ..., 4032.
_A_UPPER = _upper_decision_values([2 * (i + 1) for i in range(32)], (4, 8, 16, 32, 64, 128))
_A_RECON = _midpoints(_A_UPPER)


def test_the_reference_tables_have_the_standards_shape() -> None:
    assert len(_MU_UPPER) == 128 and _MU_UPPER[15] == 31 and _MU_UPPER[16] == 35 and _MU_UPPER[-1] == 8159
    assert _MU_RECON[:4] == [0, 2, 4, 6] and _MU_RECON[16] == 33 and _MU_RECON[-1] == 8031
    assert len(_A_UPPER) == 128 and _A_UPPER[31] == 64 and _A_UPPER[-1] == 4096
    assert _A_RECON[:3] == [1, 3, 5] and _A_RECON[32] == 66 and _A_RECON[-1] == 4032


def _ref_ulaw_decode(code: int) -> int:
    # All bits are transmitted inverted; after inversion bit 7 set means negative, then 3 bits of
    # segment and 4 of step: magnitude index k = 16 * segment + step. 16-bit = 14-bit value * 4.
    inv = ~code & 0xFF
    value = _MU_RECON[inv & 0x7F] * 4
    return -value if inv & 0x80 else value


def _ref_ulaw_encode(sample: int) -> int:
    # The reference coder truncates to 14 bits first (arithmetic shift), then finds the interval.
    v = sample >> 2
    mag = -v if v < 0 else v
    k = min(bisect.bisect_right(_MU_UPPER, mag), 127)
    return (0x7F if v < 0 else 0xFF) - k


def _ref_alaw_decode(code: int) -> int:
    # Even bits are inverted on the wire (XOR 0x55); bit 7 set means positive. 16-bit = 13-bit * 8.
    c = code ^ 0x55
    value = _A_RECON[c & 0x7F] * 8
    return value if c & 0x80 else -value


def _ref_alaw_encode(sample: int) -> int:
    # Positive samples truncate to 13 bits; negative ones are one's-complemented first (-1 -> 0).
    if sample >= 0:
        mag, sign = sample >> 3, 0x80
    else:
        mag, sign = (~sample) >> 3, 0x00
    k = bisect.bisect_right(_A_UPPER, mag)
    return (sign | k) ^ 0x55


# --- known vectors (checked by hand against the tables above) --------------------------------------
# μ-law: 0xFF/0x7F are +0/-0; 0x80/0x00 the extremes (8031 * 4); 0xF0 is the top of segment 0 (step 15
# -> 30 * 4); 0xEF is the bottom of segment 1 (33 * 4); 0xDF the bottom of segment 2 (99 * 4).
ULAW_DECODE_VECTORS = [
    (0xFF, 0),
    (0x7F, 0),
    (0x80, 32124),
    (0x00, -32124),
    (0xFE, 8),
    (0x7E, -8),
    (0xF0, 120),
    (0xEF, 132),
    (0xDF, 396),
    (0x6F, -132),
]
# A-law: 0xD5/0x55 are the smallest levels ±1 * 8; 0xAA/0x2A the extremes (4032 * 8); 0xC5 (index 16,
# the start of segment 1) is 33 * 8; 0xF5 (index 32, the start of segment 2) is 66 * 8.
ALAW_DECODE_VECTORS = [
    (0xD5, 8),
    (0x55, -8),
    (0xAA, 32256),
    (0x2A, -32256),
    (0xD4, 24),
    (0xC5, 264),
    (0xF5, 528),
    (0x45, -264),
]
ULAW_ENCODE_VECTORS = [
    (0, 0xFF),
    (3, 0xFF),  # 3 >> 2 == 0
    (4, 0xFE),  # 14-bit 1 is the start of the second interval
    (-1, 0x7E),  # -1 >> 2 == -1: magnitude 1, as in the reference coder
    (32767, 0x80),
    (-32768, 0x00),
    (32124, 0x80),
    (8159 * 4 + 3, 0x80),  # clipped
]
ALAW_ENCODE_VECTORS = [
    (0, 0xD5),
    (15, 0xD5),  # 13-bit 1 is still the first interval
    (16, 0xD4),
    (-1, 0x55),  # one's complement: -1 -> magnitude 0
    (-16, 0x55),
    (-17, 0x54),
    (32767, 0xAA),
    (-32768, 0x2A),
]


@pytest.mark.parametrize(("code", "expected"), ULAW_DECODE_VECTORS, ids=lambda v: f"{v:#x}" if v >= 0 else str(v))
def test_ulaw_decode_known_vectors(code: int, expected: int) -> None:
    assert _samples(g711.ulaw_decode(bytes([code])))[0] == expected
    assert _ref_ulaw_decode(code) == expected


@pytest.mark.parametrize(("code", "expected"), ALAW_DECODE_VECTORS, ids=lambda v: f"{v:#x}" if v >= 0 else str(v))
def test_alaw_decode_known_vectors(code: int, expected: int) -> None:
    assert _samples(g711.alaw_decode(bytes([code])))[0] == expected
    assert _ref_alaw_decode(code) == expected


@pytest.mark.parametrize(("sample", "code"), ULAW_ENCODE_VECTORS)
def test_ulaw_encode_known_vectors(sample: int, code: int) -> None:
    assert g711.ulaw_encode(_pcm(sample)) == bytes([code])
    assert _ref_ulaw_encode(sample) == code


@pytest.mark.parametrize(("sample", "code"), ALAW_ENCODE_VECTORS)
def test_alaw_encode_known_vectors(sample: int, code: int) -> None:
    assert g711.alaw_encode(_pcm(sample)) == bytes([code])
    assert _ref_alaw_encode(sample) == code


# --- every code point against the table reference -----------------------------------------------
@pytest.mark.parametrize(
    ("decode", "reference"),
    [(g711.ulaw_decode, _ref_ulaw_decode), (g711.alaw_decode, _ref_alaw_decode)],
    ids=["ulaw", "alaw"],
)
def test_decode_matches_the_table_for_all_256_codes(decode, reference) -> None:
    got = _samples(decode(ALL_CODES))
    assert got.tolist() == [reference(c) for c in range(256)]


@pytest.mark.parametrize(
    ("encode", "reference"),
    [(g711.ulaw_encode, _ref_ulaw_encode), (g711.alaw_encode, _ref_alaw_encode)],
    ids=["ulaw", "alaw"],
)
def test_encode_matches_the_table_for_all_65536_samples(encode, reference) -> None:
    got = np.frombuffer(encode(ALL_SAMPLES.tobytes()), dtype=np.uint8)
    expected = np.array([reference(int(s)) for s in ALL_SAMPLES], dtype=np.uint8)
    mismatches = np.nonzero(got != expected)[0]
    assert mismatches.size == 0, f"first mismatching samples: {(mismatches[:5] - 32768).tolist()}"


# --- properties -----------------------------------------------------------------------------------
# encode, decode, 16-bit units per table unit, the table, the largest level in 16-bit units
CODECS = [
    pytest.param(g711.ulaw_encode, g711.ulaw_decode, 4, _MU_UPPER, 32124, id="ulaw"),
    pytest.param(g711.alaw_encode, g711.alaw_decode, 8, _A_UPPER, 32256, id="alaw"),
]


@pytest.mark.parametrize(("encode", "decode", "scale", "upper", "peak"), CODECS)
def test_round_trip_error_is_within_half_a_quantisation_step(encode, decode, scale, upper, peak) -> None:
    x = ALL_SAMPLES.astype(np.int64)
    y = _samples(decode(encode(ALL_SAMPLES.tobytes())))
    widths = np.diff(np.array([0, *upper])) * scale
    step_of_level = dict(zip((np.array(_midpoints(upper)) * scale).tolist(), widths.tolist(), strict=True))
    inside = np.abs(x) <= peak
    # Half the step of the level it was quantised to, plus the low bits the coder truncates first.
    allowed = np.array([step_of_level[abs(v)] for v in y[inside].tolist()]) // 2 + scale
    err = np.abs(y - x)
    assert np.all(err[inside] <= allowed)
    # Near zero the error is a few LSB; at full scale at most half the widest step.
    assert err[np.abs(x) < 64].max() < 2 * scale
    assert err[inside].max() <= widths.max() // 2 + scale
    # Beyond the last reconstruction level the coder clips to it.
    assert set(y[x > peak].tolist()) == {peak}
    assert set(y[x < -peak - scale].tolist()) == {-peak}


@pytest.mark.parametrize(("encode", "decode", "scale", "upper", "peak"), CODECS)
def test_round_trip_is_monotonic_and_odd_symmetric(encode, decode, scale, upper, peak) -> None:
    y = _samples(decode(encode(ALL_SAMPLES.tobytes())))
    assert np.all(np.diff(y) >= 0), "decode(encode(x)) must never decrease as x grows"
    # 255 (μ-law, ±0 share a value) or 256 (A-law) distinct output levels are all reachable.
    assert len(np.unique(y)) == (255 if scale == 4 else 256)
    levels = np.unique(_samples(decode(ALL_CODES)))
    assert np.array_equal(levels, -levels[::-1]), "the level set is symmetric around zero"


@pytest.mark.parametrize(("encode", "decode", "scale", "upper", "peak"), CODECS)
def test_encoding_a_decoded_level_gives_the_code_back(encode, decode, scale, upper, peak) -> None:
    codes = np.frombuffer(ALL_CODES, dtype=np.uint8)
    again = np.frombuffer(encode(decode(ALL_CODES)), dtype=np.uint8)
    differing = codes[again != codes].tolist()
    # Only μ-law's negative zero (0x7F) comes back as positive zero (0xFF).
    assert differing == ([0x7F] if scale == 4 else [])


def test_silence_constants_and_frames() -> None:
    assert g711.ulaw_encode(bytes(640)) == bytes([g711.ULAW_SILENCE]) * 320
    assert g711.alaw_encode(bytes(640)) == bytes([g711.ALAW_SILENCE]) * 320
    assert _samples(g711.ulaw_decode(bytes([g711.ULAW_SILENCE]))).tolist() == [0]
    assert abs(int(_samples(g711.alaw_decode(bytes([g711.ALAW_SILENCE])))[0])) <= 8
    assert g711.ulaw_encode(b"") == b"" and g711.alaw_decode(b"") == b""


def test_lengths_one_byte_per_sample() -> None:
    pcm = (np.sin(np.arange(160) / 5) * 12000).astype("<i2").tobytes()
    for encode, decode in [(g711.ulaw_encode, g711.ulaw_decode), (g711.alaw_encode, g711.alaw_decode)]:
        coded = encode(pcm)
        assert len(coded) == 160
        assert len(decode(coded)) == 320


# --- exhaustive equality with the stdlib reference coder ----------------------------------------
@pytest.fixture(scope="module")
def audioop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pytest.importorskip("audioop")


def test_ulaw_equals_audioop_for_every_sample_and_code(audioop) -> None:
    pcm = ALL_SAMPLES.tobytes()
    assert g711.ulaw_encode(pcm) == audioop.lin2ulaw(pcm, 2)
    assert g711.ulaw_decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)


def test_alaw_equals_audioop_for_every_sample_and_code(audioop) -> None:
    pcm = ALL_SAMPLES.tobytes()
    assert g711.alaw_encode(pcm) == audioop.lin2alaw(pcm, 2)
    assert g711.alaw_decode(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)
