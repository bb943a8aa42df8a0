"""SIGTERM during calls: `sentiric-pbx run` as systemd runs it (a subprocess with `$NOTIFY_SOCKET`).

What systemd and the caller see: READY=1 only once the listeners are bound, WATCHDOG=1 pings, then on
SIGTERM STOPPING=1, new connections refused at once, a call whose caller hangs up during the drain
ends normally, a call still going at the drain timeout is ended by us, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.asterisk_peer import AudioSocketPeer, eventually
from tests.redis_server import free_port

CLI = [str(Path(sys.executable).parent / "sentiric-pbx")]
DRAIN_S = 2.0


def events(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


class Notifications:
    """systemd's end of `$NOTIFY_SOCKET`: every datagram the daemon sent, in order."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.got: list[str] = []

    def poll(self) -> list[str]:
        while True:
            try:
                self.got.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.got

    def has(self, prefix: str) -> bool:
        return any(m.startswith(prefix) for m in self.poll())


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[Notifications]:
    n = Notifications(tmp_path / "notify.sock")
    yield n
    n.sock.close()


@pytest.fixture
def daemon_proc(tmp_path: Path, notify: Notifications) -> Iterator[tuple[subprocess.Popen[bytes], int, int, Path]]:
    """`sentiric-pbx run` in echo mode, 2 s drain, 0.4 s watchdog; yields (process, AudioSocket, FastAGI, log)."""
    port, agi_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTIRIC_", "WATCHDOG_"))}
    env |= {
        "SENTIRIC_AUDIOSOCKET__PORT": str(port),
        "SENTIRIC_FASTAGI__PORT": str(agi_port),
        "SENTIRIC_METRICS__ENABLED": "false",
        "SENTIRIC_LOGGING__FORMAT": "json",
        "SENTIRIC_AGENT__MODE": "echo",
        "SENTIRIC_DAEMON__DRAIN_TIMEOUT_S": str(DRAIN_S),
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
        "WATCHDOG_USEC": "400000",
    }
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "run"], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc, port, agi_port, log
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)


async def test_sigterm_drains_calls_then_exits_zero(
    daemon_proc: tuple[subprocess.Popen[bytes], int, int, Path], notify: Notifications
) -> None:
    proc, port, agi_port, log = daemon_proc
    await eventually(lambda: notify.has("READY=1") or proc.poll() is not None, "READY=1", 20)
    assert proc.poll() is None, log.read_text()
    assert any(e["event"] == "daemon_ready" for e in events(log))  # READY=1 only after start()

    leaving, staying = await AudioSocketPeer.connect(port), await AudioSocketPeer.connect(port)
    for peer in (leaving, staying):
        peer.send_uuid()
        peer.talk(b"")  # 20 ms frames of silence, as a phone line that is up
    await eventually(lambda: sum(e["event"] == "call_started" for e in events(log)) == 2, "two call_started lines")
    await eventually(lambda: notify.has("WATCHDOG=1"), "a watchdog ping")

    proc.send_signal(signal.SIGTERM)
    sent_sigterm = time.monotonic()
    await eventually(lambda: notify.has("STOPPING=1"), "STOPPING=1")
    assert "STOPPING=1\nSTATUS=draining 2 call(s)" in notify.got
    for refused in (port, agi_port):  # no new calls once stopping (the dialplan plays "no service")
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", refused)

    assert proc.poll() is None  # the calls in progress hold the daemon up
    await leaving.close()  # one caller hangs up during the drain: an ordinary end
    await eventually(lambda: proc.poll() is not None, "the daemon exits", DRAIN_S + 5)
    took = time.monotonic() - sent_sigterm
    await staying.wait_closed_by_server(1)
    await staying.close()

    assert proc.returncode == 0, log.read_text()
    assert DRAIN_S - 0.3 < took < DRAIN_S + 3, took
    ended = {str(e["call_id"]): e for e in events(log) if e["event"] == "call_ended"}
    assert (ended[str(leaving.call_id)]["by"], ended[str(leaving.call_id)]["reason"]) == ("caller", "tcp_close")
    assert (ended[str(staying.call_id)]["by"], ended[str(staying.call_id)]["reason"]) == ("agent", "daemon_shutdown")
    names = [e["event"] for e in events(log)]
    assert names.index("daemon_draining") < names.index("drain_timeout") < names.index("daemon_stopped")
