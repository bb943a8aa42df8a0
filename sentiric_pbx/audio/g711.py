"""ITU-T G.711 μ-law and A-law, as lookup tables built once with numpy.

The stdlib `audioop` is deprecated (gone in 3.13). Decoding is a 256-entry table; encoding is a
65 536-entry table indexed by the 16-bit sample, so a frame converts with one numpy `take` and the
result is exact to the standard's segment tables (the tests compare every code point against the
reference algorithm and known vectors).
"""

from __future__ import annotations

import numpy as np

_BIAS = 0x84
_CLIP = 8159
_ULAW_SEG_END = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)


def _ulaw_encode_one(sample: int) -> int:
    # G.711 μ-law works on 14-bit samples: drop the two low bits first, as the reference code does.
    val = sample >> 2
    if val < 0:
        val, mask = -val, 0x7F
    else:
        mask = 0xFF
    val = min(val, _CLIP) + (_BIAS >> 2)
    seg = 0
    while seg < 8 and val > _ULAW_SEG_END[seg]:
        seg += 1
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((val >> (seg + 1)) & 0x0F)) ^ mask


def _ulaw_decode_one(code: int) -> int:
    code = ~code & 0xFF
    sign = code & 0x80
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    mag = ((mantissa << 3) + _BIAS) << exponent
    mag -= _BIAS
    return -mag if sign else mag


def _alaw_encode_one(sample: int) -> int:
    # G.711 A-law works on 13-bit magnitudes; the 16-bit sample is shifted down by 3.
    if sample >= 0:
        mask = 0xD5
        mag = sample >> 3
    else:
        mask = 0x55
        mag = (-sample - 1) >> 3
    if mag < 32:
        code = mag >> 1
    else:
        seg = 1
        while seg < 7 and mag >= (64 << (seg - 1)):
            seg += 1
        code = (seg << 4) | ((mag >> seg) & 0x0F)
    return (code ^ mask) & 0xFF


def _alaw_decode_one(code: int) -> int:
    code ^= 0x55
    mantissa = (code & 0x0F) << 4
    seg = (code & 0x70) >> 4
    if seg == 0:
        mag = mantissa + 8
    elif seg == 1:
        mag = mantissa + 0x108
    else:
        mag = (mantissa + 0x108) << (seg - 1)
    return mag if code & 0x80 else -mag


_ALL_SAMPLES = range(-32768, 32768)
_ULAW_ENC = np.array([_ulaw_encode_one(s) for s in _ALL_SAMPLES], dtype=np.uint8)
_ULAW_DEC = np.array([_ulaw_decode_one(c) for c in range(256)], dtype="<i2")
_ALAW_ENC = np.array([_alaw_encode_one(s) for s in _ALL_SAMPLES], dtype=np.uint8)
_ALAW_DEC = np.array([_alaw_decode_one(c) for c in range(256)], dtype="<i2")


def _index(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int32) + 32768


def ulaw_encode(pcm: bytes) -> bytes:
    """16-bit LE PCM → μ-law bytes (one byte per sample)."""
    return _ULAW_ENC[_index(pcm)].tobytes()


def ulaw_decode(data: bytes) -> bytes:
    """μ-law bytes → 16-bit LE PCM."""
    return _ULAW_DEC[np.frombuffer(data, dtype=np.uint8)].tobytes()


def alaw_encode(pcm: bytes) -> bytes:
    """16-bit LE PCM → A-law bytes (even bits inverted, as on the wire)."""
    return _ALAW_ENC[_index(pcm)].tobytes()


def alaw_decode(data: bytes) -> bytes:
    """A-law bytes → 16-bit LE PCM."""
    return _ALAW_DEC[np.frombuffer(data, dtype=np.uint8)].tobytes()


ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5
