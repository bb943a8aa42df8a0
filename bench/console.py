"""The web console's API on a large call history: how long a list, a filter, a call and the overview take.

Fills a fresh SQLite database (the daemon's schema, `Database.open`) with N calls whose stored context is a
real seven-turn booking call's shape (turns with word timings, stage timings), starts the console on
127.0.0.1, and times each request over HTTP: newest page, a caller-name search (a scan of every context),
a status filter (indexed), the last page, one call's JSON, the overview.

    python bench/console.py --calls 20000 [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sentiric_pbx.call.record import CallContext, Turn
from sentiric_pbx.config import Settings
from sentiric_pbx.console.server import ConsoleServer
from sentiric_pbx.storage.db import Database

SAID = [
    ("agent", "Hello! Mr. Yilmaz, welcome back to the clinic. How can I help you today?"),
    ("caller", "I would like to book an appointment tomorrow at 2 p.m."),
    ("agent", "Shall I book you for tomorrow at 2 pm?"),
    ("caller", "Yes, please."),
    ("agent", "Done. You're booked for tomorrow at 2 pm."),
    ("caller", "No, that's all. Goodbye."),
    ("agent", "Thank you for calling the clinic. Goodbye!"),
]


def context(i: int, now: float) -> CallContext:
    ctx = CallContext(call_id=f"bench-{i:07d}", caller_id=f"+90555{i:07d}", caller_name=f"Caller {i}")
    ctx.started_at = now - i * 120
    ctx.ended_at = ctx.started_at + 23
    ctx.status = "completed" if i % 9 else "unfinished_call"
    ctx.outcome = ctx.status
    for k, (who, text) in enumerate(SAID):
        words = [{"word": w, "start": 0.3 * n, "end": 0.3 * n + 0.25} for n, w in enumerate(text.split())]
        latency = 600.0 + k if who == "agent" and k else None
        heard = words if who == "caller" else []
        ctx.add_turn(Turn(who, text, 3.0 * k, 3.0 * k + 2.5, words=heard, latency_ms=latency))  # type: ignore[arg-type]
    ctx.timings = {"end_of_turn_ms": [500, 480, 400], "stt_ms": [50.0, 1.0, 1.0], "nlu_ms": [0.4, 0.2, 0.3],
                   "task": [3.8, 1.2, 0.0], "think_ms": [4.7, 1.7, 0.7], "tts_first_audio_ms": [0.0, 640.0, 125.0, 0.0],
                   "reply_latency_ms": [1208.4, 625.9, 403.4]}  # fmt: skip
    return ctx


async def fill(path: Path, n: int) -> None:
    db = await Database.open(path)
    now = time.time()
    rows = []
    for i in range(n):
        c = context(i, now)
        rows.append((c.call_id, c.status, c.caller_id, c.started_at, c.ended_at, json.dumps(c.to_dict()),
                     "summary", c.outcome, now))  # fmt: skip
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO calls (call_id, status, caller_id, started_at, ended_at, context, summary, outcome, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    await db.aclose()


async def timed(http: aiohttp.ClientSession, url: str, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        async with http.get(url) as response:
            await response.read()
            assert response.status == 200, (url, response.status)
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


async def main(n: int, repeat: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="console-bench-"))
    settings = Settings()
    settings.storage.db_path = tmp / "sentiric.db"
    settings.console.port = 0
    started = time.perf_counter()
    await fill(settings.storage.db_path, n)
    fill_s = time.perf_counter() - started
    server = await ConsoleServer(settings, None).start()
    base = server.url("/api/")
    requests = {
        "newest 50": "calls",
        "caller name search": "calls?caller=Caller%2012345",
        "status filter": "calls?status=unfinished_call",
        "last page": f"calls?offset={max(0, n - 50)}",
        "one call": "calls/bench-0000005",
        "overview 7 days": "overview?days=7",
    }
    out: dict[str, Any] = {"calls": n, "db_mb": round(settings.storage.db_path.stat().st_size / 2**20, 1),
                           "fill_s": round(fill_s, 1), "requests": {}}  # fmt: skip
    try:
        async with aiohttp.ClientSession() as http:
            for name, path in requests.items():
                out["requests"][name] = await timed(http, base + path, repeat)
    finally:
        await server.close()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main(args.calls, args.repeat))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['calls']} calls, {result['db_mb']} MB database (filled in {result['fill_s']} s)")
        for name, t in result["requests"].items():
            print(f"  {name:<20} median {t['median_ms']:>7.1f} ms   max {t['max_ms']:>7.1f} ms")
