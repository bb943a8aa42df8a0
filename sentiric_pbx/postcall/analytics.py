"""Call analytics (seed §5): sentiment, durations, talk time, silence, interruptions, reply latency.

Sentiment uses VADER (Hutto & Gilbert, ICWSM 2014): a lexicon and rule-based scorer built for short,
informal English — which is what a transcribed phone turn is. It runs in microseconds on a CPU and
needs no model download. Its `compound` score is in [-1, 1]; the authors' thresholds label
≥ 0.05 positive, ≤ -0.05 negative, neutral in between. Two small calibrations for call speech are
below (`NEUTRAL_IN_CALLS`, `_REQUEST_LIKE`): without them every "I'd like to book…" reads as praise.
VADER is English only: for other languages the sentiment fields stay empty rather than hold numbers
that mean nothing.

Time figures come from the turns (seconds from the call's start): talk time is the sum of a side's
turns, silence is the part of the call in no one's turn, overlap is both talking at once (barge-in).
Latency is `Turn.latency_ms` of the agent's turns — caller's end of speech to our first audio.
"""

from __future__ import annotations

import functools
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from sentiric_pbx.call.record import CallContext, Turn
from sentiric_pbx.postcall.db import connect, ensure_tables
from sentiric_pbx.storage.db import Database, Migration

POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05

SCHEMA = """
CREATE TABLE IF NOT EXISTS analytics_calls (
    call_id                TEXT PRIMARY KEY,
    computed_at            REAL NOT NULL,
    language               TEXT,
    duration_s             REAL NOT NULL,
    caller_talk_s          REAL NOT NULL,
    agent_talk_s           REAL NOT NULL,
    silence_s              REAL NOT NULL,
    overlap_s              REAL NOT NULL,
    caller_turns           INTEGER NOT NULL,
    agent_turns            INTEGER NOT NULL,
    interruptions          INTEGER NOT NULL,
    latency_p50_ms         REAL,
    latency_p95_ms         REAL,
    latency_max_ms         REAL,
    sentiment_method       TEXT,
    caller_sentiment       REAL,
    caller_sentiment_label TEXT,
    caller_sentiment_last  REAL,
    agent_sentiment        REAL,
    turns_json             TEXT NOT NULL
);
"""

ANALYTICS_MIGRATIONS = (
    Migration(
        1,
        "calls",
        SCHEMA,
        SCHEMA.replace("CREATE TABLE IF NOT EXISTS", "CREATE TABLE").replace(" REAL", " DOUBLE PRECISION"),
    ),
)
"""`analytics_calls` in the daemon's `Database` (the site store): REAL is 4 bytes in PostgreSQL."""


NEUTRAL_IN_CALLS = ("want", "number")
"""VADER lexicon words that carry no feeling on a phone line: "I want to book", "my number is…"."""
_REQUEST_LIKE = re.compile(r"\b(would|'d|’d)(\s+you)?\s+like\b", re.IGNORECASE)
""""I'd like to book…", "would you like…": a request, not a liking; scored as "…prefer…" (no valence).

Callers open most turns this way, and plain VADER rates every such request positive (+0.36 for
"I would like to book an appointment on Tuesday."), which would make every booking call look happy.
"""


@functools.cache
def _vader() -> SentimentIntensityAnalyzer:
    analyzer = SentimentIntensityAnalyzer()  # reads its lexicon once per process
    for word in NEUTRAL_IN_CALLS:
        analyzer.lexicon.pop(word, None)
    return analyzer


def sentiment_label(compound: float) -> str:
    if compound >= POSITIVE_AT:
        return "positive"
    if compound <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def sentiment(text: str) -> float:
    """VADER compound score of one English text, in [-1, 1], with the phone-call calibration above."""
    return float(_vader().polarity_scores(_REQUEST_LIKE.sub(r"\1\2 prefer", text))["compound"])


def supports_sentiment(language: str) -> bool:
    return language.lower().split("-")[0] == "en"


@dataclass(slots=True)
class CallAnalytics:
    call_id: str
    language: str
    duration_s: float
    caller_talk_s: float
    agent_talk_s: float
    silence_s: float
    overlap_s: float
    caller_turns: int
    agent_turns: int
    interruptions: int
    """Agent turns the caller cut short (barge-in)."""
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_max_ms: float | None
    sentiment_method: str | None
    """"vader" for English, None when the language has no sentiment model."""
    caller_sentiment: float | None
    """Mean compound of the caller's turns, weighted by words: a long complaint outweighs "ok"."""
    caller_sentiment_label: str | None
    caller_sentiment_last: float | None
    """The caller's last turn: how they left the call."""
    agent_sentiment: float | None
    turns: list[dict[str, Any]] = field(default_factory=list)
    """Per turn: who, start_s, end_s, interrupted, latency_ms, sentiment, sentiment_label."""


def _union_s(intervals: list[tuple[float, float]]) -> float:
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


def _weighted_mean(scores: list[tuple[float, int]]) -> float | None:
    weight = sum(w for _, w in scores)
    return None if weight == 0 else round(sum(s * w for s, w in scores) / weight, 4)


def _per_turn(turn: Turn, scored: bool) -> dict[str, Any]:
    score = round(sentiment(turn.text), 4) if scored and turn.text.strip() else None
    return {
        "who": turn.who,
        "start_s": turn.start_s,
        "end_s": turn.end_s,
        "interrupted": turn.interrupted,
        "latency_ms": turn.latency_ms,
        "sentiment": score,
        "sentiment_label": None if score is None else sentiment_label(score),
    }


def _percentile(values: list[float], q: float) -> float | None:
    return None if not values else round(float(np.percentile(values, q)), 1)


def analyze_call(context: CallContext) -> CallAnalytics:
    """All the numbers for one ended call; pure, no I/O."""
    turns = context.turns
    last_end = max((t.end_s for t in turns), default=0.0)
    duration = (context.ended_at - context.started_at) if context.ended_at else last_end
    duration = max(duration, 0.0)
    caller = [t for t in turns if t.who == "caller"]
    agent = [t for t in turns if t.who == "agent"]
    caller_talk = sum(max(0.0, t.end_s - t.start_s) for t in caller)
    agent_talk = sum(max(0.0, t.end_s - t.start_s) for t in agent)
    spoken = _union_s([(max(0.0, t.start_s), min(duration, t.end_s)) for t in turns if t.end_s > t.start_s])
    scored = supports_sentiment(context.language)
    detail = [_per_turn(t, scored) for t in turns]
    caller_scores = [(d["sentiment"], len(t.text.split())) for t, d in zip(turns, detail, strict=True)
                     if t.who == "caller" and d["sentiment"] is not None]  # fmt: skip
    agent_scores = [(d["sentiment"], len(t.text.split())) for t, d in zip(turns, detail, strict=True)
                    if t.who == "agent" and d["sentiment"] is not None]  # fmt: skip
    caller_mean = _weighted_mean(caller_scores)
    latencies = [t.latency_ms for t in agent if t.latency_ms is not None]
    return CallAnalytics(
        call_id=context.call_id,
        language=context.language,
        duration_s=round(duration, 3),
        caller_talk_s=round(caller_talk, 3),
        agent_talk_s=round(agent_talk, 3),
        silence_s=round(max(0.0, duration - spoken), 3),
        overlap_s=round(max(0.0, caller_talk + agent_talk - spoken), 3),
        caller_turns=len(caller),
        agent_turns=len(agent),
        interruptions=sum(1 for t in agent if t.interrupted),
        latency_p50_ms=_percentile(latencies, 50),
        latency_p95_ms=_percentile(latencies, 95),
        latency_max_ms=max(latencies) if latencies else None,
        sentiment_method="vader" if scored else None,
        caller_sentiment=caller_mean,
        caller_sentiment_label=None if caller_mean is None else sentiment_label(caller_mean),
        caller_sentiment_last=caller_scores[-1][0] if caller_scores else None,
        agent_sentiment=_weighted_mean(agent_scores),
        turns=detail,
    )


async def _save_in(db: Database, row: dict[str, Any]) -> None:
    await ensure_tables(db, "analytics", ANALYTICS_MIGRATIONS)
    updates = ", ".join(f"{k} = excluded.{k}" for k in row if k != "call_id")
    await db.execute(
        f"INSERT INTO analytics_calls ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
        f" ON CONFLICT (call_id) DO UPDATE SET {updates}",
        tuple(row.values()),
    )


async def _load_from(db: Database, call_id: str) -> dict[str, Any] | None:
    await ensure_tables(db, "analytics", ANALYTICS_MIGRATIONS)
    found = await db.fetchone("SELECT * FROM analytics_calls WHERE call_id = ?", (call_id,))
    return None if found is None else dict(found)


async def save_analytics(store: Path | str | Database, result: CallAnalytics) -> None:
    """Upsert one call's row in `analytics_calls` (running the job twice leaves one row).

    `store`: the host's SQLite file, or the daemon's open `Database` (the site store every host reads)."""
    row = asdict(result)
    row["turns_json"] = json.dumps(row.pop("turns"), ensure_ascii=False)
    row["computed_at"] = time.time()
    columns = ", ".join(row)
    if isinstance(store, Database):
        await _save_in(store, row)
        return
    marks = ", ".join(f":{k}" for k in row)
    async with connect(store, SCHEMA) as db:
        await db.execute(f"INSERT OR REPLACE INTO analytics_calls ({columns}) VALUES ({marks})", row)


async def load_analytics(store: Path | str | Database, call_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None
    if isinstance(store, Database):
        row = await _load_from(store, call_id)
    else:
        async with connect(store, SCHEMA) as db:
            db.row_factory = lambda cur, r: {d[0]: v for d, v in zip(cur.description, r, strict=True)}
            cur = await db.execute("SELECT * FROM analytics_calls WHERE call_id = ?", (call_id,))
            row = await cur.fetchone()
    if row is None:
        return None
    row["turns"] = json.loads(row.pop("turns_json"))
    return row
