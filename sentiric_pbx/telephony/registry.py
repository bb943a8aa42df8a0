"""Call metadata waiting for its media leg.

The dialplan runs FastAGI (which knows the caller ID) just before `AudioSocket()` (which knows only
the UUID). The AGI handler puts a `CallInfo` here under the UUID; the AudioSocket connection takes
it. Entries that no media leg claims expire, so a dialplan that never reaches AudioSocket() does not
leak memory.

With AMI enabled, the same metadata can come from AMI events instead (`ami_calls.AmiCallWatcher`):
those are `offer()`ed, so they never replace what FastAGI registered, and they travel on another TCP
connection than the audio, so the AudioSocket side may `wait_for()` them briefly.

A call's metadata is wanted once, when its media leg starts. AMI keeps naming the UUID after that:
after a `Redirect` of a `Dial(AudioSocket/…)` caller (our transfer on 101), Asterisk 22 emits a
`Newexten` for the new place (`sentiric,transfer,1`) that still carries the old `Application: Dial`,
`AppData: AudioSocket/…/<uuid>/…` (seen on the real PBX, tests/pbx/test_transfer.py). Offered, it
would register the call that just ended. So `take()` remembers the ids it handed out (claimed or not:
the leg has started either way), and `offer()` refuses them. Not for `ttl_s`: a transfer may come
after an hour's call. The last `max_entries` ids are kept (about 2 MB at the default 10 000), far more
calls than a daemon has running at once. `put()` is an ingress's own entry (Twilio's webhook, ARI's
externalMedia) and is always accepted.

`register()` is FastAGI's, and FastAGI's peer is whoever can reach its port, so it is held to more (issue
17): the first registration of a UUID wins (a second one, or one after the media leg started, is refused,
so nobody can rewrite a call that Asterisk registered); only AMI's offer, which it supersedes, may be there
before it; and the waiting registrations are capped in all and per peer, refusing the new one rather than
pushing out a real call that is about to connect. Whoever keeps something per registered call (the
assistant's CRM lookup) hears of the entries that expire unclaimed through `on_expire`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, OrderedDict
from collections.abc import Callable

from sentiric_pbx.aio import within
from sentiric_pbx.call.transport import CallInfo


class CallRegistry:
    def __init__(self, ttl_s: float = 120.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, CallInfo]] = OrderedDict()
        self._started: OrderedDict[str, None] = OrderedDict()
        """The last `max_entries` call ids whose media leg has started (`take()`); `offer()` refuses them."""
        self._waiters: dict[str, asyncio.Event] = {}
        self._peer_of: dict[str, str] = {}
        """call id → the FastAGI peer that `register()`ed it, while its entry waits."""
        self._per_peer: Counter[str] = Counter()
        self.on_expire: list[Callable[[str], None]] = []
        """Called with the id of each entry dropped unclaimed (its TTL passed, or pushed out by `put()`)."""

    def put(self, info: CallInfo) -> None:
        self._expire()
        key = info.call_id.lower()
        self._started.pop(key, None)
        self._forget_peer(key)
        self._entries[key] = (time.monotonic(), info)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._drop_oldest()
        waiter = self._waiters.get(key)
        if waiter is not None:
            waiter.set()

    def register(self, info: CallInfo, peer: str, *, max_pending: int, max_per_peer: int) -> str | None:
        """FastAGI's registration: None when stored, else why it was refused — `duplicate` (the UUID is
        registered already, or its media leg has started), `full` (`max_pending` registrations wait),
        `peer_full` (`max_per_peer` of them are `peer`'s)."""
        self._expire()
        key = info.call_id.lower()
        entry = self._entries.get(key)
        if key in self._started or (entry is not None and entry[1].extra.get("metadata") != "ami"):
            return "duplicate"
        if len(self._peer_of) >= max_pending or len(self._entries) >= self.max_entries:
            return "full"
        if self._per_peer[peer] >= max_per_peer:
            return "peer_full"
        self.put(info)
        self._peer_of[key] = peer
        self._per_peer[peer] += 1
        return None

    def offer(self, info: CallInfo) -> bool:
        """Put `info` unless the call is registered (FastAGI's richer entry wins, unless it is unverified: AMI
        is a logged-in session with Asterisk, an unkeyed AGI peer is anyone) or its media leg has already
        started (late or replayed AMI events). True if stored."""
        self._expire()
        key = info.call_id.lower()
        entry = self._entries.get(key)
        if key in self._started or (entry is not None and entry[1].extra.get("metadata") != "fastagi_unverified"):
            return False
        self.put(info)
        return True

    async def wait_for(self, call_id: str, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for `call_id` to be registered; True when it is (it is not taken)."""
        key = call_id.lower()
        if key in self._entries or timeout_s <= 0:
            return key in self._entries
        waiter = self._waiters.setdefault(key, asyncio.Event())
        try:
            with contextlib.suppress(TimeoutError):
                await within(waiter.wait(), timeout_s)
        finally:
            if self._waiters.get(key) is waiter:
                del self._waiters[key]
        return key in self._entries

    def take(self, call_id: str) -> CallInfo | None:
        """The call's metadata, removed; its media leg has started, so later offers for it are refused."""
        self._expire()
        key = call_id.lower()
        entry = self._entries.pop(key, None)
        self._forget_peer(key)
        self._started[key] = None
        self._started.move_to_end(key)
        while len(self._started) > self.max_entries:
            self._started.popitem(last=False)
        return entry[1] if entry else None

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)

    def __contains__(self, call_id: object) -> bool:
        """Is metadata waiting for `call_id`'s media leg?"""
        self._expire()
        return isinstance(call_id, str) and call_id.lower() in self._entries

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.ttl_s
        while self._entries:
            first = next(iter(self._entries.values()))
            if first[0] >= cutoff:
                break
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        key, _ = self._entries.popitem(last=False)
        self._forget_peer(key)
        for callback in self.on_expire:
            callback(key)

    def _forget_peer(self, key: str) -> None:
        peer = self._peer_of.pop(key, None)
        if peer is not None:
            self._per_peer[peer] -= 1
            if self._per_peer[peer] <= 0:
                del self._per_peer[peer]
