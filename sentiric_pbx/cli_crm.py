"""`sentiric-pbx crm`: add, list and forget the customers of the built-in (SQLite) CRM.

Numbers are stored in E.164, normalised with the business's default_country_code setting, so
"0555 111 22 33" entered here is found when Asterisk presents "+905551112233". Errors are one line
on stderr, exit 2.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from sentiric_pbx.cli_common import fail as _fail
from sentiric_pbx.config import ConfigError, Settings, load_config
from sentiric_pbx.integrations.crm.base import CrmError, CustomerProfile
from sentiric_pbx.integrations.crm.sqlite import SqliteCrm
from sentiric_pbx.logging import configure_logging
from sentiric_pbx.storage.db import DB_ERRORS, Database, DatabaseError, database_url, open_database
from sentiric_pbx.storage.paths import db_path

T = TypeVar("T")

crm_app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config (default: $SENTIRIC_CONFIG, …)")]


class _Stderr:
    """Whatever sys.stderr is at write time (test runners swap it per invocation)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _settings(config: Path | None) -> Settings:
    try:
        settings = load_config(config)
    except ConfigError as exc:
        _fail(str(exc))
    # stdout carries results (`crm list --json | jq`); warnings go to stderr.
    configure_logging("warning", "console", stream=_Stderr())
    if settings.crm.kind != "sqlite":
        typer.echo(
            f"note: [crm] kind is {settings.crm.kind!r}; this is the built-in CRM, which calls do not use", err=True
        )
    return settings


def _run(settings: Settings, action: Callable[[SqliteCrm], Awaitable[T]]) -> T:
    """Open the database (migrating it if this is its first use), act, close."""

    async def main() -> T:
        # The site store when [storage] database_url names one (the customers every host greets), else the file.
        db = await (open_database(settings) if database_url(settings) else Database.open(db_path(settings)))
        try:
            b = settings.business
            return await action(SqliteCrm(db, timezone=b.timezone, default_country_code=b.default_country_code))
        finally:
            await db.aclose()

    try:
        return asyncio.run(main())
    except (CrmError, DatabaseError) as exc:
        _fail(str(exc))


@crm_app.command("add")
def add(
    phone: Annotated[str, typer.Option("--phone", help='caller ID as dialled: "+90 555 111 22 33", "05551112233"')],
    name: Annotated[str, typer.Option("--name", help="full name, as the agent should say it")],
    title: Annotated[str | None, typer.Option("--title", help='"Mr.", "Ms.", "Bay", "Bayan"…')] = None,
    language: Annotated[str | None, typer.Option("--language", help="preferred language: en, tr, ko…")] = None,
    config: ConfigOpt = None,
) -> None:
    """Add a customer to the built-in CRM."""
    settings = _settings(config)
    profile = _run(settings, lambda crm: crm.add_customer(phone, name, title=title, language=language))
    typer.echo(f"added {profile.customer_id}: {_display(profile)} {profile.phone}")


@crm_app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON array")] = False,
    config: ConfigOpt = None,
) -> None:
    """List the built-in CRM's customers, by name."""
    settings = _settings(config)
    customers = _run(settings, lambda crm: crm.list_customers())
    if as_json:
        typer.echo(json.dumps([asdict(c) for c in customers], ensure_ascii=False))
        return
    if not customers:
        typer.echo("no customers yet; add one with: sentiric-pbx crm add --phone NUMBER --name NAME")
        return
    typer.echo(f"{'ID':<12}  {'PHONE':<16}  {'LANG':<4}  {'LAST CALL':<10}  NAME")
    for c in customers:
        lang = c.language or "-"
        last = c.last_interaction or "never"
        typer.echo(f"{c.customer_id:<12}  {c.phone:<16}  {lang:<4}  {last:<10}  {_display(c)}")


@crm_app.command("forget")
def forget(
    phone: Annotated[str, typer.Argument(help='the caller\'s number as dialled: "+90 555 111 22 33", "05551112233"')],
    as_json: Annotated[bool, typer.Option("--json", help="print the counts as one JSON object")] = False,
    config: ConfigOpt = None,
) -> None:
    """Erase a caller (right to erasure, KVKK/GDPR): their customer record, every call from their number
    with its transcript, recording, summary and analytics, their next greeting, their bookings and queued
    post-call jobs, in the database, the archive and Redis. Prints what was removed."""
    from redis.exceptions import RedisError

    from sentiric_pbx.postcall.erasure import describe, open_personal_data

    settings = _settings(config)

    async def erase() -> dict[str, int]:
        async with open_personal_data(settings) as data:
            return dict(await data.forget_caller(phone))

    try:
        removed = asyncio.run(erase())
    except ValueError as exc:
        _fail(str(exc))
    except (DatabaseError, *DB_ERRORS, RedisError, OSError) as exc:
        _fail(f"could not forget {phone}: {exc}")
    if as_json:
        typer.echo(json.dumps(removed))
    else:
        typer.echo(f"forgot {phone}: {describe(Counter(removed))}")
    if settings.crm.kind == "http":
        url = settings.crm.url
        typer.echo(f"note: the HTTP CRM at {url} keeps its own records of this caller: erase them there", err=True)


def _display(profile: CustomerProfile) -> str:
    return f"{profile.title} {profile.name}" if profile.title else profile.name
