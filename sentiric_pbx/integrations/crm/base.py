"""The CRM protocol every adapter implements (built-in SQLite, HTTP/JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class CustomerProfile:
    """The seed's shape: {"customer_id": "12345", "name": "Ahmet Yılmaz", "last_interaction": "2023-11-20"}."""

    customer_id: str
    name: str
    phone: str
    last_interaction: str | None = None
    title: str | None = None
    """"Mr.", "Ms.", "Bay", "Bayan"… when the CRM knows it; greetings use it."""
    language: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CallSummary:
    call_id: str
    customer_id: str | None
    phone: str | None
    started_at: float
    ended_at: float | None
    outcome: str
    """"completed", "unfinished_call", "transferred", "failed"."""
    summary: str
    intents: list[str] = field(default_factory=list)


class CrmError(Exception):
    """The CRM could not be reached or answered nonsense; the call goes on without it."""


class Crm(Protocol):
    async def lookup(self, phone_e164: str) -> CustomerProfile | None: ...

    async def save_call_summary(self, summary: CallSummary) -> None: ...

    async def aclose(self) -> None: ...
