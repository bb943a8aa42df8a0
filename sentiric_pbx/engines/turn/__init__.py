"""Turn-completion models: has the caller finished their turn, judged from the sound of it?

A silence threshold cannot tell "What are your opening hours?" from "I'd like to book an appointment
for…" followed by the same pause; the way a voice falls at the end of a sentence, or stays up in the
middle of one, can. A `TurnModel` hears the turn so far (16 kHz PCM, the pause included) and answers
with the probability that it is complete; dialog/turntaking.py decides what that probability is worth
next to the words and the silence.
"""

from __future__ import annotations

from typing import Protocol

WINDOW_S = 8
"""The most of a turn a turn model hears: its last 8 s (Smart Turn's window)."""


class TurnModel(Protocol):
    name: str

    async def completion(self, pcm: bytes) -> float:
        """P(the caller has finished their turn) for the turn so far, 0..1 (runs off the event loop)."""
        ...
