"""The call recording: a stereo WAV, caller left, agent right, on one timeline.

The caller's frames arrive one per 20 ms and define the call's clock. Our audio is placed where the
playout clock will send it: at the current time, or right after what is still queued; a barge-in
flush cuts our channel back to now. So the recording shows what the caller heard, when they heard it.
"""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np

from sentiric_pbx.audio.frames import SAMPLE_RATE, SAMPLE_WIDTH
from sentiric_pbx.storage.private import make_private_dir, open_private


class CallRecorder:
    def __init__(self, rate: int = SAMPLE_RATE) -> None:
        self.rate = rate
        self._caller = bytearray()
        self._agent = bytearray()

    @property
    def now_s(self) -> float:
        return len(self._caller) / (self.rate * SAMPLE_WIDTH)

    def caller_frame(self, pcm: bytes) -> None:
        self._caller += pcm

    def agent_audio(self, pcm: bytes) -> None:
        """Our audio, queued now: it plays from max(now, end of what is already queued)."""
        now = len(self._caller)
        if len(self._agent) < now:
            self._agent += bytes(now - len(self._agent))
        self._agent += pcm

    def agent_frame_now(self) -> bytes:
        """Our audio at the caller's current position: what the caller's line may be echoing."""
        at = len(self._caller)
        return bytes(self._agent[max(0, at - 640) : at])

    def flush_agent(self) -> None:
        """Barge-in: whatever was queued beyond now was never heard."""
        del self._agent[len(self._caller) :]

    def drop_agent_tail(self, ms: int) -> None:
        """The call ended with `ms` of our audio still queued (the caller hung up mid-reply): never heard."""
        cut = ms * self.rate // 1000 * SAMPLE_WIDTH
        if cut > 0:
            del self._agent[max(0, len(self._agent) - cut) :]

    def write(self, path: Path) -> Path:
        """Write the WAV 0640 into its directory (made 0750): a caller's voice is personal data."""
        n = max(len(self._caller), len(self._agent)) // SAMPLE_WIDTH
        left = np.zeros(n, dtype="<i2")
        right = np.zeros(n, dtype="<i2")
        caller = np.frombuffer(bytes(self._caller), dtype="<i2")
        agent = np.frombuffer(bytes(self._agent), dtype="<i2")
        left[: len(caller)] = caller
        right[: len(agent)] = agent
        stereo = np.empty(2 * n, dtype="<i2")
        stereo[0::2], stereo[1::2] = left, right
        make_private_dir(path.parent)
        tmp = path.with_suffix(".wav.tmp")
        try:
            with os.fdopen(open_private(tmp), "wb") as fh, wave.open(fh, "wb") as out:
                out.setnchannels(2)
                out.setsampwidth(SAMPLE_WIDTH)
                out.setframerate(self.rate)
                out.writeframes(stereo.tobytes())
            tmp.replace(path)
        except OSError:
            # A full disk left the half-written file behind, one per call, in a spool nothing else cleans.
            tmp.unlink(missing_ok=True)
            raise
        return path
