"""Many clients sending malformed AudioSocket frames while real calls run, against one daemon process.

Behaviour only (the latency comparison with a clean run is a benchmark: bench/soak.py): every garbage
connection is closed by the daemon with exactly one `audiosocket_protocol_error` line (call_id bound
when it sent a UUID), and the real calls — echo calls placed by the test caller — hear every turn
played back in full, as if nothing else were happening.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentiric_pbx.tools.caller import CallerOptions, place_call
from tests.asterisk_peer import demo_turn, voiced_span_s
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


async def test_garbage_clients_are_each_closed_with_one_line_and_real_calls_hear_every_turn(
    daemon: DaemonProcess, tmp_path: Path
) -> None:
    turn = demo_turn(8000)
    opts = CallerOptions(port=daemon.port, agi=("127.0.0.1", daemon.agi_port), reply_timeout_s=10.0)
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
    errors = await asyncio.to_thread(daemon.wait_for, "audiosocket_protocol_error", 30.0, len(sent))
    assert len(errors) == len(sent)  # one line per bad connection, no more
    assert collections.Counter(e["reason"] for e in errors) == collections.Counter(sent)
    # A bad frame in a call that had started ends that call, for that reason, with its call_id bound.
    ended = {e["call_id"]: e for e in daemon.events("call_ended") if e.get("call_id")}
    in_calls = [e for e in errors if e.get("call_id")]
    assert in_calls and all((ended[e["call_id"]]["by"], ended[e["call_id"]]["reason"]) == ("error", e["reason"])
                            for e in in_calls)  # fmt: skip
    without_uuid = {malformed_stream(4)[0], malformed_stream(5)[0]}  # missing_uuid, bad_uuid: no call at all
    assert not [e for e in in_calls if e["reason"] in without_uuid]
    real = {r.call_id for r in reports}
    assert not [e for e in errors if e.get("call_id") in real]
    assert daemon.running()
