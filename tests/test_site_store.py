"""The PostgreSQL site store ([storage] database_url): opened, migrated once across hosts, never leaking its password.

Every test talks to a real PostgreSQL started for the session (tests/postgres_server.py).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from sentiric_pbx.call.record import CallContext, Turn
from sentiric_pbx.cli import app
from sentiric_pbx.config import BusinessConfig, ConfigError, Settings, load_config
from sentiric_pbx.console import calls as console_calls
from sentiric_pbx.dialog.tasks.registry import default_registry
from sentiric_pbx.doctor import Check, _site_store_url, check_database
from sentiric_pbx.integrations.calendar.base import CalendarError
from sentiric_pbx.integrations.calendar.factory import build_calendar
from sentiric_pbx.integrations.calendar.site import SiteCalendar
from sentiric_pbx.integrations.crm.factory import lookup_caller
from sentiric_pbx.integrations.crm.sqlite import SqliteCrm
from sentiric_pbx.postcall.analytics import analyze_call, save_analytics
from sentiric_pbx.storage import db as dbmod
from sentiric_pbx.storage.call_reader import CallFilter
from sentiric_pbx.storage.context_sqlite import SqliteContextStore
from sentiric_pbx.storage.db import DatabaseError, Migration, database_url, open_database
from sentiric_pbx.storage.paths import db_path
from sentiric_pbx.storage.postgres import PostgresDatabase, redact, to_pyformat
from tests import postgres_server
from tests.postgres_server import PASSWORD, PostgresServer
from tests.test_tasks import CALLER_ID, TOMORROW, Conversation, caller

runner = CliRunner()


def site(url: str) -> Settings:
    return Settings(storage={"database_url": url})  # type: ignore[arg-type]


async def test_two_hosts_starting_at_once_apply_each_migration_exactly_once(postgres_url: str) -> None:
    hosts = await asyncio.gather(*(PostgresDatabase.connect(postgres_url) for _ in range(4)))
    try:
        rows = await hosts[0].fetchall("SELECT component, version FROM schema_version ORDER BY component, version")
        assert [tuple(r) for r in rows] == [("core", m.version) for m in dbmod.CORE_MIGRATIONS]
        listed = await hosts[3].fetchall("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = {r["tablename"] for r in listed}
        assert {"schema_version", "calls", "crm_customers", "crm_call_summaries", "greetings"} <= tables
    finally:
        for host in hosts:
            await host.aclose()


async def test_timestamps_keep_their_sub_second_precision(postgres_url: str) -> None:
    """REAL is 4 bytes in PostgreSQL: an epoch time in it would be off by minutes. The site store's text uses
    DOUBLE PRECISION."""
    db = await PostgresDatabase.connect(postgres_url)
    try:
        await db.execute(
            "INSERT INTO greetings (phone, language, text, written_at) VALUES (?, ?, ?, ?)",
            ("+905551112233", "tr", "Merhaba", 1_765_000_123.456),
        )
        row = await db.fetchone("SELECT written_at FROM greetings")
        assert row is not None and row["written_at"] == 1_765_000_123.456
    finally:
        await db.aclose()


async def test_a_component_migrates_in_steps_with_per_dialect_text(postgres_url: str) -> None:
    v1 = Migration(1, "notes", "CREATE TABLE test_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);",
                   "CREATE TABLE test_notes (id SERIAL PRIMARY KEY, body TEXT NOT NULL);")  # fmt: skip
    v2 = Migration(2, "notes_author", "ALTER TABLE test_notes ADD COLUMN author TEXT;")
    db = await PostgresDatabase.connect(postgres_url)
    try:
        assert await db.migrate("testnotes", [v1]) == 1
        await db.execute("INSERT INTO test_notes (body) VALUES (?)", ("first 100%",))
        assert await db.migrate("testnotes", [v1, v2]) == 2
        assert await db.migrate("testnotes", [v1, v2]) == 2
        row = await db.fetchone("SELECT id, body, author FROM test_notes")
        assert row is not None and tuple(row) == (1, "first 100%", None)
    finally:
        await db.aclose()


async def test_a_failing_migration_leaves_nothing_half_applied(postgres_url: str) -> None:
    broken = Migration(1, "broken", "CREATE TABLE test_half (id INTEGER); CREATE TABLE test_half (id INTEGER);")
    db = await PostgresDatabase.connect(postgres_url)
    try:
        with pytest.raises(DatabaseError, match=r"migration testbroken/1 \(broken\)"):
            await db.migrate("testbroken", [broken])
        assert await db.schema_version("testbroken") == 0
        assert await db.fetchone("SELECT to_regclass('test_half') IS NULL AS gone") == (True,)
        # and the connection is usable afterwards (the advisory lock was released)
        assert await db.migrate("testfine", [Migration(1, "fine", "CREATE TABLE test_fine (id INTEGER);")]) == 1
    finally:
        await db.aclose()


async def test_open_database_follows_database_url_and_logs_no_password(postgres_url: str) -> None:
    assert PASSWORD in postgres_url
    settings = site(postgres_url)
    with structlog.testing.capture_logs() as logs:
        db = await open_database(settings)
    try:
        assert db.dialect == "postgresql"
        assert await db.schema_version("core") == len(dbmod.CORE_MIGRATIONS)
    finally:
        await db.aclose()
    assert logs and PASSWORD not in repr(logs)
    assert any(e["event"] == "db_opened" and e["database"] == redact(postgres_url) for e in logs)
    assert redact(postgres_url).startswith("postgresql://127.0.0.1:") and "sentiric" not in redact(postgres_url)


async def test_a_wrong_password_or_an_unreachable_server_is_a_clear_error(postgres_server: PostgresServer) -> None:
    with pytest.raises(DatabaseError, match="authentication failed") as failed:
        await PostgresDatabase.connect(postgres_server.url(password="not-the-password"))
    assert "not-the-password" not in str(failed.value)
    with pytest.raises(DatabaseError, match="does not exist"):
        await PostgresDatabase.connect(postgres_server.url("no_such_db"))
    with pytest.raises(DatabaseError, match="unreachable") as refused:
        await PostgresDatabase.connect(f"postgresql://u:{PASSWORD}@127.0.0.1:1/x")
    assert PASSWORD not in str(refused.value)


def test_database_url_kinds(tmp_path: Path) -> None:
    assert database_url(Settings()) is None
    assert database_url(site("postgresql://u:p@h/db")) == "postgresql://u:p@h/db"
    sqlite = site(f"sqlite:///{tmp_path}/x.db")
    assert database_url(sqlite) is None and db_path(sqlite) == tmp_path / "x.db"
    with pytest.raises(DatabaseError, match="unknown kind 'mysql'"):
        database_url(site("mysql://u:p@h/db"))


def test_a_config_file_with_a_password_in_its_database_url_must_not_be_world_readable(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[storage]\ndatabase_url = "postgresql://pbx:hunter2@db.example/site"\n')
    config.chmod(0o644)
    with pytest.raises(ConfigError, match=r"storage\.database_url"):
        load_config(config, environ={})
    config.chmod(0o640)
    assert load_config(config, environ={}).storage.database_url is not None


def test_placeholders_become_psycopg_ones_outside_quotes() -> None:
    assert to_pyformat("SELECT '?', x FROM t WHERE a = ? AND b LIKE '%z'") == (
        "SELECT '?', x FROM t WHERE a = %s AND b LIKE '%%z'"
    )


# --- two PBX hosts, one site store ----------------------------------------------------------------------


async def test_the_same_slot_booked_through_two_hosts_gets_one_booking_and_one_taken(postgres_url: str) -> None:
    """The issue's probe: one booking call placed to host A and one to host B, both confirmed at 3 pm and
    both saying "yes" at once. On SQLite files per host both were booked; the site store books one."""
    a, b = await asyncio.gather(PostgresDatabase.connect(postgres_url), PostgresDatabase.connect(postgres_url))
    try:
        talks = []
        for db, call_id in ((a, "call-on-a"), (b, "call-on-b")):
            calendar = build_calendar(site(postgres_url), Path("/nonexistent/unused.db"), db)
            assert isinstance(calendar, SiteCalendar)
            call = CallContext(call_id, caller_id=CALLER_ID, caller_name="Ayşe Demir")  # a name known: not asked
            talk = Conversation(calendar, default_registry(plugins=False), call)
            first = await talk.turn(caller("create_appointment", "tomorrow at 3 pm", date=TOMORROW, time="15:00"))
            assert first is not None and first.template == "Shall I book you for tomorrow at 3 pm?"
            talks.append(talk)
        results = await asyncio.gather(*(talk.turn(caller("affirm", "yes")) for talk in talks))
        said = sorted(r.template for r in results if r is not None)
        assert said == [
            "Done. You're booked for tomorrow at 3 pm.",
            "I'm sorry, tomorrow at 3 pm was just taken. Would tomorrow at 3:30 pm or 4 pm suit you instead?",
        ]
        rows = await a.fetchall("SELECT call_id FROM calendar_bookings WHERE cancelled_at IS NULL")
        assert len(rows) == 1
    finally:
        await a.aclose()
        await b.aclose()


def host_config(tmp_path: Path, name: str, url: str) -> Path:
    """Host `name`'s config: its own data directory (SQLite file, recordings), the shared site store."""
    config = tmp_path / f"{name}.toml"
    config.write_text(f'[storage]\ndb_path = "{tmp_path / name / "sentiric.db"}"\ndatabase_url = "{url}"\n')
    config.chmod(0o600)
    return config


async def test_two_hosts_share_customers_and_calls(tmp_path: Path, postgres_url: str) -> None:
    """A customer added on host A is greeted by name on host B; `calls list` (and the console) on either
    host shows both hosts' calls, `calls show` on B shows A's call with its analytics."""
    a, b = await asyncio.gather(PostgresDatabase.connect(postgres_url), PostgresDatabase.connect(postgres_url))
    try:
        await SqliteCrm(a).add_customer("0555 111 22 33", "Ahmet Yılmaz", title="Bay")
        found = await lookup_caller(SqliteCrm(b), "+905551112233")
        assert found is not None and found.name == "Ahmet Yılmaz"
        for db, call_id, started in ((a, "call-on-a", 1_765_000_000.0), (b, "call-on-b", 1_765_000_100.0)):
            ctx = CallContext(call_id, caller_id="+905551112233", caller_name=found.name, started_at=started,
                              ended_at=started + 30)  # fmt: skip
            ctx.add_turn(Turn("agent", "Hello!", 0.0, 1.0))
            ctx.add_turn(Turn("caller", f"this is {call_id}", 1.5, 3.0))
            await SqliteContextStore(db).finish(ctx, "completed")
            await save_analytics(db, analyze_call(ctx))
    finally:
        await a.aclose()
        await b.aclose()

    for host in ("a", "b"):
        config = host_config(tmp_path, host, postgres_url)
        listed = await asyncio.to_thread(runner.invoke, app, ["calls", "list", "--json", "--config", str(config)])
        assert listed.exit_code == 0, listed.output
        assert [c["call_id"] for c in json.loads(listed.stdout)] == ["call-on-b", "call-on-a"]
        assert postgres_url.split("@")[0] not in listed.output
        # the console's search, as on SQLite: any case of a part of the caller's name
        page = console_calls.list_calls(tmp_path / host / "sentiric.db", CallFilter(caller="ahmet"), postgres_url)
        assert [c["call_id"] for c in page["calls"]] == ["call-on-b", "call-on-a"] and page["total"] == 2
        assert page["calls"][0]["turns"] == 2 and page["calls"][0]["caller_name"] == "Ahmet Yılmaz"
    on_b = str(host_config(tmp_path, "b", postgres_url))
    shown = await asyncio.to_thread(runner.invoke, app, ["calls", "show", "call-on-a", "--json", "--config", on_b])
    assert shown.exit_code == 0, shown.output
    details = json.loads(shown.stdout)
    assert details["context"]["turns"][1]["text"] == "this is call-on-a"
    assert details["analytics"]["caller_turns"] == 1 and details["jobs"] == []


async def test_calls_list_says_clearly_when_the_site_store_is_unreachable(tmp_path: Path) -> None:
    config = host_config(tmp_path, "a", f"postgresql://pbx:{PASSWORD}@127.0.0.1:1/site")
    listed = await asyncio.to_thread(runner.invoke, app, ["calls", "list", "--config", str(config)])
    assert listed.exit_code != 0
    assert "cannot read calls: cannot connect to postgresql://127.0.0.1:1/site: unreachable" in listed.output
    assert PASSWORD not in listed.output


# --- doctor -------------------------------------------------------------------------------------------


async def test_doctor_names_what_is_wrong_with_the_site_store(postgres_server: PostgresServer) -> None:
    refused = await check_database(f"postgresql://pbx:{PASSWORD}@127.0.0.1:1/site")
    assert refused.status == "fail" and "unreachable" in refused.detail and PASSWORD not in refused.detail
    wrong = await check_database(postgres_server.url(password="not-it"))
    assert wrong.status == "fail" and "authentication failed" in wrong.detail and "not-it" not in wrong.detail

    url = postgres_server.create_database()
    empty = await check_database(url)
    assert empty.status == "ok"
    assert empty.detail == f"{redact(url)}: reachable, empty (the daemon creates its tables at start)"
    db = await PostgresDatabase.connect(url)
    try:
        current = await check_database(url)
        assert (current.status, current.detail) == ("ok", f"{redact(url)}: reachable, schema core 3")
        await db.execute("DELETE FROM schema_version WHERE component = 'core' AND version = 3")
        older = await check_database(url)
        assert older.status == "warn" and older.detail.endswith("schema older than this version: core 2 of 3")
        await db.execute("INSERT INTO schema_version VALUES ('core', 99, 'from_the_future', 0)")
        newer = await check_database(url)
        assert newer.status == "fail" and "newer than this version: core 99 (this version knows 3)" in newer.detail
        assert "upgrade" in newer.hint
    finally:
        await db.aclose()


def test_doctor_refuses_a_database_url_it_does_not_know() -> None:
    check = _site_store_url(site("mysql://u:p@h/db"))
    assert isinstance(check, Check) and check.status == "fail" and "unknown kind 'mysql'" in check.detail


async def test_a_site_store_restart_costs_the_calls_meanwhile_a_lookup_not_the_connection() -> None:
    """PostgreSQL stopped under a running daemon: the lookup greets the caller as a stranger (one warning, no
    password in it), a booking is a calendar error the task answers; back up, the same connection object
    reconnects on the next statement."""
    with PostgresServer() as server:
        url = server.create_database()
        db = await PostgresDatabase.connect(url)
        crm, calendar = SqliteCrm(db), SiteCalendar(db, BusinessConfig())
        try:
            await crm.add_customer("+905551112233", "Ahmet Yılmaz")
            await calendar.free_slots(datetime.now(UTC), datetime.now(UTC) + timedelta(days=1))
            server.stop()
            with structlog.testing.capture_logs() as logs:
                assert await lookup_caller(crm, "+905551112233") is None
            assert [e["event"] for e in logs] == ["crm_lookup_failed"] and PASSWORD not in repr(logs)
            with pytest.raises(CalendarError):
                await calendar.free_slots(datetime.now(UTC), datetime.now(UTC) + timedelta(days=1))
            server.start()
            found = await lookup_caller(crm, "+905551112233")
            assert found is not None and found.name == "Ahmet Yılmaz"
        finally:
            await db.aclose()


def test_without_postgresql_the_tests_skip_saying_why_and_under_ci_they_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_server, "find_bindir", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"initdb/pg_ctl not found.*apt-get install postgresql"):
        PostgresServer()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: a missing PostgreSQL is a failure"):
        PostgresServer()
