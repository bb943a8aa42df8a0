"""A fake Asterisk ARI for tests: REST + events WebSocket on one port, and externalMedia RTP over UDP.

Everything it says comes from the Asterisk 22.10.1 captures in `fixtures/asterisk/ari/`: REST bodies
and status codes from `rest.jsonl` (400s, 404 "Channel not found", 401 with WWW-Authenticate, 204
with an empty body), events from `events.jsonl` with ids and timestamps rewritten consistently, the
422 "Channel not in Stasis application" for an addChannel before the media channel's StasisStart
(`addchannel-race.jsonl`), and RTP shaped like `rtp-ulaw.jsonl` (PT 0, 160-byte μ-law, seq random +1,
ts from 160 +160, random SSRC, no marker, from the port given as UNICASTRTP_LOCAL_PORT) carrying the
real speech of `demo-turn.wav`. It records the RTP it receives, and can "restart" (drop everything,
stop listening, come back on the same port).

externalMedia with `encapsulation=audiosocket` does what Asterisk did in the capture (README facts 2,
4, 5, 6, 10): 400 "data can not be empty" without `data`; else the recorded 200 body
(`AudioSocket/<host:port>-<data>`, channelvars AUDIOSOCKET_SERVICE/UUID), a TCP connection to
`external_host` whose first frame is 0x01 + the 16 raw bytes of `data`, the StasisStart with
`args: [data]`, and once bridged the caller's speech as 0x12 frames of 640 bytes every 20 ms, only
while the caller talks (a 2-party bridge); DTMF as 0x03 + the digit; DELETE closes the TCP connection
(FIN, no 0x00). It records the frames our server sends back.

externalMedia with `transport=websocket&connection_type=server` does what chan_websocket did in
`chan-websocket.txt` (README fact 18): the 200 body names the channel `WebSocket/INCOMING/0x…` with
channelvars MEDIA_WEBSOCKET_CONNECTION_ID/OPTIMAL_FRAME_SIZE, the same port serves `/media/<id>` (Basic
auth, subprotocol `media`), the first message is the text `MEDIA_START … format:slin16
optimal_frame_size:640 ptime:20`, once bridged the caller's speech comes as 640-byte binary messages every
20 ms only while the caller talks, DTMF as `DTMF_END digit:N channel_id:…`, and DELETE closes with 1000 and
no message before it. It records every message we send, and `media_ws_send` lets a test send what a
real Asterisk never would (garbage).

aiohttp is not available: HTTP/1.1 is a small asyncio handler, and the WebSocket upgrade is handed
to the sans-I/O `websockets.server.ServerProtocol`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import itertools
import json
import random
import struct
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from sentiric_pbx.audio.g711 import ulaw_encode
from sentiric_pbx.telephony.audiosocket.protocol import Frame as AsFrame
from sentiric_pbx.telephony.audiosocket.protocol import FrameParser, Kind, encode, encode_uuid
from tests.asterisk_peer import demo_turn

ARI_FIXTURES = Path(__file__).parent / "fixtures" / "asterisk" / "ari"
REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    422: "Unprocessable",
}
# Ids of the capture, replaced in every event we replay.
CAP_CALLER, CAP_PLAYER, CAP_MEDIA = "1795681719.406", "1795681719.407", "1795681719.408"
CAP_BRIDGE = "f761f54e-1e4d-428d-bc85-bc1a417d0ad8"
CAP_MEDIA_NAME = "UnicastRTP/127.0.0.1:40000-0x7fd428005080"
CAP_AS, CAP_AS_UUID, CAP_AS_HOST = "1795681719.409", "9dc54d3b-7696-4145-9fc8-63daad1bec84", "127.0.0.1:9093"


def load_jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (ARI_FIXTURES / name).read_text().splitlines() if line.strip()]


def _rest_by_label() -> dict[str, dict[str, Any]]:
    return {r["label"]: r for r in load_jsonl("rest.jsonl")}


def _event(events: list[dict[str, Any]], kind: str, chan: str | None = None) -> dict[str, Any]:
    for line in events:
        ev = line.get("event")
        if ev and ev["type"] == kind and (chan is None or (ev.get("channel") or {}).get("id") == chan):
            return ev
    raise KeyError(f"{kind} {chan} not in events.jsonl")


def ari_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


@dataclass
class RtpReceived:
    t: float
    src: tuple[str, int]
    pt: int
    seq: int
    ts: int
    ssrc: int
    marker: bool
    payload: bytes


@dataclass
class FakeChannel:
    id: str
    kind: str  # "caller" | "media"
    json: dict[str, Any]
    in_stasis: bool = False
    variables: dict[str, str] = field(default_factory=dict)
    external_host: tuple[str, int] | None = None
    udp: asyncio.DatagramTransport | None = None
    local_port: int = 0
    sender: asyncio.Task[None] | None = None
    adds_to_reject: int = 0
    capture_id: str = CAP_MEDIA
    """The channel of the capture whose events this one replays (RTP or AudioSocket externalMedia)."""
    capture_name: str = CAP_MEDIA_NAME
    audiosocket: asyncio.StreamWriter | None = None
    audiosocket_in: list[AsFrame] = field(default_factory=list)
    connection_id: str = ""
    """chan_websocket media: the id in `/media/<id>`."""
    media_ws: tuple[ServerProtocol, asyncio.StreamWriter] | None = None
    media_ws_request: dict[str, str] = field(default_factory=dict)
    """The upgrade request's path, Authorization and negotiated subprotocol."""
    media_ws_in: list[tuple[float, bytes | str]] = field(default_factory=list)
    media_ws_connected: asyncio.Event = field(default_factory=asyncio.Event)


class _RtpSocket(asyncio.DatagramProtocol):
    def __init__(self, fake: FakeAri) -> None:
        self.fake = fake

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:  # type: ignore[override]
        if len(data) < 12:
            return
        _, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", data)
        self.fake.rtp_in.append(
            RtpReceived(time.monotonic(), (addr[0], addr[1]), b1 & 0x7F, seq, ts, ssrc, bool(b1 & 0x80), data[12:])
        )


class FakeAri:
    """REST + WebSocket + RTP. `requests` and `rtp_in` record what our client did."""

    def __init__(self, username: str = "sentiric", password: str = "sentiric-test") -> None:
        self.auth = (username, password)
        self.rest = _rest_by_label()
        self.events = load_jsonl("events.jsonl")
        self.host = "127.0.0.1"
        self.port = 0
        self.channels: dict[str, FakeChannel] = {}
        self.bridges: dict[str, list[str]] = {}
        self.requests: list[tuple[float, str, str, dict[str, str], int]] = []
        self.ws_connects: list[dict[str, str]] = []
        self.rtp_in: list[RtpReceived] = []
        self.rtp_out_count = 0
        self.media_stasis_delay_s = 0.03
        self.reject_adds_after_stasis = 0
        """Answer this many addChannel calls for a media channel with 422 even after its StasisStart."""
        self.speech = ulaw_encode(demo_turn(8000))
        self.lead_silence_packets = 10
        self.rtp_quiet = False
        """Send no RTP at all: a two-party bridge while the caller says nothing (fact 8)."""
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._ws: list[tuple[ServerProtocol, asyncio.StreamWriter]] = []
        self._ids = itertools.count(500)
        self._epoch = int(time.time())
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_conn, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/ari"

    async def stop(self) -> None:
        for chan in list(self.channels.values()):
            self._close_media(chan)
        await self._go_down()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _go_down(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._conns):
            writer.transport.abort()
        self._ws.clear()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def restart(self, down_s: float = 1.0) -> None:
        """Asterisk restart: every connection drops, nothing listens for `down_s`, then the same port again."""
        await self._go_down()
        await asyncio.sleep(down_s)
        await self.start()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- what "Asterisk" does on its own ----------------------------------------------------------
    def new_id(self) -> str:
        return f"{self._epoch}.{next(self._ids)}"

    def start_call(self, args: list[str] | None = None, language: str = "tr") -> str:
        """A caller enters Stasis: the recorded StasisStart of the ;1 Local leg, with a fresh id."""
        chan_id = self.new_id()
        ev = self.render(_event(self.events, "StasisStart", CAP_CALLER), {CAP_CALLER: chan_id})
        ev["args"] = list(args or [])
        ev["channel"]["language"] = language
        self.channels[chan_id] = FakeChannel(chan_id, "caller", ev["channel"], in_stasis=True)
        self.emit(ev)
        return chan_id

    def send_dtmf(self, chan_id: str, digit: str) -> None:
        ev = self.render(_event(self.events, "ChannelDtmfReceived", CAP_CALLER), {CAP_CALLER: chan_id})
        ev["digit"] = digit
        self.emit(ev)
        # The digit also reaches every AudioSocket member of the caller's bridge as 0x03 (fact 5).
        for members in self.bridges.values():
            if chan_id in members:
                for other in members:
                    media = self.channels.get(other)
                    if media is not None and media.audiosocket is not None and not media.audiosocket.is_closing():
                        media.audiosocket.write(encode(Kind.DTMF, digit.encode()))
                    if media is not None and media.media_ws is not None:  # chan_websocket: a text DTMF_END
                        self.media_ws_send(media.id, text=f"DTMF_END digit:{digit} channel_id:{media.id}")

    def caller_hangup(self, chan_id: str) -> None:
        """The caller hangs up: StasisEnd, then ChannelDestroyed (cause 16), as recorded."""
        ids = {CAP_CALLER: chan_id}
        self._leave_bridges(chan_id)
        self.emit(self.render(_event(self.events, "StasisEnd", CAP_CALLER), ids))
        self.emit(self.render(_event(self.events, "ChannelDestroyed", CAP_CALLER), ids))
        self.channels.pop(chan_id, None)

    def render(self, template: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
        text = json.dumps(template)
        for old, new in ids.items():
            text = text.replace(old, new)
        ev = json.loads(text)
        ev["timestamp"] = ari_timestamp()
        return ev

    def emit(self, event: dict[str, Any]) -> None:
        data = json.dumps(event).encode()
        for proto, writer in list(self._ws):
            proto.send_text(data)
            self._flush(proto, writer)

    @staticmethod
    def _flush(proto: ServerProtocol, writer: asyncio.StreamWriter) -> None:
        for chunk in proto.data_to_send():
            if chunk:
                writer.write(chunk)
            else:  # the closing handshake is done: the server closes TCP first (RFC 6455 §7.1.1)
                writer.close()

    # -- HTTP -----------------------------------------------------------------------------------
    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
                await reader.readexactly(int(headers.get("content-length") or 0))
                url = urlsplit(target)
                query = dict(parse_qsl(url.query))
                if not self._authorized(headers, query):
                    body = self.rest["wrong-password"]["response"]
                    auth_header = self.rest["wrong-password"]["response_headers"]["WWW-Authenticate"]
                    self._respond(writer, 401, body, {"WWW-Authenticate": auth_header})
                    self.requests.append((time.monotonic(), method, url.path, query, 401))
                    if headers.get("upgrade", "").lower() == "websocket":
                        break
                    continue
                if headers.get("upgrade", "").lower() == "websocket":
                    await self._websocket(head, url.path, query, reader, writer)
                    break
                status, body = await self._route(method, url.path, query)
                self.requests.append((time.monotonic(), method, url.path, query, status))
                self._respond(writer, status, body)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            self._conns.discard(writer)
            writer.close()

    def _authorized(self, headers: dict[str, str], query: dict[str, str]) -> bool:
        expected = f"{self.auth[0]}:{self.auth[1]}"
        if query.get("api_key") == expected:
            return True
        auth = headers.get("authorization", "")
        if auth.startswith("Basic "):
            with contextlib.suppress(ValueError):
                return base64.b64decode(auth[6:]).decode() == expected
        return False

    def _respond(
        self, writer: asyncio.StreamWriter, status: int, body: Any, extra: dict[str, str] | None = None
    ) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}", f"Content-Length: {len(payload)}"]
        if body is not None:
            head.append("Content-type: application/json")
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)

    # -- WebSocket ------------------------------------------------------------------------------
    async def _websocket(
        self, head: bytes, path: str, query: dict[str, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if path.startswith("/media/"):
            await self._media_websocket(head, path, reader, writer)
            return
        if path != "/ari/events" or not query.get("app"):
            self._respond(writer, 400, {"message": "Invalid application provided in param [app]."})
            return
        proto = ServerProtocol()
        proto.receive_data(head)
        request = proto.events_received()[0]
        proto.send_response(proto.accept(request))  # type: ignore[arg-type]
        self._flush(proto, writer)
        self.ws_connects.append({"app": query["app"], "subscribeAll": query.get("subscribeAll", "")})
        self._ws.append((proto, writer))
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                proto.receive_data(data)
                for frame in proto.events_received():
                    assert isinstance(frame, Frame)
                self._flush(proto, writer)
        finally:
            with contextlib.suppress(ValueError):
                self._ws.remove((proto, writer))

    async def _media_websocket(
        self, head: bytes, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """chan_websocket's server side: MEDIA_START at once, then whatever the test and the bridge send."""
        connection_id = path.removeprefix("/media/")
        chan = next((c for c in self.channels.values() if c.connection_id == connection_id), None)
        if chan is None:
            self._respond(writer, 404, {"message": "Not found"})
            return
        proto = ServerProtocol(subprotocols=["media"], max_size=None)  # type: ignore[list-item]
        proto.receive_data(head)
        request = proto.events_received()[0]
        response = proto.accept(request)  # type: ignore[arg-type]
        proto.send_response(response)
        self._flush(proto, writer)
        chan.media_ws = (proto, writer)
        chan.media_ws_request = {
            "path": path,
            "authorization": request.headers.get("Authorization", ""),  # type: ignore[union-attr]
            "subprotocol": response.headers.get("Sec-WebSocket-Protocol", ""),
        }
        self.media_ws_send(
            chan.id,
            text=f"MEDIA_START connection_id:{connection_id} channel:{chan.json['name']} channel_id:{chan.id} "
            "format:slin16 optimal_frame_size:640 ptime:20",
        )
        chan.media_ws_connected.set()
        try:
            while data := await reader.read(65536):
                proto.receive_data(data)
                for frame in proto.events_received():
                    assert isinstance(frame, Frame)
                    if frame.opcode == Opcode.TEXT:
                        chan.media_ws_in.append((time.monotonic(), frame.data.decode()))
                    elif frame.opcode == Opcode.BINARY:
                        chan.media_ws_in.append((time.monotonic(), bytes(frame.data)))
                self._flush(proto, writer)
        except ConnectionError:
            pass
        finally:
            chan.media_ws = None

    def media_ws_send(self, chan_id: str, *, text: str | None = None, binary: bytes | None = None) -> None:
        """Send one message on a media channel's WebSocket (what Asterisk sends, or garbage on cue)."""
        chan = self.channels.get(chan_id)
        if chan is None or chan.media_ws is None:
            return
        proto, writer = chan.media_ws
        if text is not None:
            proto.send_text(text.encode())
        if binary is not None:
            proto.send_binary(binary)
        self._flush(proto, writer)

    def media_ws_sent(self, chan_id: str) -> list[tuple[float, bytes | str]]:
        chan = self.channels.get(chan_id)
        return chan.media_ws_in if chan is not None else []

    # -- REST routes ----------------------------------------------------------------------------
    async def _route(self, method: str, path: str, q: dict[str, str]) -> tuple[int, Any]:
        parts = path.removeprefix("/ari/").split("/")
        not_found = (404, {"message": "Channel not found"})
        if method == "GET" and path == "/ari/asterisk/info":
            return 200, self.rest["asterisk-info"]["response"]
        if method == "GET" and path == "/ari/applications":
            return 200, self.rest["applications"]["response"]
        if parts[0] == "channels":
            if method == "POST" and parts[1:] == ["externalMedia"]:
                return await self._external_media(q)
            chan = self.channels.get(parts[1]) if len(parts) > 1 else None
            if chan is None:
                return not_found
            action = parts[2] if len(parts) > 2 else ""
            if method == "GET" and action == "":
                return 200, chan.json
            if method == "POST" and action == "answer":
                return 204, None
            if method == "GET" and action == "variable":
                return self._variable(chan, q)
            if method == "DELETE" and action == "":
                self._hangup(chan)
                return 204, None
            if method == "POST" and action in ("continue", "redirect"):
                self._leave_bridges(chan.id)
                self.emit(self.render(_event(self.events, "StasisEnd", CAP_CALLER), {CAP_CALLER: chan.id}))
                chan.in_stasis = False
                return 204, None
        if parts[0] == "bridges":
            if method == "POST" and len(parts) == 1:
                bridge_id = str(uuid.uuid4())
                self.bridges[bridge_id] = []
                body = copy.deepcopy(self.rest["bridge-create"]["response"])
                body.update(id=bridge_id, name=q.get("name", ""), bridge_type=q.get("type", "mixing"))
                return 200, body
            bridge = self.bridges.get(parts[1]) if len(parts) > 1 else None
            if bridge is None:
                return 404, {"message": "Bridge not found"}
            if method == "POST" and parts[2:] == ["addChannel"]:
                return self._add_channel(parts[1], q.get("channel", ""))
            if method == "DELETE" and len(parts) == 2:
                del self.bridges[parts[1]]
                tmpl = next(e["event"] for e in self.events if e.get("event", {}).get("type") == "BridgeDestroyed")
                self.emit(self.render(tmpl, {CAP_BRIDGE: parts[1]}))
                return 204, None
        return 404, {"message": "Resource not found"}

    def _variable(self, chan: FakeChannel, q: dict[str, str]) -> tuple[int, Any]:
        name = q.get("variable")
        if not name:
            return 400, {"message": "Variable is required"}
        if name == "CHANNEL(language)":
            return 200, {"value": chan.json.get("language", "en")}
        if name in chan.variables:
            return 200, {"value": chan.variables[name]}
        return 404, {"message": "Provided variable was not found"}

    async def _external_media(self, q: dict[str, str]) -> tuple[int, Any]:
        if q.get("transport") == "websocket" and q.get("connection_type") == "server":
            return self._external_websocket(q)
        if not q.get("external_host"):
            return 400, self.rest["externalMedia-invalid-missing-external_host"]["response"]
        if not q.get("app") or not q.get("format"):
            return 400, {"message": "app and format are required"}
        host, port = q["external_host"].rsplit(":", 1)
        chan_id = q.get("channelId") or self.new_id()
        if q.get("encapsulation") == "audiosocket":
            return await self._external_audiosocket(q, chan_id, host, int(port))
        body = self.render(self.rest["externalMedia-rtp-ulaw"]["response"], {"1795681719.408": chan_id})
        body["name"] = CAP_MEDIA_NAME.replace("127.0.0.1:40000", q["external_host"])
        chan = FakeChannel(chan_id, "media", body, external_host=(host, int(port)))
        chan.adds_to_reject = self.reject_adds_after_stasis
        loop = asyncio.get_running_loop()
        chan.udp, _ = await loop.create_datagram_endpoint(lambda: _RtpSocket(self), local_addr=("127.0.0.1", 0))
        chan.local_port = chan.udp.get_extra_info("sockname")[1]
        body["channelvars"] = {"UNICASTRTP_LOCAL_PORT": str(chan.local_port), "UNICASTRTP_LOCAL_ADDRESS": "127.0.0.1"}
        self.channels[chan_id] = chan
        self._spawn(self._stasis_start_later(chan))
        return 200, body

    def _external_websocket(self, q: dict[str, str]) -> tuple[int, Any]:
        """chan_websocket, server side: no external_host; the app connects to /media/<connection id>."""
        if not q.get("app") or not q.get("format"):
            return 400, {"message": "app and format are required"}
        chan_id = q.get("channelId") or self.new_id()
        body = self.render(self.rest["externalMedia-rtp-ulaw"]["response"], {"1795681719.408": chan_id})
        body["name"] = f"WebSocket/INCOMING/0x{random.getrandbits(44):x}"
        connection_id = str(uuid.uuid4())
        body["channelvars"] = {
            "MEDIA_WEBSOCKET_CONNECTION_ID": connection_id,
            "MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE": "640",
        }
        chan = FakeChannel(chan_id, "media", body, connection_id=connection_id)
        chan.adds_to_reject = self.reject_adds_after_stasis
        self.channels[chan_id] = chan
        self._spawn(self._stasis_start_later(chan))
        return 200, body

    async def _external_audiosocket(self, q: dict[str, str], chan_id: str, host: str, port: int) -> tuple[int, Any]:
        data = q.get("data")
        if not data:
            return 400, {"message": "data can not be empty"}  # fact 10, rest-audiosocket-ulaw.jsonl
        ids = {CAP_AS: chan_id, CAP_AS_UUID: data, CAP_AS_HOST: q["external_host"]}
        body = self.render(self.rest["externalMedia-audiosocket-slin16"]["response"], ids)
        chan = FakeChannel(chan_id, "media", body, external_host=(host, port), capture_id=CAP_AS)
        chan.capture_name = body["name"]
        chan.adds_to_reject = self.reject_adds_after_stasis
        # Asterisk connects when the channel is requested and sends the UUID frame when it is called.
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(encode_uuid(uuid.UUID(data)))
        chan.audiosocket = writer
        self._spawn(self._read_audiosocket(chan, reader))
        self.channels[chan_id] = chan
        self._spawn(self._stasis_start_later(chan, [data]))
        return 200, body

    async def _read_audiosocket(self, chan: FakeChannel, reader: asyncio.StreamReader) -> None:
        parser = FrameParser(max_payload=65535, expect_uuid=False)
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                chan.audiosocket_in.extend(parser.feed(data))

    async def _stasis_start_later(self, chan: FakeChannel, args: list[str] | None = None) -> None:
        """The media channel enters Stasis a moment after the POST returns: the race of fact 13."""
        await asyncio.sleep(self.media_stasis_delay_s)
        if chan.id not in self.channels:
            return
        chan.in_stasis = True
        ids = {chan.capture_id: chan.id, chan.capture_name: chan.json["name"]}
        ev = self.render(_event(self.events, "StasisStart", chan.capture_id), ids)
        if args is not None:
            ev["args"] = args
        self.emit(ev)

    def _add_channel(self, bridge_id: str, chan_id: str) -> tuple[int, Any]:
        chan = self.channels.get(chan_id)
        if chan is None:
            return 400, {"message": "Channel not found"}
        if not chan.in_stasis:
            return 422, {"message": "Channel not in Stasis application"}
        if chan.kind == "media" and chan.adds_to_reject > 0:
            chan.adds_to_reject -= 1
            return 422, {"message": "Channel not in Stasis application"}
        self.bridges[bridge_id].append(chan_id)
        tmpl = _event(self.events, "ChannelEnteredBridge", CAP_CALLER)
        ev = self.render(tmpl, {CAP_BRIDGE: bridge_id, CAP_CALLER: chan_id})
        ev["bridge"]["channels"] = list(self.bridges[bridge_id])
        self.emit(ev)
        if chan.kind == "media" and chan.sender is None:
            if chan.connection_id:
                send = self._send_media_ws
            else:
                send = self._send_audiosocket if chan.audiosocket is not None else self._send_rtp
            chan.sender = self._spawn(send(chan))
        return 204, None

    def _leave_bridges(self, chan_id: str) -> None:
        for members in self.bridges.values():
            if chan_id in members:
                members.remove(chan_id)

    def _hangup(self, chan: FakeChannel) -> None:
        """DELETE /channels/{id}: HangupRequest (cause 32, soft), StasisEnd, Destroyed (16), as recorded."""
        src = chan.capture_id if chan.kind == "media" else CAP_CALLER
        ids = {src: chan.id, chan.capture_name: chan.json["name"]}
        self._leave_bridges(chan.id)
        hangup_req = next(
            e["event"]
            for e in self.events
            if e.get("event", {}).get("type") == "ChannelHangupRequest" and e["event"]["channel"]["id"] == CAP_MEDIA
        )
        self.emit(self.render(hangup_req, {CAP_MEDIA: chan.id, CAP_MEDIA_NAME: chan.json["name"]}))
        if chan.in_stasis:
            self.emit(self.render(_event(self.events, "StasisEnd", src), ids))
        self.emit(self.render(_event(self.events, "ChannelDestroyed", src), ids))
        self.channels.pop(chan.id, None)
        self._close_media(chan)

    def _close_media(self, chan: FakeChannel) -> None:
        if chan.sender is not None:
            chan.sender.cancel()
        if chan.udp is not None:
            chan.udp.close()
        if chan.audiosocket is not None:
            chan.audiosocket.close()  # a FIN, no 0x00 (fact 6: EOF 3.4 ms after the DELETE)
        if chan.media_ws is not None:  # a close 1000 with an empty reason, no message before it (fact 18)
            proto, writer = chan.media_ws
            if proto.state is State.OPEN:
                proto.send_close(1000, "")
                self._flush(proto, writer)

    # -- AudioSocket out ------------------------------------------------------------------------
    async def _send_audiosocket(self, chan: FakeChannel) -> None:
        """2-party bridge: the frames the caller's leg produces (slin16, 640 bytes, every 20 ms): the demo
        turn and 1 s of the phone's silence after it; then nothing, as when a caller's leg goes quiet."""
        writer = chan.audiosocket
        assert writer is not None
        speech = demo_turn(16000) + bytes(640 * 50)
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        for i in range(0, len(speech), 640):
            if writer.is_closing():
                return
            writer.write(encode(Kind.SLIN_16K, speech[i : i + 640]))  # the last frame may be short (fact 2)
            deadline += 0.020
            await asyncio.sleep(max(0.0, deadline - loop.time()))

    async def _send_media_ws(self, chan: FakeChannel) -> None:
        """2-party bridge over chan_websocket: the caller's speech as 640-byte binary messages every 20 ms and
        1 s of the phone's silence after it, then nothing (fact 18: frames only while the caller talks)."""
        await chan.media_ws_connected.wait()
        speech = demo_turn(16000) + bytes(640 * 50)
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        for i in range(0, len(speech), 640):
            if chan.media_ws is None:
                return
            self.media_ws_send(chan.id, binary=speech[i : i + 640])
            deadline += 0.020
            await asyncio.sleep(max(0.0, deadline - loop.time()))

    # -- RTP out --------------------------------------------------------------------------------
    async def _send_rtp(self, chan: FakeChannel) -> None:
        """softmix: a packet every 20 ms, silence included; the caller's speech after a short lead-in."""
        assert chan.udp is not None and chan.external_host is not None
        if self.rtp_quiet:
            return
        seq, ts, ssrc = random.getrandbits(16), 160, random.getrandbits(32)
        speech = [self.speech[i : i + 160] for i in range(0, len(self.speech) - 159, 160)]
        payloads = itertools.chain(
            itertools.repeat(b"\xff" * 160, self.lead_silence_packets), speech, itertools.repeat(b"\xff" * 160)
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        for payload in payloads:
            header = struct.pack("!BBHII", 0x80, 0, seq, ts, ssrc)
            chan.udp.sendto(header + payload, chan.external_host)
            self.rtp_out_count += 1
            seq, ts = (seq + 1) & 0xFFFF, ts + 160
            deadline += 0.020
            await asyncio.sleep(max(0.0, deadline - loop.time()))

    # -- helpers for tests --------------------------------------------------------------------------
    def requests_to(self, method: str, suffix: str) -> list[tuple[float, str, str, dict[str, str], int]]:
        return [r for r in self.requests if r[1] == method and r[2].endswith(suffix)]
