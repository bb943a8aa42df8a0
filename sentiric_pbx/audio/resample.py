"""Streaming sample-rate conversion with soxr.

One `StreamResampler` per call and direction: soxr keeps filter state between chunks, so 20 ms
pieces join without clicks. (`audioop.ratecv` aliases and is gone in 3.13.)

Why `vr=True`: soxr's default streaming mode releases output in ~100 ms blocks (0, 0, 0, 0, 0, 1660
samples for six 20 ms chunks at 8→16 kHz), which would add up to ~116 ms to every reply on each
direction. The variable-rate engine returns 20 ms out for every 20 ms in after a 10–20 ms delay,
with the same HQ filter quality.
"""

from __future__ import annotations

import numpy as np
import soxr


class StreamResampler:
    """16-bit mono PCM at `in_rate` → 16-bit mono PCM at `out_rate`, chunk by chunk.

    Output lags input by the filter delay (10–20 ms, once); callers reframe the output rather than
    assume one frame in gives one frame out.
    """

    def __init__(self, in_rate: int, out_rate: int, quality: str = "HQ") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._quality = quality
        self._stream: soxr.ResampleStream | None = (
            None if in_rate == out_rate else soxr.ResampleStream(in_rate, out_rate, 1, "int16", quality, vr=True)
        )

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        if self._stream is None:
            return pcm
        samples = np.frombuffer(pcm, dtype="<i2")
        return self._stream.resample_chunk(samples, last=last).astype("<i2", copy=False).tobytes()

    def reset(self) -> None:
        """Drop buffered state (barge-in: what was queued must not leak into the next reply)."""
        if self._stream is not None:
            self._stream.clear()


def resample(pcm: bytes, in_rate: int, out_rate: int) -> bytes:
    """One-shot conversion of a whole buffer (files, test fixtures)."""
    if in_rate == out_rate:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2")
    return soxr.resample(samples, in_rate, out_rate, "HQ").astype("<i2", copy=False).tobytes()
