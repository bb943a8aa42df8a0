"""The database file: where it lives, how it is opened, and how its schema moves forward."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sentiric_pbx.config import Settings
from sentiric_pbx.storage import db as dbmod
from sentiric_pbx.storage.db import Database, DatabaseError, Migration, register_migrations
from sentiric_pbx.storage.paths import archive_dir, data_dir, db_path, recordings_dir

V1 = Migration(1, "notes", "CREATE TABLE test_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);")
V2 = Migration(2, "notes_author", "ALTER TABLE test_notes ADD COLUMN author TEXT;")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "sentiric.db")
    yield database
    await database.aclose()


def test_root_keeps_data_with_the_service_a_user_in_their_xdg_dir() -> None:
    assert data_dir(euid=0) == Path("/var/lib/sentiric-pbx")
    assert data_dir(environ={"XDG_DATA_HOME": "/x"}, euid=1000) == Path("/x/sentiric-pbx")
    assert data_dir(environ={"HOME": "/home/op"}, euid=1000) == Path("/home/op/.local/share/sentiric-pbx")


def test_under_systemd_the_state_directory_wins() -> None:
    """The unit runs as user sentiric-pbx (HOME=/var/lib/sentiric-pbx) with StateDirectory=sentiric-pbx."""
    env = {"STATE_DIRECTORY": "/var/lib/sentiric-pbx", "HOME": "/var/lib/sentiric-pbx"}
    assert data_dir(environ=env, euid=998) == Path("/var/lib/sentiric-pbx")
    assert data_dir(environ={"STATE_DIRECTORY": "/srv/a:/srv/b"}, euid=0) == Path("/srv/a")


def test_storage_paths_default_into_the_data_dir_unless_configured(tmp_path: Path) -> None:
    settings = Settings()
    env = {"XDG_DATA_HOME": str(tmp_path)}
    assert db_path(settings, environ=env, euid=1000) == tmp_path / "sentiric-pbx" / "sentiric.db"
    assert archive_dir(settings, environ=env, euid=1000) == tmp_path / "sentiric-pbx" / "archive"
    settings.storage.db_path = tmp_path / "elsewhere.db"
    settings.storage.archive_dir = tmp_path / "recordings"
    assert db_path(settings) == tmp_path / "elsewhere.db"
    assert archive_dir(settings) == tmp_path / "recordings"
    # Recordings in progress sit beside the database: a test's daemon never writes into /var/lib.
    assert recordings_dir(settings) == tmp_path / "recordings"
    settings.storage.db_path = tmp_path / "db" / "x.db"
    assert recordings_dir(settings) == tmp_path / "db" / "recordings"


async def test_a_new_database_is_private_in_wal_mode_with_the_core_tables(tmp_path: Path, db: Database) -> None:
    assert stat.S_IMODE((tmp_path / "sentiric.db").stat().st_mode) == 0o640
    assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
    assert (await db.fetchone("PRAGMA busy_timeout"))[0] == 5000  # type: ignore[index]
    tables = {r["name"] for r in await db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"schema_version", "calls", "crm_customers", "crm_call_summaries"} <= tables
    assert await db.schema_version("core") == len(dbmod.CORE_MIGRATIONS)


async def test_reopening_applies_nothing_twice(tmp_path: Path, db: Database) -> None:
    before = await db.fetchall("SELECT component, version, applied_at FROM schema_version")
    again = await Database.open(tmp_path / "sentiric.db")
    try:
        after = await again.fetchall("SELECT component, version, applied_at FROM schema_version")
    finally:
        await again.aclose()
    assert [tuple(r) for r in after] == [tuple(r) for r in before]


async def test_another_component_migrates_in_steps_with_its_own_version(db: Database) -> None:
    assert await db.migrate("testnotes", [V1]) == 1
    await db.execute("INSERT INTO test_notes (body) VALUES ('first')")

    assert await db.migrate("testnotes", [V1, V2]) == 2
    assert await db.migrate("testnotes", [V1, V2]) == 2  # idempotent
    row = await db.fetchone("SELECT body, author FROM test_notes")
    assert row is not None and (row["body"], row["author"]) == ("first", None)
    assert await db.schema_version("core") == len(dbmod.CORE_MIGRATIONS)


async def test_a_failing_migration_leaves_nothing_half_applied(db: Database) -> None:
    broken = Migration(1, "broken", "CREATE TABLE test_half (id INTEGER); CREATE TABLE test_half (id INTEGER);")

    with pytest.raises(DatabaseError, match=r"migration testbroken/1 \(broken\)"):
        await db.migrate("testbroken", [broken])

    assert await db.schema_version("testbroken") == 0
    assert await db.fetchone("SELECT name FROM sqlite_master WHERE name = 'test_half'") is None


async def test_registered_migrations_are_applied_by_every_open(tmp_path: Path) -> None:
    register_migrations("testregistered", [V1])
    try:
        database = await Database.open(tmp_path / "registered.db")
        try:
            assert await database.schema_version("testregistered") == 1
        finally:
            await database.aclose()
    finally:
        dbmod._REGISTRY.pop("testregistered")


async def test_two_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    first, second = await asyncio.gather(Database.open(path), Database.open(path))
    try:
        rows = await first.fetchall("SELECT component, version FROM schema_version")
        assert sorted(tuple(r) for r in rows) == [("core", v.version) for v in dbmod.CORE_MIGRATIONS]
    finally:
        await first.aclose()
        await second.aclose()


def test_migrations_must_be_numbered_from_one_in_order() -> None:
    with pytest.raises(ValueError, match="numbered 1, 2, 3"):
        register_migrations("testbad", [V2])
    with pytest.raises(ValueError, match="component"):
        register_migrations("Bad-Name", [V1])


async def test_a_transaction_rolls_back_as_a_whole(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO crm_customers VALUES ('c1', '+905551112233', 'A', NULL, NULL, NULL, '{}', 0)"
            )
            raise RuntimeError("the second half failed")

    assert await db.fetchone("SELECT * FROM crm_customers") is None
