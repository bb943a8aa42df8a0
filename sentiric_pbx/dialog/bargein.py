"""Barge-in: when does the caller's voice mean "stop talking"?

While we speak, the caller's line also carries an echo of our own voice (the far end's hybrid, a
speakerphone), attenuated by the echo return loss (typically 10–30 dB) and delayed by up to a few
hundred ms. The endpointer's VAD hears that echo as speech. So while we speak, a caller frame counts
towards barge-in only if it is voiced *and* louder than the loudest audio we played in the last
`echo_window_ms` minus `echo_margin_db`: our echo is always quieter than what we sent, a caller
talking over us is not. `sustain_ms` of such speech (default 240 ms; short valleys between
syllables only slow the count down) triggers barge-in; a cough or a click does not.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sentiric_pbx.audio.frames import FRAME_MS, rms_dbfs


@dataclass(slots=True)
class BargeInOptions:
    sustain_ms: int = 240
    """Caller speech needed while we speak before we stop. Defaults to 240 ms."""
    echo_margin_db: float = 12.0
    """Caller audio must be louder than our recent level minus this to count. Defaults to 12 dB."""
    echo_window_ms: int = 300
    """How far back our own playout counts as a possible echo source (echo delay + tail). Defaults to 300 ms."""
    floor_dbfs: float = -45.0
    """Caller audio quieter than this never counts (line noise). Defaults to −45 dBFS."""


class BargeInDetector:
    def __init__(self, options: BargeInOptions | None = None) -> None:
        self.options = options or BargeInOptions()
        self._ours: deque[float] = deque(maxlen=max(1, self.options.echo_window_ms // FRAME_MS))
        self._run_ms = 0

    def played(self, frame: bytes | None) -> None:
        """What we played during this caller frame (None or silence when quiet)."""
        self._ours.append(rms_dbfs(frame) if frame else float("-inf"))

    @property
    def our_level_dbfs(self) -> float:
        return max(self._ours, default=float("-inf"))

    def reset(self) -> None:
        self._run_ms = 0

    def caller_frame(self, frame: bytes, voiced: bool, agent_speaking: bool) -> bool:
        """Feed one caller frame (after `played()` for the same tick); True when the caller has talked over us."""
        if not agent_speaking:
            self._run_ms = 0
            return False
        threshold = max(self.options.floor_dbfs, self.our_level_dbfs - self.options.echo_margin_db)
        if voiced and rms_dbfs(frame) > threshold:
            self._run_ms += FRAME_MS
        else:
            self._run_ms = max(0, self._run_ms - FRAME_MS // 2)
        return self._run_ms >= self.options.sustain_ms
