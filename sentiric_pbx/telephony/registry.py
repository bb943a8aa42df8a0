"""Call metadata waiting for its media leg.

The dialplan runs FastAGI (which knows the caller ID) just before `AudioSocket()` (which knows only
the UUID). The AGI handler puts a `CallInfo` here under the UUID; the AudioSocket connection takes
it. Entries that no media leg claims expire, so a dialplan that never reaches AudioSocket() does not
leak memory.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from sentiric_pbx.telephony.transport import CallInfo


class CallRegistry:
    def __init__(self, ttl_s: float = 120.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, CallInfo]] = OrderedDict()

    def put(self, info: CallInfo) -> None:
        self._expire()
        self._entries[info.call_id.lower()] = (time.monotonic(), info)
        self._entries.move_to_end(info.call_id.lower())
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def take(self, call_id: str) -> CallInfo | None:
        self._expire()
        entry = self._entries.pop(call_id.lower(), None)
        return entry[1] if entry else None

    def __len__(self) -> int:
        self._expire()
        return len(self._entries)

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.ttl_s
        while self._entries:
            first = next(iter(self._entries.values()))
            if first[0] >= cutoff:
                break
            self._entries.popitem(last=False)
