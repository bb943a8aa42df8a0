"""Turn-taking: when the words say the caller is done, and when they say the caller is not.

The rule (dialog/turntaking.py) is pure; the end-to-end effect on real calls is in
tests/test_assistant_call.py (the preview is what makes the Whisper path answer within a second).
"""

from __future__ import annotations

import pytest

from sentiric_pbx.audio.frames import FRAME_BYTES
from sentiric_pbx.audio.vad import Endpointer, SpeechStarted
from sentiric_pbx.config import VadConfig
from sentiric_pbx.dialog.turntaking import may_end_turn, sounds_unfinished
from tests.test_vad import SPEECH, _stream

OPTS = VadConfig(end_of_turn_silence_ms=500, early_end_of_turn_ms=300, unfinished_end_of_turn_ms=1000)


@pytest.mark.parametrize(
    "text",
    [
        "I would like to book an appointment tomorrow at 3pm.",
        "Reschedule, please, to the 3rd of April at 9.",  # one digit: a time, not a number being read out
        "Yes, please.",
        "Yes.",  # a whole answer to "Shall I book it?"
        "What are your opening hours?",
        "hours",
        "Randevu almak istiyorum.",
    ],
)
def test_complete_phrases_may_end_early(text: str) -> None:
    assert not sounds_unfinished(text, "tr" if "Randevu" in text else "en")
    assert may_end_turn(300, text, OPTS)
    assert not may_end_turn(280, text, OPTS)


@pytest.mark.parametrize(
    "text",
    [
        "My number is 0532 555",  # digit groups: callers pause between them
        "my number is five three two one",  # Vosk writes digits as words
        "I would like to come in on Monday and",
        "Can I book it for,",
        "my phone number is",
        "um",
        "Hi.",  # said alone, a greeting opens a sentence: "Hi, what can you do for me?"
        "Yes,",
    ],
)
def test_a_number_being_read_out_or_a_dangling_word_waits_longer(text: str) -> None:
    assert sounds_unfinished(text)
    assert not may_end_turn(900, text, OPTS)
    assert may_end_turn(1000, text, OPTS)


def test_turkish_connectors_wait_too() -> None:
    assert sounds_unfinished("Salı günü saat", "tr")
    assert sounds_unfinished("numaram sıfır beş üç iki", "tr")


def test_without_words_yet_the_plain_silence_rule_applies() -> None:
    assert not may_end_turn(480, None, OPTS)
    assert may_end_turn(500, None, OPTS)


def test_the_endpointer_reports_silence_and_the_turn_so_far_and_ends_on_request() -> None:
    ep = Endpointer(VadConfig(aggressiveness=2, min_speech_ms=60, end_of_turn_silence_ms=2000, pre_roll_ms=0))
    voice = _stream(SPEECH)
    events = []
    for i in range(0, len(voice), FRAME_BYTES):
        events += ep.process(voice[i : i + FRAME_BYTES])
    assert any(isinstance(e, SpeechStarted) for e in events) and ep.in_turn
    before = ep.trailing_silence_ms  # the recording ends in a little silence of its own
    for _ in range(40):  # 800 ms of digital silence (webrtcvad's hangover may keep a few frames "voiced")
        ep.process(bytes(FRAME_BYTES))
    assert before + 600 <= ep.trailing_silence_ms <= before + 800
    spoken = ep.turn_audio()
    assert len(spoken) % FRAME_BYTES == 0 and any(spoken)
    ended = ep.end_turn()
    assert ended is not None and ended.audio == spoken  # the trailing silence is not what the STT hears
    assert not ep.in_turn and ep.trailing_silence_ms == 0
    assert ep.end_turn() is None


# -- the turn model's say ---------------------------------------------------------------------------------
MODEL = OPTS.model_copy(
    update={"turn_model_threshold": 0.8, "turn_model_unfinished_below": 0.3, "turn_model_wait_ms": 700}
)


@pytest.mark.parametrize(
    ("silence_ms", "preview", "completion", "ends"),
    [
        (100, None, 0.9, True),  # sounds finished: the turn ends before the words are in
        (100, "What are your opening hours?", 0.9, True),
        (100, "I would like to come in on Monday and", 0.9, False),  # the words' "unfinished" wins…
        (999, "I would like to come in on Monday and", 0.9, False),
        (1000, "I would like to come in on Monday and", 0.9, True),  # …and waits as long as without a model
        (300, "I would like to book an appointment", 0.1, False),  # the voice went on: complete words wait
        (699, "I would like to book an appointment", 0.1, False),
        (700, "I would like to book an appointment", 0.1, True),
        (699, None, 0.1, False),  # no words yet either: still the model's wait, not end_of_turn_silence_ms
        (300, "I would like to book an appointment", 0.5, True),  # in between: the rules alone
        (499, None, 0.5, False),
        (500, None, 0.5, True),
        (300, "I would like to book an appointment", None, True),  # no answer yet: the rules alone
    ],
)
def test_the_turn_model_ends_a_turn_early_or_holds_it_but_never_against_unfinished_words(
    silence_ms: int, preview: str | None, completion: float | None, ends: bool
) -> None:
    assert may_end_turn(silence_ms, preview, MODEL, "en", completion) is ends


def test_out_of_the_box_the_model_only_holds_the_floor() -> None:
    """Defaults: P(complete) never ends a turn early (bench/turns.py: too many mid-sentence pauses sound
    complete on the phone), but a low one makes complete-looking words wait `turn_model_wait_ms`."""
    vad = VadConfig()
    assert vad.turn_model == "bundled:smart-turn-v3" and vad.turn_model_threshold == 1.0
    assert not may_end_turn(vad.turn_model_after_ms, None, vad, "en", 0.999)
    assert may_end_turn(vad.early_end_of_turn_ms, "What are your opening hours?", vad, "en", 0.9)
    held = vad.turn_model_unfinished_below - 0.01
    assert not may_end_turn(vad.turn_model_wait_ms - 20, "I would like to book an appointment", vad, "en", held)
    assert may_end_turn(vad.turn_model_wait_ms, "I would like to book an appointment", vad, "en", held)
