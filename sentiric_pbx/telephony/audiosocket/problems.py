"""`PeerProblems`: a peer's bad input logged once at once, then counted and summarised, one line per window.

Why: a scanner, a misconfigured PBX or an attacker can open thousands of connections a second, each with
a broken frame. One warning line each would flood journald and, worse, cost the event loop that paces
every real call's audio (a JSON render and a write per line; bench/README.md "Faults"). An admin needs to
know *that* a peer misbehaves, *how* (its first problem, with the detail) and *how much* (a count) — not
10⁵ copies of one line. So, per peer:

    t=0.0  audiosocket_protocol_error  peer=203.0.113.9:41234 reason=unknown_kind detail=…   (the first, at once)
    t=0.1… (4 211 more from 203.0.113.9, not logged one by one)
    t=10.0 audiosocket_protocol_errors peer=203.0.113.9 count=4211 reasons={unknown_kind: 4000, …} window_s=10.0

and the next problem after the window is logged at once again. The Prometheus counter
(`sentiric_protocol_errors_total{ingress, reason}`) still counts every one.

Memory stays bounded whatever the peer does: a peer is its *host* (cycling source ports changes nothing),
its entry lives only for its window, and at most `max_peers` hosts have one. Problems from further hosts
(an attacker cycling addresses) share one overflow entry, `peer="other_peers"`, summarised like a peer:
the lines per window are bounded too.

Nothing here is AudioSocket's own (the ingress, event names and logger are arguments): when a second ingress
wants it, it moves to the shared edge (`telephony/problems.py`, beside `edge` and `lifecycle` in
tests/test_architecture.py's first telephony layer).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from sentiric_pbx import metrics

WINDOW_S = 10.0
"""How long after a peer's first logged problem its further problems are only counted. Defaults to 10 s:
at most two lines per misbehaving peer every 10 s, yet a summary comes soon enough to read while it lasts."""
MAX_PEERS = 256
"""Hosts with a window open at once (a few hundred bytes each); beyond them problems go to `OVERFLOW`."""
OVERFLOW = "other_peers"
"""The `peer` of the summary that counts the problems of hosts beyond `max_peers`."""


@dataclass(slots=True)
class _Window:
    """One peer's window: when it opened (its first problem, logged) and what came after it."""

    opened: float
    count: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    timer: asyncio.TimerHandle | None = None


class PeerProblems:
    """Rate-limited problem lines per peer, for one ingress (`ingress` is the metric's label).

    `report(host, reason, **fields)` for each problem: the first of a window is logged as `event` with
    `reason` and `fields`; the others are summarised as `summary_event` (`peer`, `count` — the problems not
    logged one by one —, `reasons`, `window_s`) when the window closes. `close()` writes what is pending.
    """

    def __init__(
        self,
        ingress: str,
        event: str,
        summary_event: str,
        *,
        logger: Any = None,
        window_s: float = WINDOW_S,
        max_peers: int = MAX_PEERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ingress = ingress
        self.event = event
        self.summary_event = summary_event
        self.window_s = window_s
        self.max_peers = max_peers
        self._log = logger if logger is not None else structlog.get_logger("sentiric_pbx.problems")
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        """host → its open window, oldest first (a window is inserted when it opens and removed when it closes)."""
        self._counters: dict[str, Any] = {}
        """reason → its labelled Prometheus child: `labels()` takes a lock and a dict lookup on every call."""

    @property
    def peers(self) -> int:
        """Hosts (and the overflow) with a window open now: the table's size, never above `max_peers` + 1."""
        return len(self._windows)

    def report(self, host: str, reason: str, **fields: Any) -> None:
        """One problem from `host`. `fields` go on the line only when it is logged at once (the first)."""
        counter = self._counters.get(reason)
        if counter is None:
            counter = self._counters[reason] = metrics.PROTOCOL_ERRORS.labels(ingress=self.ingress, reason=reason)
        counter.inc()
        now = self._clock()
        self._close_expired(now)
        key = host
        if key not in self._windows and len(self._windows) >= self.max_peers:
            key = OVERFLOW
        window = self._windows.get(key)
        if window is None:
            self._windows[key] = _Window(now)
            self._log.warning(self.event, reason=reason, **fields)
            return
        window.count += 1
        window.reasons[reason] += 1
        if window.timer is None:
            window.timer = self._schedule(window.opened + self.window_s, key)

    def close(self) -> None:
        """Write every pending summary now (the listener stops: counted problems must not vanish)."""
        for key in list(self._windows):
            self._close(key)

    # -- windows -------------------------------------------------------------------------------
    def _schedule(self, when: float, key: str) -> asyncio.TimerHandle | None:
        """Close `key`'s window at `when` (loop time = `time.monotonic`), so its summary comes even if the
        peer goes quiet. In an empty context: the summary is no call's line (the caller's call_id is bound)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a unit test): the next report or close() writes it
            return None
        return loop.call_at(
            loop.time() + max(0.0, when - self._clock()), self._close, key, context=contextvars.Context()
        )

    def _close_expired(self, now: float) -> None:
        """Windows are kept oldest first, so the closed ones are at the front: O(1) per report."""
        windows = self._windows
        while windows:
            key = next(iter(windows))
            if now - windows[key].opened < self.window_s:
                return
            self._close(key)

    def _close(self, key: str) -> None:
        window = self._windows.pop(key, None)
        if window is None:
            return
        if window.timer is not None:
            window.timer.cancel()
        if window.count:
            self._log.warning(
                self.summary_event,
                peer=key,
                count=window.count,
                reasons=dict(window.reasons),
                window_s=self.window_s,
            )


__all__ = ["MAX_PEERS", "OVERFLOW", "WINDOW_S", "PeerProblems"]
