"""A fake FreeSWITCH for the tests: mod_event_socket on a real TCP socket, and mod_audio_stream as a real
WebSocket client — the other side of the two wires the FreeSWITCH ingress speaks.

Built from FreeSWITCH's own documents and source, not from our code:
- Event Socket framing as `mod_event_socket.c` writes it: `Content-Type: auth/request\\n\\n` on connect;
  `Content-Type: command/reply\\nReply-Text: +OK accepted\\n\\n` (or `-ERR invalid`, then a
  `text/disconnect-notice`); `Content-Type: api/response\\nContent-Length: N\\n\\n<body>`; events as
  `Content-Length: N\\nContent-Type: text/event-plain\\n\\n<serialized event>` where the serialized event
  is `Name: url-encoded value` lines, then `Content-Length: n\\n\\n<body>` or a blank line
  (`switch_event_serialize(…, encode=SWITCH_TRUE)`; `switch_url_encode`'s unsafe set below).
  The BACKGROUND_JOB example in the mod_event_socket wiki page shows the same shape.
- mod_audio_stream (github.com/amigniter/mod_audio_stream README + `audio_streamer_glue.cpp`):
  `uuid_audio_stream <uuid> start <url> mono 16k <metadata>` → a WebSocket to <url>, the metadata as the
  first text message, then 20 ms binary frames of 16-bit little-endian PCM; a `streamAudio` JSON reply is
  base64-decoded into `<tmp>/<uuid>_<n>.tmp.r16` and announced by a CUSTOM `mod_audio_stream::play`
  event whose body is the message's `data` with `file` added (`audioData` removed).
- `uuid_broadcast <uuid> <file> aleg` queues the file for the channel; `uuid_break <uuid> all` stops the
  current one and drops the queue; `uuid_kill` hangs up (CHANNEL_HANGUP with Hangup-Cause).

The caller side of each channel is a `Wire` from `sentiric_pbx.tools.caller`, so `run_script` drives and
measures a FreeSWITCH call exactly as it does an AudioSocket one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from sentiric_pbx.audio.resample import resample
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.tools.caller import CallerOptions, CallReport, Wire, finish_report, run_script
from sentiric_pbx.tools.demo import Dialer

FRAME_S = 0.020
_UNSAFE = set('\r\n "#%&+:;<=>?@[\\]^`{|}')


def fs_url_encode(value: str) -> str:
    """`switch_url_encode`: the unsafe set and anything outside printable ASCII as %XX."""
    out = []
    for byte in value.encode():
        ch = chr(byte)
        out.append(f"%{byte:02X}" if ch in _UNSAFE or byte < 0x20 or byte > 0x7E else ch)
    return "".join(out)


def serialize_event(headers: dict[str, str], body: str = "") -> bytes:
    text = "".join(f"{k}: {fs_url_encode(v)}\n" for k, v in headers.items())
    if body:
        raw = body.encode()
        return text.encode() + f"Content-Length: {len(raw)}\n\n".encode() + raw
    return text.encode() + b"\n"


def event_message(headers: dict[str, str], body: str = "") -> bytes:
    event = serialize_event(headers, body)
    return f"Content-Length: {len(event)}\nContent-Type: text/event-plain\n\n".encode() + event


def api_response(text: str) -> bytes:
    raw = text.encode()
    return f"Content-Type: api/response\nContent-Length: {len(raw)}\n\n".encode() + raw


def command_reply(text: str) -> bytes:
    return f"Content-Type: command/reply\nReply-Text: {text}\n\n".encode()


@dataclass
class Channel:
    """One caller's channel: its audio stream to the daemon and what it hears back."""

    fs: FakeFreeswitch
    uuid: str
    caller_id: str
    caller_name: str
    destination: str
    wire: Wire
    ws: ClientConnection | None = None
    stream_url: str | None = None
    metadata: str | None = None
    playlist: deque[Path] = field(default_factory=deque)
    playing: bytes = b""
    files: int = 0
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    stream_closed: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    variables: dict[str, str | None] = field(default_factory=dict)
    socket: asyncio.StreamWriter | None = None
    """Outbound mode: the connection FreeSWITCH's `socket` application opened for this channel."""

    def base_headers(self, name: str) -> dict[str, str]:
        return {
            "Event-Name": name,
            "Core-UUID": self.fs.core_uuid,
            "FreeSWITCH-Hostname": "fs-test",
            "Event-Date-Local": time.strftime("%Y-%m-%d %H:%M:%S"),
            "Event-Calling-File": "switch_channel.c",
            "Channel-State": "CS_EXECUTE",
            "Unique-ID": self.uuid,
            "Channel-Name": f"sofia/internal/{self.caller_id}@192.0.2.10",
            "Answer-State": "answered",
            "Caller-Caller-ID-Name": self.caller_name,
            "Caller-Caller-ID-Number": self.caller_id,
            "Caller-Destination-Number": self.destination,
            "Caller-Context": "default",
            "variable_sentiric_pbx": "true",
            "variable_default_language": "en",
        }

    # -- mod_audio_stream ---------------------------------------------------------------------
    async def start_stream(self, url: str, metadata: str | None) -> None:
        self.stream_url, self.metadata = url, metadata
        self.ws = await connect(url, max_size=None, compression=None)
        if metadata:
            await self.ws.send(metadata)
        self.wire.t0 = asyncio.get_running_loop().time()
        self.tasks += [
            asyncio.create_task(self._send_audio()),
            asyncio.create_task(self._receive()),
            asyncio.create_task(self._play()),
        ]

    async def _send_audio(self) -> None:
        assert self.ws is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        with contextlib.suppress(ConnectionClosed):
            while True:
                await self.ws.send(self.wire.next_outbound())
                deadline += FRAME_S
                await asyncio.sleep(max(0.0, deadline - loop.time()))

    async def _receive(self) -> None:
        assert self.ws is not None
        try:
            async for message in self.ws:
                if isinstance(message, str):
                    self._on_text(message)
        except ConnectionClosed:
            pass
        finally:
            self.stream_closed.set()
            if self.wire.ended_by is None:
                self.wire.ended_by = "stream_closed"

    def _on_text(self, text: str) -> None:
        """audio_streamer_glue.cpp processMessage(): streamAudio → a file + mod_audio_stream::play."""
        msg = json.loads(text)
        if msg.get("type") != "streamAudio":
            self.fs.emit(self.base_headers("CUSTOM") | {"Event-Subclass": "mod_audio_stream::json"}, text)
            return
        data = msg["data"]
        audio = base64.b64decode(data.pop("audioData"))
        ext = {8000: ".r8", 16000: ".r16"}[int(data["sampleRate"])]
        path = self.fs.tmp / f"{self.uuid}_{self.files}.tmp{ext}"
        self.files += 1
        path.write_bytes(audio)
        data["file"] = str(path)
        headers = self.base_headers("CUSTOM") | {"Event-Subclass": "mod_audio_stream::play"}
        self.fs.emit(headers, json.dumps(data, separators=(",", ":")))

    async def _play(self) -> None:
        """The caller's ear: 20 ms at a time from the broadcast files, silence between them."""
        loop = asyncio.get_running_loop()
        frame = self.wire.frame
        deadline = loop.time()
        while not self.hung_up.is_set():
            if not self.playing and self.playlist:
                path = self.playlist.popleft()
                rate = 8000 if path.suffix == ".r8" else 16000
                self.playing = resample(path.read_bytes(), rate, self.wire.rate)
            chunk, self.playing = self.playing[:frame], self.playing[frame:]
            self.wire.receive(chunk + bytes(frame - len(chunk)))
            deadline += FRAME_S
            await asyncio.sleep(max(0.0, deadline - loop.time()))

    # -- the caller -----------------------------------------------------------------------------
    def dtmf(self, digit: str) -> None:
        self.fs.emit(self.base_headers("DTMF") | {"DTMF-Digit": digit, "DTMF-Duration": "2000"})

    async def hangup(self, cause: str = "NORMAL_CLEARING", by: str = "caller") -> None:
        if self.hung_up.is_set():
            return
        self.hung_up.set()
        self.wire.ended_by = self.wire.ended_by or by
        self.fs.emit(self.base_headers("CHANNEL_HANGUP") | {"Hangup-Cause": cause, "Answer-State": "hangup"})
        await self.close_stream()
        if self.socket is not None and not self.socket.is_closing():
            # mod_event_socket after a hangup on a lingering outbound socket, then the close.
            self.socket.write(
                f"Content-Type: text/disconnect-notice\nControlled-Session-UUID: {self.uuid}\n"
                f"Content-Disposition: linger\nChannel-Name: {self.base_headers('x')['Channel-Name']}\n"
                "Linger-Time: -1\nContent-Length: 0\n\n".encode()
            )
            self.socket.close()

    async def close_stream(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.ws is not None:
            await self.ws.close()


class FakeFreeswitch:
    """mod_event_socket on 127.0.0.1: password, event subscriptions, the api commands the ingress uses."""

    def __init__(self, tmp: Path, password: str = "ClueCon") -> None:
        self.tmp = tmp
        self.password = password
        self.core_uuid = str(uuidlib.uuid4())
        self.port = 0
        self.server: asyncio.Server | None = None
        self.subscribers: list[asyncio.StreamWriter] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.channels: dict[str, Channel] = {}
        self.api_log: list[str] = []
        self.auth_attempts: list[str] = []
        self.subscribed = asyncio.Event()
        self.connections = 0
        self._background: set[asyncio.Task[None]] = set()

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        """What FreeSWITCH does after answering the api command (connect the stream, hang up)."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._on_connect, "127.0.0.1", port or self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """FreeSWITCH going away: every event socket closed, the listener gone."""
        if self.server is not None:
            self.server.close()
        for w in self.writers:
            w.close()
        self.writers.clear()
        self.subscribers.clear()
        self.subscribed.clear()
        if self.server is not None:
            await self.server.wait_closed()

    async def close(self) -> None:
        for ch in list(self.channels.values()):
            await ch.close_stream()
        await self.stop()

    def emit(self, headers: dict[str, str], body: str = "") -> None:
        msg = event_message(headers, body)
        own = self.channels.get(headers.get("Unique-ID", ""))
        targets = [*self.subscribers, *([own.socket] if own is not None and own.socket is not None else [])]
        for w in targets:
            if not w.is_closing():
                w.write(msg)

    def send_raw(self, data: bytes) -> None:
        """Bytes straight onto every connected event socket (for the garbage tests)."""
        for w in self.writers:
            w.write(data)

    def new_call(self, caller_id: str, destination: str = "5000", caller_name: str = "Test Caller") -> Channel:
        """A call arrives: the dialplan set sentiric_pbx=true, answered and parked → CHANNEL_PARK."""
        ch = Channel(self, str(uuidlib.uuid4()), caller_id, caller_name, destination, Wire(16000, -40.0))
        self.channels[ch.uuid] = ch
        self.emit(ch.base_headers("CHANNEL_ANSWER"))
        self.emit(ch.base_headers("CHANNEL_PARK"))
        return ch

    async def outbound_call(
        self, host: str, port: int, caller_id: str, destination: str = "5000", caller_name: str = "Test Caller"
    ) -> Channel:
        """`<action application="socket" data="host:port async full"/>`: FreeSWITCH connects out for this call."""
        ch = Channel(self, str(uuidlib.uuid4()), caller_id, caller_name, destination, Wire(16000, -40.0))
        reader, writer = await asyncio.open_connection(host, port)
        ch.socket = writer
        self.channels[ch.uuid] = ch
        self._spawn(self._outbound_session(ch, reader, writer))
        return ch

    async def _outbound_session(self, ch: Channel, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                cmd = (await reader.readuntil(b"\n\n")).decode().strip()
                if cmd == "connect":
                    # parse_command("connect"): the channel's data as a serialized (URL-encoded) event.
                    data = ch.base_headers("CHANNEL_DATA") | {
                        "Content-Type": "command/reply",
                        "Reply-Text": "+OK\n",
                        "Socket-Mode": "async",
                        "Control": "full",
                    }
                    writer.write(serialize_event(data))
                elif cmd.startswith("myevents"):
                    writer.write(command_reply("+OK Events Enabled"))
                elif cmd.startswith("linger"):
                    writer.write(command_reply("+OK will linger"))
                elif cmd.startswith("event plain "):
                    writer.write(command_reply("+OK event listener enabled plain"))
                elif cmd.startswith("api "):
                    writer.write(api_response(await self._api(cmd[4:])))
                else:
                    writer.write(command_reply("-ERR command not found"))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            if not ch.hung_up.is_set():  # the app hung up on us: the socket application ends, so does the call
                await ch.hangup("NORMAL_CLEARING", by="socket_closed")

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        writer.write(b"Content-Type: auth/request\n\n")
        authed = False
        try:
            while True:
                raw = await reader.readuntil(b"\n\n")
                cmd = raw.decode().strip()
                if not authed:
                    if cmd.startswith("auth "):
                        self.auth_attempts.append(cmd[5:])
                        if cmd[5:] == self.password:
                            authed = True
                            writer.write(command_reply("+OK accepted"))
                            continue
                    writer.write(command_reply("-ERR invalid"))
                    writer.write(b"Content-Type: text/disconnect-notice\nContent-Length: 14\n\nDisconnected.\n")
                    break
                if cmd.startswith("event plain "):
                    writer.write(command_reply("+OK event listener enabled plain"))
                    self.subscribers.append(writer)
                    self.subscribed.set()
                elif cmd.startswith("api "):
                    writer.write(api_response(await self._api(cmd[4:])))
                elif cmd == "exit":
                    writer.write(command_reply("+OK bye"))
                    break
                else:
                    writer.write(command_reply("-ERR command not found"))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self.subscribers:
                self.subscribers.remove(writer)
            if writer in self.writers:
                self.writers.remove(writer)
            writer.close()

    async def _api(self, line: str) -> str:
        self.api_log.append(line)
        words = line.split(" ")
        name, uuid = words[0], words[1] if len(words) > 1 else ""
        ch = self.channels.get(uuid)
        if name == "uuid_exists":
            return "true" if ch is not None and not ch.hung_up.is_set() else "false"
        if ch is None or ch.hung_up.is_set():
            return "-ERR No such channel!\n"
        ch.commands.append(line)
        if name == "uuid_audio_stream" and words[2] == "start":
            metadata = " ".join(words[6:]) if len(words) > 6 else None
            self._spawn(ch.start_stream(words[3], metadata))
            return "+OK Success\n"
        if name == "uuid_audio_stream" and words[2] == "stop":
            await ch.close_stream()
            return "+OK Success\n"
        if name == "uuid_setvar":
            ch.variables[words[2]] = " ".join(words[3:]) if len(words) > 3 else None
            return "+OK\n"
        if name == "uuid_broadcast":
            ch.playlist.append(Path(words[2]))
            return "+OK Message queued\n"
        if name == "uuid_break":
            ch.playlist.clear()
            ch.playing = b""
            return "+OK\n"
        if name == "uuid_kill":
            self._spawn(ch.hangup(words[2] if len(words) > 2 else "NORMAL_CLEARING", by="agent_hangup"))
            return "+OK\n"
        if name == "uuid_transfer":
            self._spawn(ch.hangup("NORMAL_CLEARING", by="transferred"))
            return "+OK\n"
        return f"-ERR {name} Command not found!\n"


async def place_call(fs: FakeFreeswitch, turns: list[bytes], opts: CallerOptions) -> CallReport:
    """One call through the fake: CHANNEL_PARK, the stream, the script; the caller hangs up at the end."""
    async with asyncio.timeout(opts.connect_timeout_s):
        await fs.subscribed.wait()
    ch = fs.new_call(opts.caller_id, "5000", opts.caller_name)
    report = CallReport(call_id=ch.uuid, greeting_latency_ms=None)
    async with asyncio.timeout(opts.connect_timeout_s):
        while ch.ws is None:
            await asyncio.sleep(0.01)
    await run_script(turns, ch.wire, opts, report)
    if ch.wire.ended_by is not None:
        report.ended_by = ch.wire.ended_by
    await ch.hangup()
    return finish_report(report, ch.wire, opts)


def freeswitch_dialer(fs: FakeFreeswitch) -> Dialer:
    """A `Dialer` for `run_demo`: the demo call placed through the fake FreeSWITCH at 16 kHz."""

    async def dial(_daemon: Daemon, turns: list[bytes], opts: CallerOptions) -> CallReport:
        opts.rate = 16000
        return await place_call(fs, turns, opts)

    return dial
