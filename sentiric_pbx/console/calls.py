"""The console's view of past calls: read-only, through the one call reader (storage/call_reader.py).

Read-only on purpose: the console is for looking, and an admin's browser must never be able to change a
call's record. A fresh connection per request, in a thread: WAL lets it read while the daemon writes, and
a slow query never stalls the event loop that carries the calls' audio. With [storage] database_url the
calls are the site's (every host's), read from PostgreSQL.

The shapes follow `sentiric-pbx calls show` (cli_calls.py): the `calls` row, its stored context
(transcript, timings), the post-call tables when they exist (archive, analytics, jobs) and the
calendar's booking made on the call. A table that does not exist yet is simply empty.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sentiric_pbx.storage.call_reader import CallFilter, CallReader
from sentiric_pbx.storage.recording_store import RecordingStore, call_recording, recording_readable

STAGES = ("end_of_turn_ms", "stt_ms", "nlu_ms", "task", "llm_ms", "tts_first_audio_ms")
"""The parts of a reply's latency, in the order they happen. `llm_ms` is the thinking time (`think_ms`)
less NLU and task: what the responder (the LLM, when it speaks) took before the reply's text began."""


def list_calls(path: Path, f: CallFilter, database_url: str | None = None) -> dict[str, Any]:
    """The calls matching `f`, newest first, one page of them, and how many match in all.

    Raises ValueError for a malformed date (the handler answers 400)."""
    with CallReader.open(path, database_url) as reader:
        rows, total = reader.list_calls(f)
    for r in rows:
        r["duration_s"] = _duration(r)
    return {"calls": rows, "total": total, "limit": f.limit, "offset": f.offset}


def _duration(row: dict[str, Any]) -> float | None:
    if row.get("ended_at") is None or row.get("started_at") is None:
        return None
    return round(row["ended_at"] - row["started_at"], 1)


def call_details(
    path: Path, call_id: str, database_url: str | None = None, recordings: RecordingStore | None = None
) -> dict[str, Any] | None:
    """Everything stored about one call, or None if there is no such call."""
    with CallReader.open(path, database_url) as reader:
        record = reader.call_record(call_id)
    if record is None:
        return None
    row, context, archive, analytics = record["call"], record["context"], record["archive"], record["analytics"]
    if analytics is not None:
        analytics.pop("turns_json", None)
    row["duration_s"] = _duration(row)
    recording = call_recording(archive, context)
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
        "jobs": record["jobs"],
        "booking": record["booking"],
        "recording": recording_readable(recording, recordings),
        "recording_error": None if recording else context.get("recording_error"),
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


def overview(path: Path, days: int = 7, database_url: str | None = None) -> dict[str, Any]:
    """Per hour over the last `days` days, from the stored calls: calls by status (busy rejections among
    them), reply latency p50/p95, and the engines' p95 (STT, thinking, TTS first audio); outcomes in all."""
    since = (datetime.now().astimezone() - timedelta(days=days)).timestamp()
    with CallReader.open(path, database_url) as reader:
        if not reader.has("calls"):
            return {"hours": [], "outcomes": {}, "since": since}
        rows = reader.calls_since(since)
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
