"""The internal audio format every edge converts to and from.

16-bit signed little-endian PCM, mono, 16 kHz, in 20 ms frames of 640 bytes. Nothing behind the
telephony edge knows about μ-law, AudioSocket kinds or RTP; it sees only these frames.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
FRAME_MS = 20
SAMPLE_WIDTH = 2
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 320
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_WIDTH  # 640
SILENCE_FRAME = bytes(FRAME_BYTES)


def frame_bytes(rate: int, ms: int = FRAME_MS) -> int:
    """Bytes in `ms` of 16-bit mono PCM at `rate` Hz."""
    return rate * ms // 1000 * SAMPLE_WIDTH


def rms_dbfs(pcm: bytes) -> float:
    """Level of 16-bit PCM relative to full scale; −inf for digital silence."""
    if not pcm:
        return float("-inf")
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    rms = float(np.sqrt(np.mean(samples * samples)))
    return 20.0 * np.log10(rms / 32768.0) if rms > 0 else float("-inf")


def duration_s(pcm: bytes, rate: int = SAMPLE_RATE) -> float:
    return len(pcm) / (rate * SAMPLE_WIDTH)


class Reframer:
    """Cuts an arbitrary byte stream into fixed-size frames, keeping the remainder for next time.

    Resamplers and network reads hand over odd-sized chunks; everything downstream wants exact
    20 ms frames.
    """

    def __init__(self, frame_size: int = FRAME_BYTES) -> None:
        self.frame_size = frame_size
        self._buf = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        self._buf += data
        n = len(self._buf) // self.frame_size
        if n == 0:
            return []
        cut = n * self.frame_size
        chunk = bytes(self._buf[:cut])
        del self._buf[:cut]
        return [chunk[i : i + self.frame_size] for i in range(0, cut, self.frame_size)]

    def flush(self) -> list[bytes]:
        """Emit what is left, padded with silence to a whole frame (end of an utterance)."""
        if not self._buf:
            return []
        tail = bytes(self._buf) + bytes(self.frame_size - len(self._buf))
        self._buf.clear()
        return [tail]

    def clear(self) -> None:
        self._buf.clear()

    def take(self) -> bytes:
        """What is left (less than a frame), unpadded, and forget it."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest

    @property
    def pending(self) -> int:
        return len(self._buf)
