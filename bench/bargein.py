"""Barge-in detector benchmark: what one call's detector costs per 20 ms caller frame.

    python bench/bargein.py [--json] [--seconds S]

The detector runs for every caller frame of every call (`played()` then `caller_frame()`), so its cost
is paid 50 times a second per call. Measured on one detector fed the way the session feeds it (webrtcvad
outside the timing: the session runs it anyway), in three phases of S seconds each (default 8):

  * idle: we are silent, the caller's line carries speech (only the histories are kept up to date);
  * echo: we speak the demo turn on a loop and the line returns it as a −10 dB μ-law echo, 150 ms late
    (the echo path locks; a coherence check every 5 frames, a residual on every voiced frame);
  * no_echo: we speak, the caller's line carries unrelated speech and no echo (a full delay search
    every 5 frames, the level rule).

Per phase: mean, p50, p99 and max µs of CPU per frame (time.thread_time_ns: on a shared machine the
wall clock also counts the time the scheduler gave to others; the wall-clock p99 is printed beside it),
and what 8 calls in that phase take of one core. One untimed run first, so numpy's FFT plans exist. A
benchmark that prints numbers; no pass/fail.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sentiric_pbx.audio.frames import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from sentiric_pbx.audio.g711 import ulaw_decode, ulaw_encode
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.audio.vad import Endpointer
from sentiric_pbx.config import VadConfig
from sentiric_pbx.dialog.bargein import BargeInDetector
from sentiric_pbx.tools.caller import load_turn

DEMO = Path(__file__).resolve().parents[1] / "sentiric_pbx" / "data" / "demo-turn.wav"
CALLS = 8


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


def looped(pcm: bytes, seconds: float) -> bytes:
    n = int(seconds * SAMPLE_RATE) * 2
    return (pcm * (n // len(pcm) + 1))[:n]


def line_echo(ours: bytes, db: float, delay_ms: int) -> bytes:
    """Our voice as a μ-law line returns it: 8 kHz, quantised, attenuated, late."""
    narrow = np.frombuffer(ulaw_decode(ulaw_encode(resample(ours, SAMPLE_RATE, 8000))), dtype="<i2")
    quiet = (narrow.astype(np.float64) * 10 ** (db / 20)).astype("<i2").tobytes()
    return bytes(SAMPLE_RATE * 2 * delay_ms // 1000) + resample(quiet, 8000, SAMPLE_RATE)


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


def main() -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=8.0, help="audio per phase, s (default 8)")
    args = parser.parse_args()
    speech = load_turn(DEMO, SAMPLE_RATE)
    ours = looped(speech, args.seconds)
    other = looped(speech[::-1], args.seconds)  # unrelated "speech" with the same level and spectrum
    phase(ours[: 2 * SAMPLE_RATE * 2], other[: 2 * SAMPLE_RATE * 2], speaking=True)  # warm-up, untimed
    results: dict[str, object] = {
        "idle": summary(phase(None, other, speaking=False)),
        "echo": summary(phase(ours, line_echo(ours, -10.0, 150)[: len(ours)], speaking=True)),
        "no_echo": summary(phase(ours, other, speaking=True)),
        "python": sys.version.split()[0],
    }
    if args.json:
        sys.stdout.write(json.dumps(results) + "\n")
    else:
        print(f"CPU per frame   {'frames':>6} {'mean':>8} {'p50':>8} {'p99':>8} {'max':>8}  wall p99  {CALLS} calls")
        for name in ("idle", "echo", "no_echo"):
            r = results[name]
            assert isinstance(r, dict)
            print(
                f"{name:<15} {r['frames']:>6} {r['mean_us']:>6} µs {r['p50_us']:>5} µs {r['p99_us']:>5} µs "
                f"{r['max_us']:>5} µs  {r['wall_p99_us']:>5} µs  {r[f'core_pct_{CALLS}_calls']} % of a core"
            )
    return results


if __name__ == "__main__":
    main()
