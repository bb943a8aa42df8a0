"""The PostgreSQL site store ([storage] database_url): opened, migrated once across hosts, never leaking its password.

Every test talks to a real PostgreSQL started for the session (tests/postgres_server.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import structlog

from sentiric_pbx.config import ConfigError, Settings, load_config
from sentiric_pbx.storage import db as dbmod
from sentiric_pbx.storage.db import DatabaseError, Migration, database_url, open_database
from sentiric_pbx.storage.paths import db_path
from sentiric_pbx.storage.postgres import PostgresDatabase, redact, to_pyformat
from tests.postgres_server import PASSWORD, PostgresServer


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
