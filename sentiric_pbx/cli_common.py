"""What every `sentiric-pbx` subcommand shares: how an admin-fixable error ends the command.

One line on stderr, `sentiric-pbx: error: …`, and exit code 2 (1 where a command documents an
integrity failure) — never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from sentiric_pbx.config import ConfigError, Settings, load_config

T = TypeVar("T")


def start_errors() -> tuple[type[Exception], ...]:
    """What stops `run` or `worker` at start that the admin fixes — a model not installed (the message is the
    command that installs it), an engine that cannot load, a database that cannot be opened or migrated: one
    line each, not a traceback. (Imported when asked: the storage layer is not light, and `--help` needs none.)"""
    from sentiric_pbx.engines.base import EngineLoadError
    from sentiric_pbx.models.store import ModelError
    from sentiric_pbx.storage.db import DatabaseError

    return (EngineLoadError, ModelError, DatabaseError)


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"sentiric-pbx: error: {message}", err=True)
    raise typer.Exit(code)


def load_settings(config: Path | None) -> Settings:
    """The configuration, or exit with the one-line reason it is invalid."""
    try:
        return load_config(config)
    except ConfigError as exc:
        fail(str(exc))


def run_event_loop(main: Coroutine[Any, Any, T], kind: str = "asyncio") -> T:
    """Run `main` on the `[daemon] event_loop` the admin chose (uvloop unless set to asyncio)."""
    factory = None
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:
            main.close()
            fail('[daemon] event_loop = "uvloop" but uvloop is not installed: pip install uvloop, '
                 'or set event_loop = "asyncio"')  # fmt: skip
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
