"""What every `sentiric-pbx` subcommand shares: how an admin-fixable error ends the command.

One line on stderr, `sentiric-pbx: error: …`, and exit code 2 (1 where a command documents an
integrity failure) — never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

from sentiric_pbx.config import ConfigError, Settings, load_config


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"sentiric-pbx: error: {message}", err=True)
    raise typer.Exit(code)


def load_settings(config: Path | None) -> Settings:
    """The configuration, or exit with the one-line reason it is invalid."""
    try:
        return load_config(config)
    except ConfigError as exc:
        fail(str(exc))
