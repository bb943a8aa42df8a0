"""AMI's wire format, as recorded from Asterisk 22.10.1 (`tests/fixtures/asterisk/ami-session.txt`).

Apart from the client so that `doctor`, which speaks AMI over a connection of its own, reads messages
exactly as the daemon does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

BANNER_PREFIX = "Asterisk Call Manager/"
CRLF = "\r\n"


Fields = Mapping[str, str] | Iterable[tuple[str, str]]


def encode_message(fields: Fields) -> bytes:
    """`Key: Value` CRLF lines and the empty line that ends the message. Repeated keys (`Variable`) are kept."""
    pairs = fields.items() if isinstance(fields, Mapping) else fields
    return ("".join(f"{k}: {v}{CRLF}" for k, v in pairs) + CRLF).encode("utf-8")


def parse_message(lines: Iterable[str]) -> dict[str, str]:
    """One message's lines (CRLF already removed) → fields. A repeated key keeps its first value."""
    out: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip(), value.strip())
    return out


async def read_message(reader: asyncio.StreamReader) -> dict[str, str] | None:
    """Read up to the empty line that ends a message; None at EOF. Stray empty lines are skipped."""
    lines: list[str] = []
    while True:
        raw = await reader.readline()
        if not raw:
            return None
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line:
            lines.append(line)
        elif lines:
            return parse_message(lines)


def callerid_field(value: str) -> str:
    """Originate's CallerID: a bare number becomes `<+90555…>` (number, no name); `"Name" <number>` as given."""
    return value if "<" in value else f"<{value}>"
