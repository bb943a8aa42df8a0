"""Many clients sending malformed AudioSocket frames while real calls run, against one daemon process.

Behaviour only (the latency comparison with a clean run is a benchmark: bench/soak.py): every garbage
connection is closed by the daemon and counted, but the log stays short — the first protocol error of the
peer host in a window is one `audiosocket_protocol_error` line (call_id bound when it sent a UUID), the
rest are one `audiosocket_protocol_errors` summary per window with their count and reasons — and the real
calls (echo calls placed by the test caller) hear every turn played back in full, as if nothing else were
happening.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentiric_pbx.tools.caller import CallerOptions, place_call
from tests.asterisk_peer import AGI_SECRET, demo_turn, voiced_span_s
from tests.faults.harness import DaemonProcess, clean_env, garbage_client, malformed_stream

CLIENTS = 20
FRAMES_EACH = 50
REAL_CALLS = 4


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    workdir = tmp_path_factory.mktemp("flood")
    with DaemonProcess(workdir, clean_env(SENTIRIC_AGENT__MODE="echo"), ready_within_s=60) as proc:
        proc.start()
        yield proc


async def test_garbage_clients_are_each_closed_and_counted_in_a_few_lines_while_real_calls_hear_every_turn(
    daemon: DaemonProcess, tmp_path: Path
) -> None:
    turn = demo_turn(8000)
    opts = CallerOptions(
        port=daemon.port, agi=("127.0.0.1", daemon.agi_port), agi_secret=AGI_SECRET, reply_timeout_s=10.0
    )
    sent: list[str] = []
    garbage = [garbage_client(daemon.port, FRAMES_EACH, sent, first=i) for i in range(CLIENTS)]
    calls = [place_call([turn, turn], opts) for _ in range(REAL_CALLS)]
    async with asyncio.timeout(120):  # a garbage connection the daemon never closed would hang here
        *reports, _ = await asyncio.gather(*calls, asyncio.gather(*garbage))

    for report in reports:  # each turn was echoed back whole
        assert len(report.turns) == 2 and report.ended_by == "caller", report
        for t in report.turns:
            assert t.latency_ms is not None and t.agent_audio_s >= 0.9 * voiced_span_s(turn, 8000), report

    assert len(sent) == CLIENTS * FRAMES_EACH
    firsts, summaries = await asyncio.to_thread(wait_accounted, daemon, len(sent))
    reasons = collections.Counter(e["reason"] for e in firsts)
    for summary in summaries:
        assert summary["peer"] == "127.0.0.1" and "call_id" not in summary
        reasons.update(summary["reasons"])
    assert reasons == collections.Counter(sent)  # every bad connection counted once, for its reason
    assert len(firsts) + len(summaries) <= 10  # a thousand bad connections, a handful of lines

    # A bad frame in a call that had started ends that call, for that reason (its call_ended line says so).
    without_uuid = {malformed_stream(4)[0], malformed_stream(5)[0]}  # missing_uuid, bad_uuid: no call at all
    ended_by_error = collections.Counter(e["reason"] for e in daemon.events("call_ended", by="error"))
    assert ended_by_error == collections.Counter(r for r in sent if r not in without_uuid)
    ended = {e["call_id"]: e for e in daemon.events("call_ended") if e.get("call_id")}
    for line in firsts:
        if line["reason"] in without_uuid:
            assert line["call_id"] is None
        else:
            assert (ended[line["call_id"]]["by"], ended[line["call_id"]]["reason"]) == ("error", line["reason"])
    real = {r.call_id for r in reports}
    assert not [e for e in firsts if e.get("call_id") in real]
    assert not [e for e in ended.values() if e["call_id"] in real and e["by"] == "error"]
    assert daemon.running()


def wait_accounted(daemon: DaemonProcess, errors: int, within_s: float = 60.0) -> tuple[list[dict], list[dict]]:
    """The protocol-error lines and summaries once they account for `errors` errors (a window's summary comes
    when the window closes, 10 s after its first line)."""
    deadline = time.monotonic() + within_s
    while True:
        firsts = daemon.events("audiosocket_protocol_error")
        summaries = daemon.events("audiosocket_protocol_errors")
        if len(firsts) + sum(e["count"] for e in summaries) >= errors or time.monotonic() > deadline:
            return firsts, summaries
        time.sleep(0.2)
