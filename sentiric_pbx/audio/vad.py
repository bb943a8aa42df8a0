"""Voice activity detection (webrtcvad) and the endpointer that turns it into caller turns.

The endpointer decides when the caller has started and finished speaking. Two numbers set how the
agent feels: `end_of_turn_silence_ms` (how long a pause ends the turn; every ms is added to the reply
latency) and `min_speech_ms` (how much voice starts a turn, so a cough or a click does not). The
pre-roll keeps the audio from just before the detected start, because webrtcvad fires a frame or two
into a word and an STT engine fed from that point loses the first syllable.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import webrtcvad

from sentiric_pbx.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from sentiric_pbx.config import VadConfig


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller began a turn; `at_ms` is the stream time of its first voiced frame."""

    at_ms: int


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The caller finished a turn.

    `audio` runs from `pre_roll_ms` before the start to the last voiced frame (trailing silence is
    not included); `last_voiced_ms` is the stream time at the end of that frame.
    """

    audio: bytes
    started_ms: int
    last_voiced_ms: int
    truncated: bool = False


TurnEvent = SpeechStarted | TurnEnded


@dataclass(slots=True)
class Endpointer:
    """Feed 20 ms 16 kHz frames in order; get `SpeechStarted` / `TurnEnded` events out.

    >>> ep = Endpointer(VadConfig(min_speech_ms=60, end_of_turn_silence_ms=200))
    >>> # voiced, voiced, voiced → [SpeechStarted]; ... 10 silent frames later → [TurnEnded(audio=…)]
    """

    options: VadConfig = field(default_factory=VadConfig)
    _vad: webrtcvad.Vad = field(init=False)
    _pre: deque[bytes] = field(init=False)
    _candidate: list[bytes] = field(init=False, default_factory=list)
    _turn: list[bytes] = field(init=False, default_factory=list)
    _trailing_silence: int = field(init=False, default=0)
    _in_turn: bool = field(init=False, default=False)
    _frames_seen: int = field(init=False, default=0)
    _started_ms: int = field(init=False, default=0)
    _last_voiced_ms: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._vad = webrtcvad.Vad(self.options.aggressiveness)
        self._pre = deque(maxlen=max(0, self.options.pre_roll_ms // FRAME_MS))

    @property
    def in_turn(self) -> bool:
        return self._in_turn

    def is_speech(self, frame: bytes) -> bool:
        return self._vad.is_speech(frame, SAMPLE_RATE)

    def process(self, frame: bytes) -> list[TurnEvent]:
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"endpointer wants {FRAME_BYTES}-byte frames, got {len(frame)}")
        self._frames_seen += 1
        now_ms = self._frames_seen * FRAME_MS
        voiced = self.is_speech(frame)
        if not self._in_turn:
            return self._idle(frame, voiced, now_ms)
        return self._speaking(frame, voiced, now_ms)

    def _idle(self, frame: bytes, voiced: bool, now_ms: int) -> list[TurnEvent]:
        if not voiced:
            # A gap inside the candidate resets it: min_speech_ms must be contiguous voice.
            self._pre.extend(self._candidate)
            self._candidate.clear()
            self._pre.append(frame)
            return []
        self._candidate.append(frame)
        if len(self._candidate) * FRAME_MS < self.options.min_speech_ms:
            return []
        self._in_turn = True
        self._started_ms = now_ms - len(self._candidate) * FRAME_MS
        self._turn = [*self._pre, *self._candidate]
        self._pre.clear()
        self._candidate.clear()
        self._trailing_silence = 0
        self._last_voiced_ms = now_ms
        return [SpeechStarted(at_ms=self._started_ms)]

    def _speaking(self, frame: bytes, voiced: bool, now_ms: int) -> list[TurnEvent]:
        self._turn.append(frame)
        if voiced:
            self._trailing_silence = 0
            self._last_voiced_ms = now_ms
        else:
            self._trailing_silence += 1
        too_long = (now_ms - self._started_ms) >= self.options.max_turn_s * 1000
        if self._trailing_silence * FRAME_MS >= self.options.end_of_turn_silence_ms or too_long:
            return [self._finish(truncated=too_long and self._trailing_silence == 0)]
        return []

    def _finish(self, truncated: bool) -> TurnEnded:
        keep = len(self._turn) - self._trailing_silence
        audio = b"".join(self._turn[:keep])
        event = TurnEnded(audio, self._started_ms, self._last_voiced_ms, truncated)
        self._turn = []
        self._in_turn = False
        self._trailing_silence = 0
        return event

    def reset(self) -> None:
        """Forget the current turn and history (e.g. after the agent asked the caller to repeat)."""
        self._pre.clear()
        self._candidate.clear()
        self._turn = []
        self._in_turn = False
        self._trailing_silence = 0
