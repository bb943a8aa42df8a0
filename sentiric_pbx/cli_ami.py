"""`sentiric-pbx originate NUMBER`: ring a number through Asterisk AMI and connect it to the agent.

The admin's check that the AMI credentials in the config work end to end, and the way to place an
outbound test call: Asterisk dials `<channel-tech>/<NUMBER>` and, once answered, runs
`--context`/`--exten` (the dialplan that hands the call to the agent). It prints one line with
Asterisk's OriginateResponse. AMI unreachable or the login refused → one line on stderr, exit 2;
the call placed but not answered → exit 1.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from sentiric_pbx.cli_common import fail as _fail
from sentiric_pbx.cli_common import load_settings
from sentiric_pbx.config import AmiConfig
from sentiric_pbx.logging import configure_logging
from sentiric_pbx.telephony.asterisk.ami import AmiClient, AmiError, OriginateResult


async def _originate(
    config: AmiConfig, channel: str, context: str, exten: str, caller_id: str | None, timeout_s: float
) -> OriginateResult:
    client = AmiClient(config)
    await client.connect()
    try:
        return await client.originate(channel, context, exten, caller_id=caller_id, timeout_s=timeout_s)
    finally:
        await client.close()


def originate_command(
    number: Annotated[str, typer.Argument(help="number (or endpoint) to dial, e.g. +905551112233")],
    context: Annotated[str, typer.Option("--context", help="dialplan context run once answered")] = "sentiric",
    exten: Annotated[str, typer.Option("--exten", help="extension in --context")] = "100",
    channel_tech: Annotated[str, typer.Option("--channel-tech", help="PJSIP, SIP, Local …")] = "PJSIP",
    caller_id: Annotated[str | None, typer.Option("--caller-id", help='e.g. "Clinic" <+90212…>')] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds to let it ring")] = 30.0,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config (its ami section)")] = None,
) -> None:
    """Originate a call through Asterisk AMI with the credentials of the config's ami section."""
    settings = load_settings(config)
    configure_logging("warning", "console", stream=sys.stderr)
    channel = f"{channel_tech}/{number}"
    try:
        result = asyncio.run(_originate(settings.ami, channel, context, exten, caller_id, timeout))
    except AmiError as exc:
        _fail(str(exc))
    except TimeoutError:
        _fail(f"no OriginateResponse from Asterisk for {channel} within {timeout + 10:.0f} s")
    detail = f"uniqueid {result.uniqueid}, channel {result.channel}, reason {result.reason}"
    typer.echo(f"originate {channel} → {context},{exten},1: {result.response} ({detail})")
    if not result.success:
        raise typer.Exit(1)
