"""The small interfaces the dialog layer programs against; one implementation per engine.

Audio in and out is always the internal format (16 kHz mono s16le); an engine that wants another
rate converts at its own boundary.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypedDict


class EngineLoadError(Exception):
    """A model is missing or broken; the message says which and how to fix it."""


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    start_s: float
    end_s: float
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class Transcript:
    """A partial (`final=False`, may still change) or final recognition result."""

    text: str
    final: bool
    words: tuple[Word, ...] = ()
    language: str | None = None


class SttStream(Protocol):
    """One call's recognizer: feed frames as they arrive, read partials and finals."""

    async def feed(self, pcm: bytes) -> list[Transcript]:
        """Feed 16 kHz PCM; return the partials/finals it produced (possibly none)."""
        ...

    async def finish(self) -> Transcript:
        """End of the utterance: the final result for everything fed since the last final."""
        ...

    def reset(self) -> None: ...


class SttEngine(Protocol):
    name: str
    streaming: bool
    """True when a stream recognises while it is fed (Vosk): the dialog feeds it every frame of a turn.
    False (Whisper): the dialog calls `transcribe` on the turn so far at each pause instead."""

    def open_stream(self) -> SttStream: ...

    async def transcribe(self, pcm: bytes) -> Transcript:
        """Recognise one whole utterance (the endpointer's segment)."""
        ...


class TtsEngine(Protocol):
    name: str

    def synthesize(self, text: str) -> AsyncIterator[bytes]:
        """16 kHz PCM, one chunk per sentence, the first as soon as the first sentence is ready."""
        ...


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(slots=True)
class LlmRequest:
    messages: Sequence[ChatMessage]
    max_tokens: int = 96
    temperature: float = 0.3
    grammar: str | None = None
    """GBNF grammar (llama.cpp) constraining the output."""
    json_schema: dict[str, object] | None = None
    """JSON schema constraining the output (converted to a grammar locally, `response_format` remotely)."""
    stop: list[str] = field(default_factory=list)
    cache_key: str | None = None
    """A call id: lets an engine keep this conversation's prefix cached between turns."""
    first_token_s: float | None = None
    """How long this request may wait for the primary's first token before the fallback is asked: a caller
    waiting in silence asks sooner ([llm] call_fallback_after_s) than post-call work. None: the engine's own."""


class LlmEngine(Protocol):
    name: str

    def stream(self, request: LlmRequest) -> AsyncIterator[str]:
        """Text deltas as they are generated. Closing the iterator cancels generation (barge-in)."""
        ...

    async def complete(self, request: LlmRequest) -> str:
        """The whole completion (for constrained outputs such as intent labels)."""
        ...
