"""What every ingress offers a call: its metadata, inbound frames, paced playout, events, control.

The dialog layer only ever sees this protocol, so an AudioSocket call, an ARI externalMedia call and
a Twilio stream look the same to it: 16 kHz 20 ms frames in, 16 kHz PCM out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(slots=True)
class CallInfo:
    """Who is calling whom. AudioSocket carries only the UUID; FastAGI fills in the rest."""

    call_id: str
    caller_id: str | None = None
    caller_name: str | None = None
    called_number: str | None = None
    language: str | None = None
    channel: str | None = None
    ingress: str = "audiosocket"
    extra: dict[str, str] = field(default_factory=dict)
    on_turn: Callable[[str, str], None] | None = None
    """Called with (who, text) as each turn is stored: an ingress with a screen (the browser phone) shows
    the transcript live. It must not block or raise; most ingresses leave it unset."""


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Hangup:
    """The call is over. `by` is "caller", "agent" or "error"; `reason` a short machine word."""

    by: str
    reason: str


CallEvent = Dtmf | Hangup


@runtime_checkable
class CallTransport(Protocol):
    info: CallInfo
    closed: bool
    """The call is over (either side ended it); playout has stopped."""
    unplayed_at_end_ms: int
    """Our audio that was still queued when the call ended, i.e. never heard (0 while the call is up)."""

    def frames(self) -> AsyncIterator[bytes]:
        """Inbound 640-byte 16 kHz frames until the call ends."""
        ...

    def play(self, pcm: bytes, final: bool = True) -> None:
        """Queue 16 kHz PCM for paced playout; `final=False` while more of the same reply follows."""
        ...

    def flush(self) -> None:
        """Drop all queued playout now (barge-in)."""
        ...

    async def wait_played(self) -> None:
        """Return once everything queued has been sent."""
        ...

    @property
    def queued_ms(self) -> int:
        """Audio queued for playout and not yet sent."""
        ...

    async def next_event(self) -> CallEvent: ...

    async def hangup(self) -> None: ...

    async def transfer(self, target: str) -> None: ...


class CallControl(Protocol):
    """What a control plane (ARI, the Event Socket) does for a media-only transport: the media socket
    carries audio and makes no call decisions (DESIGN.md, "control is not media")."""

    async def hangup(self) -> None: ...

    async def transfer(self, target: str) -> None: ...
