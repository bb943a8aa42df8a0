"""The probes of issue 17 (items 1 and 2), measured against an in-process daemon on loopback.

    python bench/listener_probes.py [--json]

Default configuration (no `[fastagi] secret`, as a fresh install has it) except ports and the echo agent.
What each figure is (before the fix → after, on the same host, Dec 2026, in README "Dialplan secret and
listener limits"):

* `forged_call_caller_id` — a process registers a customer's number for a UUID it made up and connects
  AudioSocket with it: the caller ID the call gets (was the customer's; now none).
* `second_registration_caller_id` — two registrations of one UUID: what the call would get (was the
  second's; now the first's, which without a secret carries no caller ID).
* `junk_10000_s`, `real_still_waiting` — a real registration, then 10 000 junk ones: how long they took and
  whether the real call's entry was still there for its AudioSocket leg (was pushed out).
* `metrics_bytes_before_after_500_scripts` — `/metrics` size before and after 500 requests naming
  500 different AGI scripts (each was a new label).
* `idle_audiosocket_server_fds` — descriptors the daemon holds for 300 connections that never send a UUID.
* `threads_200_half_sent`, `threads_6s_later` — threads the `/metrics` server holds for 200 half-sent
  requests, at once and 6 s later (they stayed).
* `ami_after_long_line` — after one AMI line of 70 000 bytes: connected again, the reason logged, and
  whether the supervisor still runs (it ended, logged as "closed by Asterisk").

The Asterisk side (the recorded `agi_*` block, the AudioSocket peer, the fake AMI replaying the recorded
session) is the test suite's, so this runs from the repository root. It prints numbers; no pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import structlog
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sentiric_pbx.config import AmiConfig, Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.telephony.asterisk.ami import AmiClient
from tests.ami_server import FakeAmi
from tests.asterisk_peer import AgiPeer, AudioSocketPeer, agi_transcript

Logs = list[dict[str, Any]]


def block(call_id: str, caller: str = "+905551112233", script: str = "register") -> bytes:
    """The recorded registration, with no key (what anyone can send)."""
    lines = agi_transcript("fastagi-register.txt")
    out = []
    for line in lines[: lines.index("") + 1]:
        key = line.partition(": ")[0]
        line = {"agi_arg_1": f"agi_arg_1: {call_id}", "agi_callerid": f"agi_callerid: {caller}",
                "agi_network_script": f"agi_network_script: {script}"}.get(key, line)
        out.append(line + "\n")
    return "".join(out).encode()


async def register(port: int, call_id: str, **kw: str) -> None:
    peer = await AgiPeer.connect(port)
    await peer.send(block(call_id, **kw))
    try:
        await peer.serve({"UUID": call_id}, within_s=5)
    except (TimeoutError, ConnectionError):
        pass
    peer.close()


async def caller_of(logs: Logs, call_id: str, within_s: float = 5.0) -> Any:
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        for e in logs:
            if e.get("event") == "call_started" and e.get("call_id") == call_id:
                return e.get("caller_id")
        await asyncio.sleep(0.02)
    return "no call"


async def daemon_probes(d: Daemon, logs: Logs, out: dict[str, Any]) -> None:
    peer = await AudioSocketPeer.connect(d.audiosocket.port)
    await register(d.fastagi.port, str(peer.call_id))
    peer.send_uuid()
    out["forged_call_caller_id"] = await caller_of(logs, str(peer.call_id))
    await peer.close()

    call_id = str(uuid.uuid4())
    await register(d.fastagi.port, call_id, caller="+905551112233")
    await register(d.fastagi.port, call_id, caller="+905550000000")
    info = d.registry.take(call_id)
    out["second_registration_caller_id"] = info.caller_id if info else "not registered"

    real = str(uuid.uuid4())
    await register(d.fastagi.port, real)
    start = time.monotonic()
    for _ in range(100):
        await asyncio.gather(*(register(d.fastagi.port, str(uuid.uuid4())) for _ in range(100)))
    out["junk_10000_s"] = round(time.monotonic() - start, 1)
    out["real_still_waiting"] = real in d.registry

    url = f"http://127.0.0.1:{d.metrics_port}/metrics"
    async with httpx.AsyncClient() as http:
        before = len((await http.get(url)).content)
        for i in range(10):
            await asyncio.gather(*(register(d.fastagi.port, str(uuid.uuid4()), script=f"s{i}-{j}") for j in range(50)))
        after = len((await http.get(url)).content)
    out["metrics_bytes_before_after_500_scripts"] = [before, after]

    fds = len(os.listdir("/proc/self/fd"))
    idle = [await asyncio.open_connection("127.0.0.1", d.audiosocket.port) for _ in range(300)]
    await asyncio.sleep(0.5)
    out["idle_audiosocket_server_fds"] = len(os.listdir("/proc/self/fd")) - fds - len(idle)
    for _, writer in idle:
        writer.close()

    threads = threading.active_count()
    socks = []
    for _ in range(200):
        s = socket.create_connection(("127.0.0.1", d.metrics_port))
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        socks.append(s)
    await asyncio.sleep(1.0)
    out["threads_200_half_sent"] = threading.active_count() - threads
    await asyncio.sleep(6.0)
    out["threads_6s_later"] = threading.active_count() - threads
    for s in socks:
        s.close()


async def ami_probe(logs: Logs, out: dict[str, Any]) -> None:
    fake = await FakeAmi.start(password="probe")
    client = AmiClient(AmiConfig(enabled=True, port=fake.port, password=SecretStr("probe")))
    client.start()
    await client.wait_connected(5)
    for conn in fake._conns:
        conn.writer.write(b"Event: UserEvent\r\nData: " + b"x" * 70_000 + b"\r\n\r\n")
    await asyncio.sleep(3.0)
    out["ami_after_long_line"] = {
        "connected": client.connected,
        "reasons": [e.get("reason") for e in logs if e.get("event") == "ami_disconnected"],
        "supervisor_running": client._supervisor is not None and not client._supervisor.done(),
    }
    try:
        await client.close()
    except Exception as exc:  # before the fix: the supervisor's ValueError surfaces here
        out["ami_after_long_line"]["close_raised"] = repr(exc)[:80]
    await fake.stop()


async def run() -> dict[str, Any]:
    settings = Settings()
    settings.agent.mode = "echo"
    settings.audiosocket.port = settings.fastagi.port = settings.metrics.port = 0
    out: dict[str, Any] = {}
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        daemon = Daemon(settings)
        await daemon.start()
        try:
            await daemon_probes(daemon, logs, out)
        finally:
            await daemon.stop()
        await ami_probe(logs, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    out = asyncio.run(run())
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:42} {value}")


if __name__ == "__main__":
    main()
