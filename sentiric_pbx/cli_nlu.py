"""`sentiric-pbx nlu TEXT`: what the agent understands from one caller turn, without placing a call.

An admin tuning the agent types what callers say and sees the intent, the entities and how sure the
rules were. Rules only by default (instant); `--llm` loads the bundled local model as the daemon
would and lets it answer where the rules are unsure. Dates resolve against `--now` (default: the
current time) in the configured business timezone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from sentiric_pbx.cli_common import fail as _fail
from sentiric_pbx.cli_common import load_settings
from sentiric_pbx.config import Settings
from sentiric_pbx.logging import configure_logging

if TYPE_CHECKING:
    from sentiric_pbx.dialog.nlu import NluOptions, NluResult


def _now(value: str | None, timezone: str) -> dt.datetime:
    zone = ZoneInfo(timezone)
    if value is None:
        return dt.datetime.now(zone)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        _fail(f"--now must be an ISO date-time like 2026-11-25T10:00 or 2026-11-25T10:00+03:00, got {value!r}")
    return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed.astimezone(zone)


async def _understand(
    text: str, now: dt.datetime, language: str, options: NluOptions, settings: Settings | None
) -> NluResult:
    """Rules only when `settings` is None, else with the bundled LLM loaded as the daemon loads it."""
    from sentiric_pbx.dialog.nlu import understand, warmup

    llm = None
    if settings is not None:
        from sentiric_pbx.engines.pool import EngineLoadError, EnginePool

        pool = EnginePool(settings)
        try:
            await pool.start(stt=False, tts=False)
        except EngineLoadError as exc:
            _fail(str(exc))
        llm = pool.llm
    warmup()
    return await understand(text, now=now, language=language, llm=llm, options=options)


def _print(result: NluResult) -> None:
    typer.echo(
        f"intent: {result.intent}  (confidence {result.confidence:.2f}, {result.source}, {result.elapsed_ms} ms)"
    )
    for key, value in result.entities.items():
        typer.echo(f"  {key}: {value}")


def nlu_command(
    text: Annotated[list[str], typer.Argument(help="what the caller said (quoted or not)")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    now: Annotated[str | None, typer.Option("--now", help="resolve dates as if it were this ISO time")] = None,
    language: Annotated[str, typer.Option("--language", "-l", help="en or tr")] = "en",
    llm: Annotated[bool, typer.Option("--llm", help="ask the local LLM when the rules are unsure")] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config ([business] timezone…)")] = None,
) -> None:
    """Understand one caller turn: intent, entities (date, time, name, phone) and confidence."""
    from sentiric_pbx.dialog.nlu import NluOptions

    settings = load_settings(config)
    configure_logging("warning", "console", stream=sys.stderr)
    options = NluOptions.from_business(settings.business)
    when = _now(now, options.timezone)
    result = asyncio.run(_understand(" ".join(text), when, language, options, settings if llm else None))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        _print(result)
