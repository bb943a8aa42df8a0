"""Thinking: a caller turn → the brain (NLU → task → responder) → a reply, which a failure cannot take away.

    CallerTurn("book me at 10 tomorrow") ─► brain.respond ─► Reply("Shall I book you …?")
                                                └─ raises ─► brain.apologise ─► Reply("Sorry, … colleague.", transfer)

The time it took goes into the record (`think_ms`), and the intent the NLU found onto the caller's turn.
"""

from __future__ import annotations

import asyncio

import structlog

from sentiric_pbx.call.record import CallContext
from sentiric_pbx.dialog.keypad import KeyedTurn
from sentiric_pbx.dialog.timing import timed
from sentiric_pbx.dialog.types import Brain, CallerTurn, Reply
from sentiric_pbx.engines.priority import waiting_since

log = structlog.get_logger("sentiric_pbx.session")


class Thinker:
    def __init__(self, brain: Brain, ctx: CallContext) -> None:
        self.brain = brain
        self.ctx = ctx

    async def think(self, turn: CallerTurn | KeyedTurn) -> Reply:
        """The reply to a caller turn (spoken or typed) already stored as the record's last turn."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            with waiting_since(turn.ended_at):  # the caller's engine jobs (NLU's LLM) go before later callers'
                if isinstance(turn, KeyedTurn):
                    reply = await self.brain.respond_keys(self.ctx, turn.digits, turn.slot)
                else:
                    reply = await self.brain.respond(self.ctx, turn.text)
        except Exception as exc:
            log.error("brain_failed", error=repr(exc))
            reply = await self.brain.apologise(self.ctx)
        timed(self.ctx, "think_ms", (loop.time() - started) * 1000)
        if self.ctx.turns[-1].who == "caller" and self.ctx.intents:
            self.ctx.turns[-1].intent = self.ctx.intents[-1]
        return reply
