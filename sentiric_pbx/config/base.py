"""What every config section shares: strict keys, numbers the environment can set, the error type."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

ENV_PREFIX = "SENTIRIC_"
DEFAULT_PATHS = (Path("/etc/sentiric-pbx/config.toml"), Path("sentiric-pbx.toml"))


class ConfigError(Exception):
    """A configuration problem, worded for the admin: which file, which key, what is wrong."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _whole_number_text(value: Any) -> Any:
    """`"16000"` → `16000`; anything else unchanged.

    Why: the environment gives every value as text. pydantic turns text into an `int` field's number, but
    compares a `Literal` field's choices as they are, so `SENTIRIC_AUDIOSOCKET__DEFAULT_RATE=16000` would be
    rejected with "Input should be 8000 or 16000 (got '16000')" although 16000 is one of them.
    """
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    return value


EnvInt = BeforeValidator(_whole_number_text)
"""Put in `Annotated[Literal[<ints>], EnvInt]` for every choice among numbers, so the environment can set it."""
SampleRate = Annotated[Literal[8000, 16000], EnvInt]
