"""After the call: summary → CRM, archive recording + transcript, analytics — and `calls list/show`.

One synthetic call runs through every job: the caller books Friday 14 March 2025 at 15:00, cuts the
agent off once, and the agent answers after 600, 800 and 500 ms.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
import time
import wave
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sentiric_pbx.call.record import CallContext, CallStatus, Turn
from sentiric_pbx.cli import app
from sentiric_pbx.engines.base import LlmRequest
from sentiric_pbx.integrations.crm.base import CallSummary, CustomerProfile
from sentiric_pbx.postcall.analytics import analyze_call, load_analytics, sentiment, sentiment_label
from sentiric_pbx.postcall.archive import archive_paths
from sentiric_pbx.postcall.jobs import AnalyticsJob, ArchiveJob, SummaryJob
from sentiric_pbx.postcall.queue import Job
from sentiric_pbx.postcall.sqlite_outbox import SqliteOutbox
from sentiric_pbx.postcall.worker import enqueue_postcall

STARTED = datetime(2025, 3, 10, 9, 0, tzinfo=UTC).timestamp()


class DictContextStore:
    """A ContextStore kept in a dict; counts saves so a rerun's writes are visible."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        self.saves = 0

    async def save(self, context: CallContext) -> None:
        self.saves += 1
        self.data[context.call_id] = context.to_dict()

    async def load(self, call_id: str) -> CallContext | None:
        raw = self.data.get(call_id)
        return None if raw is None else CallContext.from_dict(raw)

    async def finish(self, context: CallContext, status: CallStatus) -> None:
        context.status, context.ended_at = status, context.ended_at or time.time()
        await self.save(context)

    async def list(self, status: CallStatus | None = None, limit: int = 50) -> list[CallContext]:
        return [CallContext.from_dict(d) for d in self.data.values()][:limit]

    async def aclose(self) -> None:
        return None


class RecordingCrm:
    """A CRM that keeps what it was told, keyed like a real one (one summary per call)."""

    def __init__(self) -> None:
        self.summaries: dict[str, CallSummary] = {}
        self.calls = 0

    async def lookup(self, phone_e164: str) -> CustomerProfile | None:
        return None

    async def save_call_summary(self, summary: CallSummary) -> None:
        self.calls += 1
        self.summaries[summary.call_id] = summary

    async def aclose(self) -> None:
        return None


def booking_call(
    call_id: str = "c0ffee-0001", started_at: float = STARTED, recording: Path | None = None
) -> CallContext:
    ctx = CallContext(
        call_id=call_id,
        caller_id="+905551112233",
        language="en",
        started_at=started_at,
        ended_at=started_at + 20.0,
        status="completed",
        customer={"customer_id": "12345", "name": "Ahmet Yılmaz", "last_interaction": "2023-11-20"},
        intents=["book_appointment", "book_appointment"],
        slots={"booking": {"booking_id": "B-17", "start": "2025-03-14T15:00:00+03:00", "name": "Ahmet Yılmaz"}},
        task_state={"reservation": {"status": "done"}},
        recording_path=str(recording) if recording else None,
    )
    words = [
        {"word": "Hi", "start_s": 0.5, "end_s": 0.7, "confidence": 0.98},
        {"word": "book", "start_s": 1.4, "end_s": 1.7, "confidence": 0.91},
    ]
    ctx.add_turn(Turn("caller", "Hi, I'd like to book an appointment for Friday afternoon.", 0.5, 3.0, words=words))
    ctx.add_turn(Turn("agent", "Sure, would Friday at 15:00 or 16:30 suit you?", 3.6, 7.0, latency_ms=600.0))
    ctx.add_turn(Turn("caller", "15:00 is great, thank you so much!", 7.5, 9.0))
    ctx.add_turn(Turn("agent", "Perfect, I have booked you for", 9.8, 12.0, interrupted=True, latency_ms=800.0))
    ctx.add_turn(Turn("caller", "Can I also ask where you are?", 11.5, 13.0))
    ctx.add_turn(Turn("agent", "Of course.", 13.5, 15.0, latency_ms=500.0))
    return ctx


def job_for(kind: str, ctx: CallContext, attempts: int = 1) -> Job:
    return Job(
        job_id=f"job-{kind}", kind=kind, call_id=ctx.call_id, payload={"context": ctx.to_dict()}, attempts=attempts
    )


def write_stereo_wav(path: Path, seconds: float = 0.5, rate: int = 16000) -> np.ndarray:
    """Caller on the left (a 440 Hz tone), agent on the right (silence)."""
    t = np.arange(int(seconds * rate)) / rate
    left = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    frames = np.stack([left, np.zeros_like(left)], axis=1)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames.tobytes())
    return frames


# ── summary ──────────────────────────────────────────────────────────────────────────────────────


async def test_extractive_summary_reaches_the_crm_and_names_the_booked_time() -> None:
    ctx, store, crm = booking_call(), DictContextStore(), RecordingCrm()
    await store.save(ctx)

    await SummaryJob(store, crm)(job_for("summary", ctx))

    saved = crm.summaries[ctx.call_id]
    assert "Fri 14 Mar 2025 15:00" in saved.summary
    assert "book appointment" in saved.summary and "reservation" in saved.summary
    assert (saved.customer_id, saved.phone, saved.outcome, saved.intents) == (
        "12345",
        "+905551112233",
        "completed",
        ["book_appointment"],
    )
    stored = await store.load(ctx.call_id)
    assert stored is not None and stored.summary == saved.summary, "the summary is on the call record too"


async def test_summary_job_run_twice_sends_the_same_summary_and_rewrites_nothing() -> None:
    ctx, store, crm = booking_call(), DictContextStore(), RecordingCrm()
    await store.save(ctx)
    job = SummaryJob(store, crm)
    await job(job_for("summary", ctx))
    first, saves = crm.summaries[ctx.call_id].summary, store.saves

    await job(job_for("summary", ctx, attempts=2))

    assert crm.summaries[ctx.call_id].summary == first and len(crm.summaries) == 1
    assert store.saves == saves


class ScriptedLlm:
    name = "scripted"

    def __init__(self, answer: str, delay_s: float = 0.0) -> None:
        self.answer, self.delay_s = answer, delay_s
        self.requests: list[LlmRequest] = []

    async def complete(self, request: LlmRequest) -> str:
        self.requests.append(request)
        await asyncio.sleep(self.delay_s)
        return self.answer

    async def stream(self, request: LlmRequest) -> Any:  # not used by the summary
        raise NotImplementedError


async def test_llm_summary_gets_the_booking_appended_when_it_leaves_the_time_out() -> None:
    ctx, crm = booking_call(), RecordingCrm()
    llm = ScriptedLlm("Ahmet called and booked an appointment.")

    await SummaryJob(None, crm, llm=llm, llm_budget_s=1.0)(job_for("summary", ctx))

    assert (
        crm.summaries[ctx.call_id].summary == "Ahmet called and booked an appointment. Booked: Fri 14 Mar 2025 15:00."
    )
    assert "15:00 is great" in llm.requests[0].messages[-1]["content"], "the model sees the transcript"


@pytest.mark.parametrize(
    ("note", "appended"),
    [("Ahmet booked Friday at 3 PM.", False), ("Ahmet booked Friday at 3:00 p.m.", False), ("Booked 15:00.", False),
     ("Ahmet booked Friday at 3 am.", True), ("Ahmet booked Friday at 3:30 pm.", True)],
)  # fmt: skip
async def test_llm_summary_that_names_the_time_as_people_write_it_gets_nothing_appended(
    note: str, appended: bool
) -> None:
    ctx, crm = booking_call(), RecordingCrm()
    await SummaryJob(None, crm, llm=ScriptedLlm(note), llm_budget_s=1.0)(job_for("summary", ctx))
    expected = f"{note} Booked: Fri 14 Mar 2025 15:00." if appended else note
    assert crm.summaries[ctx.call_id].summary == expected


@pytest.mark.parametrize(
    "echo",
    [
        "Caller: Hi, I'd like to book an appointment for Friday afternoon. Agent: Sure, would Friday at 15:00 suit?",
        "The caller said: Hi, I'd like to book an appointment for Friday afternoon. Booked 15:00.",
    ],
    ids=["speaker-labels", "a-turn-verbatim"],
)
async def test_an_llm_note_that_copies_the_call_is_replaced_by_the_extractive_summary(echo: str) -> None:
    """A small model asked for a note often echoes the transcript (Qwen2.5-Coder-1.5B did in the demo)."""
    ctx, crm = booking_call(), RecordingCrm()

    await SummaryJob(None, crm, llm=ScriptedLlm(echo), llm_budget_s=1.0)(job_for("summary", ctx))

    assert crm.summaries[ctx.call_id].summary.startswith("Caller Ahmet Yılmaz called (20 s).")


async def test_llm_slower_than_its_budget_falls_back_to_the_extractive_summary() -> None:
    ctx, crm = booking_call(), RecordingCrm()
    started = time.monotonic()

    await SummaryJob(None, crm, llm=ScriptedLlm("too late", delay_s=5.0), llm_budget_s=0.1)(job_for("summary", ctx))

    assert time.monotonic() - started < 1.0
    assert crm.summaries[ctx.call_id].summary.startswith("Caller Ahmet Yılmaz called (20 s).")


# ── archive ──────────────────────────────────────────────────────────────────────────────────────


async def test_archive_moves_the_stereo_recording_and_writes_the_transcript_with_word_timings(tmp_path: Path) -> None:
    spool = tmp_path / "spool" / "c0ffee-0001.wav"
    spool.parent.mkdir()
    frames = write_stereo_wav(spool)
    ctx = booking_call(recording=spool)
    archive, db = tmp_path / "archive", tmp_path / "sentiric.db"

    await ArchiveJob(archive, db)(job_for("archive", ctx))

    wav_path = archive / "2025" / "03" / "10" / "c0ffee-0001.wav"
    json_path = wav_path.with_suffix(".json")
    assert not spool.exists(), "moved, not copied"
    with wave.open(str(wav_path), "rb") as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 16000)
        archived = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).reshape(-1, 2)
    assert np.array_equal(archived, frames)

    doc = json.loads(json_path.read_text())
    assert doc["recording"] == "c0ffee-0001.wav" and doc["recording_channels"] == {"left": "caller", "right": "agent"}
    caller, agent = doc["turns"][0], doc["turns"][3]
    assert caller["words"] == [
        {"word": "Hi", "start_s": 0.5, "end_s": 0.7, "confidence": 0.98},
        {"word": "book", "start_s": 1.4, "end_s": 1.7, "confidence": 0.91},
    ]
    assert (caller["who"], caller["start_s"], caller["end_s"]) == ("caller", 0.5, 3.0)
    assert (agent["who"], agent["text"], agent["interrupted"], agent["words"]) == (
        "agent",
        "Perfect, I have booked you for",
        True,
        [],
    )
    row = sqlite3.connect(db).execute("SELECT wav_path, transcript_path FROM postcall_archive").fetchone()
    assert row == (str(wav_path), str(json_path))


async def test_archive_job_run_again_after_the_move_keeps_the_recording(tmp_path: Path) -> None:
    spool = tmp_path / "rec.wav"
    write_stereo_wav(spool)
    ctx = booking_call(recording=spool)
    job = ArchiveJob(tmp_path / "archive", tmp_path / "sentiric.db")
    await job(job_for("archive", ctx))

    await job(job_for("archive", ctx, attempts=2))  # e.g. the worker died before acknowledging

    wav_path, json_path = archive_paths(tmp_path / "archive", ctx.call_id, ctx.started_at)
    assert wav_path.is_file() and json.loads(json_path.read_text())["recording"] == wav_path.name


# ── analytics ────────────────────────────────────────────────────────────────────────────────────


def test_analytics_of_the_booking_call() -> None:
    a = analyze_call(booking_call())

    assert a.duration_s == pytest.approx(20.0)
    assert a.caller_talk_s == pytest.approx(2.5 + 1.5 + 1.5)
    assert a.agent_talk_s == pytest.approx(3.4 + 2.2 + 1.5)
    # Spoken: 0.5–3.0, 3.6–7.0, 7.5–9.0, 9.8–13.0 (the caller cut in at 11.5), 13.5–15.0 = 12.1 s.
    assert a.silence_s == pytest.approx(20.0 - 12.1)
    assert a.overlap_s == pytest.approx(0.5)
    assert (a.caller_turns, a.agent_turns, a.interruptions) == (3, 3, 1)
    assert a.latency_p50_ms == 600.0
    assert a.latency_p95_ms == pytest.approx(780.0)  # linear between 600 and 800
    assert a.latency_max_ms == 800.0
    assert a.sentiment_method == "vader" and a.caller_sentiment_label == "positive"
    assert [t["sentiment_label"] for t in a.turns if t["who"] == "caller"] == ["neutral", "positive", "neutral"]


def test_analytics_of_a_call_in_a_language_vader_cannot_read_has_no_sentiment() -> None:
    ctx = booking_call()
    ctx.language = "tr"
    a = analyze_call(ctx)
    assert a.sentiment_method is None and a.caller_sentiment is None
    assert a.interruptions == 1, "the rest is still measured"


LABELLED = [
    ("Thank you so much, that was really helpful!", "positive"),
    ("Great, that time works perfectly for me.", "positive"),
    ("Excellent service, I'm very happy with the clinic.", "positive"),
    ("Wonderful, I appreciate you fitting me in today.", "positive"),
    ("I really like how quickly you answered.", "positive"),
    ("This is terrible, I have been waiting for an hour.", "negative"),
    ("I'm really angry that nobody called me back.", "negative"),
    ("That is not acceptable at all.", "negative"),
    ("The last appointment was awful and the doctor was rude.", "negative"),
    ("My phone number is 0555 111 22 33.", "neutral"),
    ("I would like to book an appointment on Tuesday.", "neutral"),
    ("The address is 12 Main Street.", "neutral"),
    ("What time do you open on Saturday?", "neutral"),
    ("Hi, I'd like to book an appointment for Friday afternoon.", "neutral"),
    ("Would you like the 15:00 slot?", "neutral"),
]


@pytest.mark.parametrize(("text", "label"), LABELLED)
def test_vader_labels_caller_sentences(text: str, label: str) -> None:
    assert sentiment_label(sentiment(text)) == label


async def test_analytics_job_stores_one_row_even_when_run_twice(tmp_path: Path) -> None:
    ctx, db = booking_call(), tmp_path / "sentiric.db"
    job = AnalyticsJob(db)
    await job(job_for("analytics", ctx))
    await job(job_for("analytics", ctx, attempts=2))

    row = await load_analytics(db, ctx.call_id)
    assert row is not None and row["interruptions"] == 1 and row["latency_p50_ms"] == 600.0
    assert len(row["turns"]) == 6
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM analytics_calls").fetchone() == (1,)


async def test_an_ended_call_gets_its_three_jobs(tmp_path: Path) -> None:
    async with SqliteOutbox(tmp_path / "sentiric.db") as outbox:
        ids = await enqueue_postcall(outbox, booking_call())
        kinds = [j["kind"] for j in await outbox.jobs_for("c0ffee-0001")]
    assert len(ids) == 3 and kinds == ["summary", "archive", "analytics"]


# ── calls list / show ────────────────────────────────────────────────────────────────────────────

CALLS_DDL = """
CREATE TABLE calls (
    call_id TEXT PRIMARY KEY, status TEXT NOT NULL, caller_id TEXT, started_at REAL NOT NULL, ended_at REAL,
    context TEXT NOT NULL, summary TEXT, outcome TEXT, updated_at REAL NOT NULL
)
"""


def fill_calls(db: Path, contexts: list[CallContext]) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(CALLS_DDL)
        for c in contexts:
            conn.execute(
                "INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (c.call_id, c.status, c.caller_id, c.started_at, c.ended_at, json.dumps(c.to_dict()), c.summary,
                 c.outcome, time.time()),
            )  # fmt: skip


@pytest.fixture
async def filled_db(tmp_path: Path) -> Path:
    db = tmp_path / "sentiric.db"
    booked = booking_call(recording=tmp_path / "rec.wav")
    write_stereo_wav(tmp_path / "rec.wav")
    booked.summary, booked.outcome = "Ahmet booked Fri 14 Mar 2025 15:00.", "completed"
    dropped = booking_call("dropped-call", started_at=STARTED + 3600)
    dropped.status, dropped.ended_at, dropped.turns = "unfinished_call", STARTED + 3605, dropped.turns[:1]
    later = booking_call("later-call", started_at=STARTED + 7200)
    fill_calls(db, [booked, dropped, later])
    await ArchiveJob(tmp_path / "archive", db)(job_for("archive", booked))
    await AnalyticsJob(db)(job_for("analytics", booked))
    return db


runner = CliRunner()


def test_calls_list_shows_the_newest_first(filled_db: Path) -> None:
    result = runner.invoke(app, ["calls", "list", "--db", str(filled_db)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("CALL ID")
    assert [line.split()[0] for line in lines[1:]] == ["later-call", "dropped-call", "c0ffee-0001"]
    assert "unfinished_call" in lines[2] and "+905551112233" in lines[3]


def test_calls_list_filters_by_status_and_limits_as_json(filled_db: Path) -> None:
    result = runner.invoke(app, ["calls", "list", "--db", str(filled_db), "--status", "unfinished_call", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["call_id"], r["status"], r["duration_s"]) for r in rows] == [("dropped-call", "unfinished_call", 5.0)]

    result = runner.invoke(app, ["calls", "list", "--db", str(filled_db), "--limit", "1", "--json"])
    assert [r["call_id"] for r in json.loads(result.output)] == ["later-call"]


def test_calls_show_has_transcript_summary_recording_and_analytics(filled_db: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["calls", "show", "c0ffee-0001", "--db", str(filled_db)])
    assert result.exit_code == 0, result.output
    out = result.output
    wav = tmp_path / "archive" / "2025" / "03" / "10" / "c0ffee-0001.wav"
    assert "summary   Ahmet booked Fri 14 Mar 2025 15:00." in out
    assert f"recording {wav}" in out and "file missing" not in out
    assert "interruptions 1" in out and "latency p50 600.0 ms" in out
    assert "caller Hi, I'd like to book an appointment for Friday afternoon." in out
    assert "Perfect, I have booked you for  [interrupted]" in out

    data = json.loads(runner.invoke(app, ["calls", "show", "c0ffee-0001", "--db", str(filled_db), "--json"]).output)
    assert data["recording_path"] == str(wav)
    assert data["analytics"]["latency_p50_ms"] == 600.0 and data["analytics"]["interruptions"] == 1
    assert len(data["context"]["turns"]) == 6 and data["call"]["status"] == "completed"


def test_calls_show_an_unknown_id_fails_with_one_line(filled_db: Path) -> None:
    result = runner.invoke(app, ["calls", "show", "nope", "--db", str(filled_db)])
    assert result.exit_code == 1
    assert "no call with id 'nope'" in result.output


def test_calls_on_a_database_without_calls_says_so_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "sentiric.db"
    sqlite3.connect(db).close()

    result = runner.invoke(app, ["calls", "list", "--db", str(db)])

    assert result.exit_code == 0 and result.output.strip() == "no calls yet"
    assert sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall() == []
    missing = runner.invoke(app, ["calls", "list", "--db", str(tmp_path / "absent.db"), "--json"])
    assert missing.output.strip() == "[]" and not (tmp_path / "absent.db").exists()


# ── sentiric-pbx worker ──────────────────────────────────────────────────────────────────────────


async def test_worker_command_runs_an_ended_calls_jobs_and_stops_on_sigterm(tmp_path: Path) -> None:
    db, archive = tmp_path / "sentiric.db", tmp_path / "archive"
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndb_path = "{db}"\narchive_dir = "{archive}"\n[logging]\nformat = "json"\n')
    recording = tmp_path / "rec.wav"
    write_stereo_wav(recording)
    ctx = booking_call(started_at=time.time() - 30, recording=recording)
    async with SqliteOutbox(db) as outbox:
        await enqueue_postcall(outbox, ctx)

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sentiric_pbx.cli", "worker", "--config", str(config), stderr=asyncio.subprocess.PIPE
    )
    try:
        async with SqliteOutbox(db) as outbox:
            deadline = time.monotonic() + 15
            while {j["status"] for j in await outbox.jobs_for(ctx.call_id)} != {"done"}:
                assert time.monotonic() < deadline and proc.returncode is None, "the worker did not finish the jobs"
                await asyncio.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0
    events = [json.loads(line)["event"] for line in err.decode().splitlines() if line.startswith("{")]
    assert events.count("postcall_job_done") == 3 and events[-1] == "postcall_worker_stopped"

    shown = json.loads(runner.invoke(app, ["calls", "show", ctx.call_id, "--db", str(db), "--json"]).output)
    assert "Fri 14 Mar 2025 15:00" in shown["summary"]
    assert shown["recording_path"] == str(archive_paths(archive, ctx.call_id, ctx.started_at)[0])
    assert await asyncio.to_thread(Path(shown["recording_path"]).is_file) and not recording.exists()
    assert shown["analytics"]["interruptions"] == 1
    crm_row = sqlite3.connect(db).execute("SELECT outcome, summary FROM crm_call_summaries").fetchone()
    assert crm_row == ("completed", shown["summary"])
