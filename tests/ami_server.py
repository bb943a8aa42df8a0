"""A fake Asterisk AMI built from the recorded session, so the client is tested against real bytes.

Every reply it sends for Login, Ping, Originate, Redirect and Logoff is a message block copied from
`tests/fixtures/asterisk/ami-session.txt` (Asterisk 22.10.1), byte for byte, except that the recorded
`ActionID` is swapped for the one the client sent (and, for the failed Redirect, the channel name in
the message). What the recording does not contain is written from Asterisk's manager.c and marked so:
a refused Login (`Message: Authentication failed`, then Asterisk ends the session), Hangup, Getvar,
Setvar (`Variable Set`, followed by the VarSet event pbx_builtin_setvar_helper() publishes, built from a
recorded VarSet) and unknown actions.

`announce_call()` plays the recorded call's events unrequested, as Asterisk does for a call nobody
originated through AMI: Newchannel … `VarSet UUID=<uuid>` … the `Newexten` that starts `AudioSocket`
(or, with `dial=True`, the same Newexten as `Dial(AudioSocket/…)` writes it), and `end_call()` the rest
(DTMF, hangups).

`restart()` drops every connection and refuses new ones for a while, like an Asterisk restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

SESSION = Path(__file__).parent / "fixtures" / "asterisk" / "ami-session.txt"
CRLF = b"\r\n"
RECORDED_UUID = "db585265-1bf2-4081-bfe6-a825c29daf7f"
RECORDED_CHANNEL = "Local/as-app@fixtures-00000009;2"


@dataclass
class Block:
    """One message of the transcript: who sent it and its lines exactly as recorded (CRLF removed)."""

    who: str  # "A" (Asterisk) or "C" (client)
    lines: list[str]

    def get(self, key: str) -> str | None:
        for line in self.lines:
            k, sep, v = line.partition(": ")
            if sep and k == key:
                return v
        return None


def parse_transcript(path: Path = SESSION) -> tuple[str, list[Block]]:
    """The banner line and the messages of the `A> ` / `C> ` transcript (a bare prefix ends a message)."""
    banner = ""
    blocks: list[Block] = []
    current: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw[:3] not in ("A> ", "C> ") and raw not in ("A>", "C>"):
            continue
        who, text = raw[0], raw[3:]
        if text.startswith("<EOF"):
            break
        if not banner:
            banner = text
            continue
        if text:
            current.append(text)
        elif current:
            blocks.append(Block(who, current))
            current = []
    return banner, blocks


def _replies(blocks: list[Block]) -> dict[str, list[Block]]:
    """Asterisk's messages after each recorded client action, keyed by that action's ActionID."""
    out: dict[str, list[Block]] = {}
    key = None
    for block in blocks:
        if block.who == "C":
            key = block.get("ActionID") or ""
            out[key] = []
        elif key is not None:
            out[key].append(block)
    return out


def encode(lines: list[str]) -> bytes:
    return b"".join(line.encode("utf-8") + CRLF for line in lines) + CRLF


def retag(block: Block, recorded_id: str, action_id: str, swap: tuple[str, str] | None = None) -> bytes:
    """The recorded block with our client's ActionID (and optionally one substring swapped)."""
    lines = []
    for line in block.lines:
        if line == f"ActionID: {recorded_id}":
            line = f"ActionID: {action_id}"
        elif swap is not None:
            line = line.replace(*swap)
        lines.append(line)
    return encode(lines)


@dataclass(eq=False)
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    authenticated: bool = False


@dataclass
class FakeAmi:
    """`await FakeAmi.start()`; `.port`; `.actions` lists every action received (dicts, Secret included)."""

    username: str = "sentiric"
    password: str = "sentiric-test"
    host: str = "127.0.0.1"
    port: int = 0
    banner: str = ""
    actions: list[dict[str, str]] = field(default_factory=list)
    logins: int = 0
    known_channels: set[str] = field(default_factory=set)
    variables: dict[tuple[str, str], str] = field(default_factory=dict)
    _server: asyncio.base_events.Server | None = None
    _conns: set[Conn] = field(default_factory=set)
    _replies: dict[str, list[Block]] = field(default_factory=dict)
    _rest_of_call: list[Block] = field(default_factory=list)

    @classmethod
    async def start(cls, **kwargs: object) -> FakeAmi:
        self = cls(**kwargs)  # type: ignore[arg-type]
        self.banner, blocks = parse_transcript()
        self._replies = _replies(blocks)
        await self.listen()
        return self

    # -- lifecycle ------------------------------------------------------------------------------
    async def listen(self) -> None:
        """(Re)open the listening socket on the same port: Asterisk is back."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def drop_all(self) -> None:
        """Stop listening and cut every connection (TCP FIN), as a stopping Asterisk does."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._conns):
            conn.writer.close()
        self._conns.clear()

    async def restart(self, down_s: float = 1.0) -> None:
        await self.drop_all()
        await asyncio.sleep(down_s)
        await self.listen()

    async def stop(self) -> None:
        await self.drop_all()

    # -- a call nobody originated through AMI (an inbound call) -----------------------------------
    def _call_events(self) -> list[Block]:
        """The recorded call's events (not the Originate's response, not its OriginateResponse)."""
        return [b for b in self._replies["3-originate"] if b.get("Event") not in (None, "OriginateResponse")]

    def announce_call(self, call_id: str, *, dial: bool = False) -> str:
        """Send the call's events up to the Newexten that starts its AudioSocket leg; return its channel."""
        blocks = self._call_events()
        start = next(
            i for i, b in enumerate(blocks) if b.get("Event") == "Newexten" and b.get("Application") == "AudioSocket"
        )
        for block in blocks[: start + 1]:
            lines = [line.replace(RECORDED_UUID, call_id) for line in block.lines]
            if dial and block is blocks[start]:
                # What Dial(AudioSocket/127.0.0.1:9093/<uuid>/c(slin16)) puts in the same event.
                lines = [
                    "Application: Dial"
                    if line.startswith("Application: ")
                    else f"AppData: AudioSocket/127.0.0.1:9093/{call_id}/c(slin16)"
                    if line.startswith("AppData: ")
                    else line
                    for line in lines
                ]
            self._broadcast(Block("A", lines))
        self._rest_of_call = blocks[start + 1 :]
        return RECORDED_CHANNEL

    def end_call(self) -> None:
        """The rest of the recorded call: DTMF, the player's hangup, both legs' Hangup (cause 16)."""
        for block in self._rest_of_call:
            self._broadcast(block)
        self._rest_of_call = []

    def _broadcast(self, block: Block) -> None:
        self._learn(block)
        for conn in self._conns:
            if conn.authenticated:
                conn.writer.write(encode(block.lines))

    @property
    def pings(self) -> int:
        return sum(1 for a in self.actions if a.get("Action") == "Ping")

    # -- protocol -------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(reader, writer)
        self._conns.add(conn)
        try:
            writer.write(self.banner.encode() + CRLF)
            while True:
                action = await self._read_action(reader)
                if action is None:
                    break
                self.actions.append(action)
                if not await self._answer(conn, action):
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._conns.discard(conn)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @staticmethod
    async def _read_action(reader: asyncio.StreamReader) -> dict[str, str] | None:
        fields: dict[str, str] = {}
        while True:
            raw = await reader.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\r\n")
            if not line:
                if fields:
                    return fields
                continue
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())

    def _send_recorded(self, conn: Conn, recorded_id: str, action_id: str, swap: tuple[str, str] | None = None) -> None:
        for block in self._replies[recorded_id]:
            conn.writer.write(retag(block, recorded_id, action_id, swap))
            self._learn(block)

    def _learn(self, block: Block) -> None:
        """Remember channels and variables the recorded events created, for Redirect/Hangup/Getvar."""
        event, channel = block.get("Event"), block.get("Channel")
        if channel and event == "Newchannel":
            self.known_channels.add(channel)
        elif channel and event == "Hangup":
            self.known_channels.discard(channel)
        elif channel and event == "VarSet":
            self.variables[(channel, block.get("Variable") or "")] = block.get("Value") or ""

    def _varset(self, channel: str, var: str, value: str) -> Block:
        """A recorded VarSet event of the call's channel, carrying this variable and value."""
        template = next(
            b for b in self._call_events() if b.get("Event") == "VarSet" and b.get("Channel") == RECORDED_CHANNEL
        )
        lines = []
        for line in template.lines:
            key = line.partition(": ")[0]
            line = {"Channel": f"Channel: {channel}", "Variable": f"Variable: {var}", "Value": f"Value: {value}"}.get(
                key, line
            )
            lines.append(line)
        return Block("A", lines)

    def _reply(self, conn: Conn, action_id: str, *lines: str, response: str = "Success") -> None:
        conn.writer.write(encode([f"Response: {response}", f"ActionID: {action_id}", *lines]))

    async def _answer(self, conn: Conn, action: dict[str, str]) -> bool:
        """Write the reply; False when Asterisk would end the session."""
        name, aid = action.get("Action", "").lower(), action.get("ActionID", "")
        if name == "login":
            if action.get("Username") != self.username or action.get("Secret") != self.password:
                # manager.c authenticate(): astman_send_error "Authentication failed", then the session ends.
                self._reply(conn, aid, "Message: Authentication failed", response="Error")
                await conn.writer.drain()
                return False
            conn.authenticated = True
            self.logins += 1
            self._send_recorded(conn, "1-login", aid)
            # Asterisk's SuccessfulAuth security event arrived just after; it is part of the login.
            for block in self._replies["2-ping"]:
                if block.get("Event"):
                    conn.writer.write(encode(block.lines))
            return True
        if not conn.authenticated:
            self._reply(conn, aid, "Message: Authentication Required", response="Error")  # manager.c
            return True
        if name == "ping":
            pong = next(b for b in self._replies["2-ping"] if b.get("Response"))
            conn.writer.write(retag(pong, "2-ping", aid))
        elif name == "originate":
            hold = action.get("Application") is not None or "hold@" in action.get("Channel", "")
            self._send_recorded(conn, "4-originate-hold" if hold else "3-originate", aid)
        elif name == "redirect":
            channel = action.get("Channel", "")
            if channel in self.known_channels:
                self._send_recorded(conn, "6-redirect", aid)
            else:
                self._send_recorded(conn, "5-redirect-bad", aid, ("Local/no-such-channel-00000000;2", channel))
        elif name == "logoff":
            self._send_recorded(conn, "7-logoff", aid)
            await conn.writer.drain()
            return False
        elif name == "hangup":  # manager.c action_hangup: not in the recording
            if action.get("Channel") in self.known_channels:
                self._reply(conn, aid, "Message: Channel Hungup")
            else:
                self._reply(conn, aid, "Message: No such channel", response="Error")
        elif name == "setvar":  # manager.c action_setvar: not in the recording
            channel, var, value = action.get("Channel", ""), action.get("Variable", ""), action.get("Value", "")
            if not var:
                self._reply(conn, aid, "Message: No variable specified", response="Error")
            elif channel and channel not in self.known_channels:
                self._reply(conn, aid, "Message: No such channel", response="Error")
            else:
                self._reply(conn, aid, "Message: Variable Set")
                self._broadcast(self._varset(channel, var, value))
        elif name == "getvar":  # manager.c action_getvar: not in the recording
            channel, var = action.get("Channel", ""), action.get("Variable", "")
            if (channel, var) not in self.variables and channel not in self.known_channels:
                self._reply(conn, aid, "Message: No such channel", response="Error")
            else:
                self._reply(conn, aid, f"Variable: {var}", f"Value: {self.variables.get((channel, var), '')}")
        else:
            self._reply(
                conn,
                aid,
                f"Message: Invalid/unknown command: {action.get('Action')}. "
                "Use Action: ListCommands to show available commands.",
                response="Error",
            )
        return True
