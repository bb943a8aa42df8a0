"""Extension 100 (AudioSocket() app, 8 kHz) and 101 (Dial(AudioSocket/…/c(slin16)), 16 kHz) on a real Asterisk.

The caller's side is the project's `[sentiric-selftest]` context connected to a `FarEnd`: it hears the
greeting, says "I would like to book an appointment tomorrow at 3 pm." and waits. Two kinds of far end,
both found on real PBXes: one that keeps sending silent frames while quiet (a SIP phone with continuous
RTP) and one that sends nothing at all (a Local channel in Wait(), silence suppression, a two-party
bridge: fixtures fact 8). Each test asserts what the far end heard (Whisper on what it received, and
voiced-frame timing) and what the daemon stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sentiric_pbx.audio.resample import resample
from sentiric_pbx.dialog.tasks.speech import spoken_day
from sentiric_pbx.tools.caller import CallerOptions
from tests.pbx.conftest import agent_settings, dial, finished_calls, heard, running

pytestmark = pytest.mark.asyncio(loop_scope="session")


def options(rate: int) -> CallerOptions:
    return CallerOptions(rate=rate, greeting_wait_s=8.0, reply_timeout_s=12.0, reply_silence_s=1.5)


@pytest.mark.parametrize("silent_frames", [True, False], ids=["sends-silence", "sends-nothing-when-quiet"])
async def test_extension_100_greets_and_answers_a_booking_request(
    pbx, ami, farend, engines, speech, models_dir, tmp_path: Path, silent_frames: bool
) -> None:
    async with running(agent_settings(tmp_path, models_dir, pbx), engines) as daemon:
        call = await dial(ami, farend, "100", silent_frames=silent_frames)
        report = await call.converse([speech[("booking", 8000)]], options(8000))
        agent_audio = b"".join(pcm for _t, pcm, _v in call.wire.received)
        await call.hang_up()
        [ctx] = await finished_calls(daemon)

    assert report.greeting_latency_ms is not None, "the far end heard no greeting"
    [turn] = report.turns
    assert turn.latency_ms is not None, "the agent never answered the caller's turn"
    words = await heard(engines, agent_audio, 8000)
    assert "book" in words or "appointment" in words, words
    assert ctx.caller_id == "+905551112233"
    callers = [t for t in ctx.turns if t.who == "caller"]
    assert callers, "no caller turn was stored"
    assert "3" in callers[0].text or "three" in callers[0].text.lower()
    # The caller spoke after the greeting ended: on the call's clock, not at 0.2 s.
    greeting = next(t for t in ctx.turns if t.who == "agent")
    assert callers[0].start_s >= greeting.end_s - 0.5


async def test_a_caller_cut_off_in_a_long_pause_goes_on_and_the_booking_takes_the_rest(
    pbx, ami, farend, engines, models_dir, tmp_path: Path
) -> None:
    """The trade bench/turns.py measures (README, "End of turn"): a caller who pauses mid-sentence for longer
    than the daemon waits has the turn ended there and hears the start of a reply. What must follow is a repair,
    not a muddle: the caller goes on (over the reply, which stops, or just after it), the rest of the sentence
    is heard as the next turn, and the booking the first half started takes the day and time from it."""
    first = await engines.tts.synthesize_sentence("I would like to book an appointment,")
    second = await engines.tts.synthesize_sentence("on Tuesday at 3 pm.")
    # 1.1 s: longer than the daemon ever waits here (its longest hold, the turn model's, is ~800 ms of silence)
    pause = bytes(2 * 16000 * 11 // 10)
    utterance = resample(first + pause + second, 16000, 8000)
    settings = agent_settings(tmp_path, models_dir, pbx)
    async with running(settings, engines) as daemon:
        call = await dial(ami, farend, "100")
        report = await call.converse([utterance], options(8000))
        await call.hang_up()
        [ctx] = await finished_calls(daemon)
    now = dt.datetime.now(ZoneInfo(settings.business.timezone))
    tuesdays = [now + dt.timedelta(days=d) for d in range(15) if (now + dt.timedelta(days=d)).weekday() == 1]
    # said as the agent says days: "tomorrow", "Tuesday", "Tuesday the 15th"
    tuesday_at_3 = [f"{spoken_day(day, now)} at 3 pm" for day in tuesdays]

    assert report.turns[0].latency_ms is not None, "the agent never answered the rest of the sentence"
    turns = [t for t in ctx.turns if t.start_s > 0.5]  # after the greeting
    said = [(t.who, t.text, t.interrupted) for t in turns]
    cut_turn, reply, rest, answer = turns[:4]
    assert cut_turn.who == "caller" and "appointment" in cut_turn.text.lower(), said
    assert "tuesday" not in cut_turn.text.lower(), said  # the turn did end in the pause
    assert reply.who == "agent" and reply.text.startswith("When"), said  # "When would you like to come in?"
    assert rest.who == "caller" and "tuesday" in rest.text.lower(), said
    assert answer.who == "agent" and any(when in answer.text for when in tuesday_at_3), (said, tuesday_at_3)
    assert "create_appointment" in ctx.intents


async def greeting_heard(call, engines) -> str:
    """Let the greeting play out, hang up, and return what Whisper makes of what the far end received."""
    await call.converse([], options(call.wire.rate))
    audio = b"".join(pcm for _t, pcm, _v in call.wire.received)
    await call.hang_up()
    return await heard(engines, audio, call.wire.rate)


async def test_extension_101_plays_the_whole_greeting_at_16_khz_cached_or_fresh(
    pbx, ami, farend, engines, models_dir, tmp_path: Path
) -> None:
    """Dial(AudioSocket/…/c(slin16)) starts sending 16 kHz ~15 ms after the UUID: the greeting we queued
    at our 8 kHz default before that must be re-framed at 16 kHz, not dropped. The first call from a known
    caller synthesizes the personal part on the fly; the second has the whole greeting cached, queued
    within milliseconds, i.e. before Asterisk's first frame; an unknown caller's greeting is cached too."""
    async with running(agent_settings(tmp_path, models_dir, pbx), engines) as daemon:
        await daemon.assistant.s.crm.add_customer("+905551112233", "Ahmet Yilmaz", title="Mr.")
        fresh = await greeting_heard(await dial(ami, farend, "101", rate=16000), engines)
        cached = await greeting_heard(await dial(ami, farend, "101", rate=16000), engines)
        unknown = await greeting_heard(
            await dial(ami, farend, "101", rate=16000, caller_id='"Ayse Demir" <+905559998877>'), engines
        )
        calls = await finished_calls(daemon, count=3)

    for words in (fresh, cached):
        assert "hello" in words and "welcome back" in words, words
    assert "hello" in unknown and "thank you for calling" in unknown, unknown
    assert all(c.ingress == "audiosocket" for c in calls)


async def test_a_caller_who_hangs_up_mid_reply_is_stored_as_having_heard_only_the_start(
    pbx, ami, farend, engines, speech, models_dir, tmp_path: Path
) -> None:
    """The caller asks for the opening hours and hangs up one second into the answer: the record keeps the
    call as unfinished, the question, and an agent turn marked interrupted that holds only what was played."""
    async with running(agent_settings(tmp_path, models_dir, pbx), engines) as daemon:
        call = await dial(ami, farend, "100")
        await call.converse([], options(8000))  # the greeting, to its end
        asked_at = asyncio.get_running_loop().time()
        await call.speak(speech[("hours", 8000)])
        await until_voiced_after(call, asked_at + 0.5)
        await asyncio.sleep(1.0)
        await call.hang_up()
        [ctx] = await finished_calls(daemon)

    assert ctx.status == "unfinished_call"
    question, answer = [t for t in ctx.turns if t.start_s > 0.5][:2]
    assert question.who == "caller" and "hours" in question.text.lower()
    assert answer.who == "agent" and answer.interrupted, answer
    full = "We are open Monday to Friday, from 9 am to 5 pm."
    assert 0 < len(answer.text) < len(full), answer.text  # the start of it, not the whole


async def until_voiced_after(call, since: float, within_s: float = 15.0) -> float:
    """Wait for the first voiced agent frame received after loop time `since`; return its time."""
    async with asyncio.timeout(within_s):
        while True:
            for t, _pcm, voiced in call.wire.received:
                if voiced and t > since:
                    return t
            await asyncio.sleep(0.02)


async def test_a_caller_who_says_nothing_and_sends_nothing_is_asked_if_they_are_still_there(
    pbx, ami, farend, engines, models_dir, tmp_path: Path
) -> None:
    """The no-input timer runs on the call's clock: a far end that sends no frames at all after the greeting
    is reprompted after `no_input_reprompt_s`, and after `no_input_max` reprompts the agent says goodbye."""
    settings = agent_settings(tmp_path, models_dir, pbx)
    settings.dialog.no_input_reprompt_s = 2.0
    settings.dialog.no_input_max = 1
    async with running(settings, engines) as daemon:
        call = await dial(ami, farend, "100", silent_frames=False)
        ended = await call.wait_ended(within_s=40.0)
        audio = b"".join(pcm for _t, pcm, _v in call.wire.received)
        await call.hang_up()
        [ctx] = await finished_calls(daemon)

    assert ended, "the agent never hung up on a silent caller"
    words = await heard(engines, audio, 8000)
    assert "still there" in words, words
    assert ctx.outcome == "no_input" and ctx.status == "completed", (ctx.status, ctx.outcome)
