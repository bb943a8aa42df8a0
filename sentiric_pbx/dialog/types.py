"""What the stages of a call's conversation hand each other (dialog/session.py draws the whole path).

    listening ──Utterance──► recognizing ──CallerTurn | SttFailed──► session ──► Brain ──Reply──► speaking

Plain data and protocols only, so a stage, a brain or a test can be written against them without the
session: `brain.py` answers with a `Reply`, the timeline tests script a `Brain` of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from sentiric_pbx.call.record import CallContext, Turn


@dataclass(slots=True)
class Reply:
    """What the brain answers: text to speak (streamed) and what to do after saying it."""

    deltas: AsyncIterator[str]
    action: Literal["continue", "end_call", "transfer"] = "continue"
    transfer_target: str | None = None
    digits_slot: str | None = None
    """The slot this reply asks the caller for when keypad digits can fill it ("phone", "order_number"):
    while it is set, a typed string goes to that slot (dialog/keypad.py)."""


class Brain(Protocol):
    """Thinking (seed §3): what to say at each point of the conversation. Only `respond` may take a
    while (NLU → task → responder); the others are fixed phrases a failing engine cannot stop."""

    async def greet(self, ctx: CallContext) -> Reply: ...

    async def respond(self, ctx: CallContext, text: str) -> Reply: ...

    async def respond_keys(self, ctx: CallContext, digits: str, slot: str | None) -> Reply:
        """The caller typed `digits` on the keypad, while the agent asked for `slot` (or nothing): "0" alone
        asks for a person; otherwise the digits fill the slot, or are read like words."""
        ...

    async def reprompt(self, ctx: CallContext, attempt: int) -> Reply:
        """The caller said nothing for `no_input_reprompt_s`; `attempt` counts from 1. Past
        `no_input_max` the reply says goodbye and ends the call."""
        ...

    async def apologise(self, ctx: CallContext) -> Reply:
        """An engine failed: say sorry and (usually) transfer to a human."""
        ...

    def filler(self, ctx: CallContext) -> str:
        """What to say while a reply is late ("Just a moment."): short, fixed, cached."""
        ...


async def text_reply(text: str) -> AsyncIterator[str]:
    """A whole text as a reply stream (fixed phrases, rendered task results)."""
    yield text


@dataclass(slots=True)
class CallerTurn:
    """What the caller said in one turn, recognised."""

    text: str
    words: list[dict[str, float | str]]
    start_s: float
    end_s: float
    ended_at: float
    """Loop time of the caller's last voiced frame (reply latency starts here)."""

    def as_record(self) -> Turn:
        """The turn as the call's record keeps it."""
        return Turn("caller", self.text, self.start_s, self.end_s, words=list(self.words))


@dataclass(frozen=True, slots=True)
class SttFailed:
    """Recognition of a turn raised: the conversation apologises and offers a transfer."""

    error: str
