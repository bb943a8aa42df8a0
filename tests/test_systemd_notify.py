"""sd_notify against a real AF_UNIX datagram socket, as systemd's `$NOTIFY_SOCKET` is."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentiric_pbx import systemd_notify


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, dict[str, str]]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(2)
    try:
        yield sock, {"NOTIFY_SOCKET": str(path)}
    finally:
        sock.close()


def test_ready_status_stopping_arrive_as_datagrams(notify_socket: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = notify_socket
    assert systemd_notify.ready("echo: AudioSocket :9092", env)
    assert sock.recv(4096) == b"READY=1\nSTATUS=echo: AudioSocket :9092"
    assert systemd_notify.status("2 calls", env)
    assert sock.recv(4096) == b"STATUS=2 calls"
    assert systemd_notify.stopping("draining 1 call(s)", env)
    assert sock.recv(4096) == b"STOPPING=1\nSTATUS=draining 1 call(s)"


def test_abstract_namespace_socket() -> None:
    name = f"sentiric-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2)
        assert systemd_notify.notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(64) == b"WATCHDOG=1"


def test_no_socket_is_a_no_op(tmp_path: Path) -> None:
    assert not systemd_notify.ready("x", {})
    assert not systemd_notify.notify("READY=1", {"NOTIFY_SOCKET": ""})
    # A socket that vanished (systemd restarted) must not kill the daemon: False and a warning.
    assert not systemd_notify.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")})


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert systemd_notify.watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert systemd_notify.watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15
    assert systemd_notify.watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert systemd_notify.watchdog_interval_s({}) is None


async def test_watchdog_pings_until_cancelled(notify_socket: tuple[socket.socket, dict[str, str]]) -> None:
    sock, env = notify_socket
    sock.setblocking(False)
    env = env | {"WATCHDOG_USEC": "100000"}  # 0.1 s → a ping every 50 ms
    task = asyncio.create_task(systemd_notify.watchdog(env))
    await asyncio.sleep(0.22)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    pings = []
    while True:
        try:
            pings.append(sock.recv(64))
        except BlockingIOError:
            break
    assert pings and set(pings) == {b"WATCHDOG=1"}
    assert 3 <= len(pings) <= 6


async def test_watchdog_without_watchdog_usec_returns_at_once(
    notify_socket: tuple[socket.socket, dict[str, str]],
) -> None:
    _, env = notify_socket
    await asyncio.wait_for(systemd_notify.watchdog(env), 1)
