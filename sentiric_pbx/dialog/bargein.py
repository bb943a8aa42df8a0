"""Barge-in: when does the caller's voice mean "stop talking"?

While we speak, the caller's line also carries an echo of our own voice (the far end's hybrid, a
speakerphone), attenuated by 10–30 dB. The endpointer's VAD hears that echo as speech. So while we
speak, a frame counts towards barge-in only if it is voiced *and* louder than the loudest audio we
are sending minus `echo_margin_db` — our own echo is always quieter than what we sent, a caller
talking over us is not. The reference is the loudest 20 ms frame of the sentence now playing.
`sustain_ms` of such frames (default 240 ms) trigger barge-in; a cough or a click does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from sentiric_pbx.audio.frames import FRAME_BYTES, FRAME_MS, rms_dbfs


@dataclass(slots=True)
class BargeInOptions:
    sustain_ms: int = 240
    """Caller speech needed while we speak before we stop. Defaults to 240 ms."""
    echo_margin_db: float = 12.0
    """While we speak, caller audio must be within this many dB of our own level to count. Defaults to 12."""
    floor_dbfs: float = -45.0
    """Caller audio quieter than this never counts (line noise). Defaults to −45 dBFS."""


class BargeInDetector:
    def __init__(self, options: BargeInOptions | None = None) -> None:
        self.options = options or BargeInOptions()
        self.our_level_dbfs = float("-inf")
        self._run_ms = 0

    def speaking(self, pcm: bytes) -> None:
        """The sentence we are about to play: its loudest frame becomes the echo reference."""
        frames = (pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES))
        self.our_level_dbfs = max((rms_dbfs(f) for f in frames), default=float("-inf"))

    def reset(self) -> None:
        self._run_ms = 0

    def caller_frame(self, frame: bytes, voiced: bool, agent_speaking: bool) -> bool:
        """Feed one caller frame; True when the caller has talked over us long enough."""
        if not agent_speaking:
            self._run_ms = 0
            return False
        level = rms_dbfs(frame)
        threshold = max(self.options.floor_dbfs, self.our_level_dbfs - self.options.echo_margin_db)
        if voiced and level > threshold:
            self._run_ms += FRAME_MS
        else:
            self._run_ms = max(0, self._run_ms - FRAME_MS)
        return self._run_ms >= self.options.sustain_ms
