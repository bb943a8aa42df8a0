"""`sentiric-pbx`: run the daemon, place a test call, or see the whole thing work with `demo`.

Errors an admin can fix (bad config, nothing listening, a port in use) end in one line on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import json
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from sentiric_pbx.cli_ami import originate_command
from sentiric_pbx.cli_calls import calls_app, worker
from sentiric_pbx.cli_common import fail as _fail
from sentiric_pbx.cli_common import load_settings as _settings
from sentiric_pbx.cli_common import run_event_loop, start_errors
from sentiric_pbx.cli_crm import crm_app
from sentiric_pbx.cli_models import models_app
from sentiric_pbx.cli_nlu import nlu_command
from sentiric_pbx.cli_selftest import selftest_command
from sentiric_pbx.config import ConsoleConfig, Settings
from sentiric_pbx.doctor import doctor_command
from sentiric_pbx.logging import configure_logging

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.add_typer(models_app, name="models")
app.add_typer(crm_app, name="crm")
app.add_typer(calls_app, name="calls")
app.command("nlu")(nlu_command)
app.command("doctor")(doctor_command)
app.command("originate")(originate_command)
app.command("selftest")(selftest_command)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config (default: $SENTIRIC_CONFIG, /etc/sentiric-pbx/config.toml)"),
]


def _hostport(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        _fail(f"{what} must be HOST:PORT, got {value!r}")
    return host or "127.0.0.1", int(port)


@app.command()
def run(config: ConfigOpt = None) -> None:
    """Run the daemon: FastAGI + AudioSocket listeners and the configured agent."""
    from sentiric_pbx.daemon import Daemon

    settings = _settings(config)
    configure_logging(settings.logging.level, settings.logging.format, log_transcripts=settings.logging.log_transcripts)
    try:
        run_event_loop(Daemon(settings).run_forever(), settings.daemon.event_loop)
    except OSError as exc:
        if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL):
            _fail(f"cannot start listeners: {exc} (is another sentiric-pbx running? check the ports in the config)")
        _fail(f"cannot start: {exc}")  # a directory it may not create, a file it may not read: the path is in it
    except start_errors() as exc:
        _fail(f"cannot start: {exc}")


@app.command()
def call(
    turns: Annotated[list[Path], typer.Argument(help="WAV files (mono 16-bit), one per caller turn", exists=True)],
    to: Annotated[str, typer.Option("--to", help="AudioSocket HOST:PORT")] = "127.0.0.1:9092",
    agi: Annotated[str | None, typer.Option("--agi", help="FastAGI HOST:PORT to register with first")] = None,
    agi_secret: Annotated[
        str | None,
        typer.Option(
            "--agi-secret",
            envvar="SENTIRIC_FASTAGI__SECRET",
            show_envvar=True,
            help="the daemon's [fastagi] secret: the registration carries the dialplan's key (verified caller ID)",
        ),
    ] = None,
    caller_id: Annotated[str, typer.Option("--caller-id")] = "+905551112233",
    rate: Annotated[int, typer.Option("--rate", help="8000 (AudioSocket app) or 16000 (Dial slin16)")] = 8000,
    record: Annotated[Path | None, typer.Option("--record", help="stereo WAV: caller left, agent right")] = None,
    hangup_after: Annotated[float | None, typer.Option("--hangup-after", help="close TCP after S seconds")] = None,
    language: Annotated[str, typer.Option("--language", help="agi_language to send (tr: Turkish)")] = "en",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Place a test call the way Asterisk does and measure the agent's replies on the wire."""
    from sentiric_pbx.tools.caller import CallerError, CallerOptions, load_turn, place_call

    if rate not in (8000, 16000):
        _fail("--rate must be 8000 or 16000")
    host, port = _hostport(to, "--to")
    opts = CallerOptions(
        host=host,
        port=port,
        agi=_hostport(agi, "--agi") if agi else None,
        agi_secret=agi_secret,
        caller_id=caller_id,
        rate=rate,
        record=record,
        hangup_after_s=hangup_after,
        language=language,
    )
    try:
        pcm_turns = [load_turn(p, rate) for p in turns]
        report = asyncio.run(place_call(pcm_turns, opts))
    except CallerError as exc:
        _fail(str(exc))
        return
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
        return
    _print_report(report, record)


def _print_report(report: object, record: Path | None) -> None:
    from sentiric_pbx.tools.caller import CallReport

    assert isinstance(report, CallReport)
    typer.echo(f"call {report.call_id} ended by {report.ended_by}")
    greet = "none" if report.greeting_latency_ms is None else f"{report.greeting_latency_ms:.0f} ms"
    typer.echo(f"  greeting: {greet}")
    for i, turn in enumerate(report.turns, 1):
        lat = "no reply" if turn.latency_ms is None else f"reply after {turn.latency_ms:.0f} ms"
        typer.echo(
            f"  turn {i}: caller {turn.caller_audio_s:.2f} s, {lat}, agent {turn.agent_audio_s:.2f} s, "
            f"underruns {turn.underruns}"
        )
    if report.interarrival_ms:
        ia = report.interarrival_ms
        typer.echo(f"  agent frames: {report.frames_received}, interval p50 {ia['p50']} ms p99 {ia['p99']} ms")
    if record:
        typer.echo(f"  recording: {record} (left = caller, right = agent)")


@app.command()
def demo(
    config: ConfigOpt = None,
    record: Annotated[Path, typer.Option("--record", help="where to write the demo call's recording")] = Path(
        "sentiric-demo.wav"
    ),
    echo: Annotated[bool, typer.Option("--echo", help="the echo line test instead of the assistant")] = False,
    language: Annotated[
        str, typer.Option("--language", help="the call's language: en, or tr (CHANNEL(language)=tr, Turkish caller)")
    ] = "en",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Start the daemon in-process on free loopback ports and call it: a booking call with the bundled models."""
    if language not in ("en", "tr"):
        _fail(f"--language {language!r}: the demo speaks en or tr")
        return
    settings = _settings(config)
    configure_logging("warning", "console", stream=sys.stderr)
    console = settings.console.model_copy()
    settings.console.enabled = False  # the demo's daemon lives for one call; `run`'s console shows it after
    if echo:
        report = run_event_loop(_echo_demo(settings, record), settings.daemon.event_loop)
        if as_json:
            typer.echo(json.dumps(report.to_dict()))  # type: ignore[attr-defined]
        else:
            _print_report(report, record)
        return
    from sentiric_pbx.engines.pool import EngineLoadError
    from sentiric_pbx.tools.demo import run_demo

    try:
        result = run_event_loop(
            run_demo(settings, record, lambda msg: typer.echo(f"demo: {msg}", err=True), language=language),
            settings.daemon.event_loop,
        )
    except EngineLoadError as exc:
        _fail(str(exc))
        return
    if as_json:
        ctx = result.context
        typer.echo(
            json.dumps(
                {
                    "call": result.report.to_dict(),
                    "booking": result.booking,
                    "status": ctx.status if ctx else None,
                    "transcript": [{"who": t.who, "text": t.text} for t in ctx.turns] if ctx else [],
                    "console_url": _console_url(console, result.report.call_id),
                }
            )
        )
        return
    _print_demo(result, record)
    url = _console_url(console, result.report.call_id)
    if url:
        typer.echo(f"  console: {url} (served while the daemon runs: sentiric-pbx run)")


def _console_url(console: ConsoleConfig, call_id: str) -> str | None:
    """The call's page in the web console, or None with `[console] enabled = false`."""
    from sentiric_pbx.console.server import console_url

    return console_url(console, f"/calls/{call_id}") if console.enabled else None


def _print_demo(result: object, record: Path) -> None:
    from sentiric_pbx.tools.demo import DemoResult

    assert isinstance(result, DemoResult)
    ctx, report = result.context, result.report
    typer.echo(f"call {report.call_id} ({ctx.status if ctx else 'not stored'})")
    for turn in ctx.turns if ctx else []:
        who = "caller" if turn.who == "caller" else "agent "
        typer.echo(f"  {who}: {turn.text}")
    typer.echo(f"  booked: {result.booking['start'] if result.booking else 'nothing'}")
    greet = report.greeting_latency_ms
    typer.echo(f"  greeting: first audio {greet:.0f} ms after connect" if greet is not None else "  greeting: none")
    for i, turn in enumerate(report.turns, 1):
        lat = "no reply" if turn.latency_ms is None else f"{turn.latency_ms:.0f} ms"
        typer.echo(f"  turn {i}: reply latency {lat} (caller's last voiced frame → agent's first, on the wire)")
    typer.echo(
        f"  recording: {record} (left = caller, right = agent); details: sentiric-pbx calls show {report.call_id}"
    )


async def _echo_demo(settings: Settings, record: Path) -> object:
    from sentiric_pbx.daemon import Daemon
    from sentiric_pbx.tools.caller import CallerOptions, load_turn, place_call

    settings.agent.mode = "echo"
    settings.audiosocket.port = 0
    settings.fastagi.port = 0
    settings.metrics.enabled = False
    daemon = Daemon(settings)
    await daemon.start()
    assert daemon.audiosocket is not None
    try:
        with resources.as_file(resources.files("sentiric_pbx.data") / "demo-turn.wav") as path:
            turn = load_turn(path, 8000)
        secret = settings.fastagi.secret.get_secret_value() if settings.fastagi.secret else None
        opts = CallerOptions(
            port=daemon.audiosocket.port, agi=("127.0.0.1", daemon.fastagi.port), agi_secret=secret, record=record
        )
        typer.echo("demo: echo line test: calling the daemon as Asterisk would…", err=True)
        return await place_call([turn, turn], opts)
    finally:
        await daemon.stop()


app.command()(worker)

if __name__ == "__main__":
    app()
