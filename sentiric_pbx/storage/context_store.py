"""The `ContextStore` protocol: a call's `CallContext` is written through it after every turn.

Implementations: memory (tests of other parts only), SQLite (the embedded default) and Redis (one key
per call with a TTL — the seed's choice, needed when several daemons share calls).
"""

from __future__ import annotations

from typing import Protocol

from sentiric_pbx.dialog.context import CallContext, CallStatus


class ContextStore(Protocol):
    async def save(self, context: CallContext) -> None:
        """Write the whole context (idempotent; last write wins)."""
        ...

    async def load(self, call_id: str) -> CallContext | None: ...

    async def finish(self, context: CallContext, status: CallStatus) -> None:
        """Mark the call ended with `status` and make the record durable (SQLite row, Redis TTL extended)."""
        ...

    async def list(self, status: CallStatus | None = None, limit: int = 50) -> list[CallContext]: ...

    async def aclose(self) -> None: ...
