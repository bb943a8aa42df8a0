"""`[storage] retention_days`: a daily sweep deletes every trace of older calls, wherever it is kept.

The probe: retention only swept archive files, and only when an archive job happened to run; the
database's transcripts, CRM call notes and analytics rows were never deleted.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sentiric_pbx.config import Settings
from sentiric_pbx.postcall.archive import archive_call, archive_paths
from sentiric_pbx.postcall.erasure import PersonalData, open_local_store
from sentiric_pbx.postcall.redis_streams import RedisStreamsQueue
from sentiric_pbx.postcall.retention import sweep, sweep_archive
from sentiric_pbx.storage.db import Database, open_database
from tests.call_records import AHMET, AYSE, a_call, config_file, leftovers, now_minus_days, store_calls
from tests.redis_server import RedisServer

PLAN = [
    ("call-old", AHMET, now_minus_days(200), "my old account number is seven seven"),
    ("call-older-than-90", AYSE, now_minus_days(91), "i had a tooth ache last spring"),
    ("call-recent", AHMET, now_minus_days(10), "see you next tuesday"),
]


@pytest.fixture(params=["sqlite", "redis"])
def redis_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    with RedisServer(tmp_path / "redis") as server:
        yield server.url


async def test_sweep_deletes_every_trace_of_calls_older_than_retention_days(
    tmp_path: Path, redis_url: str | None, logs: list[dict[str, object]]
) -> None:
    stored = await store_calls(tmp_path, redis_url, PLAN)
    assert stored.settings.storage.db_path is not None
    db = await Database.open(stored.settings.storage.db_path)
    data = PersonalData.from_settings(stored.settings, db)
    try:
        removed = await sweep(data, retention_days=90)
    finally:
        await data.aclose()
        await db.aclose()

    for call_id in ("call-old", "call-older-than-90"):
        assert leftovers(stored.settings, call_id) == [], call_id
        assert leftovers(stored.settings, stored.words[call_id]) == [], call_id
    assert leftovers(stored.settings, stored.words["call-recent"]), "a call within retention is kept whole"
    assert "db:calls" in leftovers(stored.settings, "call-recent")
    assert "db:crm_customers" in leftovers(stored.settings, "Ahmet Yilmaz"), "the customer list is not swept"
    assert removed["calls"] == 2 and removed["summaries"] == 2 and removed["analytics"] == 2
    assert removed["recordings"] == 4 and removed["transcripts"] == 2
    assert removed["greetings"] == 1, "Ayse's; Ahmet's was rewritten by his recent call"
    if redis_url:
        assert removed["redis contexts"] == 2
    [line] = [e for e in logs if e["event"] == "retention_sweep"]
    assert line["removed"] == dict(removed) and line["retention_days"] == 90
    assert line["total"] == sum(removed.values())


async def test_what_outlived_its_call_goes_by_its_own_date(tmp_path: Path) -> None:
    """A CRM note, an analytics row, a next greeting, a job and a stray recording whose call row is long gone."""
    stored = await store_calls(tmp_path, None, PLAN[2:])
    settings = stored.settings
    assert settings.storage.db_path is not None
    db_file = settings.storage.db_path
    with sqlite3.connect(db_file) as conn:
        conn.execute("DELETE FROM calls")  # as an admin's hand-edit, or an older version, might have left it
        for table, column in (
            ("crm_call_summaries", "started_at"), ("analytics_calls", "computed_at"), ("greetings", "written_at"),
            ("postcall_jobs", "created_at"), ("postcall_archive", "archived_at"),
        ):  # fmt: skip
            conn.execute(f"UPDATE {table} SET {column} = ?", (now_minus_days(120),))
    stray = db_file.parent / "recordings" / "lost-call.wav"
    stray.write_bytes(b"RIFF")
    old = now_minus_days(120)
    os.utime(stray, (old, old))
    db = await Database.open(db_file)
    data = PersonalData.from_settings(settings, db)
    try:
        removed = await sweep(data, retention_days=90)
    finally:
        await data.aclose()
        await db.aclose()
    assert removed["summaries"] == 1 and removed["analytics"] == 1 and removed["greetings"] == 1
    assert removed["queued jobs"] == 3 and removed["archive records"] == 1
    assert not stray.exists()
    assert leftovers(settings, stored.words["call-recent"]) == ["file:" + _archived_json(settings)]


def _archived_json(settings: Settings) -> str:
    archive = settings.storage.archive_dir
    assert archive is not None
    return str(archive_paths(archive, "call-recent", PLAN[2][2])[1].relative_to(archive.parent))


async def test_archive_days_older_than_retention_go_by_the_date_in_their_path(tmp_path: Path) -> None:
    archive, db = tmp_path / "archive", tmp_path / "sentiric.db"
    today = datetime(2025, 6, 1, tzinfo=UTC)
    old = a_call("old-call", None, today.timestamp() - 100 * 86400, "hello", None)
    recent = a_call("recent-call", None, today.timestamp() - 10 * 86400, "hello", None)
    for ctx in (old, recent):
        await archive_call(ctx, archive, db)
    stray = archive / "README.txt"
    stray.write_text("not an archive day")

    removed = sweep_archive(archive, retention_days=90, today=today.date())

    assert removed == {"transcripts": 1}  # old-call.json (these calls have no recording)
    old_json = archive_paths(archive, "old-call", old.started_at)[1]
    assert not old_json.exists() and not old_json.parent.parent.exists(), "empty month folder removed"
    assert archive_paths(archive, "recent-call", recent.started_at)[1].is_file()
    assert stray.is_file()


async def test_the_worker_sweeps_at_start_without_any_call_to_archive(tmp_path: Path) -> None:
    """The old sweep ran only inside an archive job: a quiet PBX kept its calls for ever."""
    stored = await store_calls(tmp_path, None, PLAN[:1])
    config = config_file(tmp_path, stored.settings)
    with config.open("a") as fh:
        fh.write('[logging]\nformat = "json"\n[postcall]\nworkers = 1\n')
    assert stored.settings.storage.db_path is not None
    with sqlite3.connect(stored.settings.storage.db_path) as conn:
        conn.execute("DELETE FROM postcall_jobs")  # nothing to do but the sweep

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sentiric_pbx.cli", "worker", "--config", str(config), stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    line: dict[str, object] = {}
    try:
        async with asyncio.timeout(30):
            while line.get("event") != "retention_sweep":
                raw = await proc.stderr.readline()
                assert raw, "the worker exited before sweeping"
                if raw.startswith(b"{"):
                    line = json.loads(raw)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
    assert proc.returncode == 0
    assert line["removed"] == {
        "calls": 1, "recordings": 2, "transcripts": 1, "summaries": 1, "analytics": 1, "greetings": 1,
        "archive records": 1,
    }  # fmt: skip
    assert leftovers(stored.settings, "call-old") == []


async def test_dead_letters_older_than_retention_go_from_redis(tmp_path: Path) -> None:
    """A dead job still carries its whole call; Redis keeps it no longer than the call itself."""
    with RedisServer(tmp_path / "redis") as server:
        queue = RedisStreamsQueue(server.url, max_attempts=1)
        try:
            await queue.enqueue("summary", "call-1", {"context": {"caller_id": AHMET}})
            job = await queue.claim("w", block_s=0.1)
            assert job is not None
            await queue.fail(job, "boom")
            assert len(await queue.dead_letters()) == 1

            assert await queue.expire_dead(before=time.time() - 3600) == 0, "died just now: kept"
            assert await queue.expire_dead(before=time.time() + 1) == 1
            assert await queue.dead_letters() == []
        finally:
            await queue.aclose()


async def test_sweep_reaches_the_site_store_and_the_hosts_own_file(tmp_path: Path, postgres_url: str) -> None:
    """With [storage] database_url the sweep clears old calls from PostgreSQL and their jobs and archive
    records from the host's SQLite file, as the daemon's daily sweep does (`open_local_store`)."""
    stored = await store_calls(tmp_path, None, PLAN, database_url=postgres_url)
    db = await open_database(stored.settings)
    local = await open_local_store(stored.settings, db)
    assert local is not None
    data = PersonalData.from_settings(stored.settings, db, local)
    try:
        removed = await sweep(data, retention_days=90)
    finally:
        await data.aclose()
        await db.aclose()
        await local.aclose()
    for call_id in ("call-old", "call-older-than-90"):
        assert leftovers(stored.settings, call_id) == [], call_id
        assert leftovers(stored.settings, stored.words[call_id]) == [], call_id
    assert "site:calls" in leftovers(stored.settings, "call-recent")
    assert "db:postcall_jobs" in leftovers(stored.settings, "call-recent")
    assert removed["calls"] == 2 and removed["summaries"] == 2 and removed["analytics"] == 2
    assert removed["queued jobs"] == 6 and removed["archive records"] == 2 and removed["greetings"] == 1
