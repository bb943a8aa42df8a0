"""Calls stored the way the daemon stores them, for the erasure and retention tests.

Every record goes through the real code that writes it in production: the context store (SQLite, and
Redis in front when a URL is given), the built-in CRM, a recording from `CallRecorder`, the archive job,
analytics, the next greeting, the calendar, and the post-call queue (outbox, or Redis Streams with one
job waiting to retry and one dead). `leftovers()` then reads every place back for a given string.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import redis
from pydantic import SecretStr

from sentiric_pbx.call.record import CallContext, Turn
from sentiric_pbx.config import Settings
from sentiric_pbx.integrations.calendar.factory import build_calendar
from sentiric_pbx.integrations.crm.base import CallSummary
from sentiric_pbx.integrations.crm.sqlite import SqliteCrm
from sentiric_pbx.postcall.analytics import analyze_call, save_analytics
from sentiric_pbx.postcall.archive import archive_call
from sentiric_pbx.postcall.redis_streams import RedisStreamsQueue
from sentiric_pbx.postcall.sqlite_outbox import SqliteOutbox
from sentiric_pbx.postcall.worker import enqueue_postcall
from sentiric_pbx.storage.context_redis import RedisContextStore
from sentiric_pbx.storage.context_sqlite import SqliteContextStore
from sentiric_pbx.storage.db import open_database
from sentiric_pbx.storage.greetings import GreetingStore
from sentiric_pbx.storage.paths import archive_dir, recordings_dir
from sentiric_pbx.storage.recording import CallRecorder

AHMET, AYSE = "+905551112233", "+905559998877"


def settings_for(tmp: Path, redis_url: str | None = None, database_url: str | None = None) -> Settings:
    """`database_url`: a PostgreSQL site store; the SQLite file then keeps only the host's queue and archive."""
    s = Settings()
    s.storage.db_path = tmp / "data" / "sentiric.db"
    s.storage.archive_dir = tmp / "data" / "archive"
    s.storage.redis_url = redis_url
    s.storage.database_url = SecretStr(database_url) if database_url else None
    return s


def config_file(tmp: Path, settings: Settings) -> Path:
    path = tmp / "config.toml"
    redis_line = f'redis_url = "{settings.storage.redis_url}"\n' if settings.storage.redis_url else ""
    if settings.storage.database_url is not None:
        redis_line += f'database_url = "{settings.storage.database_url.get_secret_value()}"\n'
    path.write_text(
        f'[storage]\ndb_path = "{settings.storage.db_path}"\narchive_dir = "{settings.storage.archive_dir}"\n'
        + redis_line
    )
    path.chmod(0o640)  # a database_url carries its password: the config must not be world-readable
    return path


@dataclass
class Stored:
    settings: Settings
    calls: dict[str, CallContext] = field(default_factory=dict)
    words: dict[str, str] = field(default_factory=dict)
    """call id → a sentence only that call's caller said (what must not survive its erasure)."""


def a_call(call_id: str, caller_id: str | None, started_at: float, words: str, customer_id: str | None) -> CallContext:
    ctx = CallContext(call_id, caller_id=caller_id, language="en", started_at=started_at, ended_at=started_at + 30)
    if customer_id:
        ctx.customer = {"customer_id": customer_id, "name": "Ahmet Yilmaz"}
    ctx.add_turn(Turn("agent", "Hello, how can I help?", 0.0, 1.5, latency_ms=400.0))
    ctx.add_turn(Turn("caller", words, 2.0, 5.0))
    ctx.add_turn(Turn("agent", "Thank you, goodbye.", 5.5, 7.0, latency_ms=500.0))
    ctx.status = "completed"
    return ctx


async def store_calls(
    tmp: Path, redis_url: str | None, plan: list[tuple[str, str | None, float, str]], database_url: str | None = None
) -> Stored:
    """Store each (call_id, caller_id, started_at, words) call everywhere a real call leaves data."""
    settings = settings_for(tmp, redis_url, database_url)
    stored = Stored(settings)
    db_file = settings.storage.db_path
    assert db_file is not None
    db = await open_database(settings)
    crm = SqliteCrm(db)
    ahmet = await crm.add_customer(AHMET, "Ahmet Yilmaz", title="Mr.")
    await crm.add_customer("+905550000001", "Someone Else")
    durable = SqliteContextStore(db)
    store = RedisContextStore.from_url(redis_url, 86_400, durable=durable) if redis_url else durable
    outbox = SqliteOutbox(db_file)
    queue = RedisStreamsQueue(redis_url, max_attempts=1) if redis_url else None
    calendar = build_calendar(settings, db_file, db)
    try:
        for call_id, caller_id, started_at, words in plan:
            customer = ahmet.customer_id if caller_id == AHMET else None
            ctx = a_call(call_id, caller_id, started_at, words, customer)
            recorder = CallRecorder()
            recorder.caller_frame(np.full(320, 900, dtype="<i2").tobytes())
            ctx.recording_path = str(recorder.write(recordings_dir(settings) / f"{call_id}.wav"))
            await store.finish(ctx, "completed")
            await archive_call(ctx, archive_dir(settings), db_file)  # moves the recording into the archive
            await save_analytics(db if database_url else db_file, analyze_call(ctx))
            summary = f"{words} (note)"
            ctx.summary = summary
            await crm.save_call_summary(
                CallSummary(call_id, customer, caller_id, started_at, started_at + 30, "completed", summary)
            )
            if caller_id:
                await GreetingStore(db).put(caller_id, "en", f"Welcome back! {words}", call_id=call_id, engine="t")
            # A second recording still in the spool: its archive job has not run yet.
            ctx.recording_path = str(recorder.write(recordings_dir(settings) / f"{call_id}.wav"))
            await enqueue_postcall(outbox, ctx)
            if queue is not None:
                await enqueue_postcall(queue, ctx)
            stored.calls[call_id] = ctx
            stored.words[call_id] = words
        if queue is not None and redis_url is not None:
            # The first call's first job dead and its second waiting to retry: every Redis key holds a call.
            job = await queue.claim("test-worker", block_s=0.1)
            assert job is not None
            await queue.fail(job, "boom")
            retrying = RedisStreamsQueue(redis_url, max_attempts=5)
            job = await retrying.claim("test-worker", block_s=0.1)
            assert job is not None and job.call_id == plan[0][0]
            await retrying.fail(job, "the CRM is down")
            assert await retrying._redis.zcard(retrying.retry_key) == 1
            await retrying.aclose()
        slots = await calendar.free_slots(datetime.now(UTC), datetime.now(UTC) + timedelta(days=14), limit=1)
        await calendar.book(slots[0], customer_id=ahmet.customer_id, phone=AHMET, name="Ahmet Yilmaz", call_id=None)
    finally:
        await calendar.aclose()
        if queue is not None:
            await queue.aclose()
        await outbox.aclose()
        if store is not durable:
            await store.aclose()
        await db.aclose()
    return stored


def leftovers(settings: Settings, needle: str) -> list[str]:
    """Every place `needle` is still found: a database row, a file (name or bytes), a Redis key or value."""
    found: list[str] = []
    db_file = settings.storage.db_path
    assert db_file is not None
    with sqlite3.connect(db_file) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):
                if needle in json.dumps(row, default=str, ensure_ascii=False):
                    found.append(f"db:{table}")
    for path in db_file.parent.rglob("*"):
        if path.is_file() and not path.name.startswith("sentiric.db") and (
            needle in path.name or needle.encode() in path.read_bytes()
        ):
            found.append(f"file:{path.relative_to(db_file.parent)}")
    if settings.storage.database_url is not None:
        with psycopg.connect(settings.storage.database_url.get_secret_value()) as conn:
            tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            for table in tables:
                for row in conn.execute(f"SELECT * FROM {table}"):  # type: ignore[call-overload]
                    if needle in json.dumps(row, default=str, ensure_ascii=False):
                        found.append(f"site:{table}")
    if settings.storage.redis_url:
        client = redis.Redis.from_url(settings.storage.redis_url, decode_responses=True)
        try:
            for key in client.scan_iter("*"):
                kind = client.type(key)
                values: list[str] = [key]
                if kind == "string":
                    values.append(client.get(key) or "")
                elif kind == "zset":
                    values += client.zrange(key, 0, -1)
                elif kind == "stream":
                    values += [json.dumps(f, ensure_ascii=False) for _, f in client.xrange(key)]
                if any(needle in v for v in values):
                    found.append(f"redis:{key}")
        finally:
            client.close()
    return sorted(set(found))


def now_minus_days(days: float) -> float:
    return time.time() - days * 86_400
