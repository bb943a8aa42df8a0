"""Barge-in: the caller talking over the agent stops it; the agent's own echo on the line does not."""

from __future__ import annotations

import numpy as np
import pytest

from sentiric_pbx.audio.frames import FRAME_BYTES, SAMPLE_RATE
from sentiric_pbx.audio.vad import Endpointer
from sentiric_pbx.config import VadConfig
from sentiric_pbx.dialog.bargein import BargeInDetector, BargeInOptions
from tests.asterisk_peer import demo_turn


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


def scaled(pcm: bytes, db: float) -> bytes:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) * 10 ** (db / 20)
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


SPEECH = demo_turn(SAMPLE_RATE)  # real speech, 16 kHz


def run(
    detector: BargeInDetector, caller_audio: bytes, ours: bytes, agent_speaking: bool = True, delay_frames: int = 3
) -> int | None:
    """Feed caller frames through a real endpointer's VAD while we play `ours`; return the barge-in frame."""
    endpointer = Endpointer(VadConfig())
    played = [b""] * delay_frames + frames(ours)
    for i, frame in enumerate(frames(caller_audio)):
        detector.played(played[i] if i < len(played) else None)
        endpointer.process(frame)
        if detector.caller_frame(frame, endpointer.last_frame_voiced, agent_speaking):
            return i
    return None


def test_our_own_echo_at_minus_20_db_never_barges_in() -> None:
    # The line carries what we play, 60 ms later and 20 dB down.
    echo = bytes(3 * FRAME_BYTES) + scaled(SPEECH, -20)
    assert run(BargeInDetector(), echo, ours=SPEECH) is None


@pytest.mark.parametrize("caller_db", [0.0, -6.0])
def test_a_caller_talking_over_us_barges_in_after_the_sustain_time(caller_db: float) -> None:
    detector = BargeInDetector(BargeInOptions(sustain_ms=240))
    hit = run(detector, scaled(SPEECH, caller_db), ours=SPEECH[::-1])
    assert hit is not None
    assert hit * 20 >= 240 - 20  # not before the caller has spoken for the sustain time


def test_caller_speech_plus_our_echo_still_barges_in() -> None:
    """The real line: the caller's voice with our attenuated echo mixed in."""
    ours = SPEECH[::-1]  # a different sentence of ours (time-reversed speech has the same level)
    n = min(len(ours), len(SPEECH))
    echo = np.frombuffer(scaled(ours[:n], -20), dtype="<i2")
    mixed = np.frombuffer(SPEECH[:n], dtype="<i2").astype(np.int32) + echo
    caller = np.clip(mixed, -32768, 32767).astype("<i2").tobytes()
    assert run(BargeInDetector(), caller, ours=ours, delay_frames=0) is not None


def test_nothing_barges_in_while_we_are_quiet() -> None:
    assert run(BargeInDetector(), SPEECH, ours=SPEECH, agent_speaking=False) is None


def test_a_cough_is_not_a_barge_in() -> None:
    burst = SPEECH[FRAME_BYTES * 20 : FRAME_BYTES * 28]  # 160 ms of voice
    caller = bytes(FRAME_BYTES * 10) + burst + bytes(FRAME_BYTES * 30)
    assert run(BargeInDetector(BargeInOptions(sustain_ms=240)), caller, ours=scaled(SPEECH, -10)) is None
