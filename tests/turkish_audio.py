"""Did the far end hear this sentence in this voice? Matched on the waveform, for voices Whisper cannot read.

Whisper base does not understand espeak-ng's Turkish ("Merhaba" comes back as "Mephaba", "Mert hamaat"),
so a test cannot ask it what a Turkish call said. espeak-ng is deterministic, though: the sentence the agent
said, rendered again by the same voice and brought to the phone band, lines up sample for sample with what
the caller's side recorded (only the resampler's filter state differs). The best normalised
cross-correlation over all offsets is ~0.9+ for the same sentence in the same voice, and well under 0.5 for
another sentence or another voice. `heard_said` matches the reference in 0.4 s pieces and takes the median,
so a recording that placed a late frame one slot later (a 20 ms gap mid-sentence) still matches.
"""

from __future__ import annotations

import numpy as np


def best_match(heard: bytes, reference: bytes) -> float:
    """max over offsets of cos(heard[offset:offset+n], reference); both 16-bit PCM at the same rate."""
    h = np.frombuffer(heard, dtype="<i2").astype(np.float64)
    r = np.frombuffer(reference, dtype="<i2").astype(np.float64)
    n = len(r)
    if n == 0 or len(h) < n or not r.any():
        return 0.0
    size = 1 << int(np.ceil(np.log2(len(h) + n)))
    dots = np.fft.irfft(np.fft.rfft(h, size) * np.conj(np.fft.rfft(r, size)), size)[: len(h) - n + 1]
    energy = np.concatenate(([0.0], np.cumsum(h * h)))
    norms = np.sqrt(np.maximum(energy[n:] - energy[:-n], 1e-9)) * np.linalg.norm(r)
    return float(np.max(dots / norms))


def heard_said(heard: bytes, reference: bytes, rate: int, piece_s: float = 0.4) -> float:
    """The median `best_match` of the reference's voiced 0.4 s pieces in `heard`."""
    step = int(rate * piece_s) * 2
    pieces = [reference[i : i + step] for i in range(0, len(reference) - step + 1, step)]
    voiced = [p for p in pieces if np.abs(np.frombuffer(p, dtype="<i2")).max(initial=0) > 1000]
    if not voiced:
        return 0.0
    return float(np.median([best_match(heard, p) for p in voiced]))
