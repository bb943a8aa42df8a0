"""The session's rules on a scripted timeline: what happens, in what order, at which point of the call.

Each test scripts a call — "the caller says X from 2.0 to 3.0 s, the STT answers in 0.1 s, the brain in
0.2 s" — and runs it through the real `CallSession` on a virtual clock (tests/session_fakes.py: the real
edge `CallIO` with a scripted far end, fake STT/TTS/brain). The times asserted are points of that
scripted timeline, the same on every machine; none of them says how fast this machine is.

Defaults that set the times below (config.py): a turn ends after 400 ms of silence when its words are
complete (`early_end_of_turn_ms`), 1000 ms when they end in "and" or a dictated number, 500 ms while the
STT has not answered; barge-in after 240 ms of the caller over us; a reprompt after 8 s of silence, and
goodbye after the second.
"""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import numpy as np
import pytest
import structlog

from sentiric_pbx.call.record import Turn
from sentiric_pbx.config import LlmConfig, Settings
from sentiric_pbx.dialog.brain import phrase
from tests.session_fakes import (
    GREETING,
    SECONDS_PER_WORD,
    Answer,
    CallRun,
    Echo,
    FakeStt,
    FakeTts,
    Key,
    Say,
    ScriptedBrain,
    ScriptedLine,
    call,
)

SETTINGS = Settings()
VAD, DIALOG = SETTINGS.vad, SETTINGS.dialog
TTS_S = 0.05
"""FakeTts's latency: our first audio is queued this long after a reply's text."""
TICK = 0.02
FILLER_S = SETTINGS.llm.call_filler_after_s
"""A reply not started this long after the caller stopped opens with "Just a moment." (1.5 s)."""
"""The playout clock sends one frame per 20 ms: queued audio reaches the wire within one tick."""
LONG = "Let me tell you everything about our clinic today so that you know all the details you might need"
"""A 19-word reply: 3.8 s of our voice."""


def caller_turn(run: CallRun, n: int = 0) -> Turn:
    return [t for t in run.ctx.turns if t.who == "caller"][n]


# -- greeting and record ------------------------------------------------------------------------------
def test_the_greeting_comes_first_and_the_record_is_saved_after_every_turn() -> None:
    line = ScriptedLine([Say(2.0, 1.0, "What are your opening hours?")], hangup_at_s=8.0)
    brain = ScriptedBrain({"What are your opening hours?": Answer("We are open from nine to five.")})
    run = call(line, brain)

    greeting, reply = line.talkspurts()
    assert TTS_S <= greeting[0] <= TTS_S + TICK  # nothing waits for the caller to speak first
    assert greeting[1] - greeting[0] == pytest.approx(len(GREETING.split()) * SECONDS_PER_WORD, abs=TICK)
    assert run.turns == [
        ("agent", GREETING),
        ("caller", "What are your opening hours?"),
        ("agent", "We are open from nine to five."),
    ]
    assert caller_turn(run).intent == "scripted"  # the brain's intent lands on the caller's turn
    # Saved at the start, then after each turn, each as soon as it is complete.
    assert [n for _, n in run.saves] == [0, 1, 2, 3]
    heard_at = brain.heard[0][0]
    assert [t for t, _ in run.saves] == pytest.approx([0.0, greeting[1] - TICK, heard_at, reply[1] - TICK], abs=TICK)
    assert run.ctx.status == "unfinished_call"  # the caller hung up before any goodbye


# -- end of turn --------------------------------------------------------------------------------------
@pytest.mark.parametrize("sends_when_quiet", [True, False], ids=["line-sends-silence", "line-sends-nothing"])
@pytest.mark.parametrize(
    ("stt_s", "end_of_turn_ms", "words_after_s"),
    [
        (0.1, VAD.early_end_of_turn_ms, VAD.early_end_of_turn_ms / 1000),  # words ready within the pause
        (0.6, VAD.end_of_turn_silence_ms, VAD.preview_after_ms / 1000 + 0.6),  # the STT is slower than the pause
    ],
    ids=["stt-0.1s", "stt-0.6s"],
)
def test_the_reply_follows_end_of_turn_stt_brain_and_tts(
    stt_s: float, end_of_turn_ms: int, words_after_s: float, sends_when_quiet: bool
) -> None:
    """Caller speaks 2.0–3.0 s; recognition starts at the first 100 ms of pause. An STT answering in 0.1 s
    ends the turn at 400 ms of silence (the words are complete); one taking 0.6 s cannot, so the turn
    ends at 500 ms and the brain gets the words when they come. Then 0.2 s of thinking and 0.05 s of TTS.
    A line that sends nothing while the caller is quiet (Asterisk's Wait(), silence suppression) gives
    the same timeline: the transport fills the silence in (silence is time, not frames)."""
    line = ScriptedLine(
        [Say(2.0, 1.0, "What are your opening hours?")], hangup_at_s=8.0, sends_when_quiet=sends_when_quiet
    )
    brain = ScriptedBrain({"What are your opening hours?": Answer("We are open from nine to five.", after_s=0.2)})
    run = call(line, brain, stt=FakeStt(line, latency_s=stt_s))

    last_voiced = caller_turn(run).end_s  # the endpointer's last voiced frame, on the call's clock
    assert 3.0 <= last_voiced <= 3.0 + 0.2  # the signal's end plus webrtcvad's hangover
    assert run.ctx.timings["end_of_turn_ms"] == [end_of_turn_ms]
    asked_at, text = brain.heard[0]
    assert text == "What are your opening hours?"
    assert asked_at == pytest.approx(last_voiced + words_after_s, abs=1e-6)
    reply_on_wire = line.talkspurts()[1][0]
    assert asked_at + 0.2 + TTS_S <= reply_on_wire <= asked_at + 0.2 + TTS_S + TICK
    assert run.ctx.timings["reply_latency_ms"] == [pytest.approx((words_after_s + 0.2 + TTS_S) * 1000, abs=1)]
    # The stages' own timings say the same: the STT's time left after the end of turn, thinking, TTS.
    timings = {k: v for k, v in run.ctx.timings.items() if k in ("stt_ms", "think_ms", "tts_first_audio_ms")}
    stt_left_ms = (words_after_s - end_of_turn_ms / 1000) * 1000
    assert timings == {
        "stt_ms": [pytest.approx(stt_left_ms, abs=1)],
        "think_ms": [pytest.approx(200, abs=1)],
        "tts_first_audio_ms": [pytest.approx(TTS_S * 1000, abs=1)] * 2,  # the greeting's, the reply's
    }


def test_every_engine_job_of_a_reply_is_due_since_its_caller_went_quiet() -> None:
    """Engine queues serve the caller who has waited longest (engines/priority.py), so the dialog stamps each
    job with when its caller went quiet: the decode started in the pause (it becomes the turn's words), the
    brain's work and the reply's TTS. The greeting's TTS is due since the call connected. Were a preview
    unstamped, it would queue behind every caller who is waiting for a reply."""
    line = ScriptedLine([Say(2.0, 1.0, "What are your opening hours?")], hangup_at_s=8.0)
    brain = ScriptedBrain({"What are your opening hours?": Answer("We are open from nine to five.")})
    stt, tts = FakeStt(line), FakeTts()
    run = call(line, brain, stt=stt, tts=tts)

    quiet_since = caller_turn(run).end_s
    assert [text for text, _ in tts.dues] == [GREETING, "We are open from nine to five."]
    assert tts.dues[0][1] < 0.1  # the greeting: since the call connected
    assert stt.dues == [pytest.approx(quiet_since, abs=TICK)]  # the preview, started 100 ms into the pause
    assert brain.dues == [pytest.approx(quiet_since, abs=TICK)]
    assert tts.dues[1][1] == pytest.approx(quiet_since, abs=TICK)


@pytest.mark.parametrize(
    ("first", "second", "caller_turns", "end_of_turn_ms"),
    [
        ("What are your hours?", "And on Saturday?", ["What are your hours?", "And on Saturday?"], [400, 400]),
        ("I'd like to come on Monday and", "bring my son.", ["I'd like to come on Monday and bring my son."], [400]),
        ("Hello", "what can you do?", ["Hello what can you do?"], [400]),
        ("My number is 0532 555", "12 34", ["My number is 0532 555 12 34"], [1000]),
    ],
    ids=["complete", "and", "opener", "dictated-number"],
)
def test_the_words_decide_how_long_a_pause_may_be(
    first: str, second: str, caller_turns: list[str], end_of_turn_ms: list[int]
) -> None:
    """The caller pauses 0.7 s between two phrases (~0.6 s of silence after webrtcvad's hangover): a
    complete phrase has ended its turn by then (400 ms); one ending in "and", a number being dictated or
    a lone "hello" has not (it would need 1000 ms), so the two phrases are one turn, which ends as its
    last words say."""
    line = ScriptedLine([Say(2.0, 1.0, first), Say(3.7, 0.8, second)], hangup_at_s=15.0)
    # Slow answers, and no filler before them: nothing we say overlaps the caller.
    patient = Settings(llm=LlmConfig(call_filler_after_s=4.0, call_limit_s=5.0))
    run = call(line, ScriptedBrain({}, answers_after_s=3.0), settings=patient)

    assert [t.text for t in run.ctx.turns if t.who == "caller"] == caller_turns
    assert run.ctx.timings["end_of_turn_ms"] == end_of_turn_ms


# -- barge-in and echo --------------------------------------------------------------------------------
def test_a_caller_talking_over_a_reply_stops_it_and_is_heard(tmp_path: Path) -> None:
    """Reply from ~3.8 s; the caller talks over it from 5.0 s. After 240 ms of their voice our playout is
    flushed; the reply is stored as interrupted with the words that went out; their words are the next
    turn — which gets no early end (a caller who took the floor may finish) — and are answered."""
    line = ScriptedLine([Say(2.0, 1.0, "Tell me everything."), Say(5.0, 1.0, "What about Saturday?")], hangup_at_s=12.0)
    brain = ScriptedBrain({"Tell me everything.": Answer(LONG), "What about Saturday?": Answer("Closed on Saturday.")})
    with structlog.testing.capture_logs() as logs:
        run = call(line, brain, recording=tmp_path / "call.wav")

    _, cut, answer = line.talkspurts()
    sustain_s = DIALOG.barge_in_sustain_ms / 1000
    assert 5.0 + sustain_s <= cut[1] <= 5.0 + sustain_s + 2 * TICK
    played_words = int((cut[1] - cut[0]) / SECONDS_PER_WORD + 1e-6)
    assert run.turns == [
        ("agent", GREETING),
        ("caller", "Tell me everything."),
        ("agent", " ".join(LONG.split()[:played_words])),
        ("caller", "What about Saturday?"),
        ("agent", "Closed on Saturday."),
    ]
    assert [t.interrupted for t in run.ctx.turns if t.who == "agent"] == [False, True, False]
    assert run.ctx.timings["end_of_turn_ms"] == [400, VAD.end_of_turn_silence_ms]
    assert [e["event"] for e in logs].count("barge_in") == 1
    assert answer[0] > caller_turn(run, 1).end_s  # answered after they finished, not over them
    # The recording's agent channel holds what the caller heard: nothing of the reply after the cut.
    agent = recording_channel(tmp_path / "call.wav", 1)
    assert last_sound_s(agent[: int(answer[0] * 16000) - 320]) == pytest.approx(cut[1], abs=2 * TICK)


def test_taking_the_floor_holds_for_one_turn_only() -> None:
    """The caller who talked over us gets 500 ms to finish that turn. Here it ends in "and" (1000 ms,
    ended by the endpointer's own ceiling); their next turn, a complete phrase, ends at 400 ms again."""
    says = [
        Say(2.0, 1.0, "Tell me everything."),
        Say(5.0, 1.0, "I want to come on Monday and"),
        Say(9.0, 0.6, "Thank you."),
    ]
    line = ScriptedLine(says, hangup_at_s=14.0)
    run = call(line, ScriptedBrain({"Tell me everything.": Answer(LONG), "Thank you.": Answer("Goodbye.")}))

    assert [t.text for t in run.ctx.turns if t.who == "caller"] == [s.text for s in says]
    assert run.ctx.timings["end_of_turn_ms"] == [400, VAD.unfinished_end_of_turn_ms, 400]


@pytest.mark.parametrize("echo", [Echo(60, -6.0), Echo(40, 0.0), Echo(120, -20.0)], ids=str)
def test_our_own_echo_neither_barges_in_nor_becomes_a_turn(echo: Echo) -> None:
    """A line returning our voice (a hybrid; Asterisk's Echo() at 0 dB) while the caller listens: the
    greeting and a 3.8 s reply play to the end, and the only caller turn is the caller's."""
    line = ScriptedLine([Say(2.0, 1.0, "Tell me everything.")], hangup_at_s=12.0, echo=echo)
    with structlog.testing.capture_logs() as logs:
        run = call(line, ScriptedBrain({"Tell me everything.": Answer(LONG)}))

    assert run.turns == [("agent", GREETING), ("caller", "Tell me everything."), ("agent", LONG)]
    assert not any(t.interrupted for t in run.ctx.turns)
    assert "barge_in" not in [e["event"] for e in logs]


# -- no input -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("sends_when_quiet", [True, False], ids=["line-sends-silence", "line-sends-nothing"])
def test_a_silent_caller_is_reprompted_then_told_goodbye(sends_when_quiet: bool) -> None:
    """Nobody speaks: 8 s after each of our replies ends we ask "are you still there?"; after the second
    reprompt's 8 s we say goodbye and hang up. A caller whose line sends nothing at all is the same."""
    line = ScriptedLine([], sends_when_quiet=sends_when_quiet)
    run = call(line, ScriptedBrain({}))

    spurts = line.talkspurts()
    assert run.turns == [
        ("agent", GREETING),
        ("agent", phrase("en", "reprompt")),
        ("agent", phrase("en", "reprompt")),
        ("agent", phrase("en", "goodbye_no_input")),
    ]
    poll_s = 0.25  # the no-input clock looks every quarter second
    for before, after in itertools.pairwise(spurts):
        silence = after[0] - before[1]
        assert DIALOG.no_input_reprompt_s <= silence <= DIALOG.no_input_reprompt_s + poll_s + TTS_S + TICK
    assert line.ended_by is not None and line.ended_by.by == "agent"
    assert run.ended_at == pytest.approx(spurts[-1][1] - TICK, abs=TICK / 2)  # hung up once the goodbye was out
    assert (run.ctx.status, run.ctx.outcome) == ("completed", "no_input")


def test_a_late_brain_is_waited_for_without_asking_whether_the_caller_is_there() -> None:
    """The brain takes 10 s, more than the 8 s no-input time: the caller is waiting on us, not silent. They
    hear the filler `[llm] call_filler_after_s` (1.5 s) after they stopped, then the answer when it comes."""
    line = ScriptedLine([Say(2.0, 1.0, "I need an appointment.")], hangup_at_s=20.0)
    run = call(line, ScriptedBrain({"I need an appointment.": Answer("You are booked.", after_s=10.0)}))

    assert run.turns == [
        ("agent", GREETING),
        ("caller", "I need an appointment."),
        ("agent", "Just a moment. You are booked."),
    ]
    ended = caller_turn(run).end_s
    filler, answer = line.talkspurts()[1:3]
    assert filler[0] == pytest.approx(ended + FILLER_S + TTS_S, abs=TICK)
    assert answer[0] == pytest.approx(ended + 0.4 + 10.0 + TTS_S, abs=TICK)
    assert run.ctx.timings["reply_latency_ms"] == [pytest.approx((FILLER_S + TTS_S) * 1000, abs=1)]


def test_a_reply_on_time_has_no_filler_and_a_late_one_opens_with_it() -> None:
    """The filler is for a reply not started 1.5 s after the caller stopped: 0.4 s of silence + 1.0 s of
    thinking + TTS is on time; 0.4 + 1.2 s is not, and the filler comes first, at 1.5 s."""
    for think_s, heard in ((1.0, "We open at nine."), (1.2, "Just a moment. We open at nine.")):
        line = ScriptedLine([Say(2.0, 1.0, "When do you open?")], hangup_at_s=8.0)
        run = call(line, ScriptedBrain({"When do you open?": Answer("We open at nine.", after_s=think_s)}))
        assert run.turns[-1] == ("agent", heard), think_s


# -- hangups ------------------------------------------------------------------------------------------
def test_a_hangup_while_the_agent_thinks_keeps_the_turns_so_far() -> None:
    """The caller hangs up 0.9 s into a 3 s task (before the filler): nothing more is said, and the call is
    unfinished."""
    line = ScriptedLine([Say(2.0, 1.0, "Move my appointment.")], hangup_at_s=4.4)
    brain = ScriptedBrain({"Move my appointment.": Answer("Done, it is on Friday.", after_s=3.0)})
    run = call(line, brain)

    assert brain.heard[0][0] < 4.4  # the task was under way
    assert run.turns == [("agent", GREETING), ("caller", "Move my appointment.")]
    assert all(t < 4.4 for t, frame in line.wire if any(frame))
    assert run.ctx.status == "unfinished_call"


def test_a_hangup_while_the_agent_speaks_keeps_only_what_was_heard(tmp_path: Path) -> None:
    """The caller hangs up 1 s into a 3.8 s reply: the reply is stored with its first 5 words, as
    interrupted, and the recording's agent channel stops where the line did."""
    line = ScriptedLine([Say(2.0, 1.0, "Tell me everything.")], hangup_at_s=4.8)
    run = call(line, ScriptedBrain({"Tell me everything.": Answer(LONG)}), recording=tmp_path / "call.wav")

    reply = line.talkspurts()[1]
    heard = int((reply[1] - reply[0]) / SECONDS_PER_WORD + 1e-6)
    assert run.turns[-1] == ("agent", " ".join(LONG.split()[:heard]))
    assert run.ctx.turns[-1].interrupted
    assert run.ctx.status == "unfinished_call"
    assert last_sound_s(recording_channel(tmp_path / "call.wav", 1)) == pytest.approx(4.8, abs=2 * TICK)


# -- failures -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stt", "brain_answer", "tts", "turns_before_apology"),
    [
        (True, None, None, [("agent", GREETING)]),
        (False, Answer("", fails=True), None, [("agent", GREETING), ("caller", "I need an appointment.")]),
        (
            False,
            Answer("We are open from nine to five."),
            "nine",
            [("agent", GREETING), ("caller", "I need an appointment.")],
        ),
    ],
    ids=["stt-fails", "brain-fails", "tts-fails"],
)
def test_a_failing_engine_apologises_and_transfers(
    stt: bool, brain_answer: Answer | None, tts: str | None, turns_before_apology: list[tuple[str, str]]
) -> None:
    """STT, brain or TTS raising mid-call: the caller is never left in silence — the apology plays and
    the call goes to a human."""
    line = ScriptedLine([Say(2.0, 1.0, "I need an appointment.")], hangup_at_s=20.0)
    answers = {"I need an appointment.": brain_answer} if brain_answer is not None else {}
    run = call(line, ScriptedBrain(answers), stt=FakeStt(line, fails=stt), tts=FakeTts(fails_on=tts))

    assert run.turns == [*turns_before_apology, ("agent", phrase("en", "apology"))]
    assert line.transferred_to == "reception"
    assert (run.ctx.status, run.ctx.outcome) == ("transferred", "transferred")
    assert line.talkspurts()[-1][0] > caller_turn_end(line)


def test_a_stage_that_dies_ends_the_call_as_failed() -> None:
    """The wire hands listening half a frame at 2 s (a broken decoder): the stage dies, the call ends."""
    line = ScriptedLine([], bad_frame_at_s=2.0, hangup_at_s=30.0)
    with structlog.testing.capture_logs() as logs:
        run = call(line, ScriptedBrain({}))

    assert [e.get("stage") for e in logs if e["event"] == "session_stage_failed"] == ["listen"]
    assert run.ctx.status == "failed"
    assert run.ended_at < 2.0 + 0.25 + TICK  # at the no-input clock's next look, not at the caller's hangup
    assert run.turns == [("agent", GREETING)]


# -- the keypad ---------------------------------------------------------------------------------------
def test_zero_pressed_during_a_reply_stops_it_and_transfers_at_once() -> None:
    """Reply from ~3.8 s; the caller presses 0 at 5.0 s. Our playout stops within a tick (a key barges in
    like a voice, with no sustain to wait for), and the brain hears "0" at once — no "#", no pause — and
    hands the call to a person."""
    line = ScriptedLine([Say(2.0, 1.0, "Tell me everything.")], keys=[Key(5.0, "0")], hangup_at_s=20.0)
    brain = ScriptedBrain({"Tell me everything.": Answer(LONG)})
    with structlog.testing.capture_logs() as logs:
        run = call(line, brain)

    _, cut, transfer_words = line.talkspurts(gap_s=TICK)
    assert 5.0 <= cut[1] <= 5.0 + 2 * TICK
    assert brain.keyed == [(pytest.approx(5.0, abs=TICK), "0", None)]
    assert line.transferred_to == "reception"
    assert run.ctx.status == "transferred"
    assert [(who, text) for who, text in run.turns[2:]] == [
        ("agent", " ".join(LONG.split()[: int((cut[1] - cut[0]) / SECONDS_PER_WORD + 1e-6)])),
        ("caller", "(keypad) 0"),
        ("agent", "Putting you through."),
    ]
    assert caller_turn(run, 1).intent == "transfer_to_human"
    assert transfer_words[0] > 5.0
    barge = [e for e in logs if e["event"] == "barge_in"]
    assert len(barge) == 1 and barge[0]["by"] == "keypad"
    assert not any("0" == e.get("digit") for e in logs if e["log_level"] == "info"), "a digit was logged at info"


def test_digits_typed_while_the_agent_asks_for_a_slot_fill_it_ended_by_hash_or_pause() -> None:
    """The agent asks for an order number (its reply says digits may give it): "0 4 5 #" is one string,
    its 0 part of the number, not a call for a person. Then it asks for a phone number and the caller
    types 0555 and stops: `dtmf_pause_s` later the string is over."""
    pause = DIALOG.dtmf_pause_s
    keys = [Key(6.0, "0"), Key(6.3, "4"), Key(6.6, "5"), Key(6.9, "#")]
    keys += [Key(12.0 + 0.3 * i, d) for i, d in enumerate("0555")]
    line = ScriptedLine([Say(2.0, 1.0, "Where is my order?")], keys=keys, hangup_at_s=25.0)
    brain = ScriptedBrain({
        "Where is my order?": Answer("What is your order number?", slot="order_number"),
        "keys:045": Answer("And your phone number?", slot="phone"),
    })  # fmt: skip
    run = call(line, brain)

    assert [(d, s) for _t, d, s in brain.keyed] == [("045", "order_number"), ("0555", "phone")]
    assert brain.keyed[0][0] == pytest.approx(6.9, abs=TICK)
    assert brain.keyed[1][0] == pytest.approx(12.9 + pause, abs=TICK)
    assert line.transferred_to is None
    callers = [t.text for t in run.ctx.turns if t.who == "caller"]
    assert callers == ["Where is my order?", "(keypad) 045", "(keypad) 0555"]


def test_a_key_string_is_not_mistaken_for_silence() -> None:
    """A caller typing slowly (a key every 2 s, never a "#") is not asked "are you still there?"."""
    keys = [Key(4.0 + 2.0 * i, d) for i, d in enumerate("123456")]
    line = ScriptedLine([], keys=keys, hangup_at_s=30.0)
    run = call(line, ScriptedBrain({}), settings=Settings(dialog={"no_input_reprompt_s": 3.0, "dtmf_pause_s": 2.5}))

    assert ("agent", phrase("en", "reprompt")) not in run.turns[:3]
    assert next(t.text for t in run.ctx.turns if t.who == "caller") == "(keypad) 123456"


# -- helpers ------------------------------------------------------------------------------------------
def caller_turn_end(line: ScriptedLine) -> float:
    return max(s.at_s + s.seconds for s in line.says)


def recording_channel(path: Path, channel: int) -> np.ndarray:
    """One channel of the call's stereo recording (0: caller, 1: agent)."""
    with wave.open(str(path), "rb") as wav:
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return pcm[channel::2]


def last_sound_s(samples: np.ndarray) -> float:
    """Where the last audible sample of a 16 kHz channel is, in seconds from the call's start."""
    loud = np.flatnonzero(np.abs(samples) > 64)
    return float(loud[-1] + 1) / 16000 if len(loud) else 0.0
