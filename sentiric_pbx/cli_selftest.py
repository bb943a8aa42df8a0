"""`sentiric-pbx selftest`: the admin's check after installing, a real call through Asterisk (sentiric_pbx/selftest.py).

Prints one line per fact and PASS, or FAIL with the likely cause last (where the eye lands); `--json`
prints one object. Exit 1 on FAIL.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from sentiric_pbx.cli_common import load_settings
from sentiric_pbx.logging import configure_logging
from sentiric_pbx.selftest import SelftestOptions, SelftestResult, run_selftest


def print_result(result: SelftestResult) -> None:
    """The admin's view: one line per fact, PASS or FAIL with the likely cause last (where the eye lands)."""
    d = result.daemon
    if d is not None:
        typer.echo(f"daemon:   pid {d.get('pid')}, agent {d.get('agent')}, {d.get('active_calls')} call(s) in progress")
    typer.echo(f"call:     {result.channel} at {result.rate // 1000} kHz, agent call id {result.agent_call_id or '-'}")
    greet = "none" if result.greeting_ms is None else f"{result.greeting_ms:.0f} ms after the call connected"
    typer.echo(f"greeting: {greet}" + (f' — "{result.greeting}"' if result.greeting else ""))
    typer.echo(f'asked:    "{result.question}"')
    reply = "none" if result.reply_ms is None else f"{result.reply_ms:.0f} ms after the caller stopped"
    typer.echo(f"reply:    {reply}" + (f' — "{result.heard}"' if result.heard else ""))
    if result.ok:
        typer.echo("PASS")
        return
    typer.echo(f"FAIL: {result.problems[0]}")
    for problem in result.problems[1:]:
        typer.echo(f"  also: {problem}")


def selftest_command(
    context: Annotated[str, typer.Option("--context", help="the agent's dialplan context")] = "sentiric",
    exten: Annotated[str, typer.Option("--exten", help="the agent's extension in --context")] = "100",
    wideband: Annotated[
        bool | None,
        typer.Option("--wideband/--narrowband", help="16 kHz (slin16) or 8 kHz; default: 16 kHz for 101 and wideband"),
    ] = None,
    greeting_timeout: Annotated[float, typer.Option("--greeting-timeout", help="seconds to wait for a greeting")] = 8.0,
    reply_timeout: Annotated[float, typer.Option("--reply-timeout", help="seconds to wait for the reply")] = 15.0,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="the daemon's TOML config")] = None,
) -> None:
    """Call the running daemon through Asterisk (AMI Originate), ask a question, judge the answer. Exit 1 on FAIL."""
    settings = load_settings(config)
    configure_logging("warning", "console", stream=sys.stderr)
    opts = SelftestOptions(
        context=context,
        exten=exten,
        wideband=wideband,
        greeting_timeout_s=greeting_timeout,
        reply_timeout_s=reply_timeout,
    )
    result = asyncio.run(run_selftest(settings, opts, lambda msg: typer.echo(f"selftest: {msg}", err=True)))
    if as_json:
        out = result.to_dict()
        typer.echo(json.dumps({k: out[k] for k in ("ok", "greeting_ms", "reply_ms", "heard", "problems")} | out))
    else:
        print_result(result)
    if not result.ok:
        raise typer.Exit(1)
