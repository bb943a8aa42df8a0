"""`SqliteCrm`: the built-in CRM — customers and call summaries in the daemon's own database.

"Own database" is the SQLite file of one host or, with [storage] database_url, the PostgreSQL site store
every host shares: a customer added on one host is greeted by name on all of them.

For a clinic or a small office with no CRM of its own: `sentiric-pbx crm add` enters customers, a
call looks the caller up by number (the seed's step 2.1), and after the call its summary is stored and
the customer's `last_interaction` moves to the call's date (step 5).

Phone numbers are stored and looked up in E.164 only: a lookup with "0555 111 22 33" and one with
"+90 555 111 2233" must find the same person, so every path goes through `normalize_e164`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from sentiric_pbx.call.phone import normalize_e164
from sentiric_pbx.integrations.crm.base import CallSummary, CrmError, CustomerProfile
from sentiric_pbx.storage.db import DB_ERRORS, INTEGRITY_ERRORS, Database, DatabaseError

log = structlog.get_logger("sentiric_pbx.crm")

_COLUMNS = "customer_id, phone, name, title, language, last_interaction, extra"


def _profile(row: Any) -> CustomerProfile:
    return CustomerProfile(
        customer_id=row["customer_id"],
        name=row["name"],
        phone=row["phone"],
        last_interaction=row["last_interaction"],
        title=row["title"],
        language=row["language"],
        extra=json.loads(row["extra"] or "{}"),
    )


def _summary(row: Any) -> CallSummary:
    return CallSummary(
        call_id=row["call_id"],
        customer_id=row["customer_id"],
        phone=row["phone"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        outcome=row["outcome"],
        summary=row["summary"],
        intents=json.loads(row["intents"]),
    )


@asynccontextmanager
async def _crm_errors(what: str) -> AsyncIterator[None]:
    try:
        yield
    except (*DB_ERRORS, DatabaseError) as exc:  # DatabaseError: the site store could not be reached
        raise CrmError(f"built-in CRM: {what} failed: {exc}") from exc


class SqliteCrm:
    """The `Crm` protocol over the `crm_customers` / `crm_call_summaries` tables (core migration 2).

    `timezone`: the business's, so `last_interaction` is the date the caller would name.
    `default_country_code`: for numbers handed in without one ("0555…").
    """

    def __init__(self, db: Database, *, timezone: str = "UTC", default_country_code: str = "90") -> None:
        self.db = db
        self.tz = ZoneInfo(timezone)
        self.default_country_code = default_country_code

    def normalize(self, phone: str) -> str:
        e164 = normalize_e164(phone, self.default_country_code)
        if e164 is None:
            raise CrmError(f"{phone!r} is not a phone number")
        return e164

    async def lookup(self, phone_e164: str) -> CustomerProfile | None:
        phone = normalize_e164(phone_e164, self.default_country_code)
        if phone is None:
            return None
        async with _crm_errors("lookup"):
            row = await self.db.fetchone(f"SELECT {_COLUMNS} FROM crm_customers WHERE phone = ?", (phone,))
        return None if row is None else _profile(row)

    async def add_customer(
        self,
        phone: str,
        name: str,
        *,
        title: str | None = None,
        language: str | None = None,
        extra: dict[str, Any] | None = None,
        customer_id: str | None = None,
    ) -> CustomerProfile:
        """Add one customer; `CrmError` if the number is not a phone number or already belongs to someone."""
        profile = CustomerProfile(
            customer_id=customer_id or uuid.uuid4().hex[:12],
            name=name.strip(),
            phone=self.normalize(phone),
            title=title,
            language=language,
            extra=extra or {},
        )
        if not profile.name:
            raise CrmError("a customer needs a name")
        try:
            await self.db.execute(
                f"INSERT INTO crm_customers ({_COLUMNS}, created_at) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)",
                (
                    profile.customer_id,
                    profile.phone,
                    profile.name,
                    title,
                    language,
                    json.dumps(profile.extra, ensure_ascii=False),
                    time.time(),
                ),
            )
        except INTEGRITY_ERRORS as exc:
            existing = await self.lookup(profile.phone)
            if existing is not None:
                raise CrmError(f"{profile.phone} already belongs to {existing.name} ({existing.customer_id})") from exc
            raise CrmError(f"customer id {profile.customer_id} already exists") from exc
        log.info("crm_customer_added", customer_id=profile.customer_id)
        return profile

    async def list_customers(self, limit: int | None = None) -> list[CustomerProfile]:
        async with _crm_errors("listing customers"):
            if self.db.dialect == "postgresql":  # no COLLATE NOCASE there; LIMIT NULL is "no limit"
                rows = await self.db.fetchall(
                    f"SELECT {_COLUMNS} FROM crm_customers ORDER BY lower(name), phone LIMIT ?", (limit,)
                )
            else:
                rows = await self.db.fetchall(
                    f"SELECT {_COLUMNS} FROM crm_customers ORDER BY name COLLATE NOCASE, phone LIMIT ?",
                    (-1 if limit is None else limit,),
                )
        return [_profile(row) for row in rows]

    def _interaction_date(self, summary: CallSummary) -> str:
        when = summary.ended_at or summary.started_at
        return datetime.fromtimestamp(when, self.tz).date().isoformat()

    async def save_call_summary(self, summary: CallSummary) -> None:
        """Store the summary (idempotent per call_id: a retried post-call job overwrites, never duplicates)
        and move the customer's last_interaction forward (never back, if an older call is retried late)."""
        phone = normalize_e164(summary.phone, self.default_country_code)
        day = self._interaction_date(summary)
        async with _crm_errors("saving the call summary"), self.db.transaction() as conn:
            cursor = await conn.execute(
                "SELECT customer_id FROM crm_customers WHERE customer_id = ? OR phone = ? "
                "ORDER BY customer_id = ? DESC LIMIT 1",
                (summary.customer_id, phone, summary.customer_id),
            )
            row = await cursor.fetchone()
            await cursor.close()
            customer_id = row["customer_id"] if row else None
            await conn.execute(
                "INSERT INTO crm_call_summaries (call_id, customer_id, phone, started_at, ended_at, "
                "outcome, summary, intents, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (call_id) DO UPDATE SET customer_id = excluded.customer_id, phone = excluded.phone, "
                "started_at = excluded.started_at, ended_at = excluded.ended_at, outcome = excluded.outcome, "
                "summary = excluded.summary, intents = excluded.intents, created_at = excluded.created_at",
                (
                    summary.call_id,
                    customer_id,
                    phone,
                    summary.started_at,
                    summary.ended_at,
                    summary.outcome,
                    summary.summary,
                    json.dumps(summary.intents),
                    time.time(),
                ),
            )
            if customer_id is not None:
                await conn.execute(
                    # "never back": a CASE, as SQLite's two-argument MAX() is GREATEST() in PostgreSQL
                    "UPDATE crm_customers SET last_interaction = CASE WHEN last_interaction IS NULL "
                    "OR last_interaction < ? THEN ? ELSE last_interaction END WHERE customer_id = ?",
                    (day, day, customer_id),
                )
        log.info("crm_summary_saved", call_id=summary.call_id, customer_id=customer_id, outcome=summary.outcome)

    async def call_summaries(self, phone: str, limit: int = 20) -> list[CallSummary]:
        """A caller's past calls, newest first (what the agent may mention: "last time you asked about…")."""
        async with _crm_errors("reading call summaries"):
            rows = await self.db.fetchall(
                "SELECT * FROM crm_call_summaries WHERE phone = ? ORDER BY started_at DESC LIMIT ?",
                (self.normalize(phone), limit),
            )
        return [_summary(r) for r in rows]

    async def aclose(self) -> None:
        """The database is the daemon's, shared; whoever opened it closes it."""
        return None
