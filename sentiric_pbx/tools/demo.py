"""`sentiric-pbx demo`: the whole product in one command, on the bundled models.

It starts the daemon in-process (assistant mode, free loopback ports), makes sure the demo caller
"Ahmet Yilmaz" is in the built-in CRM, finds a free slot in the built-in calendar, and places a call
exactly as Asterisk would (FastAGI registration, then AudioSocket at 8 kHz) with the caller's turns
spoken by Piper:

    caller: "I would like to book an appointment <day> at <time>."
    caller: "Yes, please."
    caller: "No, that's all. Goodbye."

`--language tr` makes it a Turkish call: the channel reports `tr` (as after `Set(CHANNEL(language)=tr)`),
the caller speaks Turkish with the Turkish voice, and the agent greets and answers in Turkish:

    caller: "Yarın saat üçte randevu almak istiyorum."
    caller: "Evet, lütfen."
    caller: "Hayır, teşekkürler. Hoşça kalın."

Then it prints the conversation as the daemon stored it, the booking, and the per-turn latency the
test caller measured on the wire. The call is kept like any other (`sentiric-pbx calls list`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentiric_pbx.audio.resample import resample
from sentiric_pbx.call.record import CallContext
from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.dialog.tasks.speech import capitalize, spoken_time, spoken_when
from sentiric_pbx.tools.caller import CallerOptions, CallReport, place_call

DEMO_PHONE = "+905551112233"
DEMO_NAME = "Ahmet Yilmaz"


@dataclass(slots=True)
class DemoResult:
    report: CallReport
    context: CallContext | None
    booking: dict[str, Any] | None
    requested: str
    turns_said: list[str] = field(default_factory=list)


def _request_phrase(start: dt.datetime, now: dt.datetime, language: str = "en") -> str:
    if language == "tr":
        return f"{capitalize(spoken_when(start, now, 'tr'), 'tr')} randevu almak istiyorum."
    when = "tomorrow" if start.date() == now.date() + dt.timedelta(days=1) else f"on {start.strftime('%A')}"
    return f"I would like to book an appointment {when} at {spoken_time(start)}."


CALLER_TURNS = {
    "en": ("Yes, please.", "No, that's all. Goodbye."),
    "tr": ("Evet, lütfen.", "Hayır, teşekkürler. Hoşça kalın."),
}
"""What the caller says after asking for the appointment, per `--language`."""


async def _free_slot(daemon: Daemon, now: dt.datetime) -> dt.datetime:
    calendar = daemon.assistant.s.calendar
    start = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    slots = await calendar.free_slots(start, start + dt.timedelta(days=14), limit=200)
    # An afternoon slot on the hour within the week: "at 3 pm" is what callers say and STT hears best.
    soon = [s for s in slots if s.start.date() <= now.date() + dt.timedelta(days=6)]
    on_the_hour = [s for s in soon if s.start.hour >= 14 and s.start.minute == 0]
    chosen = (on_the_hour or soon or slots)[0]
    return chosen.start


async def _ensure_demo_caller(daemon: Daemon) -> None:
    """The demo caller, with no language of his own: the channel's language decides the call's."""
    crm = daemon.assistant.s.crm
    if await crm.lookup(DEMO_PHONE) is None and hasattr(crm, "add_customer"):
        await crm.add_customer(DEMO_PHONE, DEMO_NAME, title="Mr.")


async def _wait_stored(daemon: Daemon, call_id: str, timeout_s: float = 15.0) -> CallContext | None:
    store = daemon.assistant.s.store
    async with asyncio.timeout(timeout_s):
        while True:
            ctx = await store.load(call_id)
            if ctx is not None and ctx.status != "active":
                return ctx
            await asyncio.sleep(0.2)


async def _wait_postcall(daemon: Daemon, call_id: str, timeout_s: float | None = None) -> None:
    """Let the in-process workers finish summary, archive and analytics before the daemon stops: at most 30 s
    plus the note's and the greeting's model budgets (`[postcall] llm_budget_s` each)."""
    queue = daemon.assistant.s.queue
    if not hasattr(queue, "jobs_for") or daemon.settings.postcall.workers == 0:
        return
    if timeout_s is None:
        timeout_s = 30.0 + 2 * daemon.settings.postcall.llm_budget_s
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            while True:
                jobs = await queue.jobs_for(call_id)
                if jobs and all(j["status"] in ("done", "dead") for j in jobs):
                    return
                await asyncio.sleep(0.2)


Dialer = Callable[[Daemon, list[bytes], CallerOptions], Awaitable[CallReport]]
"""Places the demo call on one ingress: the daemon, the caller's turns (16 kHz PCM), the caller's options
(`caller_id`, `caller_name`, `record`, `greeting_wait_s`); returns the wire report, whose `call_id` must be
the id the daemon stores the call under."""


async def dial_audiosocket(daemon: Daemon, turns: list[bytes], opts: CallerOptions) -> CallReport:
    """As Asterisk's `AudioSocket()` does it: FastAGI registration, then 8 kHz slin over TCP."""
    assert daemon.audiosocket is not None
    opts.port = daemon.audiosocket.port
    opts.agi = ("127.0.0.1", daemon.fastagi.port)
    secret = daemon.settings.fastagi.secret
    opts.agi_secret = secret.get_secret_value() if secret is not None else None  # the dialplan's key
    opts.rate = 8000
    return await place_call([resample(t, 16000, 8000) for t in turns], opts)


async def run_demo(
    settings: Settings,
    record: Path,
    on_progress: Any = None,
    dial: Dialer = dial_audiosocket,
    language: str = "en",
    engines: Any = None,
) -> DemoResult:
    """The demo conversation on `dial`'s ingress (AudioSocket unless a test passes another), in `language`
    ("en" or "tr"): the channel language the caller's PBX reports, and the language the caller speaks.
    `engines`: an already started `EnginePool` for the demo's daemon (a test placing several demo calls
    loads the models once); by default the daemon loads its own."""
    settings.agent.mode = "assistant"
    settings.audiosocket.port = 0
    settings.fastagi.port = 0
    if settings.fastagi.secret is None:  # the demo is its own Asterisk: a key for this run only
        settings.fastagi.secret = secrets.token_hex(16)  # type: ignore[assignment]
    settings.metrics.enabled = False
    say = on_progress or (lambda _msg: None)
    llm = f"remote {settings.llm.url_model}" if settings.llm.url else settings.llm.model
    say(f"loading the models (STT {settings.stt.whisper_model}, TTS {settings.tts.voice}, LLM {llm})…")
    daemon = Daemon(settings, engines=engines)
    await daemon.start()
    try:
        now = daemon.assistant.brain.clock()
        await _ensure_demo_caller(daemon)
        slot = await _free_slot(daemon, now)
        turns_text = [_request_phrase(slot, now, language), *CALLER_TURNS[language]]
        tts = daemon.assistant.voice_for(language).tts
        turns = [await tts.synthesize_sentence(t) for t in turns_text]
        say(f"calling the assistant as {DEMO_NAME} ({DEMO_PHONE}), as Asterisk would, in {language} ({tts.name})…")
        opts = CallerOptions(
            caller_id=DEMO_PHONE, caller_name=DEMO_NAME, record=record, greeting_wait_s=3.0, language=language
        )
        if settings.dialog.llm_capable:  # the caller waits as long as the daemon may think (the in-call limit)
            llm = settings.llm
            opts.reply_timeout_s = max(opts.reply_timeout_s, llm.call_limit_s + 5.0)
            # … and through the pause between the filler ("Just a moment.") and the answer at the limit, which a
            # loaded host lengthens by the answer's synthesis: at 1.5 s the caller took that pause for the end
            # of the reply and talked over the answer.
            opts.reply_silence_s = max(opts.reply_silence_s, llm.call_limit_s - llm.call_filler_after_s + 1.5)
        report = await dial(daemon, turns, opts)
        ctx = await _wait_stored(daemon, report.call_id)
        await _wait_postcall(daemon, report.call_id)
        bookings = await daemon.assistant.s.calendar.bookings_for(DEMO_PHONE)
        mine = [b for b in bookings if b.call_id == report.call_id]
        booking = None
        if mine:
            b = mine[0]
            booking = {"booking_id": b.booking_id, "start": b.slot.start.isoformat(), "name": b.name}
        return DemoResult(report, ctx, booking, turns_text[0], turns_text)
    finally:
        await daemon.stop()
