"""Ports: free, held by our own running daemon (it answers /healthz with its pid and listeners), or held by
another process (named from /proc)."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from sentiric_pbx.config import Settings
from sentiric_pbx.doctor.check import NET_TIMEOUT_S, Check

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


@dataclass(frozen=True)
class RunningDaemon:
    """The sentiric-pbx daemon that answered `/healthz` on this config's metrics port: its pid and listeners.

    Why ask it: on a healthy host the daemon holds every port doctor checks, and a port that cannot be
    bound is then no failure. The daemon knows its own listeners (real ports, also for port 0); a bare
    "address in use" cannot tell our daemon from a stranger on the same port.
    """

    pid: int
    agent: str
    active_calls: int
    listening: dict[str, tuple[str, int]]

    def holds(self, host: str, port: int) -> bool:
        return any(p == port and (h == host or {h, host} & WILDCARD_HOSTS) for h, p in self.listening.values())


def find_running_daemon(s: Settings) -> RunningDaemon | None:
    """The daemon behind `[metrics] host:port`, if one answers there (None with metrics off or nothing running)."""
    from sentiric_pbx.metrics import fetch_health

    if not s.metrics.enabled:
        return None
    body = fetch_health(s.metrics.host, s.metrics.port, NET_TIMEOUT_S)
    if body is None or not isinstance(body.get("pid"), int):
        return None
    listening = {
        str(name): (str(addr[0]), int(addr[1]))
        for name, addr in (body.get("listening") or {}).items()
        if isinstance(addr, list) and len(addr) == 2
    }
    return RunningDaemon(body["pid"], str(body.get("agent", "?")), int(body.get("active_calls", 0)), listening)


def port_holder(port: int) -> tuple[int, list[str]] | None:
    """The pid and argv of the process listening on TCP `port`, read from /proc (Linux), or None.

    Only processes whose /proc/<pid>/fd we may read are seen: all of them as root, one's own otherwise
    (doctor run as the service user sees the service). Enough to name a stranger in the failure line.
    """
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
                return int(proc.name), [a for a in argv if a]
    return None


def _is_sentiric_run(argv: list[str]) -> bool:
    """`…/bin/sentiric-pbx run …` (as systemd starts it: the console script, maybe behind its python)."""
    return any(Path(a).name == "sentiric-pbx" for a in argv[:2]) and "run" in argv


def check_port(name: str, host: str, port: int, daemon: RunningDaemon | None = None) -> Check:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _port_in_use(name, host, port, daemon)
        return Check(
            f"port {name}",
            "fail",
            f"cannot bind {host}:{port}: {exc.strerror}",
            f"check [{name}] host: is {host} an address of this machine?",
        )
    return Check(f"port {name}", "ok", f"{host}:{port} bindable")


def _port_in_use(name: str, host: str, port: int, daemon: RunningDaemon | None) -> Check:
    """Ours (the running daemon holds it) is ok; anything else is a failure that names the holder if it can."""
    if daemon is not None and daemon.holds(host, port):
        return Check(
            f"port {name}", "ok", f"{host}:{port} is in use by the running sentiric-pbx daemon (pid {daemon.pid})"
        )
    holder = port_holder(port)
    if holder is not None and daemon is None and _is_sentiric_run(holder[1]):
        # No /healthz to ask ([metrics] off): the process is still recognisably a sentiric-pbx daemon.
        return Check(
            f"port {name}", "ok", f"{host}:{port} is in use by a running sentiric-pbx daemon (pid {holder[0]})"
        )
    who = f"pid {holder[0]} ({' '.join(holder[1])[:80]})" if holder else "another process"
    if daemon is not None:
        who += f", not by the running sentiric-pbx daemon (pid {daemon.pid})"
    hint = f"stop that process or give [{name.split()[0]}] another port; `ss -ltnp 'sport = :{port}'` shows it"
    return Check(f"port {name}", "fail", f"{host}:{port} is in use by {who}", hint)


def check_daemon(daemon: RunningDaemon) -> Check:
    """Not a problem, a fact worth a line: the ports below are held by this daemon, so they read as ok."""
    detail = f"running: pid {daemon.pid}, agent {daemon.agent}, {daemon.active_calls} call(s) in progress"
    return Check("daemon", "ok", detail)


def check_ports(s: Settings, daemon: RunningDaemon | None = None) -> list[Check]:
    ports = [("audiosocket", s.audiosocket.host, s.audiosocket.port), ("fastagi", s.fastagi.host, s.fastagi.port)]
    if s.metrics.enabled:
        ports.append(("metrics", s.metrics.host, s.metrics.port))
    if s.console.enabled:
        ports.append(("console", s.console.host, s.console.port))
    return [check_port(*p, daemon=daemon) for p in ports]


# -- browser phone --------------------------------------------------------------------------------
