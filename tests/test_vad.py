"""The endpointer on real speech: when a caller's turn starts and ends, and what audio it carries.

The speech is `sentiric_pbx/data/demo-turn.wav` (16 kHz mono espeak, ~3 s of voice with short
pauses). Around it goes seeded low noise (σ = 5 LSB, about -76 dBFS), like a quiet phone line.
A spy around the endpointer's own webrtcvad instance records what the VAD said for every frame, so
the tests count frames against the VAD's decisions instead of guessing them.
"""

from __future__ import annotations

import itertools
import wave
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pydantic
import pytest
import webrtcvad

from sentiric_pbx.audio import vad as vad_module
from sentiric_pbx.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from sentiric_pbx.audio.vad import Endpointer, SpeechStarted, TurnEnded, TurnEvent
from sentiric_pbx.config import VadConfig

BYTES_PER_MS = SAMPLE_RATE * 2 // 1000  # 32
LEAD_MS = 1000  # noise before the speech in the standard stream


def _load_speech() -> np.ndarray:
    with resources.as_file(resources.files("sentiric_pbx.data") / "demo-turn.wav") as path, wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


SPEECH = _load_speech()
_ACTIVE = np.nonzero(np.abs(SPEECH) > 50)[0]
SPEECH_ONSET_MS = _ACTIVE[0] * 1000 // SAMPLE_RATE  # the first audible sample in the file
SPEECH_END_MS = _ACTIVE[-1] * 1000 // SAMPLE_RATE


def _noise(ms: int, seed: int = 0, sigma: float = 5.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.0, sigma, ms * SAMPLE_RATE // 1000), -32768, 32767).astype("<i2")


def _stream(*parts: np.ndarray) -> bytes:
    pcm = np.concatenate(parts).astype("<i2").tobytes()
    return pcm + bytes(-len(pcm) % FRAME_BYTES)  # whole frames


def _standard_stream(lead_ms: int = LEAD_MS, tail_ms: int = 1500) -> bytes:
    return _stream(_noise(lead_ms, seed=1), SPEECH, _noise(tail_ms, seed=2))


class SpyVad:
    """Wraps the endpointer's webrtcvad instance and keeps its answer for every frame."""

    def __init__(self, inner: webrtcvad.Vad) -> None:
        self.inner = inner
        self.flags: list[bool] = []

    def is_speech(self, frame: bytes, rate: int) -> bool:
        result = self.inner.is_speech(frame, rate)
        self.flags.append(result)
        return result


class ScriptedVad:
    """Answers from a pattern: 'V' voiced, '.' not. For exact state-machine tables."""

    def __init__(self, pattern: str) -> None:
        self.answers = iter(c == "V" for c in pattern)

    def is_speech(self, frame: bytes, rate: int) -> bool:
        return next(self.answers)


@dataclass
class Run:
    events: list[tuple[int, TurnEvent]]  # (index of the frame whose process() returned it, event)
    flags: list[bool]
    pcm: bytes

    @property
    def kinds(self) -> list[str]:
        return [type(e).__name__ for _, e in self.events]

    def of(self, kind: type) -> list[tuple[int, TurnEvent]]:
        return [(i, e) for i, e in self.events if isinstance(e, kind)]


def _run(pcm: bytes, **options: object) -> Run:
    ep = Endpointer(VadConfig(**options))
    spy = SpyVad(ep._vad)
    ep._vad = spy
    events: list[tuple[int, TurnEvent]] = []
    for i in range(len(pcm) // FRAME_BYTES):
        events += [(i, e) for e in ep.process(pcm[i * FRAME_BYTES : (i + 1) * FRAME_BYTES])]
    return Run(events, spy.flags, pcm)


def _scripted(pattern: str, **options: object) -> list[tuple[int, TurnEvent]]:
    ep = Endpointer(VadConfig(**options))
    ep._vad = ScriptedVad(pattern)
    frame = bytes(FRAME_BYTES)
    return [(i, e) for i in range(len(pattern)) for e in ep.process(frame)]


# --- a whole turn ---------------------------------------------------------------------------------
def test_real_speech_starts_then_ends_one_turn() -> None:
    run = _run(_standard_stream())
    assert run.kinds == ["SpeechStarted", "TurnEnded"]
    (i_start, started), (i_end, ended) = run.events
    assert isinstance(started, SpeechStarted) and isinstance(ended, TurnEnded)
    first_voiced = run.flags.index(True)
    assert started.at_ms == ended.started_ms == first_voiced * FRAME_MS
    # The VAD finds the voice within a frame or two of where the file's audio begins.
    assert LEAD_MS + SPEECH_ONSET_MS - 2 * FRAME_MS <= started.at_ms <= LEAD_MS + SPEECH_ONSET_MS + 2 * FRAME_MS
    # The turn ends after the voice: not before the last audible sample, not long after it.
    assert LEAD_MS + SPEECH_END_MS <= ended.last_voiced_ms <= LEAD_MS + SPEECH_END_MS + 300
    assert not ended.truncated
    assert i_start < i_end
    assert i_end * FRAME_MS > ended.last_voiced_ms
    # SpeechStarted comes once min_speech_ms (120) of voice has outlasted the VAD's hangover tail:
    # a few hundred ms into the turn, dated back to its first voiced frame.
    assert 120 <= (i_start + 1) * FRAME_MS - started.at_ms <= 400


def test_silence_and_low_noise_alone_start_nothing() -> None:
    run = _run(_stream(np.zeros(2 * SAMPLE_RATE, dtype="<i2"), _noise(3000, seed=5)))
    assert run.events == []
    assert not any(run.flags)


@pytest.mark.parametrize("pre_roll_ms", [0, 100, 300, 600])
def test_turn_audio_starts_pre_roll_ms_before_the_first_voiced_frame(pre_roll_ms: int) -> None:
    pcm = _standard_stream()
    run = _run(pcm, pre_roll_ms=pre_roll_ms)
    (_, ended) = run.of(TurnEnded)[0]
    assert isinstance(ended, TurnEnded)
    start_ms = ended.started_ms - pre_roll_ms
    # Byte for byte the stream from pre_roll_ms before the start to the end of the last voiced frame.
    assert ended.audio == pcm[start_ms * BYTES_PER_MS : ended.last_voiced_ms * BYTES_PER_MS]
    if pre_roll_ms:
        # ...so the very first audible sample of the speech is in it, with lead-in to spare.
        onset = (LEAD_MS + SPEECH_ONSET_MS) * BYTES_PER_MS
        assert start_ms * BYTES_PER_MS < onset
        assert ended.audio.find(SPEECH[:4000].tobytes()) == LEAD_MS * BYTES_PER_MS - start_ms * BYTES_PER_MS


def test_pre_roll_is_limited_by_what_the_stream_has() -> None:
    pcm = _standard_stream(lead_ms=100)
    run = _run(pcm, pre_roll_ms=300)
    (_, ended) = run.of(TurnEnded)[0]
    assert isinstance(ended, TurnEnded)
    assert ended.started_ms < 300
    assert ended.audio == pcm[: ended.last_voiced_ms * BYTES_PER_MS]


def test_an_onset_inside_a_frame_is_not_clipped() -> None:
    # Speech starting 7 ms into a frame: the first voiced frame holds only part of the onset.
    pcm = _stream(_noise(LEAD_MS + 7, seed=1), SPEECH, _noise(1500, seed=2))
    run = _run(pcm, pre_roll_ms=300)
    (_, ended) = run.of(TurnEnded)[0]
    assert isinstance(ended, TurnEnded)
    onset_byte = (LEAD_MS + 7) * BYTES_PER_MS
    audio_start = (ended.started_ms - 300) * BYTES_PER_MS
    assert audio_start + 200 * BYTES_PER_MS <= onset_byte  # a good 200 ms of lead-in before the voice
    assert pcm[onset_byte : onset_byte + 8000] in ended.audio


@pytest.mark.parametrize("end_of_turn_silence_ms", [100, 200, 500, 800])
def test_turn_ends_exactly_after_end_of_turn_silence(end_of_turn_silence_ms: int) -> None:
    run = _run(_standard_stream(), end_of_turn_silence_ms=end_of_turn_silence_ms)
    ends = run.of(TurnEnded)
    assert ends, "the turn must end in the 1.5 s of noise after the speech"
    i_end, ended = ends[-1]
    assert isinstance(ended, TurnEnded)
    last_voiced = max(i for i in range(i_end + 1) if run.flags[i])
    silent_frames_fed = i_end - last_voiced
    assert silent_frames_fed == end_of_turn_silence_ms // FRAME_MS
    assert not any(run.flags[last_voiced + 1 : i_end + 1])
    assert ended.last_voiced_ms == (last_voiced + 1) * FRAME_MS
    # The audio stops at the last voiced frame: the trailing silence is not played back.
    assert ended.audio.endswith(run.pcm[last_voiced * FRAME_BYTES : (last_voiced + 1) * FRAME_BYTES])


def test_no_turn_end_while_the_caller_keeps_talking() -> None:
    run = _run(_standard_stream(), end_of_turn_silence_ms=500)
    (i_end, ended) = run.of(TurnEnded)[0]
    assert isinstance(ended, TurnEnded)
    # Between the start and the end, the VAD never saw 500 ms of silence in a row.
    start = ended.started_ms // FRAME_MS
    longest_gap = max(len(g) for g in "".join("V" if f else "." for f in run.flags[start:i_end]).split("V"))
    assert longest_gap < 500 // FRAME_MS


@pytest.mark.parametrize(
    ("gap_ms", "end_of_turn_silence_ms", "turns"),
    [
        # (the VAD's hangover reads the first ~120 ms of a pause as voice)
        (300, 500, 1),  # a breath inside a sentence
        (300, 100, 2),  # an impatient endpointer splits it
        (500, 300, 2),
        (900, 500, 2),  # a real pause: two turns
    ],
)
def test_a_pause_splits_turns_only_when_longer_than_end_of_turn_silence(
    gap_ms: int, end_of_turn_silence_ms: int, turns: int
) -> None:
    first = SPEECH[: 1500 * 16]  # the first 1.5 s of the speech
    pcm = _stream(_noise(500, seed=1), first, _noise(gap_ms, seed=3), first, _noise(1500, seed=2))
    run = _run(pcm, end_of_turn_silence_ms=end_of_turn_silence_ms)
    assert run.kinds == ["SpeechStarted", "TurnEnded"] * turns


def test_a_caller_who_carries_on_right_after_a_turn_keeps_the_full_pre_roll() -> None:
    # Two utterances 100 ms further apart than end_of_turn_silence_ms: the second one starts 100 ms
    # after the first turn ended, and its 300 ms of pre-roll reaches back into the first turn's tail.
    first = SPEECH[: 1500 * 16]
    pcm = _stream(_noise(500, seed=1), first, _noise(700, seed=3), first, _noise(1500, seed=2))
    run = _run(pcm, end_of_turn_silence_ms=500, pre_roll_ms=300)
    assert run.kinds == ["SpeechStarted", "TurnEnded", "SpeechStarted", "TurnEnded"]
    (i_first_end, _), (_, second) = run.of(TurnEnded)
    assert isinstance(second, TurnEnded)
    assert second.started_ms - 300 < (i_first_end + 1) * FRAME_MS, "the setup must overlap the first turn's tail"
    start = (second.started_ms - 300) * BYTES_PER_MS
    assert second.audio == pcm[start : second.last_voiced_ms * BYTES_PER_MS]


# --- what does not start a turn -------------------------------------------------------------------
def _burst(kind: str) -> np.ndarray:
    if kind == "click":  # one loud sample
        out = np.zeros(16, dtype="<i2")
        out[8] = 30000
        return out
    ms = int(kind.removeprefix("speech"))
    loudest = int(np.argmax([np.abs(SPEECH[i : i + 320].astype(np.int64)).sum() for i in range(0, len(SPEECH), 320)]))
    return SPEECH[loudest * 320 : loudest * 320 + ms * 16]


@pytest.mark.parametrize("aggressiveness", [0, 1, 2, 3])
@pytest.mark.parametrize(
    ("kind", "min_speech_ms"),
    [
        ("click", 60),
        ("click", 120),
        ("speech20", 120),
        ("speech40", 120),
        ("speech80", 120),
        ("speech100", 120),
        ("speech60", 80),
        ("speech180", 200),
    ],
)
@pytest.mark.parametrize("offset_ms", [0, 10])
def test_a_burst_shorter_than_min_speech_never_starts_a_turn(
    kind: str, min_speech_ms: int, aggressiveness: int, offset_ms: int
) -> None:
    pcm = _stream(_noise(LEAD_MS + offset_ms, seed=1), _burst(kind), _noise(1000, seed=2))
    run = _run(pcm, min_speech_ms=min_speech_ms, aggressiveness=aggressiveness)
    assert any(run.flags), "the VAD itself reacts to the burst; the endpointer must not start a turn on it"
    assert run.events == []


@pytest.mark.parametrize("aggressiveness", [0, 1, 2, 3])
def test_speech_longer_than_min_speech_does_start_a_turn(aggressiveness: int) -> None:
    pcm = _stream(_noise(LEAD_MS, seed=1), _burst("speech400"), _noise(1000, seed=2))
    run = _run(pcm, min_speech_ms=120, aggressiveness=aggressiveness)
    assert run.kinds == ["SpeechStarted", "TurnEnded"]


# --- limits and misuse ----------------------------------------------------------------------------
def test_max_turn_s_truncates_a_long_turn() -> None:
    pcm = _standard_stream()
    run = _run(pcm, max_turn_s=1.0, pre_roll_ms=300)
    ends = [e for _, e in run.of(TurnEnded) if isinstance(e, TurnEnded)]
    first = ends[0]
    assert first.truncated
    # Cut exactly max_turn_s after the start; the audio is pre-roll plus one second.
    assert first.last_voiced_ms == first.started_ms + 1000
    assert len(first.audio) == (300 + 1000) * BYTES_PER_MS
    assert first.audio == pcm[(first.started_ms - 300) * BYTES_PER_MS : (first.started_ms + 1000) * BYTES_PER_MS]
    # The caller kept talking: the next turns pick up where the cut was, nothing lost or repeated.
    assert len(ends) >= 2
    for prev, cur in itertools.pairwise(ends):
        assert cur.started_ms == prev.last_voiced_ms
        assert cur.audio == pcm[cur.started_ms * BYTES_PER_MS : cur.last_voiced_ms * BYTES_PER_MS]
    assert all(e.last_voiced_ms - e.started_ms <= 1000 for e in ends)


def test_without_the_cap_the_same_speech_is_one_untruncated_turn() -> None:
    run = _run(_standard_stream(), max_turn_s=30.0)
    ends = [e for _, e in run.of(TurnEnded)]
    assert len(ends) == 1 and isinstance(ends[0], TurnEnded)
    assert not ends[0].truncated
    assert ends[0].last_voiced_ms - ends[0].started_ms > 2500


@pytest.mark.parametrize("size", [0, 2, 320, 480, 639, 641, 960, 1280])
def test_wrong_frame_size_raises_value_error(size: int) -> None:
    ep = Endpointer()
    with pytest.raises(ValueError, match=str(FRAME_BYTES)):
        ep.process(bytes(size))
    assert ep.process(bytes(FRAME_BYTES)) == [], "a correct frame still works afterwards"


def test_reset_forgets_a_turn_in_progress() -> None:
    pcm = _standard_stream()
    frames = [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]
    ep = Endpointer()
    reset_at = 100  # frame index 2 s into the stream: the caller is mid-sentence
    before = [e for frame in frames[:reset_at] for e in ep.process(frame)]
    assert [type(e) for e in before] == [SpeechStarted]
    assert ep.in_turn
    ep.reset()
    assert not ep.in_turn
    after = [e for frame in frames[reset_at:] for e in ep.process(frame)]
    # The rest of the speech is a new turn; nothing from before the reset comes back.
    ended = [e for e in after if isinstance(e, TurnEnded)]
    assert len(ended) == 1
    assert ended[0].started_ms >= reset_at * FRAME_MS
    audio, end = ended[0].audio, ended[0].last_voiced_ms * BYTES_PER_MS
    assert audio == pcm[end - len(audio) : end]
    assert end - len(audio) >= reset_at * FRAME_BYTES, "no pre-roll from before the reset"


# --- aggressiveness -------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [-1, 4, 10])
def test_config_rejects_an_aggressiveness_webrtcvad_does_not_have(bad: int) -> None:
    with pytest.raises(pydantic.ValidationError, match="aggressiveness"):
        VadConfig(aggressiveness=bad)


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_the_configured_aggressiveness_reaches_webrtcvad(mode: int, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []
    real_vad = webrtcvad.Vad

    def recording_vad(m: int) -> webrtcvad.Vad:
        made.append(m)
        return real_vad(m)

    monkeypatch.setattr(vad_module.webrtcvad, "Vad", recording_vad)
    Endpointer(VadConfig(aggressiveness=mode))
    assert made == [mode]


def test_higher_aggressiveness_calls_less_of_a_noisy_line_speech() -> None:
    rng = np.random.default_rng(11)
    noisy = np.clip(rng.normal(0, 300, 4 * SAMPLE_RATE), -32768, 32767).astype("<i2")
    pcm = _stream(noisy, SPEECH, noisy)
    voiced = [sum(_run(pcm, aggressiveness=mode).flags) for mode in range(4)]
    assert voiced == sorted(voiced, reverse=True), f"voiced frames per mode 0..3: {voiced}"
    assert voiced[0] > voiced[3]


# --- the state machine, frame by frame ------------------------------------------------------------
# With a scripted VAD: 'V' voiced, '.' silent. aggressiveness=2 and min_speech_ms=60 need 3 frames of
# voice plus the 7-frame hangover tail = 10 voiced frames in a row.
START = 10


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        # exactly enough voice: SpeechStarted on the 10th voiced frame, dated to the first
        ("..." + "V" * START, [(2 + START, "SpeechStarted", 60)]),
        # one frame short: nothing
        ("..." + "V" * (START - 1) + "." * 20, []),
        # a gap resets the candidate: min_speech_ms is contiguous voice
        ("V" * (START - 1) + "." + "V" * (START - 1) + "....", []),
        ("V" * (START - 1) + "." + "V" * START, [(19, "SpeechStarted", 200)]),
        # end of turn after exactly 5 silent frames (100 ms): 4 are not enough, the 5th ends it
        ("V" * START + "...." + "V" + "....." + ".....", [(9, "SpeechStarted", 0), (19, "TurnEnded", 0)]),
    ],
)
def test_state_machine_table(pattern: str, expected: list[tuple[int, str, int]]) -> None:
    events = _scripted(pattern, aggressiveness=2, min_speech_ms=60, end_of_turn_silence_ms=100, pre_roll_ms=0)
    got = [(i, type(e).__name__, e.at_ms if isinstance(e, SpeechStarted) else e.started_ms) for i, e in events]
    assert got == expected
