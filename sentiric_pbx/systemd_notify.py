"""sd_notify(3) without libsystemd: one datagram to `$NOTIFY_SOCKET` per state change.

Why by hand: the protocol is a single `sendto()` of `KEY=VALUE` lines on an AF_UNIX datagram socket,
and a C dependency (or the `systemd` Python binding, absent from PyPI wheels) for that is not worth it.
With `Type=notify` systemd starts routing calls to us only once we say READY=1 (after every listener
is bound and every model loaded), and with `WatchdogSec=` it restarts a daemon whose event loop is
stuck: the watchdog task runs *on* the loop, so a blocked loop stops the pings.

Outside systemd (`$NOTIFY_SOCKET` unset) every call is a no-op, so tests and a terminal run are
unaffected.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger("sentiric_pbx.systemd")


def _address(environ: Mapping[str, str]) -> str | bytes | None:
    path = environ.get("NOTIFY_SOCKET", "")
    if not path:
        return None
    if path.startswith("@"):  # abstract namespace: a leading NUL byte instead of the '@'
        return b"\0" + path[1:].encode()
    if not path.startswith("/"):
        return None  # vsock or garbage: not something an AF_UNIX socket can reach
    return path


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send `state` (e.g. "READY=1\\nSTATUS=listening"); True if a datagram went out.

    Never raises: a daemon must not die because its supervisor's socket went away.
    """
    addr = _address(os.environ if environ is None else environ)
    if addr is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(state.encode(), addr)
    except OSError as exc:
        log.warning("sd_notify_failed", error=str(exc))
        return False
    return True


def ready(status: str, environ: Mapping[str, str] | None = None) -> bool:
    return notify(f"READY=1\nSTATUS={status}", environ)


def status(text: str, environ: Mapping[str, str] | None = None) -> bool:
    return notify(f"STATUS={text}", environ)


def stopping(status: str = "draining calls", environ: Mapping[str, str] | None = None) -> bool:
    return notify(f"STOPPING=1\nSTATUS={status}", environ)


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """Half of `$WATCHDOG_USEC` (systemd's advice), or None when no watchdog is asked for us.

    `$WATCHDOG_PID`, when set, names the process the watchdog is for; another PID means it is not ours.
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2 / 1_000_000


async def watchdog(environ: Mapping[str, str] | None = None) -> None:
    """Ping WATCHDOG=1 at half the watchdog period until cancelled; return at once without a watchdog."""
    interval = watchdog_interval_s(environ)
    if interval is None or _address(os.environ if environ is None else environ) is None:
        return
    log.info("sd_watchdog_enabled", interval_s=interval)
    while True:
        notify("WATCHDOG=1", environ)
        await asyncio.sleep(interval)
