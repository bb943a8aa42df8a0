"""Barge-in: the caller talking over the agent stops it; the agent's own echo on the line does not."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sentiric_pbx.audio.echo import EchoEstimator, EchoState
from sentiric_pbx.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from sentiric_pbx.audio.g711 import ulaw_decode, ulaw_encode
from sentiric_pbx.audio.resample import StreamResampler, resample
from sentiric_pbx.audio.vad import Endpointer
from sentiric_pbx.config import VadConfig
from sentiric_pbx.dialog.bargein import BargeInDetector, BargeInOptions
from sentiric_pbx.tools.caller import load_turn
from tests.asterisk_peer import demo_turn, voiced


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


# --- a line that echoes our voice ------------------------------------------------------------------
# What a PSTN far end does to our voice: Asterisk sends it as 8 kHz μ-law, the far end's hybrid reflects
# part of it (attenuated by the echo return loss, late by the line's echo delay, dispersed over a few
# ms), the reflection comes back as μ-law and Asterisk hands it to us at 16 kHz. Our own transport adds
# an offset between the recorder's timeline (`ref`) and the caller stream that nobody measures for us.

HYBRID = np.random.default_rng(1).normal(size=96) * np.exp(-np.arange(96) / 25)
"""A dispersive two-to-four-wire hybrid: 12 ms of impulse response at 8 kHz, decaying by e every 3 ms, like
the measured ones in ITU-T G.168 Annex D. No single lag of it correlates better than 0.5–0.8 with our
voice. Normalised to unit power gain below, so `echo_db` stays the echo return loss."""


def espeak(voice: str, text: str, pitch: int = 50) -> bytes:
    """A sentence spoken by espeak-ng (CI installs it), as 16 kHz PCM."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "say.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-p", str(pitch), "-w", str(path), text], check=True)
        return load_turn(path, SAMPLE_RATE)


REPLY = espeak(
    "en-us",
    "Thank you for calling. Your appointment is booked for Tuesday at three thirty in the afternoon. "
    "Is there anything else I can help you with today?",
)  # our reply: 7.9 s of speech
CALLER = espeak("en-gb+f3", "No wait, I need to change the time please, Tuesday does not work for me.", pitch=70)
OTHERS = b"".join(
    espeak(voice, text, pitch)
    for voice, pitch, text in [
        ("en-us+m3", 40, "Hello, I am calling about my order, it has not arrived yet and I am worried."),
        ("en-gb-scotland", 50, "Could you tell me what time the shop closes on Saturday evening?"),
        ("en-us+f2", 60, "My account number is four five six seven, and my name is Maria Lopez."),
    ]
)  # three more people, none of them us


def stream(pcm: bytes, resampler: StreamResampler, chunk: int) -> bytes:
    """Through a streaming resampler in 20 ms pieces, as the edges do (soxr's own latency included)."""
    return b"".join(resampler.process(pcm[i : i + chunk]) for i in range(0, len(pcm), chunk))


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def pcm16(x: np.ndarray) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def ulaw(x: np.ndarray) -> np.ndarray:
    return samples(ulaw_decode(ulaw_encode(pcm16(x))))


def line_echo(
    ours: bytes,
    echo_db: float,
    line_ms: int,
    transport_ms: int,
    hybrid: bool = False,
    noise_dbfs: float | None = None,
) -> bytes:
    """Our voice as the caller stream carries it back: 8 kHz μ-law there, reflected, μ-law back, 16 kHz."""
    narrow = ulaw(samples(stream(ours, StreamResampler(SAMPLE_RATE, 8000), FRAME_BYTES)))
    if hybrid:
        narrow = np.convolve(narrow, HYBRID / np.sqrt(np.sum(HYBRID**2)))[: len(narrow)]
    reflected = np.concatenate((np.zeros(8 * line_ms), narrow * 10 ** (echo_db / 20)))
    if noise_dbfs is not None:
        noise = np.random.default_rng(7).normal(0.0, 32768 * 10 ** (noise_dbfs / 20), len(reflected))
        reflected += noise
    back = stream(pcm16(ulaw(reflected)), StreamResampler(8000, SAMPLE_RATE), FRAME_BYTES // 2)
    return bytes(2 * SAMPLE_RATE * transport_ms // 1000) + back


def on_the_line(speech: bytes) -> bytes:
    """The caller's own voice as it reaches us: through 8 kHz μ-law like everything else on a PSTN call."""
    return resample(pcm16(ulaw(samples(resample(speech, SAMPLE_RATE, 8000)))), 8000, SAMPLE_RATE)


def mix(*tracks: tuple[float, bytes]) -> bytes:
    """(start_s, pcm) tracks added together on one line."""
    n = max(int(start * SAMPLE_RATE) + len(pcm) // 2 for start, pcm in tracks)
    out = np.zeros(n)
    for start, pcm in tracks:
        i = int(start * SAMPLE_RATE)
        out[i : i + len(pcm) // 2] += samples(pcm)
    return pcm16(out)


def talk(caller_audio: bytes, ours: bytes = REPLY, agent_speaking: bool = True, hear_first: bool = False) -> int | None:
    """The session's loop: per 20 ms, `played(ref)` then the caller frame through webrtcvad and the detector.

    `ref` is our reply frame by frame on the recorder's timeline (b"" once it is over). Returns the
    frame index of the barge-in, or None. With `hear_first`, exactly as listening.py: what `hear()` takes
    for our echo reaches webrtcvad as digital silence (webrtcvad adapts to the noise it hears, so on a
    hissy line this decides whether it calls the hiss voice).
    """
    detector = BargeInDetector()
    endpointer = Endpointer(VadConfig())
    ref = frames(ours)
    for i, frame in enumerate(frames(caller_audio)):
        detector.played(ref[i] if i < len(ref) else b"")
        if hear_first:
            endpointer.process(bytes(FRAME_BYTES) if detector.hear(frame) else frame)
            if detector.decide(endpointer.last_frame_voiced, agent_speaking):
                return i
            continue
        endpointer.process(frame)
        if detector.caller_frame(frame, endpointer.last_frame_voiced, agent_speaking):
            return i
    return None


def onset_ms(pcm: bytes) -> int:
    """Stream time of the first voiced 20 ms frame."""
    return next(i for i, frame in enumerate(frames(pcm)) if voiced(frame)) * FRAME_MS


# --- the echo estimator alone ----------------------------------------------------------------------
@pytest.mark.parametrize(("echo_db", "delay_ms"), [(-6, 40), (-10, 104), (-20, 328), (0, 428)])
def test_the_echo_estimator_finds_the_delay_and_gain_of_our_echo(echo_db: float, delay_ms: int) -> None:
    caller = line_echo(REPLY, echo_db, line_ms=delay_ms % 64, transport_ms=delay_ms - delay_ms % 64)
    estimator = EchoEstimator()
    ref = frames(REPLY)
    for i, frame in enumerate(frames(caller)[: len(ref)]):
        estimator.push(ref[i], frame)
    assert estimator.state is EchoState.LOCKED
    assert estimator.delay_ms is not None and delay_ms <= estimator.delay_ms <= delay_ms + 2  # + soxr's latency
    assert estimator.gain_db is not None and abs(estimator.gain_db - echo_db) < 1.0


def test_the_echo_estimator_finds_no_echo_on_a_line_that_returns_none() -> None:
    estimator = EchoEstimator()
    ref = frames(REPLY)
    noise = on_the_line(pcm16(np.random.default_rng(3).normal(0, 100, len(REPLY) // 2)))  # −50 dBFS hiss
    for i, frame in enumerate(frames(noise)):
        estimator.push(ref[i], frame)
    assert estimator.state is EchoState.NO_ECHO


@pytest.mark.parametrize("start_s", [0.0, 2.5, 5.0, 7.5])
def test_the_echo_estimator_never_takes_another_voice_for_our_echo(start_s: float) -> None:
    """Other people on a line that does not echo us, while we speak a whole reply: no delay is ever trusted."""
    line = on_the_line(CALLER + OTHERS)[2 * int(start_s * SAMPLE_RATE) :]
    estimator = EchoEstimator()
    ref = frames(REPLY)
    for i, frame in enumerate(frames(line)[: len(ref)]):
        estimator.push(ref[i], frame)
        assert estimator.lag is None
    assert estimator.state is EchoState.NO_ECHO


def test_the_echo_estimator_explains_an_echo_frame_and_not_a_caller_frame() -> None:
    echo = line_echo(REPLY, -6, line_ms=64, transport_ms=40)
    caller = on_the_line(CALLER)
    estimator = EchoEstimator()
    ref = frames(REPLY)
    shares = []
    for i, frame in enumerate(frames(mix((0.0, echo), (4.0, caller)))[: len(ref)]):
        estimator.push(ref[i], frame)
        if 150 <= i < 200 or 205 <= i < 240:  # 3.0–4.0 s: our echo alone; 4.1–4.8 s: the caller over it
            shares.append(estimator.residual().share)
    echo_alone, with_caller = np.median(shares[:50]), np.median(shares[50:])
    assert echo_alone < 0.1
    assert with_caller > 0.5


# --- barge-in on a line that echoes us ------------------------------------------------------------
@pytest.mark.parametrize("transport_ms", [40, 200])
@pytest.mark.parametrize("line_ms", [0, 20, 64, 128])
@pytest.mark.parametrize("echo_db", [-6.0, -10.0, -20.0])
def test_our_echo_at_pstn_levels_never_barges_in(echo_db: float, line_ms: int, transport_ms: int) -> None:
    """Echo ≥ 6 dB down, ≤ 128 ms late on the line, on top of an unknown transport offset: a whole reply."""
    assert talk(line_echo(REPLY, echo_db, line_ms, transport_ms)) is None


@pytest.mark.parametrize("transport_ms", [20, 300])
@pytest.mark.parametrize("line_ms", [0, 128])
@pytest.mark.parametrize("echo_db", [-6.0, -20.0])
def test_our_echo_through_a_dispersive_hybrid_with_line_noise_never_barges_in(
    echo_db: float, line_ms: int, transport_ms: int
) -> None:
    """Not one tap: the hybrid spreads the echo over 12 ms, and the line hisses at −55 dBFS."""
    echo = line_echo(REPLY, echo_db, line_ms, transport_ms, hybrid=True, noise_dbfs=-55)
    assert talk(echo) is None


def test_asterisk_echo_app_at_0_db_never_barges_in() -> None:
    """`Echo()` on a μ-law channel: our own voice back at full level, μ-law round trip, 40 ms late.

    A level rule cannot tell this from a caller; the echo path can: it locks ~160 ms after the echo's
    onset (until then only audio louder than anything we played counts, and a 0 dB echo is not) and
    explains every frame after. Not one frame counts towards a barge-in.
    """
    assert talk(line_echo(REPLY, 0.0, line_ms=0, transport_ms=40)) is None


def test_asterisk_echo_app_on_a_slin16_channel_never_barges_in() -> None:
    """`Echo()` without a codec in the path: our exact frames, two frames late, full band."""
    assert talk(bytes(2 * FRAME_BYTES) + REPLY) is None


@pytest.mark.parametrize(
    ("echo", "caller_db"),
    [
        pytest.param({"echo_db": -6.0, "line_ms": 64, "transport_ms": 40}, 0.0, id="echo -6 dB"),
        pytest.param({"echo_db": -6.0, "line_ms": 20, "transport_ms": 200}, -6.0, id="echo -6 dB, caller as loud"),
        pytest.param({"echo_db": -20.0, "line_ms": 128, "transport_ms": 200}, 0.0, id="echo -20 dB"),
        pytest.param({"echo_db": -20.0, "line_ms": 0, "transport_ms": 40}, -10.0, id="echo -20 dB, quiet caller"),
        pytest.param({"echo_db": -6.0, "line_ms": 64, "transport_ms": 40, "hybrid": True}, 0.0, id="hybrid -6 dB"),
        pytest.param({"echo_db": 0.0, "line_ms": 0, "transport_ms": 40}, 0.0, id="0 dB echo line"),
        pytest.param(None, 0.0, id="no echo"),
    ],
)
def test_a_caller_talking_over_us_barges_in_within_600_ms(echo: dict[str, Any] | None, caller_db: float) -> None:
    """Another voice and sentence, 2 s into our reply, with our echo mixed in: not before sustain_ms of
    their speech, and within 600 ms of its onset."""
    caller = on_the_line(scaled(CALLER, caller_db))
    ours = line_echo(REPLY, **echo) if echo else bytes(len(REPLY))
    hit = talk(mix((0.0, ours), (2.0, caller)))
    assert hit is not None
    heard_ms = (hit + 1) * FRAME_MS - (2000 + onset_ms(caller))
    assert 240 <= heard_ms <= 600


def test_a_caller_talking_while_we_are_silent_never_barges_in() -> None:
    """Barge-in is only while we speak: the same caller over our echo, but the agent is not speaking."""
    line = mix((0.0, line_echo(REPLY, -6.0, 64, 40)), (2.0, on_the_line(CALLER)))
    assert talk(line, agent_speaking=False) is None


@pytest.mark.parametrize(
    "sound",
    [
        pytest.param(lambda rng: rng.normal(0, 330, 8 * SAMPLE_RATE), id="hiss at -40 dBFS"),
        pytest.param(
            lambda rng: np.concatenate((np.zeros(3 * SAMPLE_RATE), rng.normal(0, 6000, SAMPLE_RATE * 16 // 100))),
            id="160 ms cough",
        ),
    ],
)
def test_line_noise_and_a_cough_over_our_echo_do_not_barge_in(
    sound: Callable[[np.random.Generator], np.ndarray],
) -> None:
    noise = on_the_line(pcm16(sound(np.random.default_rng(5))))
    assert talk(mix((0.0, line_echo(REPLY, -10.0, 64, 40)), (0.0, noise))) is None


HISSY_LINES = [
    pytest.param({"echo_db": -12.0, "line_ms": 20, "transport_ms": 200}, id="echo -12 dB"),
    pytest.param({"echo_db": -20.0, "line_ms": 128, "transport_ms": 200}, id="echo -20 dB"),
    pytest.param({"echo_db": -6.0, "line_ms": 64, "transport_ms": 100, "hybrid": True}, id="hybrid -6 dB"),
    pytest.param({"echo_db": 0.0, "line_ms": 0, "transport_ms": 40}, id="Echo() 0 dB"),
    pytest.param({"echo_db": -120.0, "line_ms": 0, "transport_ms": 40}, id="no echo"),
]
"""Lines whose far end hisses at −40 dBFS (a noisy mobile or analog line) under our echo, or with none."""


@pytest.mark.parametrize("echo", HISSY_LINES)
def test_steady_hiss_at_minus_40_dbfs_over_our_voice_never_barges_in(echo: dict[str, Any]) -> None:
    """webrtcvad calls hiss voice and our echo does not explain it: only the line's own noise floor tells
    it from a caller. (With the fixed −45 dBFS floor alone it stopped us several times per reply.)"""
    assert talk(line_echo(REPLY, **echo, noise_dbfs=-40.0), hear_first=True) is None


@pytest.mark.parametrize("echo", HISSY_LINES)
def test_a_caller_talking_over_us_on_a_hissy_line_still_barges_in(echo: dict[str, Any]) -> None:
    """The caller as loud as us, 2 s into our reply, on the same −40 dBFS line: they rise far above its floor."""
    caller = on_the_line(CALLER)
    hit = talk(mix((0.0, line_echo(REPLY, **echo, noise_dbfs=-40.0)), (2.0, caller)), hear_first=True)
    assert hit is not None
    heard_ms = (hit + 1) * FRAME_MS - (2000 + onset_ms(caller))
    assert 240 <= heard_ms <= 800


# --- the echo path changes --------------------------------------------------------------------------
REPLY_S = len(REPLY) / (2 * SAMPLE_RATE)
TWO_REPLIES = mix((0.0, REPLY), (REPLY_S + 2.0, REPLY))  # we answer, listen for 2 s, answer again


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param((-6.0, 40), (-6.0, 200), id="offset grows 160 ms"),
        pytest.param((-10.0, 200), (-10.0, 60), id="offset shrinks 140 ms"),
        pytest.param(None, (-6.0, 100), id="echo appears on a line found echo-free"),
        pytest.param(None, (0.0, 40), id="Echo() appears on a line found echo-free"),
    ],
)
def test_an_echo_that_moves_between_replies_never_barges_in(
    first: tuple[float, int] | None, second: tuple[float, int]
) -> None:
    """Our transport's offset may change while we listen; the far end may start echoing mid-call."""
    tracks = [(REPLY_S + 2.0, line_echo(REPLY, second[0], 0, second[1]))]
    if first is not None:
        tracks.append((0.0, line_echo(REPLY, first[0], 0, first[1])))
    assert talk(mix(*tracks), ours=TWO_REPLIES) is None


@pytest.mark.parametrize(("before_ms", "after_ms"), [(40, 100), (200, 60), (60, 300), (300, 40)])
@pytest.mark.parametrize("echo_db", [-6.0, -20.0])
def test_an_echo_delay_that_jumps_mid_reply_never_barges_in(echo_db: float, before_ms: int, after_ms: int) -> None:
    """A jitter buffer resyncs 3 s into the reply: the echo's delay jumps, the estimator follows it."""
    before = samples(line_echo(REPLY, echo_db, 0, before_ms))
    after = samples(line_echo(REPLY, echo_db, 0, after_ms))
    cut = 3 * SAMPLE_RATE
    assert talk(pcm16(np.concatenate((before[:cut], after[cut:])))) is None


@pytest.mark.parametrize("echo_db", [None, -6.0, -20.0])
def test_a_caller_talking_over_our_first_words_barges_in_once_the_line_is_known(echo_db: float | None) -> None:
    """The first reply of a call, the caller talking from its first word: until the estimator knows
    whether the line echoes us (our voice must have covered every delay searched, ~0.7 s, then two
    estimates), only audio louder than anything we played counts. Then the caller's voice does."""
    caller = on_the_line(CALLER)
    ours = line_echo(REPLY, echo_db, 64, 200) if echo_db is not None else bytes(len(REPLY))
    hit = talk(mix((0.0, ours), (0.0, caller)))
    assert hit is not None
    assert 240 <= (hit + 1) * FRAME_MS - onset_ms(caller) <= 1500


# --- what the endpointer hears ---------------------------------------------------------------------
def echo_frames(caller_audio: bytes, ours: bytes = REPLY) -> list[bool]:
    """The session's loop again, recording per caller frame whether `hear()` calls it our own echo."""
    detector = BargeInDetector()
    ref = frames(ours)
    flags = []
    for i, frame in enumerate(frames(caller_audio)):
        detector.played(ref[i] if i < len(ref) else b"")
        flags.append(detector.hear(frame))
    return flags


def voiced_unsuppressed(caller_audio: bytes, ours: bytes = REPLY) -> int:
    """Voiced caller frames the endpointer would still hear (not taken for our echo)."""
    flags = echo_frames(caller_audio, ours)
    return sum(1 for f, echo in zip(frames(caller_audio), flags, strict=True) if voiced(f) and not echo)


@pytest.mark.parametrize(("echo_db", "line_ms"), [(0.0, 0), (-6.0, 128), (-20.0, 64)])
def test_our_echo_is_silence_to_the_endpointer_once_the_line_is_known(echo_db: float, line_ms: int) -> None:
    """A line returning our voice must not become a caller turn: after the echo path locks (~160 ms for a
    0 dB Echo()), every voiced echo frame is handed to the endpointer as silence, so no turn can start
    (a turn needs ~260 ms of contiguous voice)."""
    echo = line_echo(REPLY, echo_db, line_ms=line_ms, transport_ms=40)
    flags = echo_frames(echo)
    voiced_idx = [i for i, f in enumerate(frames(echo)) if voiced(f)]
    after_lock = [i for i in voiced_idx if i > voiced_idx[0] + 25]  # half a second into the echo
    assert after_lock and all(flags[i] for i in after_lock)


def test_a_caller_over_our_echo_is_heard_by_the_endpointer() -> None:
    caller = on_the_line(CALLER)
    mixed = mix((0.0, line_echo(REPLY, -6.0, line_ms=64, transport_ms=40)), (2.0, caller))
    caller_voiced = sum(1 for f in frames(caller) if voiced(f))
    assert voiced_unsuppressed(mixed) >= 0.6 * caller_voiced


def test_nothing_is_suppressed_when_we_have_not_spoken() -> None:
    """A caller on a quiet line is never taken for echo: there is nothing of ours it could be."""
    caller = on_the_line(CALLER)
    assert not any(echo_frames(caller, ours=b""))


@pytest.mark.parametrize(
    ("echo", "start_s"),
    [
        pytest.param(None, 1.5, id="no echo, 1.5 s in"),
        pytest.param(None, 2.0, id="no echo, 2 s in"),
        pytest.param({"echo_db": -6.0, "line_ms": 64, "transport_ms": 40}, 3.0, id="echo -6 dB, 3 s in"),
    ],
)
def test_a_quieter_caller_whose_first_word_is_followed_by_a_pause_stops_us_within_1100_ms(
    echo: dict[str, Any] | None, start_s: float
) -> None:
    """A caller 6 dB under our voice says "No wait, I need to …": "No wait," counts in 8–13 of its
    frames, the others fall under the level rule or into our echo, and a comma pause follows. When each
    frame that did not count took back half a frame, "No wait," was lost and the caller talked 1.4–2.3 s
    over us; once `hold_after_ms` have counted, frames our voice may be masking keep the count, and the
    next words finish it (0.8–1.0 s)."""
    caller = on_the_line(scaled(CALLER, -6.0))
    ours = line_echo(REPLY, **echo) if echo else bytes(len(REPLY))
    hit = talk(mix((0.0, ours), (start_s, caller)))
    assert hit is not None
    heard_ms = (hit + 1) * FRAME_MS - (int(start_s * 1000) + onset_ms(caller))
    assert 240 <= heard_ms <= 1100
