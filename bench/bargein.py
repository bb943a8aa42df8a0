"""Barge-in detector benchmark: what one call's detector costs per 20 ms caller frame, and how long a caller
talks over us before it stops us.

    python bench/bargein.py [--json] [--seconds S] [--latency-only | --cpu-only] [--cache DIR]

**CPU.** The detector runs for every caller frame of every call (`played()` then `caller_frame()`), so its
cost is paid 50 times a second per call. Measured on one detector fed the way the session feeds it
(webrtcvad outside the timing: the session runs it anyway), in three phases of S seconds each (default 8):

  * idle: we are silent, the caller's line carries speech (only the histories are kept up to date);
  * echo: we speak the demo turn on a loop and the line returns it as a −10 dB μ-law echo, 150 ms late
    (the echo path locks; a coherence check every 5 frames, a residual on every voiced frame);
  * no_echo: we speak, the caller's line carries unrelated speech and no echo (a full delay search
    every 5 frames, the level rule).

Per phase: mean, p50, p99 and max µs of CPU per frame (time.thread_time_ns: on a shared machine the
wall clock also counts the time the scheduler gave to others; the wall-clock p99 is printed beside it),
and what 8 calls in that phase take of one core. One untimed run first, so numpy's FFT plans exist.

**Latency.** Real speech from the bundled Piper voice: three replies of ours (7–9 s each) and six caller
sentences, spoken at three speeds (Piper's length_scale 0.85, 1.0, 1.2). The session's loop is replayed
frame by frame (listening.py: `played(ref)`, `hear()` → silence to the endpointer when it is our echo,
webrtcvad on what the endpointer hears, `decide()`), on each line of `LINES`: no echo, or our voice
returned through the 8 kHz μ-law leg at −6/−12/−20 dB (−6 dB through a dispersive hybrid; 0 dB, `Echo()`),
late by a line delay plus a transport offset, as tests/test_bargein.py builds it. The caller's voice also goes
through the μ-law leg and is added to the line at +6, 0 and −6 dB relative to our voice (both scaled to the
same level over their frames above −40 dBFS first), 2.0, 3.0 or 4.0 s into our reply (the echo path is
known by then; the first words of a call's first reply wait for it, tests/test_bargein.py).

Per line and caller level: the time from the caller's first voiced frame (an oracle on the clean caller at
0 dB: the first 20 ms frame above −40 dBFS) to the frame that decides barge-in, p50 / p90 / max, and the
caller sentences that never stopped us. And false barge-ins: our echo alone, no caller, over every reply
at five transport offsets per line (a barge-in resets the count and we talk on), with the longest run of
counting frames the echo built (how close it came). And barge-ins on sounds that are not a caller taking
the floor, over our voice on the no-echo and −12 dB lines: line hiss at −40 dBFS, a fit of coughing
(100–160 ms bursts), a crackling cord (20–60 ms clicks), and backchannels every 2 s made of the callers'
speech, "mm-hm" (2 × 150 ms) and "yeah, yeah" (2 × 200 ms): the price of a quicker count. A benchmark that
prints numbers; no pass/fail.

**Hiss.** Steady line hiss (white noise through the μ-law leg) at −50, −45, −40 and −35 dBFS over our voice on
every line of `LINES`: false barge-ins per minute of our voice (each reply once, no caller); and, over −40 dBFS
hiss, the callers of the latency measure at 0 and −6 dB: does a caller on a hissy line still stop us, and how
quickly.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentiric_pbx.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE, rms_dbfs
from sentiric_pbx.audio.resample import StreamResampler
from sentiric_pbx.audio.vad import Endpointer
from sentiric_pbx.config import VadConfig
from sentiric_pbx.dialog.bargein import BargeInDetector
from sentiric_pbx.tools.caller import load_turn
from tests.test_bargein import pcm16, samples, ulaw  # the tests' line model, one copy

DEMO = Path(__file__).resolve().parents[1] / "sentiric_pbx" / "data" / "demo-turn.wav"
CALLS = 8
SILENCE = bytes(FRAME_BYTES)
VOICED_DBFS = -40.0

REPLIES = (
    "Thank you for calling the clinic. Your appointment is booked for Tuesday at three thirty in the "
    "afternoon. Is there anything else I can help you with today?",
    "I have a few free times next week. Monday at nine in the morning, Wednesday at two in the afternoon, "
    "or Friday at eleven. Which one would suit you best?",
    "Let me read that back to you. Maria Lopez, account number four five six seven, a cleaning on "
    "Thursday the twelfth at ten o'clock. Shall I confirm it?",
)
CALLERS = (
    ("No wait, I need to change the time please.", 1.0),
    ("Sorry, can you repeat that last part?", 0.85),
    ("Hold on, hold on, that is not what I asked for.", 1.2),
    ("Actually, make it Thursday afternoon instead.", 1.0),
    ("Excuse me, I think you have the wrong name.", 0.85),
    ("Yes, yes, the first one is fine.", 1.2),
)
"""(sentence, Piper length_scale): six callers, three speeds."""
CALLER_DB = (6.0, 0.0, -6.0)
STARTS_S = (2.0, 3.0, 4.0)
LINES: dict[str, dict[str, Any] | None] = {
    "no echo": None,
    "echo -6 dB": {"db": -6.0, "line_ms": 64, "transport_ms": 40},
    "echo -12 dB": {"db": -12.0, "line_ms": 20, "transport_ms": 200},
    "echo -20 dB": {"db": -20.0, "line_ms": 128, "transport_ms": 200},
    "hybrid -6 dB": {"db": -6.0, "line_ms": 64, "transport_ms": 100, "hybrid": True},
    "Echo() 0 dB": {"db": 0.0, "line_ms": 0, "transport_ms": 40},
}
"""The lines the detector knows (tests/test_bargein.py): no echo, our echo at a PSTN echo return loss, or
Asterisk's `Echo()` returning our voice at full level."""
ECHO_ONLY_TRANSPORT_MS = (20, 60, 120, 200, 300)
HISS_DBFS = (-50.0, -45.0, -40.0, -35.0)
"""Steady line hiss levels (RMS of white noise at 16 kHz before the μ-law leg): a quiet line to a noisy mobile."""
HISS_CALLER = (-40.0, (0.0, -6.0))
"""Hiss level and caller levels of the latency runs on a hissy line."""
HYBRID = np.random.default_rng(1).normal(size=96) * np.exp(-np.arange(96) / 25)
"""tests/test_bargein.py's dispersive hybrid: 12 ms at 8 kHz, G.168 Annex D-like."""


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


def looped(pcm: bytes, seconds: float) -> bytes:
    n = int(seconds * SAMPLE_RATE) * 2
    return (pcm * (n // len(pcm) + 1))[:n]


def stream(pcm: bytes, resampler: StreamResampler, chunk: int) -> bytes:
    """Through a streaming resampler in 20 ms pieces, as the edges do."""
    return b"".join(resampler.process(pcm[i : i + chunk]) for i in range(0, len(pcm), chunk))


def narrowband(pcm: bytes) -> np.ndarray:
    """16 kHz PCM as the 8 kHz μ-law leg carries it."""
    return ulaw(samples(stream(pcm, StreamResampler(SAMPLE_RATE, 8000), FRAME_BYTES)))


def wideband(x: np.ndarray) -> bytes:
    """8 kHz samples through μ-law and back to 16 kHz, as Asterisk hands them to us."""
    return stream(pcm16(ulaw(x)), StreamResampler(8000, SAMPLE_RATE), FRAME_BYTES // 2)


def line_echo(ours: bytes, db: float, line_ms: int, transport_ms: int, hybrid: bool = False) -> bytes:
    """Our voice as the caller stream carries it back: μ-law there, reflected (attenuated, late), μ-law back."""
    narrow = narrowband(ours)
    if hybrid:
        narrow = np.convolve(narrow, HYBRID / np.sqrt(np.sum(HYBRID**2)))[: len(narrow)]
    reflected = np.concatenate((np.zeros(8 * line_ms), narrow * 10 ** (db / 20)))
    return bytes(2 * SAMPLE_RATE * transport_ms // 1000) + wideband(reflected)


def mix(*tracks: tuple[int, bytes]) -> bytes:
    """(start frame, pcm) tracks added together on one line."""
    n = max(start * FRAME_BYTES // 2 + len(pcm) // 2 for start, pcm in tracks)
    out = np.zeros(n)
    for start, pcm in tracks:
        i = start * FRAME_BYTES // 2
        out[i : i + len(pcm) // 2] += samples(pcm)
    return pcm16(out)


def active_dbfs(pcm: bytes) -> float:
    """The level of the voice: RMS over the frames above −40 dBFS."""
    x = np.concatenate([samples(f) for f in frames(pcm) if rms_dbfs(f) > VOICED_DBFS])
    return float(20 * np.log10(np.sqrt(np.mean(x**2)) / 32768))


def scaled(pcm: bytes, db: float) -> bytes:
    return pcm16(samples(pcm) * 10 ** (db / 20))


# -- CPU --------------------------------------------------------------------------------------------
def phase(ours: bytes | None, caller: bytes, speaking: bool) -> tuple[list[int], list[int]]:
    """(CPU ns, wall ns) per frame for played() + caller_frame(); webrtcvad runs outside the timing."""
    detector, endpointer = BargeInDetector(), Endpointer(VadConfig())
    ref = frames(ours) if ours else []
    cpu, wall = [], []
    for i, frame in enumerate(frames(caller)):
        endpointer.process(frame)
        played = ref[i] if i < len(ref) else b""
        c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
        detector.played(played)
        detector.caller_frame(frame, endpointer.last_frame_voiced, speaking)
        wall.append(time.perf_counter_ns() - w0)
        cpu.append(time.thread_time_ns() - c0)
        detector.reset()  # measure the steady state, not what happens after a barge-in
    return cpu, wall


def summary(costs: tuple[list[int], list[int]]) -> dict[str, float]:
    cpu, wall = np.array(costs[0]) / 1000, np.array(costs[1]) / 1000
    mean = float(cpu.mean())
    return {
        "frames": len(cpu),
        "mean_us": round(mean, 1),
        "p50_us": round(float(np.percentile(cpu, 50)), 1),
        "p99_us": round(float(np.percentile(cpu, 99)), 1),
        "max_us": round(float(cpu.max()), 1),
        "wall_p99_us": round(float(np.percentile(wall, 99)), 1),
        f"core_pct_{CALLS}_calls": round(mean * 1e-6 * (1000 / FRAME_MS) * CALLS * 100, 2),
    }


def cpu(seconds: float) -> dict[str, Any]:
    speech = load_turn(DEMO, SAMPLE_RATE)
    ours = looped(speech, seconds)
    other = looped(speech[::-1], seconds)  # unrelated "speech" with the same level and spectrum
    phase(ours[: 2 * SAMPLE_RATE * 2], other[: 2 * SAMPLE_RATE * 2], speaking=True)  # warm-up, untimed
    return {
        "idle": summary(phase(None, other, speaking=False)),
        "echo": summary(phase(ours, line_echo(ours, -10.0, 0, 150)[: len(ours)], speaking=True)),
        "no_echo": summary(phase(ours, other, speaking=True)),
    }


# -- latency ----------------------------------------------------------------------------------------
def piper_speech(cache: Path) -> tuple[list[bytes], list[bytes]]:
    """(our replies, the callers' sentences) as 16 kHz PCM from the bundled Piper voice, cached by text."""
    key = hashlib.sha256(json.dumps([REPLIES, CALLERS]).encode()).hexdigest()[:12]
    path = cache / f"bargein-speech-{key}.npz"
    if not path.exists():
        from sentiric_pbx.config import Settings
        from sentiric_pbx.engines.tts.piper import PiperTts
        from sentiric_pbx.models import resolve_model

        settings = Settings()
        onnx = resolve_model(settings.tts.voice, settings)
        voices: dict[float, PiperTts] = {}
        for scale in sorted({1.0, *(s for _, s in CALLERS)}):
            voices[scale] = PiperTts(onnx, length_scale=scale)
            voices[scale].load()
        say = [voices[1.0].synthesize_blocking(t) for t in REPLIES]
        say += [voices[s].synthesize_blocking(t) for t, s in CALLERS]
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(path, *[np.frombuffer(p, dtype="<i2") for p in say])
    clips = [a.astype("<i2").tobytes() for a in np.load(path).values()]
    return clips[: len(REPLIES)], clips[len(REPLIES) :]


def session(line: bytes, ours: bytes, stop_at_first: bool) -> tuple[list[int], int]:
    """listening.py's loop over `line` while we play `ours`: (barge-in frames, longest counting run in ms)."""
    detector, endpointer = BargeInDetector(), Endpointer(VadConfig())
    ref = frames(ours)
    hits: list[int] = []
    longest = 0
    for i, frame in enumerate(frames(line)):
        speaking = i < len(ref)
        detector.played(ref[i] if speaking else b"")
        endpointer.process(SILENCE if detector.hear(frame) else frame)
        if detector.decide(endpointer.last_frame_voiced, speaking):
            hits.append(i)
            if stop_at_first:
                break
            detector.reset()
        longest = max(longest, detector._run_ms)
    return hits, longest


def onset_frame(pcm: bytes) -> int:
    return next(i for i, f in enumerate(frames(pcm)) if rms_dbfs(f) > VOICED_DBFS)


def percentiles(values: list[int]) -> dict[str, int | None]:
    if not values:
        return {"p50_ms": None, "p90_ms": None, "max_ms": None}
    a = np.array(values)
    return {
        "p50_ms": int(np.percentile(a, 50)),
        "p90_ms": int(np.percentile(a, 90)),
        "max_ms": int(a.max()),
    }


def callers_over(replies: list[bytes], lines: list[bytes], callers: list[bytes], db: float) -> tuple[list[int], int]:
    """Each caller at `db`, 2, 3 and 4 s into a reply whose line carries `lines[j]`: (ms to barge-in, missed)."""
    heard_ms, missed = [], 0
    for k, clean in enumerate(callers):
        j = k % len(replies)
        for start_s in STARTS_S:
            start = int(start_s * 1000) // FRAME_MS
            caller = wideband(narrowband(scaled(clean, db)))
            line = mix((0, lines[j]), (start, caller))[: len(replies[j])]
            hits, _ = session(line, replies[j], stop_at_first=True)
            onset = start + onset_frame(clean)
            if not hits or hits[0] < onset:
                missed += 1  # an early hit would be our echo: counted as a miss and shown below
                continue
            heard_ms.append((hits[0] + 1 - onset) * FRAME_MS)
    return heard_ms, missed


def latency(cache: Path) -> dict[str, Any]:
    replies, callers = piper_speech(cache)
    level = active_dbfs(b"".join(replies))
    callers = [scaled(c, level - active_dbfs(c)) for c in callers]  # as loud as our voice
    out: dict[str, Any] = {}
    pooled: dict[float, list[int]] = {db: [] for db in CALLER_DB}
    for name, echo in LINES.items():
        rows: dict[str, Any] = {}
        echoes = [line_echo(r, **echo) if echo else bytes(len(r)) for r in replies]
        for db in CALLER_DB:
            heard_ms, missed = callers_over(replies, echoes, callers, db)
            rows[f"{db:+g} dB"] = {"runs": len(callers) * len(STARTS_S), "missed": missed, **percentiles(heard_ms)}
            pooled[db] += heard_ms
        false, longest, echo_s = 0, 0, 0.0
        if echo is not None:
            for reply, transport_ms in ((r, t) for r in replies for t in ECHO_ONLY_TRANSPORT_MS):
                echo_line = line_echo(reply, **{**echo, "transport_ms": transport_ms})[: len(reply)]
                hits, run_ms = session(echo_line, reply, stop_at_first=False)
                false += len(hits)
                longest = max(longest, run_ms)
                echo_s += len(reply) / (2 * SAMPLE_RATE)
        rows["echo_only"] = {"seconds": round(echo_s, 1), "false_barge_ins": false, "longest_run_ms": longest}
        out[name] = rows
    runs = len(LINES) * len(callers) * len(STARTS_S)
    out["all lines"] = {
        f"{db:+g} dB": {"runs": runs, "missed": runs - len(pooled[db]), **percentiles(pooled[db])} for db in CALLER_DB
    }
    echo_only = [out[n]["echo_only"] for n in LINES]
    out["all lines"]["echo_only"] = {
        "seconds": round(sum(e["seconds"] for e in echo_only), 1),
        "false_barge_ins": sum(e["false_barge_ins"] for e in echo_only),
        "longest_run_ms": max(e["longest_run_ms"] for e in echo_only),
    }
    return {"lines": out, "not_a_caller": not_a_caller(replies, callers), "hiss": hiss(replies, callers)}


def hiss_line(n: int, dbfs: float, seed: int) -> bytes:
    """`n` samples of white noise at `dbfs` (RMS, 16 kHz) as the μ-law leg carries it."""
    return wideband(narrowband(pcm16(np.random.default_rng(seed).normal(0, 32768 * 10 ** (dbfs / 20), n))))


def hiss(replies: list[bytes], callers: list[bytes]) -> dict[str, Any]:
    """Steady hiss over our voice on every line: false barge-ins per minute; callers over −40 dBFS of it."""
    out: dict[str, Any] = {}
    for name, echo in LINES.items():
        echoes = [line_echo(r, **echo)[: len(r)] if echo else bytes(len(r)) for r in replies]
        rows: dict[str, Any] = {}
        for dbfs in HISS_DBFS:
            hits, seconds = 0, 0.0
            for j, reply in enumerate(replies):
                noisy = mix((0, echoes[j]), (0, hiss_line(len(reply) // 2, dbfs, seed=j)))[: len(reply)]
                hits += len(session(noisy, reply, stop_at_first=False)[0])
                seconds += len(reply) / (2 * SAMPLE_RATE)
            rows[f"{dbfs:g} dBFS"] = {
                "seconds": round(seconds, 1),
                "false_barge_ins": hits,
                "per_minute": round(60 * hits / seconds, 1),
            }
        dbfs, levels = HISS_CALLER
        noisy_lines = [mix((0, e), (0, hiss_line(len(e) // 2, dbfs, seed=j))) for j, e in enumerate(echoes)]
        for db in levels:
            heard_ms, missed = callers_over(replies, noisy_lines, callers, db)
            rows[f"caller {db:+g} dB over {dbfs:g} dBFS"] = {
                "runs": len(callers) * len(STARTS_S),
                "missed": missed,
                **percentiles(heard_ms),
            }
        out[name] = rows
    return out


def bursts(n: int, rng: np.random.Generator, length_ms: tuple[int, int], gap_ms: tuple[int, int]) -> np.ndarray:
    """Hann-shaped noise bursts (a fit of coughing, a crackling cord) peaking at −15 dBFS, from 0.5 s on."""
    out, i = np.zeros(n), SAMPLE_RATE // 2
    while i < n:
        piece = out[i : i + int(rng.uniform(*length_ms) * SAMPLE_RATE / 1000)]
        piece += rng.normal(0, 6000, len(piece)) * np.hanning(len(piece))
        i += len(piece) + int(rng.uniform(*gap_ms) * SAMPLE_RATE / 1000)
    return out


def backchannels(
    n: int, rng: np.random.Generator, speech: np.ndarray, pieces: int, piece_ms: int
) -> tuple[np.ndarray, int]:
    """Every 2 s, `pieces` bits of caller speech `piece_ms` long and as far apart ("mm-hm", "yeah, yeah")."""
    d = piece_ms * SAMPLE_RATE // 1000
    loud = [i for i in range(0, len(speech) - d, 320) if np.sqrt(np.mean(speech[i : i + d] ** 2)) > 1000]
    out, i, count = np.zeros(n), SAMPLE_RATE, 0
    while i + 2 * SAMPLE_RATE < n:
        count += 1
        for _ in range(pieces):
            j = int(rng.choice(loud))
            out[i : i + d] = speech[j : j + d] * np.hanning(d) ** 0.3
            i += 2 * d
        i += 2 * SAMPLE_RATE
    return out, count


def not_a_caller(replies: list[bytes], callers: list[bytes]) -> dict[str, Any]:
    """Barge-ins on sounds that are not a caller taking the floor, over each reply on two lines."""
    speech = samples(b"".join(callers))
    sounds = {
        "hiss -40 dBFS": lambda n, rng: (rng.normal(0, 330, n), 0),
        "coughing": lambda n, rng: (bursts(n, rng, (100, 160), (150, 600)), 0),
        "crackle": lambda n, rng: (bursts(n, rng, (20, 60), (40, 200)), 0),
        "mm-hm (2 x 150 ms)": lambda n, rng: backchannels(n, rng, speech, 2, 150),
        "yeah, yeah (2 x 200 ms)": lambda n, rng: backchannels(n, rng, speech, 2, 200),
    }
    out: dict[str, Any] = {}
    for name, make in sounds.items():
        rng = np.random.default_rng(5)
        hits, seconds, events = 0, 0.0, 0
        for echo in (None, LINES["echo -12 dB"]):
            for reply in replies:
                noise, count = make(len(reply) // 2, rng)
                sound, events = wideband(narrowband(pcm16(noise))), events + count
                ours = line_echo(reply, **echo) if echo else bytes(len(reply))
                hits += len(session(mix((0, ours), (0, sound))[: len(reply)], reply, stop_at_first=False)[0])
                seconds += len(reply) / (2 * SAMPLE_RATE)
        out[name] = {"seconds": round(seconds, 1), "barge_ins": hits, **({"backchannels": events} if events else {})}
    return out


def print_latency(results: dict[str, Any]) -> None:
    print("\nbarge-in latency: caller's first voiced frame → barge-in, ms (caller level vs. our voice)")
    header = "".join(f" {db:>+4g} dB p50/p90/max   miss" for db in CALLER_DB)
    print(f"{'line':<14}{header}   echo alone: s  false  longest run")
    for name, rows in results["lines"].items():
        cells = ""
        for db in CALLER_DB:
            r = rows[f"{db:+g} dB"]
            cells += f"  {r['p50_ms']!s:>5}/{r['p90_ms']!s:>4}/{r['max_ms']!s:>4} {r['missed']:>3}/{r['runs']:<3}"
        e = rows["echo_only"]
        print(f"{name:<14}{cells}   {e['seconds']:>12}  {e['false_barge_ins']:>5}  {e['longest_run_ms']:>8} ms")
    print("\nnot a caller taking the floor, over our voice (no echo and -12 dB echo lines): barge-ins")
    for name, r in results["not_a_caller"].items():
        of = f"of {r['backchannels']} backchannels" if "backchannels" in r else ""
        print(f"{name:<24} {r['barge_ins']:>3} in {r['seconds']} s {of}")
    dbfs, levels = HISS_CALLER
    print("\nsteady hiss over our voice: false barge-ins per minute (count); callers over the hiss, ms")
    header = "".join(f" {h:>+4g} dBFS   " for h in HISS_DBFS)
    callers = "".join(f"  {db:>+3g} dB over {dbfs:g}: p50/p90/max miss" for db in levels)
    print(f"{'line':<14}{header}{callers}")
    for name, rows in results["hiss"].items():
        cells = ""
        for h in HISS_DBFS:
            r = rows[f"{h:g} dBFS"]
            cells += f" {r['per_minute']:>5} ({r['false_barge_ins']:>2})  "
        for db in levels:
            r = rows[f"caller {db:+g} dB over {dbfs:g} dBFS"]
            cells += f"  {r['p50_ms']!s:>14}/{r['p90_ms']!s:>4}/{r['max_ms']!s:>4} {r['missed']:>2}/{r['runs']:<2}"
        print(f"{name:<14}{cells}")


def main() -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=8.0, help="CPU: audio per phase, s (default 8)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--cpu-only", action="store_true", help="skip the latency measure")
    which.add_argument("--latency-only", action="store_true", help="skip the CPU measure")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "sentiric-bench-bargein")
    args = parser.parse_args()
    results: dict[str, object] = {}
    if not args.latency_only:
        results.update(cpu(args.seconds))
    if not args.cpu_only:
        results["latency"] = latency(args.cache)
    results["python"] = sys.version.split()[0]
    if args.json:
        sys.stdout.write(json.dumps(results) + "\n")
        return results
    if not args.latency_only:
        print(f"CPU per frame   {'frames':>6} {'mean':>8} {'p50':>8} {'p99':>8} {'max':>8}  wall p99  {CALLS} calls")
        for name in ("idle", "echo", "no_echo"):
            r = results[name]
            assert isinstance(r, dict)
            print(
                f"{name:<15} {r['frames']:>6} {r['mean_us']:>6} µs {r['p50_us']:>5} µs {r['p99_us']:>5} µs "
                f"{r['max_us']:>5} µs  {r['wall_p99_us']:>5} µs  {r[f'core_pct_{CALLS}_calls']} % of a core"
            )
    if not args.cpu_only:
        print_latency(results["latency"])  # type: ignore[arg-type]
    return results


if __name__ == "__main__":
    main()
