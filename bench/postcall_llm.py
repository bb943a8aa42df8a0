"""The post-call model (`[postcall] llm_model`) as the worker runs it: load on demand, note, greeting, release.

    python bench/postcall_llm.py [--model bundled:qwen2.5-coder-1.5b-instruct] [--chat-format chatml]
                                 [--threads 1] [--nice 10] [--calls 3] [--json]

For `--calls` made-up booking calls (a caller books, confirms, says goodbye), the real post-call code writes
the CRM note (postcall/summary.py `write_summary`) and the next greeting (dialog/next_greeting.py, stored
in a throwaway SQLite file) with `OnDemandLlm` (engines/llm/on_demand.py), greedy. Prints: load time, note
and greeting time per call (the first includes the load), whether each was the model's (`llm`) or a fallback
(`extractive` / refused), RSS before loading, while loaded (peak) and after the idle release, and the texts.
Binds nothing; run it with nothing else on the host for comparable times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentiric_pbx.call.record import CallContext, Turn
from sentiric_pbx.dialog.next_greeting import NextGreeting
from sentiric_pbx.engines.llm.on_demand import OnDemandLlm
from sentiric_pbx.logging import configure_logging
from sentiric_pbx.models import resolve_model
from sentiric_pbx.postcall.summary import write_summary
from sentiric_pbx.storage.db import Database
from sentiric_pbx.storage.greetings import GreetingStore

CALLERS = [("Ahmet Yilmaz", "Mr.", "Tuesday at 3 pm", "2026-12-08T15:00:00+03:00"),
           ("Maria Lopez", "Ms.", "Friday at 10:30 am", "2026-12-11T10:30:00+03:00"),
           ("John Carter", "Mr.", "tomorrow at 2 pm", "2026-12-07T14:00:00+03:00")]  # fmt: skip


def rss_mb() -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return round(int(line.split()[1]) / 1024, 1)


def call(n: int) -> CallContext:
    name, title, when, start = CALLERS[n % len(CALLERS)]
    phone = f"+90555000{n:04d}"
    ctx = CallContext(call_id=f"bench-{n}", caller_id=phone, language="en", started_at=0.0, ended_at=48.0)
    ctx.status = "completed"
    ctx.customer = {"customer_id": f"c{n}", "name": name, "phone": phone, "title": title}
    ctx.intents = ["create_appointment", "confirm", "goodbye"]
    ctx.task_state["reservation"] = {"status": "done", "booking": {"start": start, "name": name}}
    last = name.split()[-1]
    turns = [("agent", f"Hello! {title} {last}, welcome back to the clinic. How can I help you today?"),
             ("caller", f"I would like to book an appointment {when}."),
             ("agent", f"Shall I book you for {when}?"), ("caller", "Yes, please."),
             ("agent", f"Done. You're booked for {when}."), ("caller", "No, that's all. Goodbye."),
             ("agent", "Thank you for calling. Goodbye!")]  # fmt: skip
    for i, (who, text) in enumerate(turns):
        ctx.add_turn(Turn(who, text, i * 6.0, i * 6.0 + 4.0))  # type: ignore[arg-type]
    return ctx


async def run(args: argparse.Namespace) -> dict[str, object]:
    path = resolve_model(args.model)
    model = OnDemandLlm(path, chat_format=args.chat_format, n_threads=args.threads, nice=args.nice, idle_s=1.0)
    before = rss_mb()
    peak = before
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.wait(0.05):
            peak = max(peak, rss_mb())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.db")
        try:
            greeter = NextGreeting(model, GreetingStore(db), "the clinic", budget_s=300.0, temperature=0.0)
            for n in range(args.calls):
                ctx = call(n)
                started = time.perf_counter()
                note, method = await write_summary(ctx, model, llm_budget_s=300.0, temperature=0.0)
                noted = time.perf_counter()
                greeting = await greeter(ctx, note)
                rows.append({"note_s": round(noted - started, 2), "greeting_s": round(time.perf_counter() - noted, 2),
                             "note_method": method, "note": note, "greeting": greeting})  # fmt: skip
            loaded_peak = peak
            for _ in range(600):  # the idle release (idle_s = 1 s), within a minute
                if not model.loaded:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            after = rss_mb()
        finally:
            stop.set()
            await model.aclose()
            await db.aclose()
    return {
        "model": args.model, "threads": args.threads, "nice": args.nice, "calls": args.calls,
        "load_s": round(model.local.load_s or 0.0, 2),
        "note_s_p50": statistics.median(r["note_s"] for r in rows),  # type: ignore[misc]
        "greeting_s_p50": statistics.median(r["greeting_s"] for r in rows),  # type: ignore[misc]
        "notes_by_model": sum(r["note_method"] == "llm" for r in rows),
        "greetings_stored": sum(r["greeting"] is not None for r in rows),
        "rss_mb": {"before": before, "loaded_peak": loaded_peak, "after_release": after},
        "cpu_s": round(resource.getrusage(resource.RUSAGE_SELF).ru_utime, 1),
        "rows": rows,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="bundled:qwen2.5-coder-1.5b-instruct")
    parser.add_argument("--chat-format", default="chatml")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--nice", type=int, default=10)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_logging("info", "console", stream=sys.stderr)  # --json prints JSON only
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        if key != "rows":
            print(f"{key}: {value}")
    for row in result["rows"]:  # type: ignore[union-attr]
        print(f"- note ({row['note_method']}, {row['note_s']} s): {row['note']}")
        print(f"  greeting ({row['greeting_s']} s): {row['greeting']}")


if __name__ == "__main__":
    main()
