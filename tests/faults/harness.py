"""What every fault needs: `sentiric-pbx run` / `worker` as real subprocesses, and Asterisk-like callers.

Shared by tests/faults/ and bench/soak.py (which runs the same faults at scale). The daemon is the
installed console script, configured only through `SENTIRIC_*` environment variables as an admin
would, logging JSON lines to a file that the tests read back: a fault's "one clear line" is checked
in the log the admin would read, not in an in-process capture.

The cheapest daemon that stores call records is the assistant with Whisper as its only STT engine
(no Vosk: ~8 s less to load) — echo mode keeps no records. Its models are imported once per test
session into one models directory (`bundled:` ids, nothing is downloaded).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from sentiric_pbx.audio.frames import frame_bytes
from sentiric_pbx.telephony.audiosocket.protocol import (
    HANGUP_FRAME,
    KIND_BY_RATE,
    FrameParser,
    encode,
    encode_uuid,
)
from tests.asterisk_peer import AGI_SECRET, register
from tests.redis_server import free_port

CLI = str(Path(sys.executable).parent / "sentiric-pbx")
FRAME_S = 0.020
READY_WITHIN_S = 240.0
"""Loading Whisper, Piper and the LLM takes ~30 s on an idle 2-core host; much more while other jobs run."""


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any SENTIRIC_* / systemd variable, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTIRIC_", "WATCHDOG_", "NOTIFY_SOCKET"))}
    # No console either: its fixed port 8095 is one per host, and daemons of other tests run beside this one.
    quiet = {"SENTIRIC_LOGGING__FORMAT": "json", "SENTIRIC_METRICS__ENABLED": "false",
             "SENTIRIC_CONSOLE__ENABLED": "false"}  # fmt: skip
    return env | quiet | settings


def assistant_env(workdir: Path, models_dir: Path, **settings: str) -> dict[str, str]:
    """The assistant on free ports, its database, archive and models under `workdir` / `models_dir`."""
    return clean_env(
        SENTIRIC_AGENT__MODE="assistant",
        SENTIRIC_STT__ENGINES='{"default": "whisper"}',
        SENTIRIC_MODELS__DIR=str(models_dir),
        SENTIRIC_STORAGE__DB_PATH=str(workdir / "sentiric.db"),
        SENTIRIC_STORAGE__ARCHIVE_DIR=str(workdir / "archive"),
        SENTIRIC_DIALOG__NO_INPUT_REPROMPT_S="30",  # these callers are silent on purpose
        SENTIRIC_POSTCALL__BACKOFF_BASE_S="0.5",
        **settings,
    )


def read_events(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                out.append(json.loads(line))
    return out


def matching(events: list[dict[str, Any]], event: str, **fields: object) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())]


class Process:
    """One `sentiric-pbx …` subprocess whose stdout+stderr (JSON log lines) go to `log`."""

    def __init__(self, args: list[str], env: Mapping[str, str], workdir: Path, log_name: str) -> None:
        self.args = args
        self.env = dict(env)
        self.workdir = workdir
        self.log = workdir / log_name
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [CLI, *self.args], env=self.env, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def events(self, event: str | None = None, **fields: object) -> list[dict[str, Any]]:
        every = read_events(self.log)
        return every if event is None else matching(every, event, **fields)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"

    def wait_for(self, event: str, within_s: float, count: int = 1, **fields: object) -> list[dict[str, Any]]:
        """Block until the log holds `count` lines of `event` (with `fields`); fail with the log's tail."""
        deadline = time.monotonic() + within_s
        while True:
            found = self.events(event, **fields)
            if len(found) >= count:
                return found
            if not self.running():
                raise AssertionError(f"{self.args[0]} exited before {event!r}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {count} × {event!r} within {within_s} s:\n{self.tail()}")
            time.sleep(0.05)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, within_s: float) -> int:
        assert self.proc is not None
        return self.proc.wait(within_s)

    def exits(self, within_s: float) -> int:
        """Its exit code; fail with the log's tail if it is still running after `within_s`."""
        try:
            return self.wait(within_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.args[0]} did not exit within {within_s} s:\n{self.tail()}") from None

    def kill(self) -> None:
        """SIGKILL: the process vanishes mid-whatever (OOM killer, power loss)."""
        if self.running():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, within_s: float = 30.0) -> int | None:
        """SIGTERM, as systemd stops it; SIGKILL if it does not exit within `within_s`."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(within_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def __enter__(self) -> Process:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class DaemonProcess(Process):
    """`sentiric-pbx run` on free loopback ports; `start()` returns once it logged `daemon_ready`."""

    def __init__(self, workdir: Path, env: Mapping[str, str], ready_within_s: float = READY_WITHIN_S) -> None:
        self.port, self.agi_port = free_port(), free_port()
        env = dict(env) | {"SENTIRIC_AUDIOSOCKET__PORT": str(self.port), "SENTIRIC_FASTAGI__PORT": str(self.agi_port)}
        env["SENTIRIC_FASTAGI__SECRET"] = AGI_SECRET
        super().__init__(["run"], env, workdir, "daemon.log")
        self.ready_within_s = ready_within_s

    @property
    def db_path(self) -> Path:
        return Path(self.env.get("SENTIRIC_STORAGE__DB_PATH", self.workdir / "sentiric.db"))

    @property
    def archive_dir(self) -> Path:
        return Path(self.env.get("SENTIRIC_STORAGE__ARCHIVE_DIR", self.workdir / "archive"))

    def start(self) -> DaemonProcess:
        super().start()
        if self.env.get("SENTIRIC_LOGGING__LEVEL", "info").lower() in ("debug", "info"):
            self.wait_for("daemon_ready", self.ready_within_s)
            return self
        deadline = time.monotonic() + self.ready_within_s  # quiet logs: the listening port tells instead
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.agi_port), timeout=0.5).close()
                return self
            except OSError:
                if not self.running() or time.monotonic() > deadline:
                    raise AssertionError(f"the daemon never listened on {self.agi_port}:\n{self.tail()}") from None
                time.sleep(0.1)

    def records(self) -> dict[str, dict[str, Any]]:
        """call_id → the durable row (status, outcome, context as a dict), read as `calls show` reads it."""
        return call_records(self.db_path)

    def wait_records(self, call_ids: list[str], within_s: float = 60.0) -> dict[str, dict[str, Any]]:
        """The records of `call_ids` once every one is stored and no longer active."""
        deadline = time.monotonic() + within_s
        while True:
            rows = self.records()
            if all(rows.get(c, {}).get("status") not in (None, "active") for c in call_ids):
                return {c: rows[c] for c in call_ids}
            if time.monotonic() > deadline:
                missing = [c for c in call_ids if rows.get(c, {}).get("status") in (None, "active")]
                raise AssertionError(f"{len(missing)} of {len(call_ids)} calls have no finished record: {missing[:5]}")
            time.sleep(0.2)


def call_records(db_path: Path) -> dict[str, dict[str, Any]]:
    if not db_path.exists():
        return {}
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        try:
            rows = conn.execute("SELECT call_id, status, outcome, context FROM calls").fetchall()
        except sqlite3.OperationalError:  # the daemon has not created the table yet
            return {}
    finally:
        conn.close()
    return {r[0]: {"status": r[1], "outcome": r[2], "context": json.loads(r[3] or "{}")} for r in rows}


def postcall_jobs(db_path: Path) -> list[dict[str, Any]]:
    """Every row of the SQLite outbox: kind, call_id, status, attempts, last_error."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT kind, call_id, status, attempts, last_error FROM postcall_jobs").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()
    keys = ("kind", "call_id", "status", "attempts", "last_error")
    return [dict(zip(keys, r, strict=True)) for r in rows]


# -- Asterisk's side of a call --------------------------------------------------------------------
HangupHow = Literal["frame", "close"]


async def call_and_hang_up(
    daemon: DaemonProcess,
    after_s: float,
    how: HangupHow,
    rate: int = 8000,
    call_id: str | None = None,
    hang_up_now: asyncio.Event | None = None,
) -> str:
    """Register over FastAGI, send the UUID and 20 ms of silence at a time, then hang up after `after_s`
    (or when `hang_up_now` is set, or when the daemon closes the call).

    `how`: "close" closes TCP as Asterisk does when the caller hangs up; "frame" sends 0x00 first, as
    a dialplan that ends the AudioSocket leg on purpose would. Returns the call_id.
    """
    call_id = call_id or str(uuid.uuid4())
    hang_up_now = hang_up_now or asyncio.Event()
    await register(daemon.agi_port, call_id)
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.port)
    drain = asyncio.create_task(_drain(reader))
    try:
        writer.write(encode_uuid(uuid.UUID(call_id)))
        loop = asyncio.get_running_loop()
        silence = encode(KIND_BY_RATE[rate], bytes(frame_bytes(rate)))
        started = deadline = loop.time()
        while loop.time() - started < after_s and not drain.done() and not hang_up_now.is_set():
            writer.write(silence)
            deadline += FRAME_S
            await asyncio.sleep(max(0.0, deadline - loop.time()))
        if how == "frame":
            writer.write(HANGUP_FRAME)
            await writer.drain()
    finally:
        drain.cancel()
        with contextlib.suppress(Exception):
            writer.close()
            await writer.wait_closed()
    return call_id


async def _drain(reader: asyncio.StreamReader) -> int:
    """Read (and count) the agent's frames so its playout never backs up into a full socket."""
    parser, frames = FrameParser(max_payload=65535, expect_uuid=False), 0
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            frames += len(parser.feed(data))
    return frames


# -- malformed AudioSocket traffic ----------------------------------------------------------------
def malformed_stream(i: int) -> tuple[str, bytes]:
    """The i-th bad connection: (the server's `reason` for it, the bytes sent) — each way a frame is wrong."""
    hello = encode_uuid(uuid.uuid4())
    kinds = [
        ("unknown_kind", hello + bytes([0x42]) + (4).to_bytes(2, "big") + b"oops"),
        ("payload_too_long", hello + bytes([0x10]) + (0xFFFF).to_bytes(2, "big") + bytes(64)),
        ("odd_audio_length", hello + encode(KIND_BY_RATE[8000], bytes(321))),
        ("bad_dtmf", hello + bytes([0x03]) + (2).to_bytes(2, "big") + b"12"),
        ("missing_uuid", encode(KIND_BY_RATE[8000], bytes(320))),
        ("bad_uuid", bytes([0x01]) + (3).to_bytes(2, "big") + b"abc"),
    ]
    return kinds[i % len(kinds)]


async def garbage_client(port: int, frames: int, sent: list[str], first: int = 0) -> None:
    """Send `frames` malformed frames, one connection each (the server drops a connection at its first
    bad frame), waiting for the server to close before the next; appends each reason sent to `sent`.

    After a UUID frame the client waits for the call to start before the bad frame, as a call that goes
    bad mid-way would: the daemon's line then carries the call_id.
    """
    for i in range(first, first + frames):
        reason, stream = malformed_stream(i)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        if stream[:3] == b"\x01\x00\x10":  # a call first (its UUID), then the bad frame once it is up
            writer.write(stream[:19])
            with contextlib.suppress(ConnectionError):
                await reader.read(65536)  # the daemon's first frame: the call has started
            stream = stream[19:]
        writer.write(stream)
        sent.append(reason)
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass  # whatever the server sent before it noticed, until it closes
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
