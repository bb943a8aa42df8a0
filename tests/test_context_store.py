"""A call's context survives: the same behaviour from every store, and the seed's Redis outage.

The stores run against a real SQLite file and a real `redis-server` (tests/redis_server.py); the
outage is a SIGKILL of that process in the middle of a call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import structlog
from redis.asyncio import Redis

from sentiric_pbx.call.record import CallContext, Turn
from sentiric_pbx.config import Settings
from sentiric_pbx.storage.context_redis import RedisContextStore
from sentiric_pbx.storage.context_resilient import ResilientContextStore
from sentiric_pbx.storage.context_sqlite import SqliteContextStore
from sentiric_pbx.storage.context_store import ContextStore, MemoryContextStore, build_context_store
from sentiric_pbx.storage.db import Database
from sentiric_pbx.storage.postgres import PostgresDatabase
from tests.redis_server import RedisServer, free_port

TTL_S = 600


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    """Log assertions must not depend on a level another test's CLI run configured for the process."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The SQLite file; the PostgreSQL site store when the test's store is one of the `…postgresql` kinds."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and str(callspec.params.get("store", "")).endswith("postgresql"):
        database: Database = await PostgresDatabase.connect(request.getfixturevalue("postgres_url"))
    else:
        database = await Database.open(tmp_path / "sentiric.db")
    yield database
    await database.aclose()


@pytest.fixture(params=["memory", "sqlite", "redis", "postgresql", "redis+postgresql"])
async def store(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> AsyncIterator[ContextStore]:
    """"postgresql": the calls table of the site store (the same `SqliteContextStore` code on the other
    dialect); "redis+postgresql": Redis in front of it, as on a site with several hosts."""
    if request.param == "memory":
        made: ContextStore = MemoryContextStore()
    elif request.param in ("sqlite", "postgresql"):
        made = SqliteContextStore(db)
    else:
        server = request.getfixturevalue("redis_server")
        made = RedisContextStore.from_url(server.url, TTL_S, durable=SqliteContextStore(db))
    yield made
    await made.aclose()


def turn(i: int, text: str | None = None) -> Turn:
    who = "caller" if i % 2 == 0 else "agent"
    return Turn(who=who, text=text or f"turn {i}", start_s=float(i), end_s=i + 0.75)


def a_call(call_id: str = "call-1", started_at: float = 1_700_000_000.0) -> CallContext:
    ctx = CallContext(call_id, caller_id="+905551112233", caller_name="Ahmet Yılmaz", started_at=started_at)
    ctx.customer = {"customer_id": "12345", "name": "Ahmet Yılmaz", "last_interaction": "2023-11-20"}
    return ctx


# --- the behaviour every store shares ---------------------------------------------------------


async def test_a_saved_context_loads_back_equal_turns_and_all(store: ContextStore) -> None:
    ctx = a_call()
    ctx.add_turn(turn(0, "Yarın için randevu alabilir miyim?"))
    agent = Turn("agent", "Sure, would tomorrow at 15:00", 1.0, 2.5, interrupted=True, latency_ms=612.5)
    agent.words = [{"word": "Sure", "start": 1.0, "end": 1.2}]
    ctx.add_turn(agent)
    ctx.intents.append("create_appointment")
    ctx.slots["date"] = "2023-11-21"
    ctx.time("stt", 183.25)

    await store.save(ctx)

    assert await store.load("call-1") == ctx


async def test_every_save_replaces_the_whole_context(store: ContextStore) -> None:
    ctx = a_call()
    for i in range(3):
        ctx.add_turn(turn(i))
        await store.save(ctx)

    loaded = await store.load("call-1")
    assert loaded is not None
    assert [t.text for t in loaded.turns] == ["turn 0", "turn 1", "turn 2"]


async def test_an_unknown_call_loads_as_none(store: ContextStore) -> None:
    assert await store.load("never-happened") is None


async def test_caller_hangs_up_the_call_is_kept_as_unfinished_and_listed_by_status(store: ContextStore) -> None:
    dropped, ongoing = a_call("dropped", started_at=1000.0), a_call("ongoing", started_at=2000.0)
    dropped.add_turn(turn(0, "I want to book"))
    dropped.add_turn(turn(1, "Sure, would tomorrow"))
    await store.save(dropped)
    await store.save(ongoing)

    await store.finish(dropped, "unfinished_call")

    assert dropped.status == "unfinished_call" and dropped.ended_at is not None
    unfinished = await store.list("unfinished_call")
    assert [c.call_id for c in unfinished] == ["dropped"]
    assert [t.text for t in unfinished[0].turns] == ["I want to book", "Sure, would tomorrow"]
    assert [c.call_id for c in await store.list("active")] == ["ongoing"]
    assert [c.call_id for c in await store.list()] == ["ongoing", "dropped"]  # newest first


async def test_list_returns_the_newest_calls_up_to_the_limit(store: ContextStore) -> None:
    for i in range(5):
        await store.save(a_call(f"call-{i}", started_at=1000.0 + i))

    assert [c.call_id for c in await store.list(limit=2)] == ["call-4", "call-3"]


@pytest.mark.parametrize("store", ["sqlite", "redis"], indirect=True)  # memory keeps nothing durable
async def test_finish_writes_the_durable_sqlite_row(store: ContextStore, db: Database) -> None:
    ctx = a_call()
    ctx.add_turn(turn(0))
    await store.finish(ctx, "unfinished_call")

    row = await db.fetchone("SELECT status, caller_id, ended_at FROM calls WHERE call_id = 'call-1'")
    assert row is not None
    assert (row["status"], row["caller_id"]) == ("unfinished_call", "+905551112233")
    assert row["ended_at"] == ctx.ended_at


# --- Redis specifics --------------------------------------------------------------------------


@pytest.fixture
async def redis_store(redis_server: RedisServer, db: Database) -> AsyncIterator[RedisContextStore]:
    made = RedisContextStore.from_url(redis_server.url, TTL_S, durable=SqliteContextStore(db))
    yield made
    await made.aclose()


async def test_redis_keys_expire_after_the_configured_ttl(redis_store: RedisContextStore) -> None:
    await redis_store.save(a_call())

    client = redis_store.client
    assert 0 < await client.ttl("sentiric:call:call-1") <= TTL_S
    assert 0 < await client.ttl("sentiric:calls:active") <= TTL_S
    assert await client.zscore("sentiric:calls:active", "call-1") == 1_700_000_000.0


async def test_a_status_change_moves_the_call_between_redis_indexes(redis_store: RedisContextStore) -> None:
    ctx = a_call()
    await redis_store.save(ctx)
    await redis_store.finish(ctx, "transferred")

    client = redis_store.client
    assert await client.zscore("sentiric:calls:active", "call-1") is None
    assert await client.zscore("sentiric:calls:transferred", "call-1") is not None


async def test_a_finished_call_outlives_its_redis_key(redis_store: RedisContextStore) -> None:
    ctx = a_call()
    ctx.add_turn(turn(0))
    await redis_store.finish(ctx, "completed")
    await redis_store.client.delete("sentiric:call:call-1")  # what the TTL does eventually

    loaded = await redis_store.load("call-1")
    assert loaded is not None and loaded.status == "completed" and len(loaded.turns) == 1
    assert [c.call_id for c in await redis_store.list("completed")] == ["call-1"]


async def test_list_prunes_index_entries_whose_key_expired(redis_server: RedisServer) -> None:
    plain = RedisContextStore.from_url(redis_server.url, TTL_S)  # no durable store behind it
    try:
        for i in range(3):
            await plain.save(a_call(f"call-{i}", started_at=1000.0 + i))
        await plain.client.delete("sentiric:call:call-2")

        assert [c.call_id for c in await plain.list(limit=2)] == ["call-1", "call-0"]
        assert await plain.client.zscore("sentiric:calls", "call-2") is None
    finally:
        await plain.aclose()


# --- the seed's failure rule: Redis gone, calls go on, nothing lost ---------------------------


def events(logs: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return [e for e in logs if e["event"] == name]


async def wait_until(predicate: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_redis_dies_mid_call_the_call_goes_on_and_nothing_is_lost(
    redis_server: RedisServer, db: Database, logs: list[dict[str, object]]
) -> None:
    sqlite = SqliteContextStore(db)
    store = ResilientContextStore(
        RedisContextStore.from_url(redis_server.url, TTL_S, durable=sqlite), sqlite, retry_interval_s=0.05
    )
    ctx = a_call("outage-call")
    saves, saves_after_kill, slowest = 0, 0, 0.0
    killed = asyncio.Event()

    async def redis_crashes_after_ten_saves() -> None:
        await wait_until(lambda: saves >= 10)
        await asyncio.to_thread(redis_server.kill)
        killed.set()

    crash = asyncio.create_task(redis_crashes_after_ten_saves())
    i = 0
    while saves_after_kill < 15:  # the caller keeps talking, a save after every turn
        ctx.add_turn(turn(i))
        started = time.perf_counter()
        await store.save(ctx)
        slowest = max(slowest, time.perf_counter() - started)
        saves += 1
        saves_after_kill += killed.is_set()
        i += 1
        await asyncio.sleep(0.002)
    await crash
    await store.finish(ctx, "completed")  # the call ends while Redis is still down

    assert store.degraded
    degraded = events(logs, "context_store_degraded")
    assert len(degraded) == 1, degraded
    assert degraded[0]["log_level"] == "warning" and "Connection" in str(degraded[0]["error"])
    assert slowest < 0.9, f"a save held the call up for {slowest:.2f} s"
    durable = await sqlite.load("outage-call")
    assert durable is not None and durable.status == "completed"
    assert [t.text for t in durable.turns] == [f"turn {n}" for n in range(i)]

    await asyncio.to_thread(redis_server.start)  # Redis is back (empty: it had no persistence)
    await wait_until(lambda: not store.degraded)

    recovered = events(logs, "context_store_recovered")
    assert len(recovered) == 1 and recovered[0]["resynced"] == 1, recovered
    assert len(events(logs, "context_store_degraded")) == 1
    plain = RedisContextStore.from_url(redis_server.url, TTL_S)  # what another daemon sharing Redis sees
    try:
        in_redis = await plain.load("outage-call")
        assert in_redis is not None and len(in_redis.turns) == i and in_redis.status == "completed"
        await store.save(a_call("after-recovery"))
        assert await plain.load("after-recovery") is not None
    finally:
        await plain.aclose()
        await store.aclose()


async def test_redis_down_at_start_is_reported_once_and_calls_use_sqlite(
    tmp_path: Path, logs: list[dict[str, object]]
) -> None:
    settings = Settings()
    settings.storage.db_path = tmp_path / "sentiric.db"
    settings.storage.redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there

    store = await build_context_store(settings)
    try:
        assert isinstance(store, ResilientContextStore) and store.degraded
        ctx = a_call()
        ctx.add_turn(turn(0))
        await store.save(ctx)
        await store.finish(ctx, "completed")
        loaded = await store.load("call-1")
        assert loaded is not None and loaded.status == "completed"
        assert len(events(logs, "context_store_degraded")) == 1
    finally:
        await store.aclose()


async def test_without_redis_the_store_is_sqlite_in_the_configured_file(tmp_path: Path) -> None:
    settings = Settings()
    settings.storage.db_path = tmp_path / "calls" / "sentiric.db"

    store = await build_context_store(settings)
    try:
        assert isinstance(store, SqliteContextStore)
        await store.save(a_call())
    finally:
        await store.aclose()
    assert (tmp_path / "calls" / "sentiric.db").is_file()


async def test_with_redis_reachable_the_factory_stores_in_redis(redis_server: RedisServer, tmp_path: Path) -> None:
    settings = Settings()
    settings.storage.db_path = tmp_path / "sentiric.db"
    settings.storage.redis_url = redis_server.url

    store = await build_context_store(settings)
    try:
        assert isinstance(store, ResilientContextStore) and not store.degraded
        await store.save(a_call())
        client = Redis.from_url(redis_server.url)
        try:
            assert await client.exists("sentiric:call:call-1") == 1
        finally:
            await client.aclose()
    finally:
        await store.aclose()
