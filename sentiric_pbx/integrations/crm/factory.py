"""`build_crm(settings, db)`: the CRM adapter [crm] asks for, and the one safe way to ask it who is calling.

`lookup_caller` is what the greeting calls: it bounds the wait, turns every failure into `None` plus
one `crm_lookup_failed` warning, and so keeps the seed's promise that a CRM outage never stops a call —
the caller is greeted as a stranger instead.
"""

from __future__ import annotations

import asyncio

import structlog

from sentiric_pbx.config import Settings
from sentiric_pbx.integrations.crm.base import Crm, CrmError, CustomerProfile
from sentiric_pbx.storage.db import Database

log = structlog.get_logger("sentiric_pbx.crm")


def build_crm(settings: Settings, db: Database | None) -> Crm:
    """SQLite (needs the daemon's `db`) or HTTP ([crm] url, auth_header, timeout_s, retries)."""
    if settings.crm.kind == "http":
        from sentiric_pbx.integrations.crm.http import HttpCrm

        return HttpCrm.from_config(settings.crm)
    from sentiric_pbx.integrations.crm.sqlite import SqliteCrm

    if db is None:
        raise CrmError('[crm] kind = "sqlite" needs the daemon database')
    return SqliteCrm(
        db, timezone=settings.business.timezone, default_country_code=settings.business.default_country_code
    )


async def lookup_caller(crm: Crm, phone_e164: str | None, timeout_s: float = 3.0) -> CustomerProfile | None:
    """The caller's profile, or None when unknown, anonymous, or the CRM fails or is slow."""
    if not phone_e164:
        return None
    try:
        async with asyncio.timeout(timeout_s):
            return await crm.lookup(phone_e164)
    except (CrmError, TimeoutError) as exc:
        log.warning("crm_lookup_failed", error=str(exc) or f"no answer within {timeout_s} s")
        return None
    except Exception:  # an adapter bug must not cost a caller their call either
        log.exception("crm_lookup_crashed")
        return None
