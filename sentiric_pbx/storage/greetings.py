"""Greetings written ahead of time: after a known caller's call, for the next one (table `greetings`).

Why ahead of time: a model writing "Mr. Yilmaz, good to hear from you again — I hope Tuesday's check-up
went well." takes seconds on a PBX's CPU, and the caller is listening to the first second of the call.
Written by the post-call worker (postcall/greeting.py) and read with the CRM lookup, it costs the caller
nothing: the cached "Hello!" plays, then this text. One row per phone number, replaced after every call;
a row older than `max_age_days` is not used (what it remembers is stale).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from sentiric_pbx.storage.db import Database

log = structlog.get_logger("sentiric_pbx.greetings")

MAX_AGE_DAYS = 90.0


@dataclass(frozen=True, slots=True)
class StoredGreeting:
    phone: str
    language: str
    text: str
    call_id: str | None
    engine: str | None
    written_at: float


class GreetingStore:
    """The `greetings` table of the daemon's database (core migration 3)."""

    def __init__(self, db: Database, max_age_days: float = MAX_AGE_DAYS) -> None:
        self.db = db
        self.max_age_days = max_age_days

    async def get(self, phone: str, language: str) -> StoredGreeting | None:
        """The greeting for `phone` in `language`, if one was written within `max_age_days`."""
        row = await self.db.fetchone(
            "SELECT phone, language, text, call_id, engine, written_at FROM greetings "
            "WHERE phone = ? AND language = ? AND written_at >= ?",
            (phone, language, time.time() - self.max_age_days * 86400),
        )
        return None if row is None else StoredGreeting(*row)

    async def put(self, phone: str, language: str, text: str, *, call_id: str | None, engine: str | None) -> None:
        await self.db.execute(
            "INSERT INTO greetings (phone, language, text, call_id, engine, written_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(phone) DO UPDATE SET language = excluded.language, text = excluded.text, "
            "call_id = excluded.call_id, engine = excluded.engine, written_at = excluded.written_at",
            (phone, language, text, call_id, engine, time.time()),
        )


__all__ = ["MAX_AGE_DAYS", "GreetingStore", "StoredGreeting"]
