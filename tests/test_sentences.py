"""How replies are cut for TTS: whole sentences, and the first clause of a reply on its own."""

from __future__ import annotations

import numpy as np
import pytest

from sentiric_pbx.engines.tts.piper import trim_lead_in
from sentiric_pbx.engines.tts.sentences import split_first_clause, split_sentences


def test_sentences_do_not_break_at_titles() -> None:
    assert split_sentences("Hello Dr. Smith. Your appointment is tomorrow.") == [
        "Hello Dr. Smith.",
        "Your appointment is tomorrow.",
    ]


@pytest.mark.parametrize(
    ("sentence", "parts"),
    [
        ("We are open Monday to Friday, from 9 am to 5 pm.", ["We are open Monday to Friday,", "from 9 am to 5 pm."]),
        ("Sorry, I did not catch that, could you repeat it?", ["Sorry, I did not catch that,", "could you repeat it?"]),
        ("Yes, please.", ["Yes, please."]),  # too short to be worth a pause
        # "I can book," plays for less time than the rest takes to synthesize (a hole): cut at the next comma.
        (
            "I can book, cancel or move an appointment, tell you our hours.",
            ["I can book, cancel or move an appointment,", "tell you our hours."],
        ),
        ("Would Tuesday at 9:30 am suit you?", ["Would Tuesday at 9:30 am suit you?"]),  # a time is not a clause
        ("Done, thanks.", ["Done, thanks."]),
    ],
)
def test_the_first_clause_of_a_reply_is_said_on_its_own(sentence: str, parts: list[str]) -> None:
    assert split_first_clause(sentence) == parts
    assert " ".join(parts) == sentence


def test_the_silence_before_the_first_phoneme_is_cut_to_10_ms() -> None:
    rate = 22050
    lead = np.zeros(int(rate * 0.06), dtype=np.int16)  # what the joe voice puts first
    voice = (np.sin(np.arange(rate // 2) / 5) * 8000).astype(np.int16)
    out = trim_lead_in(np.concatenate([lead, voice, np.zeros(2000, dtype=np.int16)]), rate)
    # sin(0) is 0: the first loud sample is the voice's second, and 10 ms (220 samples) is kept before it.
    assert len(out) == len(voice) + 2000 + int(rate * 0.01) - 1
    assert np.array_equal(out[-2000:], np.zeros(2000, dtype=np.int16))  # the pause after a sentence stays
    silent = np.zeros(1000, dtype=np.int16)
    assert np.array_equal(trim_lead_in(silent, rate), silent)
