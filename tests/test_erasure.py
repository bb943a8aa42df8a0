"""`sentiric-pbx calls delete ID` and `sentiric-pbx crm forget PHONE`: erasure reaches every store.

The probe: there was no way to delete a call or erase a caller, while KVKK and the GDPR give a caller
that right. Each test stores real calls through the real writers (tests/call_records.py), runs the
command, and then searches the database, the files and Redis for what the caller said.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sentiric_pbx.cli import app
from sentiric_pbx.storage.db import Database
from tests.call_records import AHMET, AYSE, config_file, leftovers, now_minus_days, store_calls
from tests.redis_server import RedisServer

runner = CliRunner()


async def cli(*args: str) -> Result:
    """The command as an admin runs it; in a thread, since it runs its own event loop."""
    return await asyncio.to_thread(runner.invoke, app, list(args))


@pytest.fixture(params=["sqlite", "redis"])
def redis_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    with RedisServer(tmp_path / "redis") as server:
        yield server.url


PLAN = [
    ("call-ahmet-1", AHMET, now_minus_days(3), "my card number is four one one one"),
    ("call-ahmet-2", "05551112233", now_minus_days(2), "please move my appointment to friday"),
    ("call-ayse-1", AYSE, now_minus_days(1), "i would like to book a cleaning"),
]


async def test_calls_delete_removes_one_call_everywhere_and_counts_it(tmp_path: Path, redis_url: str | None) -> None:
    stored = await store_calls(tmp_path, redis_url, PLAN)
    config = config_file(tmp_path, stored.settings)
    assert leftovers(stored.settings, "call-ahmet-1"), "the call was stored before"

    result = await cli("calls", "delete", "call-ahmet-1", "--config", str(config), "--json")

    assert result.exit_code == 0, result.output
    removed = json.loads(result.stdout)
    assert removed["calls"] == 1 and removed["summaries"] == 1 and removed["analytics"] == 1
    assert removed["recordings"] == 2, "the archived WAV and the one still in the spool"
    assert removed["transcripts"] == 1 and removed["greetings"] == 1, "the next greeting written from this call"
    assert removed["queued jobs"] == (6 if redis_url else 3)
    if redis_url:
        assert removed["redis contexts"] == 1
    assert leftovers(stored.settings, "call-ahmet-1") == []
    assert leftovers(stored.settings, stored.words["call-ahmet-1"]) == []
    # Only that call: Ahmet's other call, Ayse's, and Ahmet's customer record are all still there.
    for other in ("call-ahmet-2", "call-ayse-1", "Ahmet Yilmaz"):
        assert leftovers(stored.settings, other), other

    again = await cli("calls", "delete", "call-ahmet-1", "--config", str(config))
    assert again.exit_code == 1 and "no call with id 'call-ahmet-1'" in again.output
    nowhere = await cli("calls", "delete", "call-ahmet-1", "--db", str(tmp_path / "absent.db"))
    assert nowhere.exit_code == 1 and not (tmp_path / "absent.db").exists()


async def test_calls_delete_prints_what_it_removed(tmp_path: Path) -> None:
    stored = await store_calls(tmp_path, None, PLAN[2:])
    config = config_file(tmp_path, stored.settings)
    result = await cli("calls", "delete", "call-ayse-1", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "deleted call call-ayse-1: 1 call, 2 recordings, 1 transcript, 1 summary, 1 analytics, 1 greeting, "
        "3 queued jobs, 1 archive record"
    )


async def test_crm_forget_erases_the_customer_and_every_call_from_their_number(
    tmp_path: Path, redis_url: str | None
) -> None:
    stored = await store_calls(tmp_path, redis_url, PLAN)
    config = config_file(tmp_path, stored.settings)

    # Dialled as the admin has it written down, not in E.164; one call came in as "0555…".
    result = await cli("crm", "forget", "0555 111 22 33", "--config", str(config), "--json")

    assert result.exit_code == 0, result.output
    removed = json.loads(result.stdout)
    assert removed["customers"] == 1 and removed["calls"] == 2 and removed["summaries"] == 2
    assert removed["recordings"] == 4 and removed["transcripts"] == 2 and removed["analytics"] == 2
    assert removed["greetings"] == 2, "one per number the trunk sent (+90… and 0555…)"
    assert removed["bookings"] == 1
    assert removed["queued jobs"] == (12 if redis_url else 6)
    if redis_url:
        assert removed["redis contexts"] == 2
    for needle in (AHMET, "05551112233", "Ahmet Yilmaz", "call-ahmet-1", "call-ahmet-2", *PLAN_WORDS[:2]):
        assert leftovers(stored.settings, needle) == [], needle
    assert leftovers(stored.settings, "call-ayse-1") and leftovers(stored.settings, "Someone Else")

    listed = await cli("crm", "list", "--json", "--config", str(config))
    assert [c["name"] for c in json.loads(listed.stdout)] == ["Someone Else"]


PLAN_WORDS = [words for *_, words in PLAN]


async def test_crm_forget_of_something_that_is_not_a_number_fails_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[storage]\ndb_path = "{tmp_path / "x.db"}"\n')
    result = await cli("crm", "forget", "not-a-phone", "--config", str(config))
    assert result.exit_code == 2
    assert "'not-a-phone' is not a phone number" in result.output


async def test_erased_words_are_not_left_in_the_database_files_free_pages(tmp_path: Path) -> None:
    """SQLite leaves deleted rows in free pages and old WAL frames: `strings sentiric.db` would show them.
    The daemon keeps the database open meanwhile, so the WAL is not removed when the command closes it."""
    stored = await store_calls(tmp_path, None, PLAN)
    db_file = stored.settings.storage.db_path
    assert db_file is not None
    words = stored.words["call-ahmet-1"].encode()
    daemon = await Database.open(db_file)
    await daemon.execute("UPDATE calls SET updated_at = updated_at WHERE call_id = 'call-ahmet-1'")  # in the WAL
    assert any(words in p.read_bytes() for p in db_file.parent.glob("sentiric.db*"))

    try:
        result = await cli("calls", "delete", "call-ahmet-1", "--config", str(config_file(tmp_path, stored.settings)))
        assert result.exit_code == 0, result.output
        assert [p.name for p in db_file.parent.glob("sentiric.db*") if words in p.read_bytes()] == []
        assert stored.words["call-ayse-1"].encode() in db_file.read_bytes(), "the other calls are intact"
    finally:
        await daemon.aclose()


async def test_erasure_reaches_the_site_store_and_the_hosts_own_file(tmp_path: Path, postgres_url: str) -> None:
    """With [storage] database_url, calls, notes, analytics, greetings and bookings are in PostgreSQL and the
    post-call queue and archive records in the host's SQLite file: `calls delete` and `crm forget` clear both."""
    stored = await store_calls(tmp_path, None, PLAN, database_url=postgres_url)
    config = config_file(tmp_path, stored.settings)
    assert "site:calls" in leftovers(stored.settings, "call-ahmet-1")
    assert "db:postcall_jobs" in leftovers(stored.settings, "call-ahmet-1"), "the queue stays on the host"

    deleted = await cli("calls", "delete", "call-ayse-1", "--config", str(config), "--json")
    assert deleted.exit_code == 0, deleted.output
    removed = json.loads(deleted.stdout)
    assert (removed["calls"], removed["summaries"], removed["analytics"], removed["greetings"]) == (1, 1, 1, 1)
    assert (removed["queued jobs"], removed["archive records"], removed["recordings"]) == (3, 1, 2)
    assert leftovers(stored.settings, "call-ayse-1") == []

    forgot = await cli("crm", "forget", "0555 111 22 33", "--config", str(config), "--json")
    assert forgot.exit_code == 0, forgot.output
    removed = json.loads(forgot.stdout)
    assert removed["customers"] == 1 and removed["calls"] == 2 and removed["bookings"] == 1
    assert removed["greetings"] == 2 and removed["queued jobs"] == 6 and removed["analytics"] == 2
    for needle in (AHMET, "05551112233", "Ahmet Yilmaz", "call-ahmet-1", "call-ahmet-2", *PLAN_WORDS[:2]):
        assert leftovers(stored.settings, needle) == [], needle
    assert leftovers(stored.settings, "Someone Else") == ["site:crm_customers"]
