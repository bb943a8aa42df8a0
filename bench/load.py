"""Conversation load: N callers talking to the real assistant at once, on the bundled models.

    python bench/load.py [--calls 1,2,4,8,16] [--minutes M] [--stt whisper|vosk] [--json]

One `sentiric-pbx run` subprocess in assistant mode (Whisper base, Piper joe, gemma-3-270m, Vosk ko; its
own SQLite/archive in a temp dir, loopback ports, logging at warning) serves every step. For each N in
`--calls`, N call slots run at once for M minutes; each slot places calls back to back exactly as
Asterisk does (FastAGI registration, then AudioSocket at 8 kHz, one frame every 20 ms on an absolute
clock) with the test caller of `sentiric_pbx/tools/caller.py`; the slots start spread over `--stagger`
seconds (20: about one call's length), so callers are at different points of their calls, as on a real
line (with `--stagger 0` every caller says the same turn at the same moment: a worst case). Each call
waits for the greeting, then says three turns and waits for each reply:

    whisper (English):  "What are your opening hours?" / "Can I book an appointment for next Tuesday?" /
                        "No, that's all. Goodbye."   (Piper joe, through the 8 kHz phone band)
    vosk (Korean):      the same three, in Korean, spoken by espeak-ng (the bundled Vosk model is Korean)

Measured on the wire, as a caller hears it (see tools/caller.py):
  * reply latency: caller's last voiced frame → agent's first voiced frame, every turn of every call;
  * greeting latency: connect → agent's first voiced frame;
  * underruns: gaps > 40 ms inside the agent's replies; inter-arrival p99 of the agent's frames per call
    (the caller runs in this process's event loop, so its own scheduling is included: an upper bound;
    `--caller-first` gives it the CPU first, as Asterisk's `highpriority` does);
  * the same gaps as the daemon saw them (`daemon_playout`, from its Prometheus metrics): ticks with no
    reply audio ready (`underruns`: TTS behind the playout), ticks a whole frame late (`late_ticks`: the
    daemon's event loop held up), and ticks over 40 ms late; a wire gap the daemon did not see is the
    bench caller's own scheduling, which `bench_loop_stalls_over_20ms` counts (this process's event loop
    waking over 20 ms late, a frame-time: every call's next frame then arrives over 40 ms after the last);
  * the daemon's CPU (psutil) over each step, per call-minute, and its RSS at the end of the step,
    minus its idle RSS, per call;
  * where the reply latency goes (`stages_ms`): the daemon's own stage timings from its call records
    (silence waited, STT remainder, NLU, think, first TTS audio, its own reply latency), p50, and the
    wire's p50 less the daemon's: the time before the endpointer's last voiced frame plus the playout tick.

Unknown caller numbers (no CRM name lookup), no bookings made: the load is listening, recognising,
answering. A benchmark that prints numbers (and JSON with --json); it has no pass/fail. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import structlog
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.media import AGI_SECRET, HOST, _free_ports, _start_daemon, _stop_daemon, _wait_listening
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.storage.call_reader import CallReader
from sentiric_pbx.tools.caller import CallerOptions, CallReport, place_call

TURNS = {
    "whisper": ("en", ["What are your opening hours?", "Can I book an appointment for next Tuesday?",
                       "No, that's all. Goodbye."]),
    "vosk": ("ko", ["영업 시간이 어떻게 되나요?", "다음 주 화요일에 예약할 수 있을까요?",
                    "아니요, 괜찮습니다. 안녕히 계세요."]),
}  # fmt: skip


def synthesize_turns(stt: str, models_dir: Path | None) -> list[bytes]:
    """The caller's turns as 8 kHz PCM, made before the daemon starts so the synthesis is not in the load."""
    texts = TURNS[stt][1]
    if stt == "vosk":
        out: list[bytes] = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, text in enumerate(texts):
                path = Path(tmp) / f"{i}.wav"
                subprocess.run(["espeak-ng", "-v", "ko", "-s", "150", "-w", str(path), text], check=True)
                with wave.open(str(path)) as w:
                    out.append(resample(w.readframes(w.getnframes()), w.getframerate(), 8000))
        return out
    from sentiric_pbx.config import Settings
    from sentiric_pbx.engines.tts.piper import PiperTts
    from sentiric_pbx.models import resolve_model

    settings = Settings()
    if models_dir is not None:
        settings.models.dir = models_dir
    voice = resolve_model(settings.tts.voice, settings)
    onnx = voice if voice.suffix == ".onnx" else next(voice.glob("*.onnx"))
    tts = PiperTts(onnx)
    tts.load()
    return [resample(tts.synthesize_blocking(t), 16000, 8000) for t in texts]


async def call_slot(turns: list[bytes], opts: dict[str, Any], deadline: float, delay: float) -> list[CallReport]:
    await asyncio.sleep(delay)
    reports: list[CallReport] = []
    while time.monotonic() < deadline:
        caller = f"+9055500{random.randrange(10000, 99999)}"
        report = await place_call(turns, CallerOptions(caller_id=caller, greeting_wait_s=5.0, **opts))
        reports.append(report)
    return reports


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def playout_counters(metrics_url: str) -> dict[str, float]:
    """The daemon's playout counters now: underruns, whole-frame-late ticks, and ticks over 40 ms late."""
    text = httpx.get(metrics_url, timeout=5.0).text
    out = {"underruns": 0.0, "late_ticks": 0.0, "ticks_over_40ms": 0.0}
    total = over_40 = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "sentiric_playout_underruns_total":
                out["underruns"] = sample.value
            elif sample.name == "sentiric_playout_late_ticks_total":
                out["late_ticks"] = sample.value
            elif sample.name == "sentiric_playout_lateness_ms_count":
                total = sample.value
            elif sample.name == "sentiric_playout_lateness_ms_bucket" and sample.labels.get("le") == "40.0":
                over_40 = sample.value
    out["ticks_over_40ms"] = total - over_40
    return out


def _runqueue_wait_s() -> float:
    """Time this process's main thread has spent runnable but waiting for a CPU (Linux schedstat)."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _set_autogroup_nice(nice: int) -> int:
    """Set this session's CPU weight against other sessions (Linux autogroup); return the one it had."""
    path = Path("/proc/self/autogroup")
    before = int(path.read_text().split()[-1])
    path.write_text(str(nice))
    return before


async def loop_stalls(stop: asyncio.Event, over_s: float = 0.020) -> list[tuple[float, float]]:
    """Each time this process's own event loop woke over `over_s` late (the caller's side of a gap): how late,
    and how much of it the thread spent waiting for a CPU (the rest is this process's own work)."""
    loop = asyncio.get_running_loop()
    stalls: list[tuple[float, float]] = []
    while not stop.is_set():
        asked, queued = loop.time(), _runqueue_wait_s()
        await asyncio.sleep(0.005)
        late = loop.time() - asked - 0.005
        if late > over_s:
            stalls.append((late, _runqueue_wait_s() - queued))
    return stalls


async def run_step(
    n: int,
    turns: list[bytes],
    opts: dict[str, Any],
    minutes: float,
    proc: psutil.Process,
    stagger_s: float,
    metrics_url: str,
) -> dict:
    playout0 = await asyncio.to_thread(playout_counters, metrics_url)
    cpu0 = sum(proc.cpu_times()[:2])
    t0 = time.monotonic()
    deadline = t0 + minutes * 60
    # Callers arrive spread over one call's length, as on a real line, not all in the same second: with
    # the same script, simultaneous starts would make every caller finish every turn at the same moment.
    slots = [call_slot(turns, opts, deadline, delay=i * stagger_s / n + random.random() * 0.5) for i in range(n)]
    stop = asyncio.Event()
    monitor = asyncio.create_task(loop_stalls(stop))
    results = await asyncio.gather(*slots)
    stop.set()
    stalls = await monitor
    elapsed = time.monotonic() - t0
    cpu = sum(proc.cpu_times()[:2]) - cpu0
    rss = proc.memory_info().rss
    reports = [r for slot in results for r in slot]
    latencies = [t.latency_ms for r in reports for t in r.turns if t.latency_ms is not None]
    missing = sum(1 for r in reports for t in r.turns if t.latency_ms is None)
    greetings = [r.greeting_latency_ms for r in reports if r.greeting_latency_ms is not None]
    jitter = [r.interarrival_ms["p99"] for r in reports if r.interarrival_ms]
    playout1 = await asyncio.to_thread(playout_counters, metrics_url)
    return {
        "calls": n,
        "calls_placed": len(reports),
        "turns": len(latencies),
        "turns_unanswered": missing,
        "reply_latency_ms": {"p50": _pct(latencies, 50), "p95": _pct(latencies, 95), "max": _pct(latencies, 100)},
        "greeting_latency_ms": {"p50": _pct(greetings, 50), "p95": _pct(greetings, 95)},
        "underruns": sum(t.underruns for r in reports for t in r.turns),
        "jitter_p99_ms": {"median_call": _pct(jitter, 50), "worst_call": _pct(jitter, 100)},
        "daemon_playout": {k: int(playout1[k] - playout0[k]) for k in playout1},
        "bench_loop_stalls_over_20ms": {
            "count": len(stalls),
            "max_ms": round(max((late for late, _ in stalls), default=0) * 1000, 1),
            "waiting_for_cpu_ms": round(sum(queued for _, queued in stalls) * 1000, 1),
            "total_ms": round(sum(late for late, _ in stalls) * 1000, 1),
        },
        "daemon_cpu_pct": round(100 * cpu / elapsed, 1),
        "daemon_cpu_s_per_call_min": round(cpu / max(1e-9, n * elapsed / 60), 2),
        "daemon_rss_mb": round(rss / 2**20, 1),
        "ended_by": sorted({r.ended_by for r in reports}),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    steps = [int(x) for x in args.calls.split(",")]
    turns = synthesize_turns(args.stt, args.models_dir)
    language = TURNS[args.stt][0]
    audiosocket, fastagi, metrics_port = _free_ports(3)
    metrics_url = f"http://{HOST}:{metrics_port}/metrics"
    result: dict[str, Any] = {"stt": args.stt, "minutes": args.minutes, "cpus": os.cpu_count(), "steps": []}
    with tempfile.TemporaryDirectory(prefix="sentiric-load-") as tmp:
        workdir = Path(tmp)
        with (workdir / "daemon.log").open("wb") as log:
            assistant = {
                "SENTIRIC_AGENT__MODE": "assistant",
                "SENTIRIC_AGENT__MAX_CALLS": str(max(steps)),
                "SENTIRIC_STORAGE__DB_PATH": str(workdir / "sentiric.db"),
                "SENTIRIC_STORAGE__ARCHIVE_DIR": str(workdir / "archive"),
                "SENTIRIC_DIALOG__NO_INPUT_REPROMPT_S": "30",
                "SENTIRIC_METRICS__ENABLED": "true",
                "SENTIRIC_METRICS__HOST": HOST,
                "SENTIRIC_METRICS__PORT": str(metrics_port),
            }
            if args.models_dir is not None:
                assistant["SENTIRIC_MODELS__DIR"] = str(args.models_dir)
            proc = _start_daemon(audiosocket, fastagi, workdir, log, None, extra_env=assistant)
            restore_nice = 0
            try:
                await asyncio.to_thread(_wait_listening, proc, audiosocket, 180.0)
                daemon = psutil.Process(proc.pid)
                await asyncio.sleep(2.0)
                result["daemon_idle_rss_mb"] = round(daemon.memory_info().rss / 2**20, 1)
                opts = {
                    "port": audiosocket,
                    "agi": (HOST, fastagi),
                    "agi_secret": AGI_SECRET,
                    "rate": 8000,
                    "language": language,
                }
                if args.caller_first:  # after the daemon started: it has a session, so an autogroup, of its own
                    restore_nice = _set_autogroup_nice(-10)
                    result["caller_first"] = True
                # One warm-up call: first-use costs (caches, allocator growth) are not the steady state.
                await place_call(turns[:1], CallerOptions(greeting_wait_s=5.0, **opts))
                for n in steps:
                    since = time.time()
                    step = await run_step(n, turns, opts, args.minutes, daemon, args.stagger, metrics_url)
                    # p95: each stage's own tail (not the stages of the tail turn): which stage slow replies wait in.
                    stages, p95 = stage_percentiles(workdir / "sentiric.db", since, (50, 95))
                    step["stages_ms"], step["stages_p95_ms"] = stages, p95
                    if stages["reply_latency_ms"] is not None and step["reply_latency_ms"]["p50"] is not None:
                        stages["wire_minus_daemon_ms"] = round(
                            step["reply_latency_ms"]["p50"] - stages["reply_latency_ms"], 1
                        )
                    step["rss_per_call_mb"] = round((step["daemon_rss_mb"] - result["daemon_idle_rss_mb"]) / n, 1)
                    result["steps"].append(step)
                    if not args.json:
                        _print_step(step)
            finally:
                _stop_daemon(proc)
                if args.caller_first:
                    _set_autogroup_nice(restore_nice)
        if proc.returncode not in (0, None, -15):
            tail = (workdir / "daemon.log").read_text(errors="replace")[-2000:]
            result["daemon_log_tail"] = tail
    return result


STAGES = ("end_of_turn_ms", "stt_ms", "nlu_ms", "think_ms", "tts_first_audio_ms", "reply_latency_ms")


def stage_percentiles(db: Path, since: float, qs: tuple[float, ...]) -> list[dict[str, float | None]]:
    """The daemon's own per-turn stage timings (the call records' `timings`), each percentile of `qs` over the
    step's calls, from one read of the records.

    The daemon dates a turn's end from the endpointer's last voiced frame, so its `reply_latency_ms` is
    the wire's figure less the time webrtcvad still called the caller's fading voice and its hangover
    "speech" (and less the ≤ 20 ms to the next playout tick): the wire minus the daemon is that part."""
    with CallReader.open(db) as reader:
        rows = reader.calls_since(since)
    seen: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for row in rows:
        timings = json.loads(row["timings"] or "{}")
        for stage in STAGES:
            seen[stage].extend(timings.get(stage, []))
    return [{stage: _pct(values, q) for stage, values in seen.items()} for q in qs]


def _print_step(s: dict[str, Any]) -> None:
    r, g, j = s["reply_latency_ms"], s["greeting_latency_ms"], s["jitter_p99_ms"]
    print(
        f"N={s['calls']:>2}  calls={s['calls_placed']:>3} turns={s['turns']:>3} (unanswered {s['turns_unanswered']})  "
        f"reply p50 {r['p50']} / p95 {r['p95']} / max {r['max']} ms  greeting p50 {g['p50']} / p95 {g['p95']} ms  "
        f"underruns {s['underruns']} (daemon: {s['daemon_playout']}; bench loop: {s['bench_loop_stalls_over_20ms']})  "
        f"jitter p99 {j['median_call']} (worst {j['worst_call']}) ms  "
        f"cpu {s['daemon_cpu_pct']} %  {s['daemon_cpu_s_per_call_min']} cpu-s/call-min  rss {s['daemon_rss_mb']} MB",
        flush=True,
    )
    stages = "  ".join(f"{k.removesuffix('_ms')} {v}" for k, v in s["stages_ms"].items())
    print(f"       p50 ms by stage (the daemon's call records): {stages}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", default="1,2,4,8,16", help="comma-separated concurrency steps")
    parser.add_argument("--minutes", type=float, default=1.0, help="how long each step runs")
    parser.add_argument("--stt", choices=sorted(TURNS), default="whisper")
    parser.add_argument("--stagger", type=float, default=20.0, help="spread call starts over this many seconds")
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument(
        "--caller-first",
        action="store_true",
        help="give this process's session CPU priority over the daemon's (autogroup nice -10, needs root), as "
        "Asterisk's highpriority gives it over other processes: wire gaps then come from the daemon alone",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    # Our own log lines (the Piper load) go to stderr: with --json, stdout is the JSON document only.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
