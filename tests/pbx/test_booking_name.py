"""A caller nobody knows books on a real Asterisk, and the booking carries the name they said.

The caller ID has a number and no name, and the CRM has no entry, so once the slot is agreed the agent asks
"Can I have your name for the booking?" (`business.ask_name`). The caller answers with a bare name and
nothing else; only the question makes it one (`CallContext.expects` → `dialog/nlu/expected.py`). Real
Piper speech in, real Whisper, the project's dialplan (extension 100, AudioSocket() at 8 kHz).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sentiric_pbx.audio.resample import resample
from sentiric_pbx.tools.caller import CallerOptions
from tests.pbx.conftest import agent_settings, dial, finished_calls, running

pytestmark = pytest.mark.asyncio(loop_scope="session")
NUMBER = "+905551112233"


def a_weekday_ahead(now: dt.datetime) -> dt.date:
    """Two to six days ahead, Monday to Friday: never today (3 pm may be past) and never a closed day."""
    return next(d for d in (now.date() + dt.timedelta(days=n) for n in range(2, 7)) if d.weekday() < 5)


async def test_an_unknown_caller_is_asked_their_name_and_the_booking_carries_the_bare_answer(
    pbx, ami, farend, engines, models_dir, tmp_path: Path
) -> None:
    settings = agent_settings(tmp_path, models_dir, pbx)
    day = a_weekday_ahead(dt.datetime.now(ZoneInfo(settings.business.timezone)))
    said = [f"I would like to book an appointment on {day:%A} at 11 am.", "Yes, please.", "Sarah Jones."]
    speech = [resample(await engines.tts.synthesize_sentence(text), 16000, 8000) for text in said]
    opts = CallerOptions(rate=8000, greeting_wait_s=8.0, reply_timeout_s=12.0, reply_silence_s=1.5)
    async with running(settings, engines) as daemon:
        call = await dial(ami, farend, "100", caller_id=f"<{NUMBER}>")
        report = await call.converse(speech, opts)
        await call.hang_up()
        [ctx] = await finished_calls(daemon)
        bookings = await daemon.assistant.s.calendar.bookings_for(NUMBER)

    turns = [(t.who, t.text) for t in ctx.turns]
    assert all(t.latency_ms is not None for t in report.turns), turns
    assert ctx.caller_name is None and ctx.customer is None, turns  # nobody knew this caller
    agent = [text for who, text in turns if who == "agent"]
    assert "Can I have your name for the booking?" in agent, turns
    assert agent[-1].startswith("Done. You're booked for"), turns
    [booking] = bookings
    start = booking.slot.start.astimezone(ZoneInfo(settings.business.timezone))
    assert (start.date(), start.hour, start.minute) == (day, 11, 0), turns
    assert booking.name == "Sarah Jones", turns
