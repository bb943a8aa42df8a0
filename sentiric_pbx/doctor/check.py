"""One line of `sentiric-pbx doctor`: what was checked, ok/warn/fail, what is wrong, how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail"]
NET_TIMEOUT_S = 3.0
MIB = 1024 * 1024


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    hint: str = ""
