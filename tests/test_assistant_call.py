"""The seed's whole call, end to end, on real sockets and the real bundled models.

A known caller is greeted by name, books "tomorrow at 3 pm"-style, confirms, says goodbye; the booking
is in the calendar, the agent's words (transcribed by Whisper from our recording) name the time,
and the call has its summary, transcript, recording and analytics. Then the seed's §4.1: a caller who
hangs up at any moment — during the greeting, mid-utterance, while the agent speaks, mid-task —
leaves an `unfinished_call` with the transcript so far. The hangup suite runs on SQLite and on a real
Redis.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import uuid
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from typer.testing import CliRunner

from sentiric_pbx.audio.frames import rms_dbfs
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.call.record import CallContext
from sentiric_pbx.cli import app
from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.engines.pool import EnginePool
from sentiric_pbx.tools.demo import run_demo
from tests.asterisk_peer import AGI_SECRET, AudioSocketPeer, register
from tests.call_records import AHMET, leftovers, now_minus_days, store_calls
from tests.redis_server import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


def assistant_settings(tmp: Path, models_dir: Path, redis_url: str | None = None) -> Settings:
    s = Settings()
    s.agent.mode = "assistant"
    s.audiosocket.port = 0
    s.fastagi.port = 0
    s.fastagi.secret = AGI_SECRET  # type: ignore[assignment]
    s.metrics.enabled = False
    s.models.dir = models_dir
    s.storage.db_path = tmp / "sentiric.db"
    s.storage.archive_dir = tmp / "archive"
    s.storage.redis_url = redis_url
    s.dialog.no_input_reprompt_s = 30.0  # these callers are never silent on purpose
    return s


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "redis"])
async def daemon(request, engines, models_dir, tmp_path_factory) -> AsyncIterator[Daemon]:
    tmp = tmp_path_factory.mktemp(f"assistant-{request.param}")
    redis = None
    if request.param == "redis":
        redis = RedisServer(tmp / "redis")
        redis.start()
    d = Daemon(assistant_settings(tmp, models_dir, redis.url if redis else None), engines=engines)
    await d.start()
    yield d
    await d.stop()
    if redis:
        redis.stop()


def phone_band(pcm16k: bytes) -> bytes:
    return resample(pcm16k, 16000, 8000)


async def say(engines: EnginePool, text: str) -> bytes:
    return phone_band(await engines.tts.synthesize_sentence(text))  # type: ignore[union-attr]


async def stored(daemon: Daemon, call_id: str, within_s: float = 20.0) -> CallContext:
    """The call's record once the session has finished it."""
    store = daemon.assistant.s.store
    async with asyncio.timeout(within_s):
        while True:
            ctx = await store.load(call_id)
            if ctx is not None and ctx.status != "active":
                return ctx
            await asyncio.sleep(0.1)


async def until(predicate, within_s: float = 20.0) -> None:
    async with asyncio.timeout(within_s):
        while not predicate():
            await asyncio.sleep(0.02)


class Caller:
    """A scripted caller on the Asterisk wire: FastAGI, then AudioSocket at 8 kHz, hanging up on cue."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.peer: AudioSocketPeer | None = None

    async def dial(self) -> AudioSocketPeer:
        assert self.daemon.audiosocket is not None
        peer = await AudioSocketPeer.connect(self.daemon.audiosocket.port)
        agi = await register(self.daemon.fastagi.port, str(peer.call_id))
        agi.close()
        peer.send_uuid()
        peer.talk(b"")  # silence, 20 ms at a time, like a phone line
        self.peer = peer
        return peer

    def voiced_count(self) -> int:
        assert self.peer is not None
        return len(self.peer.echo_frames())

    async def agent_starts_speaking(self, after: int = 0) -> None:
        await until(lambda: self.voiced_count() > after)

    async def agent_goes_quiet(self, quiet_s: float = 1.2) -> None:
        """Wait until the agent has said something and then been quiet for `quiet_s`."""
        assert self.peer is not None
        await self.agent_starts_speaking()
        loop = asyncio.get_running_loop()
        last, seen = loop.time(), self.voiced_count()
        async with asyncio.timeout(30):
            while loop.time() - last < quiet_s:
                await asyncio.sleep(0.05)
                if self.voiced_count() != seen:
                    seen, last = self.voiced_count(), loop.time()

    async def speak(self, pcm: bytes) -> None:
        assert self.peer is not None
        if self.peer._tx is not None:
            self.peer._tx.cancel()
        self.peer.talk(pcm)
        await asyncio.sleep(len(pcm) / 16000)

    async def hang_up(self) -> str:
        assert self.peer is not None
        await self.peer.close()
        return str(self.peer.call_id)


def agent_channel(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return frames[1::2].tobytes(), wav.getframerate()


# -- the booking call (the README's demo, with its daemon) ----------------------------------------
async def test_known_caller_books_an_appointment_end_to_end(engines, models_dir, tmp_path, logs) -> None:
    settings = assistant_settings(tmp_path, models_dir)
    result = await run_demo(settings, tmp_path / "caller-side.wav", engines=engines)
    ctx = result.context
    assert ctx is not None
    agent_lines = [t.text for t in ctx.turns if t.who == "agent"]
    caller_lines = [t.text.lower() for t in ctx.turns if t.who == "caller"]

    # Greeted by name (the CRM knows +905551112233 as Mr. Ahmet Yilmaz).
    assert "Yilmaz" in agent_lines[0]
    assert any("appointment" in line for line in caller_lines)
    # Booked in the calendar, by this call, at the requested time.
    assert result.booking is not None
    booked = dt.datetime.fromisoformat(result.booking["start"])
    hour = booked.hour % 12 or 12
    assert re.search(rf"\b{hour}\b", result.requested)
    # The goodbye ended the call properly.
    assert ctx.status == "completed"

    # What the caller heard names the time: Whisper on the agent's side of the archived recording.
    shown = CliRunner().invoke(app, ["calls", "show", ctx.call_id, "--json", "--db", str(settings.storage.db_path)])
    assert shown.exit_code == 0, shown.output
    details = json.loads(shown.stdout)
    recording = Path(details["recording_path"])
    assert recording.is_file()
    agent_pcm, rate = agent_channel(recording)
    heard = (await engines.stt_for("en").transcribe(resample(agent_pcm, rate, 16000))).text.lower()
    assert "welcome back" in heard  # only a known caller's greeting says it (the name is in agent_lines[0])
    spoken_hour = ["twelve", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"]
    assert re.search(rf"(?<![\d\w])({hour}|{spoken_hour[hour % 12]})(?![\d])", heard), heard  # "2pm", "2 p.m."

    # Post-call: summary (saved to the CRM), transcript, recording, analytics.
    assert f"Booked: {booked.strftime('%a %d %b %Y %H:%M')}" in details["summary"], details["summary"]
    transcript = details["context"]["turns"]
    assert any(t["who"] == "caller" for t in transcript) and any(t["who"] == "agent" for t in transcript)
    assert details["analytics"] is not None and details["analytics"]["duration_s"] > 5
    assert result.report.greeting_latency_ms is not None

    # The journal learnt how much the caller said, never what ([logging] log_transcripts is off by default).
    said = [e for e in logs if e["event"] == "caller_said"]
    assert said and all("text" not in e for e in said) and sum(e["text_chars"] for e in said) > 20
    assert all("entities" not in e for e in logs if e["event"] == "nlu")
    journal = json.dumps(logs, default=str).lower()
    assert not [line for line in caller_lines if len(line) > 8 and line in journal]


async def test_the_daemon_sweeps_calls_older_than_retention_days_at_start(engines, models_dir, tmp_path) -> None:
    """[storage] retention_days reaches the database too, and without waiting for an archive job to run."""
    settings = assistant_settings(tmp_path, models_dir)
    stored = await store_calls(tmp_path, None, [("call-from-last-year", AHMET, now_minus_days(400), "old words")])
    settings.storage = stored.settings.storage
    assert leftovers(settings, "old words")
    daemon = Daemon(settings, engines=engines)
    await daemon.start()
    try:
        await until(lambda: not leftovers(settings, "call-from-last-year"), within_s=10)
    finally:
        await daemon.stop()
    assert leftovers(settings, "old words") == [] and "db:crm_customers" in leftovers(settings, "Ahmet Yilmaz")


async def test_a_daemon_on_the_site_store_sweeps_it_and_its_own_file_at_start(
    engines, models_dir, tmp_path, postgres_url: str
) -> None:
    """With [storage] database_url the daemon's start-up wiring (site store, its own SQLite file beside it
    for the queue and archive records) reaches both: the old call leaves PostgreSQL and the host's file."""
    settings = assistant_settings(tmp_path, models_dir)
    old = [("call-from-last-year", AHMET, now_minus_days(400), "old words")]
    stored = await store_calls(tmp_path, None, old, database_url=postgres_url)
    settings.storage = stored.settings.storage
    assert {"site:calls", "db:postcall_jobs"} <= set(leftovers(settings, "call-from-last-year"))
    daemon = Daemon(settings, engines=engines)
    await daemon.start()
    try:
        await until(lambda: not leftovers(settings, "call-from-last-year"), within_s=10)
    finally:
        await daemon.stop()
    assert leftovers(settings, "old words") == [] and "site:crm_customers" in leftovers(settings, "Ahmet Yilmaz")


# -- hangups (seed §4.1) --------------------------------------------------------------------------
async def test_hangup_during_the_greeting_is_an_unfinished_call(daemon) -> None:
    caller = Caller(daemon)
    await caller.dial()
    await caller.agent_starts_speaking()
    call_id = await caller.hang_up()
    ctx = await stored(daemon, call_id)
    assert ctx.status == "unfinished_call"
    assert [t.who for t in ctx.turns] == ["agent"]


async def test_a_recording_that_cannot_be_written_leaves_the_record_saying_why(daemon, logs) -> None:
    """The disk refuses the WAV at hang-up (here: a directory already stands at its path, so the rename fails
    as a full disk's write would): one `recording_write_failed` line, the record kept, and `calls show` says
    why the call has no recording."""
    caller = Caller(daemon)
    peer = await caller.dial()
    (daemon.assistant.s.recordings_dir / f"{peer.call_id}.wav" / "in-the-way").mkdir(parents=True)
    await caller.agent_starts_speaking()
    call_id = await caller.hang_up()
    ctx = await stored(daemon, call_id)
    assert ctx.status == "unfinished_call" and [t.who for t in ctx.turns] == ["agent"]
    assert ctx.recording_path is None and ctx.recording_error, ctx
    [line] = [e for e in logs if e["event"] == "recording_write_failed" and e.get("call_id") == call_id]
    assert line["log_level"] == "error"
    db = str(daemon.settings.storage.db_path)
    shown = CliRunner().invoke(app, ["calls", "show", call_id, "--db", db])
    assert shown.exit_code == 0, shown.output
    assert f"recording -  (not written: {ctx.recording_error})" in shown.stdout, shown.stdout


async def test_hangup_mid_utterance_keeps_what_was_said_before(daemon, engines) -> None:
    caller = Caller(daemon)
    await caller.dial()
    await caller.agent_goes_quiet()
    request = await say(engines, "I would like to book an appointment for next Tuesday morning please.")
    caller.peer.talk(request[: len(request) // 2])  # type: ignore[union-attr]
    await asyncio.sleep(len(request) / 2 / 16000)
    call_id = await caller.hang_up()
    ctx = await stored(daemon, call_id)
    assert ctx.status == "unfinished_call"
    assert ctx.turns and ctx.turns[0].who == "agent"
    assert all(t.who == "agent" for t in ctx.turns)  # the half sentence never became a turn


async def test_hangup_while_the_agent_speaks(daemon, engines) -> None:
    caller = Caller(daemon)
    await caller.dial()
    await caller.agent_goes_quiet()
    greeting_frames = caller.voiced_count()
    await caller.speak(await say(engines, "What are your opening hours?"))
    await caller.agent_starts_speaking(after=greeting_frames)
    call_id = await caller.hang_up()
    ctx = await stored(daemon, call_id)
    assert ctx.status == "unfinished_call"
    caller_turns = [t for t in ctx.turns if t.who == "caller"]
    assert caller_turns and "hours" in caller_turns[0].text.lower()
    assert ctx.intents[:1] == ["ask_opening_hours"]


async def test_hangup_mid_task_keeps_the_task_state(daemon, engines) -> None:
    caller = Caller(daemon)
    await caller.dial()
    await caller.agent_goes_quiet()
    await caller.speak(await say(engines, "I want to book an appointment."))
    await caller.agent_goes_quiet()  # the agent asked when
    call_id = await caller.hang_up()
    ctx = await stored(daemon, call_id)
    assert ctx.status == "unfinished_call"
    assert ctx.active_task == "create_appointment"
    assert any(t.who == "caller" and "appointment" in t.text.lower() for t in ctx.turns)


# -- barge-in -----------------------------------------------------------------------------------
async def test_caller_talking_over_the_agent_stops_it_and_is_heard(daemon, engines) -> None:
    """Barge-in: playout is flushed, the reply is cut, the transcript keeps only what was heard."""
    caller = Caller(daemon)
    await caller.dial()
    await caller.agent_goes_quiet()
    before = caller.voiced_count()
    await caller.speak(await say(engines, "Hi, can you tell me what you can do for me?"))
    await caller.agent_starts_speaking(after=before)  # the long help sentence starts
    await asyncio.sleep(0.6)
    interrupt = await say(engines, "I want to book an appointment.")
    assert caller.peer is not None
    started = len(caller.peer.received)
    await caller.speak(interrupt)
    # While the caller talked, the agent stopped: its last second of frames during our speech is silent.
    during = caller.peer.audio()[started : started + len(interrupt) // 320]
    tail = during[len(during) // 2 :]
    assert tail and not any(rms_dbfs(f.payload) > -40 for f in tail)
    await caller.agent_goes_quiet()
    call_id = await caller.hang_up()
    ctx = await stored(daemon, call_id)
    cut = [t for t in ctx.turns if t.who == "agent" and t.interrupted]
    assert len(cut) == 1
    full_help = "I can book, cancel or move an appointment, tell you our opening hours, or put you through"
    assert len(cut[0].text) < len(full_help)
    assert any(t.who == "caller" and "appointment" in t.text.lower() for t in ctx.turns)
    assert "create_appointment" in ctx.intents


# -- capacity (issue #7: reject politely rather than degrade everyone) ------------------------------
async def test_a_call_beyond_capacity_hears_busy_and_is_kept_while_the_others_go_on(daemon, engines) -> None:
    first = Caller(daemon)
    await first.dial()
    await first.agent_starts_speaking()
    daemon.settings.agent.max_calls = 1
    try:
        second = Caller(daemon)
        await second.dial()
        assert second.peer is not None
        await second.peer.wait_closed_by_server(within_s=20)  # the busy message, then 0x00
        assert second.voiced_count() > 25  # it heard a message (>0.5 s of voice), not a bare hangup
        rejected = await stored(daemon, str(second.peer.call_id))
        assert rejected.status == "rejected_busy" and rejected.outcome == "rejected_busy"
        # The call in progress never noticed: it still converses.
        await first.agent_goes_quiet()
        before = first.voiced_count()
        await first.speak(await say(engines, "What are your opening hours?"))
        await first.agent_starts_speaking(after=before)
    finally:
        daemon.settings.agent.max_calls = 8
    call_id = await first.hang_up()
    assert (await stored(daemon, call_id)).status == "unfinished_call"


# -- engine failure (seed §4: apologise and offer a human, never drop the caller) ------------------
class FailingStt:
    """Fault injection: the recognizer of this call raises, as a crashed engine thread would."""

    name = "failing"

    async def transcribe(self, pcm: bytes):
        raise RuntimeError("whisper exploded")


async def test_stt_failure_apologises_and_transfers_instead_of_dropping(daemon, engines, monkeypatch) -> None:
    monkeypatch.setitem(engines.stt, "default", FailingStt())
    caller = Caller(daemon)
    await caller.dial()
    await caller.agent_goes_quiet()
    await caller.speak(await say(engines, "I would like to book an appointment."))
    assert caller.peer is not None
    await caller.peer.wait_closed_by_server(within_s=30)  # 0x00: the dialplan continues to the transfer target
    call_id = await caller.hang_up()
    ctx = await stored(daemon, call_id)
    assert ctx.status == "transferred"
    assert "technical problem" in ctx.turns[-1].text


async def test_crm_lookups_of_registrations_no_call_claimed_expire_with_the_registry(daemon) -> None:
    """The probe: every registration started a CRM lookup kept forever in `Assistant._lookups`. Now a lookup
    lives as long as its registration: one whose AudioSocket leg never came is dropped when the entry expires."""
    assistant = daemon.assistant
    ids = [str(uuid.uuid4()) for _ in range(20)]
    for call_id in ids:
        agi = await register(daemon.fastagi.port, call_id)
        agi.close()
    assert all(call_id in assistant._lookups for call_id in ids)
    ttl = daemon.registry.ttl_s
    daemon.registry.ttl_s = 0.01
    try:
        await asyncio.sleep(0.05)
        assert len(daemon.registry) == 0  # expired (and `on_expire` told the assistant)
    finally:
        daemon.registry.ttl_s = ttl
    assert not any(call_id in assistant._lookups for call_id in ids)
