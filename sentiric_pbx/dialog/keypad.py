"""The keypad: the caller's DTMF digits → barge-in and keyed turns, as speech gives spoken ones.

    Dtmf("0")                       ─► barge-in ─► KeyedTurn("0")            (at once: "a person, please")
    Dtmf("4") Dtmf("5") … Dtmf("#") ─► barge-in ─► KeyedTurn("45…", slot)    (# ends the string)
    Dtmf("4") Dtmf("5") … (pause)   ─► barge-in ─► KeyedTurn("45…", slot)    (so does `dtmf_pause_s` of quiet)
    Dtmf("*")                       ─► the string typed so far is dropped (start again)

Every ingress forwards the digits it sees as `Dtmf` events (AudioSocket 0x03 frames, ARI
`ChannelDtmfReceived`, chan_websocket `DTMF_END`, FreeSWITCH `DTMF`, Twilio `dtmf`); this stage is the
one reader of `CallTransport.next_event()` for the whole call. A key press stops our reply at once, as
the caller's voice does, because a caller who reaches for the keypad is not listening any more.

Why "0" alone is special: it is the operator key on every phone menu callers know, so outside a slot
it is sent the moment it is pressed. While the agent asks for a number (`slot`: the reply said what it
expects and that digits may give it, e.g. "phone" or a plug-in's "order_number"), a 0 may begin the
number ("0555…"), so the string is collected; a string that is just "0" still means a person.

Digits are a caller's private data (phone numbers, references): they are never logged at info.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from sentiric_pbx.call.record import Turn
from sentiric_pbx.call.transport import CallTransport, Dtmf, Hangup

log = structlog.get_logger("sentiric_pbx.session")

OPERATOR_KEY = "0"
END_KEY = "#"
CLEAR_KEY = "*"
KEYS = frozenset("0123456789*#ABCD")


@dataclass(slots=True)
class KeyedTurn:
    """A string of digits the caller typed: a turn like a spoken one, stored as "(keypad) …"."""

    digits: str
    slot: str | None
    """What the agent had asked for when the string was typed (its reply's `digits_slot`), or None."""
    start_s: float
    end_s: float
    ended_at: float
    """Loop time of the last key (the reply's latency starts here)."""

    @property
    def text(self) -> str:
        return f"(keypad) {self.digits}"

    def as_record(self) -> Turn:
        return Turn("caller", self.text, self.start_s, self.end_s)


class Keypad:
    """Reads the call's events; puts each finished key string on `turns`, barging in on every key."""

    def __init__(
        self,
        transport: CallTransport,
        turns: asyncio.Queue[KeyedTurn],
        *,
        barge_in: Callable[[], object],
        now_s: Callable[[], float],
        pause_s: float,
    ) -> None:
        self.transport = transport
        self.turns = turns
        self.barge_in = barge_in
        self.now_s = now_s
        self.pause_s = pause_s
        self.slot: str | None = None
        """Set by the session from each reply: the slot the agent is asking for, if digits can fill it."""
        self._digits = ""
        self._started_s = 0.0
        self._last_at = 0.0
        self._pause: asyncio.TimerHandle | None = None

    @property
    def typing(self) -> bool:
        """Keys were pressed and the string is not finished yet (the no-input clock waits)."""
        return bool(self._digits)

    async def run(self) -> None:
        while True:
            event = await self.transport.next_event()
            if isinstance(event, Hangup):
                return
            if isinstance(event, Dtmf):
                self.press(event.digit)

    def press(self, digit: str) -> None:
        if digit not in KEYS:
            log.warning("dtmf_ignored", why="not_a_key", length=len(digit))
            return
        self.barge_in()
        loop = asyncio.get_running_loop()
        log.debug("dtmf", digit=digit, collected=len(self._digits), slot=self.slot)
        if self._pause is not None:
            self._pause.cancel()
            self._pause = None
        if digit == CLEAR_KEY:
            self._digits = ""
            return
        if digit == END_KEY:
            self._finish()
            return
        if not self._digits:
            self._started_s = self.now_s()
        self._digits += digit
        self._last_at = loop.time()
        if self.slot is None and self._digits == OPERATOR_KEY:
            self._finish()
            return
        self._pause = loop.call_later(self.pause_s, self._finish)

    def _finish(self) -> None:
        self._pause = None
        if not self._digits:
            return
        digits, self._digits = self._digits, ""
        log.info("keyed_turn", keys=len(digits), slot=self.slot)
        self.turns.put_nowait(KeyedTurn(digits, self.slot, self._started_s, self.now_s(), self._last_at))

    def close(self) -> None:
        if self._pause is not None:
            self._pause.cancel()
            self._pause = None
