"""Media-plane benchmark: N concurrent echo calls against a real `sentiric-pbx run` subprocess.

    python bench/media.py [--calls N] [--seconds S] [--rate 8000|16000] [--json]

The daemon runs as its own process (`sentiric-pbx run` from this interpreter's bin directory) on free
loopback ports, echo agent, metrics off, logging at warning. The load generator plays Asterisk: per
call one TCP connection to AudioSocket, the UUID frame, then one audio frame every 20 ms on an absolute
clock for S seconds (kind 0x10 or 0x12), cycling ~1.5 s of speech from `demo-turn.wav` and ~1.5 s of
silence, so the endpointer fires and the echo agent really plays each turn back. Call starts are
staggered over ~1 s and each call starts at a different point of the speech/silence cycle, so the
turns of independent callers are spread out as on a real PBX. Then the caller closes TCP (Asterisk's
hangup). The daemon is always stopped at the end, whatever happens.

The load generator is deliberately small: raw non-blocking sockets driven by asyncio callbacks and the
protocol module's `encode`/`FrameParser` (not the test caller), spread over one worker process per
50 calls. Arrival times are the kernel's receive timestamps (SO_TIMESTAMPNS), so the generator's own
scheduling delay does not enter the figures; it still reports its send lateness, event-loop lag and
"coalesced reads" (it fell over a frame behind: distrust the run) so you can judge it. `host` says
how much CPU the rest of the machine took meanwhile: on a shared box, rerun when that is high.

`--pin` gives the daemon the first CPU and the load generator the others, `--nice -10` (root) raises
both above other jobs: together they measure what one core sustains. `--profile FILE` runs the daemon
under cProfile.

What is measured:
  * the arrival time of every daemon frame at the caller, after each call's first second (warm-up):
    inter-frame interval p50/p99/max pooled over all calls, the worst call's p99, and "underruns"
    (intervals > 40 ms: at least one frame missing at the far end);
  * frames received per call inside its S seconds, against the S*50 expected;
  * echo frames: received frames above -40 dBFS (the echo agent's replies);
  * the daemon's CPU (psutil, user+system): seconds per call-minute over the whole load window, and
    percent of one core while all N calls are up;
  * the daemon's RSS at the end of the steady window (all calls still up).

A fixed-time, self-stopping run; everything stays on 127.0.0.1. This is a benchmark that prints
numbers; it has no pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from array import array
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from sentiric_pbx.audio.frames import frame_bytes
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.telephony.audiosocket.protocol import KIND_BY_RATE, FrameParser, Kind, encode, encode_uuid

HOST = "127.0.0.1"
AGI_SECRET = "sentiric-bench-agi-secret"
"""`[fastagi] secret` of the daemons benchmarked here (the calls register with its key, as Asterisk does)."""
FRAME_S = 0.020
FRAMES_PER_S = 50
WARMUP_S = 1.0
STAGGER_S = 1.0
SPEECH_S = 1.5
SILENCE_S = 1.5
UNDERRUN_MS = 40.0
VOICED_DBFS = -40.0
VOICED_ENERGY = (32768.0 * 10 ** (VOICED_DBFS / 20)) ** 2  # mean square of a -40 dBFS signal
CALLS_PER_PROCESS = 50
GOLDEN = (math.sqrt(5) - 1) / 2
HEADER_BYTES = 3
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python does not export it
TIMESPEC = struct.Struct("@qq")
CMSG_SPACE = 64


# -- the caller side (runs in the worker processes) -------------------------------------------------


def _cycle_frames(rate: int) -> list[bytes]:
    """One speech/silence cycle as wire-ready frames: ~1.5 s of the demo turn, then ~1.5 s of silence."""
    with resources.as_file(resources.files("sentiric_pbx.data") / "demo-turn.wav") as path:
        with wave.open(str(path), "rb") as wav:
            pcm = resample(wav.readframes(wav.getnframes()), wav.getframerate(), rate)
    size = frame_bytes(rate)
    speech = pcm[: int(SPEECH_S * FRAMES_PER_S) * size]
    speech += bytes(-len(speech) % size)
    kind = KIND_BY_RATE[rate]
    frames = [encode(kind, speech[i : i + size]) for i in range(0, len(speech), size)]
    frames += [encode(kind, bytes(size))] * int(SILENCE_S * FRAMES_PER_S)
    return frames


class _Call:
    """One Asterisk-like call on a raw non-blocking socket, driven by loop callbacks (no tasks).

    Arrival times are the kernel's receive timestamps (SO_TIMESTAMPNS, CLOCK_REALTIME), not the time
    this process got round to reading: the client's own scheduling delay does not enter the figures.
    TCP merges a segment into a still-unread previous one (and stamps both with the later time), so
    we read one frame per recvmsg and count reads that saw a stale stamp as `coalesced`: if that is
    not ~0 the client fell more than a frame behind and its numbers are suspect.
    """

    def __init__(self, worker: _Worker, sock: socket.socket, phase: int) -> None:
        self.w = worker
        self.sock = sock
        self.phase = phase
        self.parser = FrameParser(max_payload=65535, expect_uuid=False)
        self.chunk = HEADER_BYTES + len(worker.silence_payload)
        self.times = array("d")
        self.frames = self.echo = self.coalesced = self.send_dropped = 0
        self.error: str | None = None
        self.k = 0
        self.pending = b""
        self.last_ts = 0.0
        self.t0 = self.t_warm = self.t_end = 0.0
        self.done: asyncio.Future[None] = worker.loop.create_future()

    def start(self) -> None:
        loop = self.w.loop
        self.t0 = loop.time()
        now_real = time.time()
        self.t_warm, self.t_end = now_real + WARMUP_S, now_real + self.w.seconds
        self._send(encode_uuid(uuid.uuid4()))
        loop.add_reader(self.sock, self._on_readable)
        self._tick()
        loop.call_at(self.t0 + self.w.seconds, self.finish)

    def _send(self, data: bytes) -> None:
        data = self.pending + data if self.pending else data
        try:
            sent = self.sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self.finish(f"send: {exc!r}")
            return
        self.pending = data[sent:]
        if len(self.pending) > 64_000:  # the daemon stopped reading; do not grow without bound
            self.send_dropped += 1
            self.pending = b""

    def _tick(self) -> None:
        """Frame k is due at t0 + k*20 ms (an absolute clock, as Asterisk's timer)."""
        if self.done.done():
            return
        loop, w = self.w.loop, self.w
        deadline = self.t0 + self.k * FRAME_S
        w.send_late_ms.append((loop.time() - deadline) * 1000)
        self._send(w.cycle[(self.phase + self.k) % len(w.cycle)])
        self.k += 1
        if self.k < w.frames_per_call:
            loop.call_at(self.t0 + self.k * FRAME_S, self._tick)

    def _on_readable(self) -> None:
        silence = self.w.silence_payload
        while True:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(self.chunk, CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.finish(f"recv: {exc!r}")
                return
            if not data:
                self.finish("daemon closed the call early")
                return
            ts = _kernel_stamp(anc)
            if ts == self.last_ts:
                self.coalesced += 1
            self.last_ts = ts
            if ts > self.t_end:  # the call's S seconds are over
                self.finish()
                return
            for frame in self.parser.feed(data):
                if frame.kind == Kind.HANGUP:
                    self.finish("daemon sent hangup")
                    return
                if frame.rate is None:
                    continue
                self.frames += 1
                if ts >= self.t_warm:
                    self.times.append(ts)
                if frame.payload != silence and _voiced(frame.payload):
                    self.echo += 1

    def finish(self, error: str | None = None) -> None:
        """End of the call: close TCP, as Asterisk does when the caller hangs up."""
        if self.done.done():
            return
        self.error = error
        with contextlib.suppress(Exception):
            self.w.loop.remove_reader(self.sock)
        self.sock.close()
        self.done.set_result(None)

    def result(self) -> dict[str, Any]:
        intervals = np.diff(np.frombuffer(self.times, dtype=np.float64)) * 1000.0
        return {
            "frames": self.frames,
            "echo": self.echo,
            "coalesced": self.coalesced,
            "send_dropped": self.send_dropped,
            "intervals": intervals.astype(np.float32).tobytes(),
            "error": self.error,
        }


def _voiced(pcm: bytes) -> bool:
    """RMS above VOICED_DBFS, i.e. `rms_dbfs(pcm) > VOICED_DBFS` without the log and the mean (cheaper)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return float(np.dot(x, x)) > len(x) * VOICED_ENERGY


def _kernel_stamp(anc: list[tuple[int, int, bytes]]) -> float:
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = TIMESPEC.unpack_from(data)
            return sec + nsec * 1e-9
    return time.time()  # no kernel stamp (not Linux?): the read time, which includes client lag


class _Worker:
    """All the calls of one client process, and what they saw."""

    def __init__(self, port: int, rate: int, seconds: float) -> None:
        self.port = port
        self.seconds = seconds
        self.frames_per_call = round(seconds * FRAMES_PER_S)
        self.cycle = _cycle_frames(rate)
        self.silence_payload = bytes(frame_bytes(rate))
        self.send_late_ms = array("f")
        self.loop_lag_ms = array("f")
        self.results: list[dict[str, Any]] = []
        self.loop: asyncio.AbstractEventLoop

    async def run(self, t_start: float, calls: list[tuple[int, float, int]]) -> None:
        self.loop = asyncio.get_running_loop()
        monitor = asyncio.create_task(self._monitor_loop())
        await asyncio.gather(*(self._call(t_start + offset, phase) for _i, offset, phase in calls))
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor

    async def _monitor_loop(self) -> None:
        """Event-loop lag of this client process: how late a 5 ms sleep wakes up."""
        loop = self.loop
        while True:
            t = loop.time()
            await asyncio.sleep(0.005)
            self.loop_lag_ms.append((loop.time() - t - 0.005) * 1000)

    async def _call(self, t_conn: float, phase: int) -> None:
        await asyncio.sleep(max(0.0, t_conn - self.loop.time()))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            await asyncio.wait_for(self.loop.sock_connect(sock, (HOST, self.port)), 5.0)
        except (OSError, TimeoutError) as exc:
            sock.close()
            failed: dict[str, Any] = {"frames": 0, "echo": 0, "coalesced": 0, "send_dropped": 0, "intervals": b""}
            self.results.append({**failed, "error": f"connect: {exc!r}"})
            return
        call = _Call(self, sock, phase)
        call.start()
        await call.done
        self.results.append(call.result())


def _worker_main(
    port: int,
    rate: int,
    seconds: float,
    calls: list[tuple[int, float, int]],
    go: Any,
    t_start: Any,
    out: Any,
    cpus: list[int] | None,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    if cpus:
        os.sched_setaffinity(0, cpus)
    worker = _Worker(port, rate, seconds)
    out.put(("ready", os.getpid()))
    go.wait()
    try:
        asyncio.run(worker.run(t_start.value, calls))
    except Exception as exc:  # report, never hang the parent
        out.put(("error", repr(exc)))
        return
    out.put(
        (
            "done",
            {
                "calls": worker.results,
                "send_late_ms": worker.send_late_ms.tobytes(),
                "loop_lag_ms": worker.loop_lag_ms.tobytes(),
            },
        )
    )


# -- the daemon ---------------------------------------------------------------------------------------


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _daemon_command(profile: Path | None) -> list[str]:
    if profile is not None:
        return [sys.executable, "-m", "cProfile", "-o", str(profile.resolve()), "-m", "sentiric_pbx.cli", "run"]
    exe = Path(sys.executable).parent / "sentiric-pbx"
    if not exe.exists():
        raise SystemExit(f"bench: {exe} not found; install the project into this interpreter's environment")
    return [str(exe), "run"]


def _start_daemon(
    audiosocket_port: int,
    fastagi_port: int,
    workdir: Path,
    log: Any,
    profile: Path | None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """`sentiric-pbx run` on our ports with an empty config; `extra_env` overrides (e.g. another agent mode)."""
    # An empty config file of our own, so neither /etc/sentiric-pbx nor a ./sentiric-pbx.toml leaks in.
    empty = workdir / "bench.toml"
    empty.write_text("")
    env = dict(os.environ)
    env.update(
        SENTIRIC_CONFIG=str(empty),
        SENTIRIC_AUDIOSOCKET__HOST=HOST,
        SENTIRIC_AUDIOSOCKET__PORT=str(audiosocket_port),
        SENTIRIC_FASTAGI__HOST=HOST,
        SENTIRIC_FASTAGI__PORT=str(fastagi_port),
        SENTIRIC_FASTAGI__SECRET=AGI_SECRET,
        SENTIRIC_METRICS__ENABLED="false",
        SENTIRIC_LOGGING__LEVEL="warning",
        SENTIRIC_AGENT__MODE="echo",
    )
    env.update(extra_env or {})
    # Own session: a Ctrl-C on the terminal reaches only us, and we stop the daemon ourselves.
    return subprocess.Popen(
        _daemon_command(profile),
        env=env,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_listening(proc: subprocess.Popen, port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with code {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"daemon did not accept on {HOST}:{port} within {timeout_s:.0f} s")


def _stop_daemon(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()  # SIGTERM: the daemon closes its calls and exits
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# -- the run ------------------------------------------------------------------------------------------


def _sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _cpu_s(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def _clients_cpu_s(workers: list[Any]) -> float:
    total = 0.0
    for w in workers:
        with contextlib.suppress(psutil.Error):
            total += _cpu_s(psutil.Process(w.pid))
    return total


def _host_busy_s() -> tuple[float, float]:
    """(busy time, interrupt time) of the whole machine, all CPUs together.

    Busy includes irq+softirq: the kernel charges loopback TCP processing partly to the processes
    that send (their stime) and partly to softirq, so only the total can be compared with ours.
    """
    t = psutil.cpu_times()
    irq = getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)
    return t.user + t.nice + t.system + irq, irq


def _pct(values: np.ndarray, q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if len(values) else 0.0


def _receive_from(out: Any, expected: str, timeout_s: float) -> Any:
    try:
        kind, payload = out.get(timeout=timeout_s)
    except queue.Empty:
        raise RuntimeError(f"a client process sent nothing for {timeout_s:.0f} s (waiting for {expected!r})") from None
    if kind != expected:
        raise RuntimeError(f"a client process failed: {payload}")
    return payload


def run_bench(
    calls: int, seconds: float, rate: int, procs: int, profile: Path | None, pin: bool = False, nice: int = 0
) -> dict[str, Any]:
    nprocs = procs or max(1, math.ceil(calls / CALLS_PER_PROCESS))
    nprocs = min(nprocs, calls)
    cycle_len = int((SPEECH_S + SILENCE_S) * FRAMES_PER_S)
    # Call i connects at frac(i*golden ratio) of the stagger window, not at i/N: with i/N and N=50 every
    # call would connect on a multiple of 20 ms and all the 20 ms clocks (ours and the daemon's) would
    # tick in phase, a worst case no real PBX produces. It starts at i/N of the speech/silence cycle.
    plan = [(i, STAGGER_S * ((i * GOLDEN) % 1.0), cycle_len * i // calls) for i in range(calls)]
    shares = [plan[w::nprocs] for w in range(nprocs)]

    as_port, agi_port = _free_ports(2)
    ctx = mp.get_context("spawn")
    go, t_start_v, out = ctx.Event(), ctx.Value("d", 0.0), ctx.Queue()
    workers: list[Any] = []
    workdir = tempfile.TemporaryDirectory(prefix="sentiric-bench-")
    log = tempfile.TemporaryFile()
    proc = _start_daemon(as_port, agi_port, Path(workdir.name), log, profile)
    try:
        _wait_listening(proc, as_port)
        daemon = psutil.Process(proc.pid)
        client_cpus: list[int] | None = None
        if pin:
            # The daemon gets CPU 0 to itself (as far as we are concerned); we take the others.
            cpus = sorted(os.sched_getaffinity(0))
            if len(cpus) < 2:
                raise RuntimeError("--pin needs at least 2 CPUs")
            daemon.cpu_affinity(cpus[:1])
            client_cpus = cpus[1:]
            os.sched_setaffinity(0, client_cpus)
        if nice:
            daemon.nice(nice)  # only our own processes; negative values need root (CAP_SYS_NICE)
        for share in shares:
            args = (as_port, rate, seconds, share, go, t_start_v, out, client_cpus)
            w = ctx.Process(target=_worker_main, args=args, daemon=True)
            w.start()
            workers.append(w)
            if nice:
                psutil.Process(w.pid).nice(nice)
        for _ in workers:
            _receive_from(out, "ready", 60)
        t_start = time.monotonic() + 0.2
        t_start_v.value = t_start
        go.set()

        _sleep_until(t_start)
        cpu_begin = _cpu_s(daemon)
        _sleep_until(t_start + STAGGER_S + 0.05)  # every call is up
        cpu_steady0, t_steady0 = _cpu_s(daemon), time.monotonic()
        clients0, host0 = _clients_cpu_s(workers), _host_busy_s()
        _sleep_until(t_start + seconds)  # the first call is about to end
        cpu_steady1, t_steady1 = _cpu_s(daemon), time.monotonic()
        clients1, host1 = _clients_cpu_s(workers), _host_busy_s()
        rss_mb = daemon.memory_info().rss / 2**20
        _sleep_until(t_start + STAGGER_S + seconds + 0.5)  # every call has hung up and been torn down
        cpu_end = _cpu_s(daemon)

        reports = [_receive_from(out, "done", 30) for _ in workers]
        for w in workers:
            w.join(10)
        if proc.poll() is not None:
            raise RuntimeError(f"daemon exited with code {proc.returncode} during the run")
    except BaseException:
        log.seek(0)
        tail = log.read()[-4000:].decode(errors="replace").strip()
        if tail:
            print(f"bench: daemon output (tail):\n{tail}", file=sys.stderr)
        raise
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
                w.join(5)
        _stop_daemon(proc)
        log.close()
        workdir.cleanup()

    per_call = [c for r in reports for c in r["calls"]]
    ivs = [np.frombuffer(c["intervals"], dtype=np.float32) for c in per_call]
    pooled = np.concatenate(ivs) if ivs else np.zeros(0, dtype=np.float32)
    worst_p99 = max((float(np.percentile(iv, 99)) for iv in ivs if len(iv)), default=0.0)
    send_late = np.concatenate([np.frombuffer(r["send_late_ms"], dtype=np.float32) for r in reports])
    loop_lag = np.concatenate([np.frombuffer(r["loop_lag_ms"], dtype=np.float32) for r in reports])
    errors = [c["error"] for c in per_call if c["error"]]
    steady_s = max(t_steady1 - t_steady0, 1e-9)
    return {
        "calls": calls,
        "seconds": seconds,
        "rate": rate,
        "client_processes": nprocs,
        "pinned": pin,
        "nice": nice,
        "interval_ms": {
            "p50": _pct(pooled, 50),
            "p99": _pct(pooled, 99),
            "max": round(float(pooled.max()), 3) if len(pooled) else 0.0,
            "worst_call_p99": round(worst_p99, 3),
        },
        "underruns": int((pooled > UNDERRUN_MS).sum()),
        "frames_received": int(sum(c["frames"] for c in per_call)),
        "frames_expected": int(round(seconds * FRAMES_PER_S) * calls),
        "cpu_s_per_call_minute": round((cpu_end - cpu_begin) / (calls * seconds / 60.0), 4),
        "daemon_cpu_percent": round((cpu_steady1 - cpu_steady0) / steady_s * 100.0, 1),
        "daemon_rss_mb": round(rss_mb, 1),
        "echo_frames": int(sum(c["echo"] for c in per_call)),
        "failed_calls": len(errors),
        "client": {
            "cpu_percent": round((clients1 - clients0) / steady_s * 100.0, 1),
            "send_late_ms_p99": _pct(send_late, 99),
            "loop_lag_ms_p99": _pct(loop_lag, 99),
            "loop_lag_ms_max": round(float(loop_lag.max()), 3) if len(loop_lag) else 0.0,
            "coalesced_reads": int(sum(c["coalesced"] for c in per_call)),
            "send_dropped": int(sum(c["send_dropped"] for c in per_call)),
        },
        "host": {
            "cores": psutil.cpu_count(),
            # Everything else on the machine while all calls were up (other jobs distort the figures).
            # Interrupt time spent on our own loopback traffic is included, so ~5-10 % is our own.
            "other_cpu_percent": round(
                max(0.0, (host1[0] - host0[0]) - (cpu_steady1 - cpu_steady0) - (clients1 - clients0))
                / steady_s
                * 100.0,
                1,
            ),
            "irq_percent": round((host1[1] - host0[1]) / steady_s * 100.0, 1),
        },
        "errors": sorted(set(errors))[:5],
    }


def _print_summary(r: dict[str, Any]) -> None:
    iv, cl, host = r["interval_ms"], r["client"], r["host"]
    print(
        f"sentiric-pbx media bench: {r['calls']} echo calls × {r['seconds']:g} s at {r['rate']} Hz, "
        f"{r['client_processes']} client process(es)" + (", daemon pinned to its own CPU" if r["pinned"] else "")
    )
    print(
        f"  outbound frame interval (after {WARMUP_S:g} s warm-up): p50 {iv['p50']:.2f} ms  "
        f"p99 {iv['p99']:.2f} ms  max {iv['max']:.2f} ms  worst call p99 {iv['worst_call_p99']:.2f} ms"
    )
    got = 100.0 * r["frames_received"] / max(1, r["frames_expected"])
    print(
        f"  underruns (> {UNDERRUN_MS:g} ms): {r['underruns']}   frames {r['frames_received']}/{r['frames_expected']}"
        f" ({got:.2f} %)   echo frames {r['echo_frames']}"
    )
    print(
        f"  daemon: {r['daemon_cpu_percent']:.1f} % of a core with all calls up, "
        f"{r['cpu_s_per_call_minute']:.3f} CPU s per call-minute, RSS {r['daemon_rss_mb']:.1f} MB"
    )
    print(
        f"  load generator: {cl['cpu_percent']:.1f} % CPU, send lateness p99 {cl['send_late_ms_p99']:.2f} ms, "
        f"loop lag p99 {cl['loop_lag_ms_p99']:.2f} ms / max {cl['loop_lag_ms_max']:.2f} ms, "
        f"coalesced reads {cl['coalesced_reads']}"
    )
    print(
        f"  host: {host['cores']} cores; other processes + interrupts used {host['other_cpu_percent']:.1f} % "
        f"meanwhile (interrupts alone {host['irq_percent']:.1f} %)"
    )
    if r["failed_calls"]:
        print(f"  FAILED calls: {r['failed_calls']} ({'; '.join(r['errors'])})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=10, help="concurrent calls (default 10)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each call (default 20)")
    ap.add_argument("--rate", type=int, choices=(8000, 16000), default=8000, help="caller's rate (default 8000)")
    ap.add_argument("--json", action="store_true", help="print exactly one JSON object")
    ap.add_argument(
        "--procs", type=int, default=0, help=f"client processes (default: one per {CALLS_PER_PROCESS} calls)"
    )
    ap.add_argument(
        "--pin", action="store_true", help="pin the daemon to the first CPU and the load generator to the others"
    )
    ap.add_argument(
        "--nice", type=int, default=0, help="run the daemon and the load generator at this nice value (e.g. -10)"
    )
    ap.add_argument("--profile", type=Path, help="run the daemon under cProfile and write its stats here")
    args = ap.parse_args(argv)
    if args.calls < 1:
        ap.error("--calls must be at least 1")
    if args.seconds <= WARMUP_S + STAGGER_S:
        ap.error(f"--seconds must be more than {WARMUP_S + STAGGER_S:g}")

    def _on_term(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _on_term)
    try:
        result = run_bench(args.calls, args.seconds, args.rate, args.procs, args.profile, args.pin, args.nice)
    except KeyboardInterrupt:
        print("bench: interrupted; daemon stopped", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        _print_summary(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
