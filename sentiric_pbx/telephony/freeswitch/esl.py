"""FreeSWITCH Event Socket (mod_event_socket), inbound mode: we connect, authenticate, subscribe, command.

The wire, as `mod_event_socket.c` writes it: every message is a block of `Name: value` lines ended by
a blank line; a `Content-Length` header means that many bytes of body follow. On connect FreeSWITCH
sends `Content-Type: auth/request`; we answer `auth <password>` and get a `command/reply` whose
`Reply-Text` is `+OK accepted` or `-ERR invalid` (then it disconnects). Commands are one line ended by
a blank line (`api …`, `event plain …`); `command/reply` and `api/response` come back in the order the
commands went out, while `text/event-plain` messages arrive in between at any time. An event's body is
itself a header block whose values are URL-encoded (`switch_event_serialize(…, encode=TRUE)`), with its
own `Content-Length` + body when the event has one (the CUSTOM `mod_audio_stream::*` events do: JSON).
`text/disconnect-notice` says FreeSWITCH is closing the socket.

Why a parser of our own: the protocol is twenty lines of framing, and the limits matter more than the
convenience — a Content-Length we will not buffer, a header block that never ends, or a line that is not
a header ends the connection with one `esl_protocol_error`, never a memory blow-up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

import structlog

from sentiric_pbx.aio import within

log = structlog.get_logger("sentiric_pbx.esl")

MAX_HEADER_BYTES = 64 * 1024


class EslProtocolError(Exception):
    """The peer broke the framing; the connection cannot be trusted past this point."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class EslError(Exception):
    """A command FreeSWITCH refused (`-ERR …`), or no connection to send it on."""


@dataclass(slots=True)
class EslMessage:
    headers: dict[str, str]
    body: bytes = b""

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def reply_text(self) -> str:
        """`Reply-Text` for a command/reply, the body for an api/response."""
        if self.content_type == "api/response":
            return self.body.decode("utf-8", "replace").strip()
        return self.headers.get("Reply-Text", "").strip()

    @property
    def ok(self) -> bool:
        return self.reply_text.startswith("+OK")


@dataclass(slots=True)
class EslEvent:
    """One event: URL-decoded headers and the raw body (JSON for mod_audio_stream's events)."""

    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    @property
    def name(self) -> str:
        """`CHANNEL_PARK`, or the subclass for CUSTOM events (`mod_audio_stream::play`)."""
        name = self.headers.get("Event-Name", "")
        if name == "CUSTOM":
            return self.headers.get("Event-Subclass", name)
        return name

    @property
    def uuid(self) -> str | None:
        return self.headers.get("Unique-ID")

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.headers.get(key, default)


def _parse_header_block(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw in block.split(b"\n"):
        line = raw.rstrip(b"\r")
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep or not name or b" " in name.strip():
            raise EslProtocolError("bad_header", f"not a header line: {line[:60]!r}")
        headers[name.decode("latin-1").strip()] = value.decode("utf-8", "replace").strip()
    return headers


def _content_length(headers: dict[str, str], limit: int) -> int:
    raw = headers.get("Content-Length")
    if raw is None:
        return 0
    if not raw.isdigit():
        raise EslProtocolError("bad_content_length", f"Content-Length {raw[:20]!r}")
    length = int(raw)
    if length > limit:
        raise EslProtocolError("oversized_message", f"Content-Length {length} > {limit}")
    return length


def parse_event(body: bytes) -> EslEvent:
    """A `text/event-plain` body → an event (header values URL-decoded; its own body, if any, kept)."""
    head, sep, rest = body.partition(b"\n\n")
    headers = {k: unquote(v) for k, v in _parse_header_block(head).items()}
    inner = b""
    if sep and "Content-Length" in headers:
        inner = rest[: _content_length(headers, len(rest))]
    return EslEvent(headers, inner.decode("utf-8", "replace"))


class EslParser:
    """Bytes in, whole messages out. Raises EslProtocolError on anything it cannot frame."""

    def __init__(self, max_content_bytes: int) -> None:
        self.max_content_bytes = max_content_bytes
        self._buf = bytearray()
        self._headers: dict[str, str] | None = None
        self._need = 0

    def feed(self, data: bytes) -> list[EslMessage]:
        self._buf += data
        out: list[EslMessage] = []
        while True:
            if self._headers is None:
                while self._buf[:1] in (b"\n", b"\r"):  # blank lines between messages are allowed
                    del self._buf[:1]
                end = self._buf.find(b"\n\n")
                if end < 0:
                    if len(self._buf) > MAX_HEADER_BYTES:
                        raise EslProtocolError("header_too_long", f"{len(self._buf)} bytes without a blank line")
                    return out
                self._headers = _parse_header_block(bytes(self._buf[:end]))
                del self._buf[: end + 2]
                self._need = _content_length(self._headers, self.max_content_bytes)
            if len(self._buf) < self._need:
                return out
            body = bytes(self._buf[: self._need])
            del self._buf[: self._need]
            out.append(EslMessage(self._headers, body))
            self._headers = None
            self._need = 0


def check_arg(value: str) -> str:
    """A command argument must stay on its line: a newline would let it smuggle in a second command."""
    if not value or any(c in value for c in "\r\n\0"):
        raise EslError(f"refusing ESL argument {value[:40]!r}")
    return value


def _retrieve(fut: asyncio.Future[EslMessage]) -> None:
    """Mark a reply's error as seen: a caller that timed out has already reported it."""
    if not fut.cancelled():
        fut.exception()


class EslConnection:
    """One authenticated socket: commands with replies in order, events to `on_event`.

    `command_nowait` writes at once and returns the reply's future, so an event handler (which must not
    block the reader) can issue commands whose order on the wire is the order of the calls.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_event: Callable[[EslEvent], None],
        max_content_bytes: int,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.on_event = on_event
        self.parser = EslParser(max_content_bytes)
        self._pending: deque[asyncio.Future[EslMessage]] = deque()
        self._inbox: deque[EslMessage] = deque()
        self.closed = False

    async def _next_message(self, timeout_s: float) -> EslMessage:
        async with asyncio.timeout(timeout_s):
            while not self._inbox:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionResetError("FreeSWITCH closed the event socket")
                self._inbox.extend(self.parser.feed(data))
        return self._inbox.popleft()

    async def authenticate(self, password: str, timeout_s: float = 5.0) -> None:
        """auth/request → `auth …` → `+OK accepted`, else EslError (the password is never in the message)."""
        first = await self._next_message(timeout_s)
        if first.content_type != "auth/request":
            raise EslProtocolError("no_auth_request", f"first message was {first.content_type!r}")
        self.writer.write(f"auth {password}\n\n".encode())
        reply = await self._next_message(timeout_s)
        if reply.content_type != "command/reply" or not reply.ok:
            raise EslError(f"authentication refused: {reply.reply_text or reply.content_type}")

    async def request(self, line: str, timeout_s: float = 5.0) -> EslMessage:
        """A command and its reply, before the reader runs (events that arrive first are kept for it)."""
        self.writer.write(line.encode() + b"\n\n")
        early: list[EslMessage] = []
        try:
            while True:
                reply = await self._next_message(timeout_s)
                if reply.content_type == "command/reply":
                    return reply
                early.append(reply)
        finally:
            self._inbox.extendleft(reversed(early))

    async def subscribe(self, events: str, timeout_s: float = 5.0) -> None:
        """`event plain …`; EslError if FreeSWITCH refuses it."""
        reply = await self.request(f"event plain {events}", timeout_s)
        if not reply.ok:
            raise EslError(f"event subscription refused: {reply.reply_text}")

    async def connect_outbound(self, timeout_s: float = 5.0) -> EslEvent:
        """Outbound mode: `connect` → the channel's data (URL-encoded, like an event's) in the reply's headers.

        Then `myevents` (this channel's events only) and `linger` (keep the socket until we have read the
        hangup), as mod_event_socket's outbound documentation recommends."""
        reply = await self.request("connect", timeout_s)
        # This reply is a serialized event: even its Reply-Text is URL-encoded ("%2BOK%0A").
        channel = EslEvent({k: unquote(v) for k, v in reply.headers.items()})
        if not (channel.get("Reply-Text") or "").startswith("+OK") or not channel.uuid:
            raise EslError(f"connect refused: {(channel.get('Reply-Text') or '')[:60]}")
        for line in ("myevents", "linger"):
            answer = await self.request(line, timeout_s)
            if not answer.ok:
                raise EslError(f"{line} refused: {answer.reply_text}")
        return channel

    def command_nowait(self, line: str) -> asyncio.Future[EslMessage]:
        if self.closed:
            raise EslError("event socket not connected")
        fut: asyncio.Future[EslMessage] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_retrieve)
        self._pending.append(fut)
        self.writer.write(line.encode() + b"\n\n")
        return fut

    async def command(self, line: str, timeout_s: float = 5.0) -> EslMessage:
        fut = self.command_nowait(line)
        try:
            return await within(asyncio.shield(fut), timeout_s)
        except TimeoutError:
            raise EslError(f"no reply to {line.split(' ', 2)[:2]} within {timeout_s}s") from None

    async def api(self, command: str, timeout_s: float = 5.0) -> str:
        """`api <command>` → the response body; EslError when it starts with -ERR / -USAGE."""
        reply = await self.command(f"api {command}", timeout_s)
        text = reply.reply_text
        if text.startswith("-"):
            raise EslError(text)
        return text

    async def run(self) -> str:
        """Read until the socket ends; returns why ("closed", "disconnect_notice")."""
        while self._inbox:
            self._dispatch(self._inbox.popleft())
        while True:
            data = await self.reader.read(65536)
            if not data:
                return "closed"
            for msg in self.parser.feed(data):
                if msg.content_type == "text/disconnect-notice":
                    return "disconnect_notice"
                self._dispatch(msg)

    def _dispatch(self, msg: EslMessage) -> None:
        ctype = msg.content_type
        if ctype in ("command/reply", "api/response"):
            while self._pending:
                fut = self._pending.popleft()
                if not fut.done():
                    fut.set_result(msg)
                    return
            log.debug("esl_unexpected_reply", content_type=ctype)
        elif ctype == "text/event-plain":
            event = parse_event(msg.body)
            try:
                self.on_event(event)
            except Exception:  # a bug in one call's handling must not take the socket down for all calls
                log.exception("esl_event_handler_failed", event_name=event.name, call_id=event.uuid)
        else:
            log.debug("esl_message_ignored", content_type=ctype)

    def close(self) -> None:
        self.closed = True
        for fut in self._pending:
            if not fut.done():
                fut.set_exception(EslError("event socket closed"))
        self._pending.clear()
        with contextlib.suppress(Exception):
            self.writer.close()
