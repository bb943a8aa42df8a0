"""Voice activity detection (webrtcvad) and the endpointer that turns it into caller turns.

The endpointer decides when the caller has started and finished speaking. Two numbers set how the
agent feels: `end_of_turn_silence_ms` (how long a pause ends the turn; every ms is added to the reply
latency) and `min_speech_ms` (how much voice starts a turn, so a cough or a click does not). The
pre-roll keeps the audio from just before the detected start, because webrtcvad fires a frame or two
into a word and an STT engine fed from that point loses the first syllable.
"""

from __future__ import annotations

import math
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

# webrtcvad keeps answering "voice" for a while after the voice has stopped: its hangover
# (kOverHangMax2 in WebRTC's vad_core.c, 20 ms column: 7 frames in modes 0-1, 5 in modes 2-3), plus
# up to two frames for a sound that straddles a frame boundary and the filters ringing on after it.
# A single click or a 20 ms burst thus reads as 80-140 ms of voice, as much as the default
# `min_speech_ms`. Measured on speech and noise bursts at every frame offset, a burst of d ms reads as
# at most d // 20 + tail voiced frames in a row; so a candidate must outlast that tail before its
# voice counts towards min_speech_ms. (SpeechStarted still dates the turn from its first voiced frame.)
_HANGOVER_TAIL_FRAMES = {0: 9, 1: 9, 2: 7, 3: 7}


@dataclass(slots=True)
class Endpointer:
    """Feed 20 ms 16 kHz frames in order; get `SpeechStarted` / `TurnEnded` events out.

    >>> ep = Endpointer(VadConfig(aggressiveness=2, min_speech_ms=60, end_of_turn_silence_ms=200))
    >>> # 3 + 7 (hangover tail) voiced frames → [SpeechStarted]; 10 silent frames later → [TurnEnded(audio=…)]
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
    last_frame_voiced: bool = field(init=False, default=False)
    """webrtcvad's verdict on the frame `process()` saw last (barge-in reads it; webrtcvad is stateful,
    so asking it twice about one frame would change its later answers)."""

    def __post_init__(self) -> None:
        self._vad = webrtcvad.Vad(self.options.aggressiveness)
        self._pre = deque(maxlen=max(0, self.options.pre_roll_ms // FRAME_MS))

    @property
    def _start_frames(self) -> int:
        """Contiguous voiced frames that start a turn: `min_speech_ms` of voice plus the VAD's hangover tail."""
        min_frames = max(1, math.ceil(self.options.min_speech_ms / FRAME_MS))
        return min_frames + _HANGOVER_TAIL_FRAMES[self.options.aggressiveness]

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
        voiced = self.last_frame_voiced = self.is_speech(frame)
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
        if len(self._candidate) < self._start_frames:
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
        # The trailing silence is not part of this turn's audio; it is the next turn's pre-roll, so
        # a caller who carries on right after the end of a turn keeps their first syllable too.
        self._pre.extend(self._turn[keep:])
        self._turn = []
        self._in_turn = False
        self._trailing_silence = 0
        return event

    @property
    def trailing_silence_ms(self) -> int:
        """Silence since the last voiced frame of the turn in progress (0 outside a turn)."""
        return self._trailing_silence * FRAME_MS if self._in_turn else 0

    def turn_audio(self) -> bytes:
        """The turn in progress up to its last voiced frame: what an early recognition should hear."""
        return b"".join(self._turn[: len(self._turn) - self._trailing_silence])

    def end_turn(self) -> TurnEnded | None:
        """End the turn in progress now (the caller's words say they are done); None outside a turn."""
        return self._finish(truncated=False) if self._in_turn else None

    def reset(self) -> None:
        """Forget the current turn and history (e.g. after the agent asked the caller to repeat)."""
        self._pre.clear()
        self._candidate.clear()
        self._turn = []
        self._in_turn = False
        self._trailing_silence = 0
