"""`sentiric-pbx calls list|show|delete` and `sentiric-pbx worker`: past calls, and post-call work.

`calls list|show` read the daemon's SQLite file — and with [storage] database_url the PostgreSQL site store,
so any host lists every host's calls — through the one call reader (storage/call_reader.py), and never
write: an admin may point them at a live service's database (WAL lets the reader and the daemon coexist)
or at a copy (`--db FILE`). A database without a
`calls` table (the daemon never ran) is not an error: there are simply no calls yet. `calls delete`
erases one call everywhere the configuration says calls are kept (postcall/erasure.py).

`worker` runs the post-call jobs (summary → CRM, archive, analytics) against the configured queue —
Redis Streams when [storage] redis_url is set, else the SQLite outbox — until SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args

import typer

from sentiric_pbx.call.record import CallStatus
from sentiric_pbx.cli_common import fail as _fail
from sentiric_pbx.cli_common import load_settings as _settings
from sentiric_pbx.cli_common import start_errors
from sentiric_pbx.config import Settings
from sentiric_pbx.storage.call_reader import CallFilter, CallReader, CallReaderError
from sentiric_pbx.storage.recording_store import RecordingStore, call_recording, recording_readable

T = TypeVar("T")

calls_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Past calls: list them, show one (transcript, summary, recording, analytics, post-call jobs), delete one.",
)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config (default: $SENTIRIC_CONFIG, …)")]
DbOpt = Annotated[Path | None, typer.Option("--db", help="SQLite database (default: [storage] db_path)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
STATUSES = get_args(CallStatus)


def _db_file(config: Path | None, db: Path | None) -> Path:
    if db is not None:
        return db
    from sentiric_pbx.storage.paths import db_path

    return db_path(_settings(config))


def _where(config: Path | None, db: Path | None) -> tuple[Path, str | None]:
    """(the host's SQLite file, the PostgreSQL site store's URL or None). `--db FILE` reads that file alone."""
    if db is not None:
        return db, None
    from sentiric_pbx.storage.db import DatabaseError, database_url
    from sentiric_pbx.storage.paths import db_path

    settings = _settings(config)
    try:
        return db_path(settings), database_url(settings)
    except DatabaseError as exc:
        _fail(str(exc))


def _recordings(config: Path | None, db: Path | None) -> RecordingStore | None:
    """The shared recordings store the configuration names (`--db FILE` alone reads no configuration)."""
    if db is not None:
        return None
    from sentiric_pbx.storage.recording_store import recording_store

    try:
        return recording_store(_settings(config))
    except ValueError as exc:
        _fail(str(exc))


@contextlib.contextmanager
def _reader(config: Path | None, db: Path | None) -> Iterator[CallReader]:
    """The one call reader (storage/call_reader.py) over the configured stores; one clear line if it fails."""
    path, url = _where(config, db)
    try:
        with CallReader.open(path, url, read_only=False) as reader:
            yield reader
    except (CallReaderError, sqlite3.Error) as exc:
        _fail(f"cannot read calls: {exc}")


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _local(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _duration(row: dict[str, Any]) -> float | None:
    if row.get("ended_at") is None or row.get("started_at") is None:
        return None
    return round(row["ended_at"] - row["started_at"], 1)


@calls_app.command("list")
def list_calls(
    status: Annotated[
        str | None, typer.Option("--status", help=f"only calls in this state: {', '.join(STATUSES)}")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="newest N calls")] = 20,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """The newest calls: id, start, duration, status, caller, outcome."""
    if status is not None and status not in STATUSES:
        _fail(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
    with _reader(config, db) as reader:
        if not reader.has("calls"):
            typer.echo("[]" if as_json else "no calls yet")
            return
        found, _ = reader.list_calls(CallFilter(status=status, limit=limit))
    keys = ("call_id", "status", "caller_id", "started_at", "ended_at", "outcome")
    rows = [{k: r[k] for k in keys} for r in found]
    if as_json:
        out = [{**r, "started_at": _iso(r["started_at"]), "ended_at": _iso(r["ended_at"]), "duration_s": _duration(r)}
               for r in rows]  # fmt: skip
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    if not rows:
        typer.echo(f"no calls with status {status}" if status else "no calls yet")
        return
    typer.echo(f"{'CALL ID':<36}  {'STARTED':<19}  {'DURATION':>8}  {'STATUS':<15}  {'CALLER':<16}  OUTCOME")
    for r in rows:
        dur = _duration(r)
        typer.echo(
            f"{r['call_id']:<36}  {_local(r['started_at']):<19}  {'-' if dur is None else f'{dur:.0f} s':>8}  "
            f"{r['status']:<15}  {r['caller_id'] or 'anonymous':<16}  {r['outcome'] or '-'}"
        )


def _call_details(
    reader: CallReader, call_id: str, recordings: RecordingStore | None = None
) -> dict[str, Any] | None:
    """Everything known about one call: the row, its context, archive, analytics and post-call jobs."""
    record = reader.call_record(call_id)
    if record is None:
        return None
    row, context, analytics = record["call"], record["context"], record["analytics"]
    if analytics is not None:
        analytics["turns"] = json.loads(analytics.pop("turns_json") or "[]")
    details: dict[str, Any] = {
        "call": row,
        "context": context,
        "archive": record["archive"],
        "analytics": analytics,
        "jobs": [{k: j[k] for k in ("kind", "status", "attempts", "last_error")} for j in record["jobs"]],
    }
    archive = details["archive"] or {}
    details["recording_path"] = call_recording(archive, context)
    details["recording_readable"] = recording_readable(details["recording_path"], recordings)
    details["summary"] = row.get("summary") or context.get("summary")
    return details


@calls_app.command("show")
def show_call(
    call_id: Annotated[str, typer.Argument(help="the call's id (Asterisk's AudioSocket UUID)")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """One call: caller, times, outcome, summary, recording, analytics and the transcript."""
    with _reader(config, db) as reader:
        if not reader.has("calls"):
            typer.echo("no calls yet", err=True)
            raise typer.Exit(1)
        details = _call_details(reader, call_id, _recordings(config, db))
    if details is None:
        _fail(f"no call with id {call_id!r} (see: sentiric-pbx calls list)", code=1)
    if as_json:
        typer.echo(json.dumps(details, ensure_ascii=False, default=str))
        return
    for line in _describe(details):
        typer.echo(line)


@calls_app.command("delete")
def delete_call(
    call_id: Annotated[str, typer.Argument(help="the call's id (see: sentiric-pbx calls list)")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Erase one call everywhere: record, transcript, recording, archive, summary, analytics, next greeting,
    queued post-call jobs, and its Redis copies. Prints what was removed."""
    from redis.exceptions import RedisError

    from sentiric_pbx.logging import configure_logging
    from sentiric_pbx.postcall.erasure import describe, open_personal_data
    from sentiric_pbx.storage.db import DB_ERRORS, DatabaseError

    settings = _settings(config)
    if db is not None:
        settings.storage.db_path = db
    if db is not None:
        settings.storage.database_url = None  # --db FILE: that file alone
    site = _where(config, db)[1]
    if site is None and not _db_file(config, settings.storage.db_path).is_file():
        _fail(f"no call with id {call_id!r}: there is no database yet", code=1)  # and none is created
    configure_logging("warning", "console", stream=sys.stderr)

    async def erase() -> dict[str, int] | None:
        async with open_personal_data(settings) as data:
            if not await data.known_call(call_id):
                return None
            return dict(await data.delete_calls([call_id]))

    try:
        removed = asyncio.run(erase())
    except (DatabaseError, *DB_ERRORS, RedisError, OSError) as exc:  # unreachable, locked: one line
        _fail(f"could not delete call {call_id}: {exc}")
    if removed is None:
        _fail(f"no call with id {call_id!r} (see: sentiric-pbx calls list)", code=1)
    typer.echo(json.dumps(removed) if as_json else f"deleted call {call_id}: {describe(Counter(removed))}")


def _describe(d: dict[str, Any]) -> list[str]:
    call, ctx = d["call"], d["context"]
    name = ctx.get("caller_name") or (ctx.get("customer") or {}).get("name") or ""
    who = " ".join(x for x in (call.get("caller_id") or "anonymous", name) if x)
    dur = _duration(call)
    lines = [
        f"call      {call['call_id']}  ({call['status']})",
        f"caller    {who}",
        f"time      {_local(call.get('started_at'))} → {_local(call.get('ended_at'))}"
        + ("" if dur is None else f"  ({dur:.0f} s)"),
        f"outcome   {call.get('outcome') or '-'}",
        f"summary   {d['summary'] or '-'}",
    ]
    rec = d["recording_path"]
    missing = "  (not readable from this host)" if "://" in (rec or "") else "  (file missing)"
    unwritten = d["context"].get("recording_error")
    note = ""
    if rec and not d["recording_readable"]:
        note = missing
    elif not rec and unwritten:
        note = f"  (not written: {unwritten})"
    lines.append(f"recording {rec or '-'}{note}")
    if d["archive"]:
        lines.append(f"archived  {d['archive']['transcript_path']}")
    a = d["analytics"]
    if a:
        sentiment = (
            "-" if a["caller_sentiment"] is None else f"{a['caller_sentiment']:+.2f} ({a['caller_sentiment_label']})"
        )
        lines.append(
            f"analytics talk caller {a['caller_talk_s']:.1f} s / agent {a['agent_talk_s']:.1f} s, "
            f"silence {a['silence_s']:.1f} s, interruptions {a['interruptions']}, "
            f"latency p50 {a['latency_p50_ms'] or '-'} ms p95 {a['latency_p95_ms'] or '-'} ms, "
            f"caller sentiment {sentiment}"
        )
    for job in d["jobs"]:
        error = f"  last error: {job['last_error']}" if job["last_error"] else ""
        lines.append(f"job       {job['kind']:<9} {job['status']:<8} attempts {job['attempts']}{error}")
    turns = ctx.get("turns") or []
    lines.append(f"transcript ({len(turns)} turns)")
    for t in turns:
        cut = "  [interrupted]" if t.get("interrupted") else ""
        lines.append(f"  {t.get('start_s', 0.0):7.1f} s  {t.get('who', '?'):<6} {t.get('text', '')}{cut}")
    return lines


def worker(
    config: ConfigOpt = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-n", min=1, help="jobs at once (default: [postcall] workers, ≥ 1)")
    ] = None,
) -> None:
    """Run post-call workers (summary → CRM, archive, analytics) on the configured queue until SIGTERM."""
    from sentiric_pbx.logging import configure_logging

    settings = _settings(config)
    logging = settings.logging
    configure_logging(logging.level, logging.format, stream=sys.stderr, log_transcripts=logging.log_transcripts)
    try:
        asyncio.run(_serve(settings, concurrency or max(1, settings.postcall.workers)))
    except start_errors() as exc:
        _fail(f"cannot start the worker: {exc}")


async def _serve(settings: Settings, concurrency: int) -> None:
    from sentiric_pbx.dialog.next_greeting import NextGreeting
    from sentiric_pbx.integrations.crm.factory import build_crm
    from sentiric_pbx.postcall.erasure import PersonalData, open_local_store
    from sentiric_pbx.postcall.jobs import build_handlers
    from sentiric_pbx.postcall.ledger import DoneLedger
    from sentiric_pbx.postcall.model import postcall_llm
    from sentiric_pbx.postcall.retention import sweep_daily
    from sentiric_pbx.postcall.runtime import open_queues, serve_workers
    from sentiric_pbx.storage.context_store import build_context_store
    from sentiric_pbx.storage.db import open_database
    from sentiric_pbx.storage.greetings import GreetingStore
    from sentiric_pbx.storage.paths import db_path
    from sentiric_pbx.storage.recording_store import recording_store

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Each store is closed however the worker ends, a failed start included: an open database keeps its
    # thread, and the process would print its error and never exit.
    async with contextlib.AsyncExitStack() as opened:

        def closed_at_exit(resource: T) -> T:
            if resource is not None:
                opened.push_async_callback(_close_quietly, resource)
            return resource

        db = closed_at_exit(await open_database(settings))
        contexts = closed_at_exit(await build_context_store(settings, db))
        crm = closed_at_exit(build_crm(settings, db))
        llm, on_demand = postcall_llm(settings)
        closed_at_exit(on_demand)
        queue, fallback = open_queues(settings, db_path(settings))
        closed_at_exit(queue)
        closed_at_exit(fallback)
        handlers = build_handlers(
            settings,
            contexts=contexts,
            crm=crm,
            llm=llm,
            after_summary=NextGreeting.configured(settings, llm, GreetingStore(db)),
            site=db,
            recordings=recording_store(settings),
        )
        # The archive is written where the worker runs: its sweep runs here too (twice on one host is harmless).
        local = closed_at_exit(await open_local_store(settings, db))
        personal = closed_at_exit(PersonalData.from_settings(settings, db, local))
        await asyncio.gather(
            serve_workers(queue, handlers, stop, concurrency=concurrency, fallback=fallback, ledger=DoneLedger(db)),
            sweep_daily(personal, settings.storage.retention_days, stop),
        )


async def _close_quietly(resource: Any) -> None:
    with contextlib.suppress(Exception):
        await resource.aclose()


def _summary_llm(settings: Settings) -> Any:
    """The model `sentiric-pbx worker` writes notes and greetings with (postcall/model.py): `[postcall]
    llm_model` on demand, else the remote `[llm] url` with `fallback_url` behind it under the 5 s rule, else
    None (extractive notes). Without `llm_model` a worker does not load the in-call GGUF: it may share the PBX
    host's cores with live calls at the calls' priority."""
    from sentiric_pbx.postcall.model import postcall_llm

    return postcall_llm(settings)[0]
