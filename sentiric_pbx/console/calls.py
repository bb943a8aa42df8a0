"""The console's view of past calls: read-only queries on the daemon's SQLite file.

Read-only on purpose (`mode=ro`): the console is for looking, and an admin's browser must never be
able to change a call's record. A fresh connection per request, in a thread: WAL lets it read while
the daemon writes, and a slow query never stalls the event loop that carries the calls' audio.

The shapes follow `sentiric-pbx calls show` (cli_calls.py): the `calls` row, its stored context
(transcript, timings), the post-call tables when they exist (archive, analytics, jobs) and the
calendar's booking made on the call. A table that does not exist yet is simply empty.
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

STAGES = ("end_of_turn_ms", "stt_ms", "nlu_ms", "task", "llm_ms", "tts_first_audio_ms")
"""The parts of a reply's latency, in the order they happen. `llm_ms` is the thinking time (`think_ms`)
less NLU and task: what the responder (the LLM, when it speaks) took before the reply's text began."""


@dataclass(slots=True)
class CallFilter:
    """`/api/calls`' query: every field optional, all of them must match."""

    caller: str | None = None
    """Part of the caller's number or name."""
    status: str | None = None
    outcome: str | None = None
    ingress: str | None = None
    date: str | None = None
    """A local calendar day, YYYY-MM-DD."""
    limit: int = 50
    offset: int = 0


@contextlib.contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection | None]:
    """The database read-only, rows as dicts; None when the file does not exist (no calls yet)."""
    if not path.is_file():
        yield None
        return
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    conn.row_factory = lambda cur, row: {d[0]: v for d, v in zip(cur.description, row, strict=True)}
    try:
        yield conn
    finally:
        conn.close()


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {r["name"] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _day_range(day: str) -> tuple[float, float]:
    start = datetime.strptime(day, "%Y-%m-%d").astimezone()
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def list_calls(path: Path, f: CallFilter) -> dict[str, Any]:
    """The calls matching `f`, newest first, one page of them, and how many match in all.

    Raises ValueError for a malformed date (the handler answers 400)."""
    where: list[str] = []
    params: list[Any] = []
    if f.caller:
        where.append(
            "(caller_id LIKE ? OR json_extract(context, '$.caller_name') LIKE ? "
            "OR json_extract(context, '$.customer.name') LIKE ?)"
        )
        params += [f"%{f.caller}%"] * 3
    for column, value in (("status", f.status), ("outcome", f.outcome)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if f.ingress:
        where.append("json_extract(context, '$.ingress') = ?")
        params.append(f.ingress)
    if f.date:
        where.append("started_at >= ? AND started_at < ?")
        params += list(_day_range(f.date))
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with connect(path) as conn:
        if conn is None or "calls" not in _tables(conn):
            return {"calls": [], "total": 0, "limit": f.limit, "offset": f.offset}
        total = conn.execute(f"SELECT COUNT(*) AS n FROM calls {clause}", params).fetchone()["n"]
        rows = conn.execute(
            "SELECT call_id, status, caller_id, started_at, ended_at, outcome, updated_at, "
            "json_extract(context, '$.caller_name') AS caller_name, "
            "json_extract(context, '$.customer.name') AS customer_name, "
            "json_extract(context, '$.ingress') AS ingress, "
            "json_array_length(context, '$.turns') AS turns "
            f"FROM calls {clause} ORDER BY started_at DESC LIMIT ? OFFSET ?",
            [*params, f.limit, f.offset],
        ).fetchall()
    for r in rows:
        r["duration_s"] = _duration(r)
    return {"calls": rows, "total": total, "limit": f.limit, "offset": f.offset}


def _duration(row: dict[str, Any]) -> float | None:
    if row.get("ended_at") is None or row.get("started_at") is None:
        return None
    return round(row["ended_at"] - row["started_at"], 1)


def call_details(path: Path, call_id: str) -> dict[str, Any] | None:
    """Everything stored about one call, or None if there is no such call."""
    with connect(path) as conn:
        if conn is None:
            return None
        tables = _tables(conn)
        if "calls" not in tables:
            return None
        row = conn.execute("SELECT * FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        if row is None:
            return None
        try:
            context = json.loads(row.pop("context") or "{}")
        except json.JSONDecodeError:
            context = {}
        archive = analytics = booking = None
        jobs: list[dict[str, Any]] = []
        if "postcall_archive" in tables:
            archive = conn.execute(
                "SELECT wav_path, transcript_path, archived_at FROM postcall_archive WHERE call_id = ?", (call_id,)
            ).fetchone()
        if "analytics_calls" in tables:
            analytics = conn.execute("SELECT * FROM analytics_calls WHERE call_id = ?", (call_id,)).fetchone()
            if analytics is not None:
                analytics.pop("turns_json", None)
        if "postcall_jobs" in tables:
            jobs = conn.execute(
                "SELECT kind, status, attempts, last_error, updated_at FROM postcall_jobs WHERE call_id = ? "
                "ORDER BY created_at",
                (call_id,),
            ).fetchall()
        if "calendar_bookings" in tables:
            booking = conn.execute(
                "SELECT booking_id, start_ts, end_ts, name, phone, cancelled_at FROM calendar_bookings "
                "WHERE call_id = ? ORDER BY created_at DESC LIMIT 1",
                (call_id,),
            ).fetchone()
    row["duration_s"] = _duration(row)
    recording = (archive or {}).get("wav_path") or context.get("recording_path")
    turns = context.get("turns") or []
    return {
        "call": row,
        "caller_name": context.get("caller_name") or (context.get("customer") or {}).get("name"),
        "ingress": context.get("ingress"),
        "language": context.get("language"),
        "summary": row.get("summary") or context.get("summary"),
        "intents": context.get("intents") or [],
        "turns": turns,
        "timings": context.get("timings") or {},
        "latency": reply_latencies(turns, context.get("timings") or {}),
        "analytics": analytics,
        "jobs": jobs,
        "booking": booking,
        "recording": bool(recording and Path(recording).is_file()),
        "_recording_path": recording,
    }


def reply_latencies(turns: list[dict[str, Any]], timings: dict[str, list[float]]) -> list[dict[str, Any]]:
    """One entry per reply (an agent turn answering the caller): its total latency and, where the stored
    timings line up with the replies, its split into stages.

    The record keeps each stage's timings as a list in the order they were measured, not per turn
    (call/record.py). A stage measured once per reply lines up by position; the TTS's first audio is also
    measured for the greeting (and reprompts), so it lines up after dropping the greeting's; a stage
    measured a different number of times (an STT run on a turn that had no words, a turn cut at
    max_turn_s) does not line up and is left out of the split — shown as "other", never guessed."""
    replies = [(i, t) for i, t in enumerate(turns) if t.get("who") == "agent" and t.get("latency_ms") is not None]
    n = len(replies)

    def aligned(name: str) -> list[float] | None:
        values = list(timings.get(name) or [])
        if name == "tts_first_audio_ms" and len(values) > n and turns and turns[0].get("who") == "agent":
            values = values[1:]  # the greeting's
        return values if len(values) == n else None

    names = ("end_of_turn_ms", "stt_ms", "nlu_ms", "task", "think_ms", "tts_first_audio_ms")
    eot, stt, nlu, task, think, tts = (aligned(s) for s in names)
    out = []
    for k, (index, turn) in enumerate(replies):
        split: dict[str, float | None] = {
            "end_of_turn_ms": eot[k] if eot else None,
            "stt_ms": stt[k] if stt else None,
            "nlu_ms": nlu[k] if nlu else None,
            "task": task[k] if task else None,
            "llm_ms": None,
            "tts_first_audio_ms": tts[k] if tts else None,
        }
        if think:
            rest = think[k] - (split["nlu_ms"] or 0.0) - (split["task"] or 0.0)
            split["llm_ms"] = round(max(0.0, rest), 1)
        total = float(turn["latency_ms"])
        known = sum(v for v in split.values() if v is not None)
        split["other_ms"] = round(max(0.0, total - known), 1)
        out.append({"turn": index, "at_s": turn.get("start_s"), "total_ms": total, "split": split})
    return out


ENGINE_STAGES = ("stt_ms", "think_ms", "tts_first_audio_ms")
"""The engines' share of a reply, per hour in the overview: when they slow down, the host is loaded."""


def overview(path: Path, days: int = 7) -> dict[str, Any]:
    """Per hour over the last `days` days, from the stored calls: calls by status (busy rejections among
    them), reply latency p50/p95, and the engines' p95 (STT, thinking, TTS first audio); outcomes in all."""
    since = (datetime.now().astimezone() - timedelta(days=days)).timestamp()
    with connect(path) as conn:
        if conn is None or "calls" not in _tables(conn):
            return {"hours": [], "outcomes": {}, "since": since}
        rows = conn.execute(
            "SELECT started_at, status, outcome, json_extract(context, '$.timings') AS timings "
            "FROM calls WHERE started_at >= ? ORDER BY started_at",
            (since,),
        ).fetchall()
    hours: dict[int, dict[str, Any]] = {}
    outcomes: dict[str, int] = {}
    for r in rows:
        hour = int(r["started_at"] // 3600 * 3600)
        h = hours.setdefault(hour, {"hour": hour, "calls": 0, "by_status": {}, "_ms": {}})
        h["calls"] += 1
        h["by_status"][r["status"]] = h["by_status"].get(r["status"], 0) + 1
        key = r["outcome"] or r["status"]
        outcomes[key] = outcomes.get(key, 0) + 1
        try:
            timings = json.loads(r["timings"] or "{}")
        except json.JSONDecodeError:
            timings = {}
        for stage in ("reply_latency_ms", *ENGINE_STAGES):
            h["_ms"].setdefault(stage, []).extend(float(v) for v in timings.get(stage) or [])
    for h in hours.values():
        ms = {stage: sorted(values) for stage, values in h.pop("_ms").items()}
        lat = ms.get("reply_latency_ms", [])
        h["busy_rejections"] = h["by_status"].get("rejected_busy", 0)
        h["latency_p50_ms"] = _percentile(lat, 0.50)
        h["latency_p95_ms"] = _percentile(lat, 0.95)
        h["engine_p95_ms"] = {stage: _percentile(ms.get(stage, []), 0.95) for stage in ENGINE_STAGES}
    return {"hours": sorted(hours.values(), key=lambda h: h["hour"]), "outcomes": outcomes, "since": since}


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return None
    rank = max(0, min(len(values) - 1, math.ceil(q * len(values)) - 1))
    return round(values[rank], 1)
