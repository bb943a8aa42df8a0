"""Fake Asterisk peers for the socket tests: what Asterisk 22 does on the wire, on raw asyncio sockets.

The behaviour copied here is the one recorded in `tests/fixtures/asterisk/` (README "Facts observed"):
AudioSocket sends the 16-byte UUID first, 20 ms frames only while someone talks, DTMF as 0x03 + one
ASCII byte, and hangs up by closing TCP (no 0x00). FastAGI sends the `agi_*` block ending in an
empty line, answers each command with one `200 result=…` line (510 for unknown commands, 511 for
ANSWER on a dead channel), and never closes the socket itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import uuid
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sentiric_pbx.audio.frames import frame_bytes, rms_dbfs
from sentiric_pbx.telephony.asterisk.registration import registration_key
from sentiric_pbx.telephony.audiosocket.protocol import KIND_BY_RATE, Frame, FrameParser, encode, encode_uuid
from sentiric_pbx.tools.caller import load_turn

if TYPE_CHECKING:
    from sentiric_pbx.daemon import Daemon

FIXTURES = Path(__file__).parent / "fixtures" / "asterisk"
FRAME_S = 0.020
VOICED_DBFS = -40.0
TCP_STATE_CLOSE = 7  # linux/tcp_states.h TCP_CLOSE: what a socket becomes when the far end resets it


# -- audio --------------------------------------------------------------------------------------
def demo_turn(rate: int) -> bytes:
    """`sentiric_pbx/data/demo-turn.wav` (3.38 s, speech from 0.04 s to 3.06 s) at `rate`."""
    with resources.as_file(resources.files("sentiric_pbx.data") / "demo-turn.wav") as path:
        return load_turn(path, rate)


def first_word(rate: int) -> bytes:
    """The demo turn's first word: 0.48 s, voiced from 0.04 s to the end. Short enough to echo quickly."""
    return demo_turn(rate)[: 24 * frame_bytes(rate)]


def voiced(pcm: bytes) -> bool:
    return rms_dbfs(pcm) > VOICED_DBFS


def voiced_span_s(pcm: bytes, rate: int) -> float:
    """From the first to the end of the last voiced 20 ms frame: what an echo of `pcm` lasts on the wire."""
    n = frame_bytes(rate)
    flags = [voiced(pcm[i : i + n]) for i in range(0, len(pcm), n)]
    idx = [i for i, v in enumerate(flags) if v]
    return (idx[-1] - idx[0] + 1) * FRAME_S


# -- waiting on logs and state ------------------------------------------------------------------
async def eventually(predicate: Callable[[], object], what: str, within_s: float = 5.0) -> None:
    """Poll until `predicate()` is truthy. The timeout only bounds a failing test; nothing is timed."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within_s
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"gave up waiting for: {what}")
        await asyncio.sleep(0.01)


def log_lines(logs: list[dict[str, object]], event: str, **fields: object) -> list[dict[str, object]]:
    return [e for e in logs if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())]


async def wait_log(logs: list[dict[str, object]], event: str, within_s: float = 5.0, **fields: object) -> dict:
    await eventually(lambda: log_lines(logs, event, **fields), f"log line {event} {fields}", within_s)
    return log_lines(logs, event, **fields)[0]


# -- AudioSocket --------------------------------------------------------------------------------
class AudioSocketPeer:
    """Asterisk's side of one AudioSocket connection: writes frames, collects every frame the server sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.call_id = uuid.uuid4()
        self.received: list[Frame] = []
        self.eof = asyncio.Event()
        self.arrived = asyncio.Event()
        self._rx = asyncio.create_task(self._receive())
        self._tx: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, port: int) -> AudioSocketPeer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    @property
    def local_port(self) -> int:
        return self.writer.get_extra_info("sockname")[1]

    async def _receive(self) -> None:
        parser = FrameParser(max_payload=65535, expect_uuid=False)
        try:
            while data := await self.reader.read(65536):
                self.received.extend(parser.feed(data))
                self.arrived.set()
        except ConnectionError:
            pass
        finally:
            self.eof.set()

    def send(self, kind: int, payload: bytes = b"") -> None:
        self.writer.write(encode(kind, payload))

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def send_uuid(self) -> None:
        self.writer.write(encode_uuid(self.call_id))

    def talk(self, pcm: bytes, rate: int = 8000) -> None:
        """From now on send one frame every 20 ms on an absolute clock: `pcm`, then silence, like a phone."""
        self._tx = asyncio.create_task(self._talk(pcm, rate))

    async def _talk(self, pcm: bytes, rate: int) -> None:
        loop = asyncio.get_running_loop()
        n = frame_bytes(rate)
        kind = KIND_BY_RATE[rate]
        frames = [pcm[i : i + n].ljust(n, b"\0") for i in range(0, len(pcm), n)]
        deadline = loop.time()
        i = 0
        while not self.writer.is_closing():
            self.writer.write(encode(kind, frames[i] if i < len(frames) else bytes(n)))
            i += 1
            deadline += FRAME_S
            await asyncio.sleep(max(0.0, deadline - loop.time()))

    async def frames(self, count: int, within_s: float = 5.0) -> list[Frame]:
        await eventually(lambda: len(self.received) >= count, f"{count} frames from the server", within_s)
        return self.received[:count]

    def audio(self) -> list[Frame]:
        return [f for f in self.received if f.rate is not None]

    def echo_frames(self) -> list[Frame]:
        return [f for f in self.audio() if voiced(f.payload)]

    async def wait_echo(self, within_s: float = 10.0) -> None:
        await eventually(lambda: self.echo_frames(), "the agent's echo (voiced frames)", within_s)

    async def wait_closed_by_server(self, within_s: float = 5.0) -> None:
        await asyncio.wait_for(self.eof.wait(), within_s)

    async def close(self) -> None:
        """Hang up the way Asterisk does: a FIN, no 0x00 (README fact 6).

        A bare close() while a frame from the server sits unread in the kernel would send RST
        instead, so: shut our side down, let the server finish and close its side, then close.
        """
        if self._tx is not None:
            self._tx.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tx
        if not self.writer.is_closing() and not self.eof.is_set():
            with contextlib.suppress(OSError):
                self.writer.write_eof()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.eof.wait(), 5.0)
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
        self._rx.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._rx


class DeafPeer:
    """A peer that sends but never reads: a raw socket with a tiny receive buffer and no reader on it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def connect(cls, port: int, rcvbuf: int = 1024) -> DeafPeer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: sets the window
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        return cls(sock)

    async def send(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, data)

    def tcp_state(self) -> int:
        return self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[0]

    def close(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


# -- FastAGI ------------------------------------------------------------------------------------
def agi_transcript(name: str) -> list[str]:
    """The `A> ` lines of a FastAGI transcript, in order, without the prefix (trailing spaces kept)."""
    lines = (FIXTURES / name).read_text().split("\n")
    return [line[3:] for line in lines if line.startswith("A> ") and not line.startswith("A> <")]


def agi_env_block(
    name: str = "fastagi-register.txt",
    call_id: str | None = None,
    drop: tuple[str, ...] = (),
    secret: str | None = None,
    key: str | None = None,
) -> bytes:
    """The recorded environment block, byte for byte (`\\n` endings, closing empty line).

    `call_id` replaces agi_arg_1 (so concurrent registrations do not collide); `drop` removes keys. With
    `secret`, the block also has what today's dialplan passes after the UUID: `agi_arg_2: app` and the key
    `agi_arg_3: ${SHA1(secret + UUID)}` (`key` sends that one instead, e.g. a forged one).
    """
    lines = agi_transcript(name)
    block = lines[: lines.index("") + 1]
    out = []
    for line in block:
        k = line.partition(": ")[0]
        if k in drop:
            continue
        if k == "agi_arg_1" and call_id is not None:
            line = f"agi_arg_1: {call_id}"
        if k == "agi_arg_1" and (secret is not None or key is not None):
            the_id = line.partition(": ")[2]
            line += f"\nagi_arg_2: app\nagi_arg_3: {key if key is not None else registration_key(secret or '', the_id)}"
        out.append(line + "\n")
    return "".join(out).encode()


def asterisk_agi_reply(command: str, variables: dict[str, str], hung_up: bool) -> str:
    """Asterisk 22's answer to one AGI command (`fastagi-register.txt`, `fastagi-hangup.txt`)."""
    words = command.split(" ")
    if words[:2] == ["GET", "VARIABLE"]:
        if len(words) != 3:
            return "520-Invalid command syntax.  Proper usage follows:\nUsage text.\n520 End of proper usage.\n"
        value = variables.get(words[2])
        return f"200 result=1 ({value})\n" if value is not None else "200 result=0\n"
    if words[:2] == ["SET", "VARIABLE"] and len(words) >= 4:
        variables[words[2]] = " ".join(words[3:])
        return "200 result=1\n"
    if words[:1] == ["VERBOSE"]:
        return "200 result=1\n"
    if words == ["ANSWER"]:
        return "511 Command Not Permitted on a dead channel or intercept routine\n" if hung_up else "200 result=0\n"
    return "510 Invalid or unknown command\n"


class AgiPeer:
    """Asterisk's side of `AGI(agi://…/register,${UUID})`: sends a block, answers commands, records all."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.commands: list[str] = []
        self.closed_by_server = False

    @classmethod
    async def connect(cls, port: int) -> AgiPeer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    async def serve(self, variables: dict[str, str], hung_up: bool = False, within_s: float = 5.0) -> list[str]:
        """Answer every command until the server closes the socket (EOF); return the commands."""
        async with asyncio.timeout(within_s):
            while True:
                try:
                    line = await self.reader.readline()
                except ConnectionError:
                    line = b""
                if not line.endswith(b"\n"):
                    self.closed_by_server = True
                    return self.commands
                command = line.decode().removesuffix("\n")
                self.commands.append(command)
                await self.send(asterisk_agi_reply(command, variables, hung_up).encode())

    async def wait_closed_by_server(self, within_s: float = 5.0) -> bytes:
        """Read to EOF; return what the server sent on the way (nothing, for a refused request)."""
        async with asyncio.timeout(within_s):
            try:
                data = await self.reader.read()
            except ConnectionError:
                data = b""
        self.closed_by_server = True
        return data

    def close(self) -> None:
        self.writer.close()


AGI_SECRET = "sentiric-test-agi-secret"
"""`[fastagi] secret` of the tests' daemons (tests/conftest.py `settings`), as Asterisk's AstDB would hold it."""


async def register(
    port: int, call_id: str, name: str = "fastagi-register.txt", secret: str | None = AGI_SECRET
) -> AgiPeer:
    """One complete, well-formed registration, as Asterisk performs it with the key `secret` makes (None: the
    dialplan of before the key, nothing after the UUID)."""
    peer = await AgiPeer.connect(port)
    await peer.send(agi_env_block(name, call_id=call_id, secret=secret))
    await peer.serve({"UUID": call_id})
    peer.close()
    return peer


async def answers_a_real_call(
    daemon: Daemon, logs: list[dict[str, object]], call_id: str | None = None
) -> dict[str, object]:
    """A call as Asterisk places it through the project's dialplan — a keyed FastAGI registration (or, with
    `call_id`, one made already), AudioSocket, a turn the echo agent plays back. Returns its `call_started`
    line, which must show it registered, with its caller."""
    peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
    if call_id is None:
        await register(daemon.fastagi.port, str(peer.call_id))
    else:
        peer.call_id = uuid.UUID(call_id)
    peer.send_uuid()
    peer.talk(demo_turn(8000))
    await peer.wait_echo()
    started = await wait_log(logs, "call_started", call_id=str(peer.call_id))
    assert (started["caller_id"], started["registered"]) == ("+905551112233", True)
    await peer.close()
    return started
