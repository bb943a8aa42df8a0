"""`PeerProblems` on a scripted clock: what an admin reads when a peer misbehaves for a long time.

The AudioSocket tests (tests/test_audiosocket_server.py) drive it through real sockets; these script the
clock to show the windows: a peer flooding for 25 s is six lines, not thousands, and a table of peers
empties itself once their windows have passed.
"""

from __future__ import annotations

from sentiric_pbx.telephony.audiosocket.problems import PeerProblems
from tests.asterisk_peer import log_lines

Logs = list[dict[str, object]]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def problems(clock: Clock, **kwargs: object) -> PeerProblems:
    return PeerProblems("test", "test_problem", "test_problems", clock=clock, **kwargs)  # type: ignore[arg-type]


def test_a_peer_flooding_for_25_s_is_one_line_and_one_summary_per_window(logs: Logs) -> None:
    """100 errors a second from one host for 25 s, 10 s windows: each window opens with one line (its first
    error, with the fields) and closes with one summary counting the rest; nothing is lost or counted twice."""
    clock = Clock()
    table = problems(clock, window_s=10.0)
    for i in range(2500):
        clock.now = 1000.0 + i / 100
        table.report("203.0.113.9", "unknown_kind" if i % 2 else "missing_uuid", detail=f"#{i}")
    table.close()

    firsts = log_lines(logs, "test_problem")
    summaries = log_lines(logs, "test_problems")
    assert [e["detail"] for e in firsts] == ["#0", "#1000", "#2000"]
    assert [(e["peer"], e["count"]) for e in summaries] == [("203.0.113.9", 999)] * 2 + [("203.0.113.9", 499)]
    assert summaries[0]["reasons"] == {"unknown_kind": 500, "missing_uuid": 499}
    assert len(firsts) + sum(int(e["count"]) for e in summaries) == 2500  # type: ignore[call-overload]


def test_peers_are_forgotten_once_their_window_has_passed(logs: Logs) -> None:
    """An attacker cycling source addresses slowly never meets the cap, but the table does not keep them:
    a host's entry lives for its window, and the next report clears every closed one."""
    clock = Clock()
    table = problems(clock, window_s=10.0, max_peers=1000)
    for i in range(200):
        table.report(f"10.0.{i // 250}.{i % 250}", "unknown_kind")
    assert table.peers == 200
    clock.now += 10.0
    table.report("192.0.2.1", "unknown_kind")
    assert table.peers == 1
    assert len(log_lines(logs, "test_problem")) == 201  # each host's first error, at once
    assert log_lines(logs, "test_problems") == []  # nothing was held back, so nothing to summarise


def test_hosts_beyond_the_cap_share_one_overflow_window(logs: Logs) -> None:
    clock = Clock()
    table = problems(clock, window_s=10.0, max_peers=2)
    for i in range(50):
        table.report(f"10.0.0.{i}", "bad_uuid", peer=f"10.0.0.{i}:5000")
        assert table.peers <= 3
    table.close()
    assert [e["peer"] for e in log_lines(logs, "test_problem")] == ["10.0.0.0:5000", "10.0.0.1:5000", "10.0.0.2:5000"]
    assert [(e["peer"], e["count"]) for e in log_lines(logs, "test_problems")] == [("other_peers", 47)]
