"""A fake Twilio for the tests: the far side of a phone call placed through Twilio Media Streams.

Built from Twilio's documents ("Media Streams – WebSocket messages", "TwiML <Stream>", "Security"), and
signing with Twilio's own `twilio.request_validator.RequestValidator`, so a signature we accept is
one Twilio's algorithm produced. What it does, as Twilio does:

- POSTs the voice webhook (form-encoded CallSid, From, To, …) to the public https URL — here our
  loopback port stands behind an imagined TLS proxy, so the request goes to 127.0.0.1 and the
  signature covers `public_url` + path — and reads the TwiML: `<Connect><Stream url>` with
  `<Parameter>`s, then whatever follows `<Connect>`.
- Opens the stream URL as a WebSocket with `X-Twilio-Signature` over the `wss://` URL, sends
  `connected`, `start` (μ-law 8000 mono, the `<Parameter>`s as customParameters), then one `media`
  message every 20 ms (sequenceNumber, chunk, timestamp), `dtmf` on request, `stop` on hangup.
- Plays what it receives on its own 20 ms clock (the caller's earpiece), and echoes each `mark` once
  the audio queued before it has played; on `clear` it drops its buffer and echoes every pending mark.
- When the stream is closed by the server, `<Connect>` has ended: it runs the rest of the TwiML
  (POSTs the `<Redirect>`, signed) and keeps what came back (`<Hangup/>` or `<Dial>`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import secrets
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from twilio.request_validator import RequestValidator

from sentiric_pbx.audio.g711 import ulaw_decode, ulaw_encode
from sentiric_pbx.audio.resample import resample
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.tools.caller import CallerOptions, CallReport, Wire, finish_report, run_script

FRAME_S = 0.020
ACCOUNT_SID = "AC" + "0" * 32


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class TwiML:
    stream_url: str
    parameters: dict[str, str]
    after: list[ET.Element]


def parse_twiml(text: str) -> TwiML:
    root = ET.fromstring(text)
    assert root.tag == "Response", text
    verbs = list(root)
    connect = verbs[0]
    assert connect.tag == "Connect", text
    stream = connect.find("Stream")
    assert stream is not None, text
    params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return TwiML(stream.get("url", ""), params, verbs[1:])


@dataclass
class TwilioPeer:
    """Twilio's side of one call to the daemon's Twilio ingress on 127.0.0.1:`port`."""

    port: int
    auth_token: str | None
    public_url: str
    caller: str = "+905551112233"
    called: str = "+15005550006"
    call_sid: str = field(default_factory=lambda: sid("CA"))
    stream_sid: str = field(default_factory=lambda: sid("MZ"))
    wire: Wire = field(default_factory=lambda: Wire(8000, -40.0))
    sent: list[dict] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)
    marks_echoed: list[str] = field(default_factory=list)
    misaddressed: list[dict] = field(default_factory=list)
    after_twiml: str | None = None
    close_code: int | None = None

    def __post_init__(self) -> None:
        self.validator = RequestValidator(self.auth_token or "")
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.twiml: TwiML | None = None
        self._playout: deque[tuple[str, bytes | str]] = deque()
        self._seq = itertools.count(1)
        self._chunk = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self.closed = asyncio.Event()

    # -- HTTP side ----------------------------------------------------------------------------
    def local(self, public: str) -> str:
        """Where the imagined TLS proxy forwards a public URL: the same path on our loopback port."""
        parts = urlsplit(public)
        base = urlsplit(self.public_url).path.rstrip("/")
        path = parts.path[len(base) :] if parts.path.startswith(base) else parts.path
        scheme = "ws" if parts.scheme in ("ws", "wss") else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}" + (f"?{parts.query}" if parts.query else "")

    def sign(self, url: str, params: dict[str, str]) -> dict[str, str]:
        if self.auth_token is None:
            return {}
        return {"X-Twilio-Signature": self.validator.compute_signature(url, params)}

    def webhook_params(self) -> dict[str, str]:
        return {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": self.call_sid,
            "CallStatus": "ringing",
            "Called": self.called,
            "Caller": self.caller,
            "Direction": "inbound",
            "From": self.caller,
            "FromCountry": "TR",
            "To": self.called,
            "ToCountry": "US",
        }

    async def post(self, public: str, params: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, str]:
        """POST a form the way Twilio does; `headers` replaces the signature (the tests' forgeries)."""
        assert self.http is not None
        sign = self.sign(public, params) if headers is None else headers
        async with self.http.post(self.local(public), data=params, headers=sign) as resp:
            return resp.status, await resp.text()

    async def ring(self) -> TwiML:
        """The voice webhook: Twilio asks what to do with the incoming call."""
        self.http = self.http or aiohttp.ClientSession()
        status, body = await self.post(f"{self.public_url}/twilio/voice", self.webhook_params())
        assert status == 200, (status, body)
        self.twiml = parse_twiml(body)
        return self.twiml

    # -- the Media Stream ---------------------------------------------------------------------
    async def open_stream(self, headers: dict[str, str] | None = None) -> None:
        assert self.http is not None and self.twiml is not None
        url = self.twiml.stream_url
        sign = self.sign(url, {}) if headers is None else headers
        self.ws = await self.http.ws_connect(self.local(url), headers=sign, autoping=True)

    async def send(self, message: dict) -> None:
        assert self.ws is not None
        self.sent.append(message)
        await self.ws.send_str(json.dumps(message))

    async def send_raw(self, data: str | bytes) -> None:
        assert self.ws is not None
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def start(self) -> None:
        """`connected` then `start`, as Twilio sends them once the upgrade succeeded."""
        assert self.twiml is not None
        await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self.send(
            {
                "event": "start",
                "sequenceNumber": str(next(self._seq)),
                "start": {
                    "accountSid": ACCOUNT_SID,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": self.twiml.parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
                "streamSid": self.stream_sid,
            }
        )

    def media(self, pcm8k: bytes) -> dict:
        chunk = next(self._chunk)
        return {
            "event": "media",
            "sequenceNumber": str(next(self._seq)),
            "media": {
                "track": "inbound",
                "chunk": str(chunk),
                "timestamp": str((chunk - 1) * 20),
                "payload": base64.b64encode(ulaw_encode(pcm8k)).decode(),
            },
            "streamSid": self.stream_sid,
        }

    async def dtmf(self, digit: str) -> None:
        await self.send(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "sequenceNumber": str(next(self._seq)),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def place(self) -> None:
        """Ring, open the stream, `connected` + `start`, then the 20 ms media clock and the receiver."""
        await self.ring()
        await self.open_stream()
        await self.start()
        self.wire.t0 = asyncio.get_running_loop().time()
        self._tasks = [asyncio.create_task(self._clock()), asyncio.create_task(self._receiver())]

    async def _clock(self) -> None:
        """Every 20 ms: send the caller's next frame, and play one frame of what the server sent."""
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while not self.closed.is_set():
            with contextlib.suppress(ConnectionError):
                await self.send(self.media(self.wire.next_outbound()))
                await self._play_one()
            deadline += FRAME_S
            await asyncio.sleep(max(0.0, deadline - loop.time()))

    async def _play_one(self) -> None:
        await self._echo_marks()
        frame = bytes(self.wire.frame)
        if self._playout and self._playout[0][0] == "audio":
            frame = self._playout.popleft()[1]  # type: ignore[assignment]
        self.wire.receive(frame)
        await self._echo_marks()

    async def _echo_marks(self) -> None:
        """The audio before these marks has played: tell the server, as Twilio does."""
        while self._playout and self._playout[0][0] == "mark":
            name = str(self._playout.popleft()[1])
            await self._mark(name)

    async def _mark(self, name: str) -> None:
        self.marks_echoed.append(name)
        await self.send(
            {
                "event": "mark",
                "sequenceNumber": str(next(self._seq)),
                "streamSid": self.stream_sid,
                "mark": {"name": name},
            }
        )

    async def _receiver(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            self.received.append(data)
            event = data.get("event")
            if data.get("streamSid") != self.stream_sid:
                self.misaddressed.append(data)  # Twilio would drop it; the tests assert there are none
            if event == "media":
                self._playout.append(("audio", ulaw_decode(base64.b64decode(data["media"]["payload"]))))
            elif event == "mark":
                self._playout.append(("mark", data["mark"]["name"]))
            elif event == "clear":
                pending = [str(v) for k, v in self._playout if k == "mark"]
                self._playout.clear()
                for name in pending:
                    await self._mark(name)
        self.close_code = self.ws.close_code
        self.wire.ended_by = self.wire.ended_by or "agent_closed"
        self.closed.set()
        await self._after_connect()

    async def _after_connect(self) -> None:
        """`<Connect>` ended (the server closed the stream): run the TwiML that follows it."""
        if self.twiml is None or self.wire.ended_by == "caller_hangup":
            return
        for verb in self.twiml.after:
            if verb.tag == "Redirect":
                _status, self.after_twiml = await self.post((verb.text or "").strip(), self.webhook_params())
                return

    def events(self, name: str) -> list[dict]:
        return [m for m in self.received if m.get("event") == name]

    async def hang_up(self) -> None:
        """The caller hangs up: Twilio sends `stop` and closes the socket."""
        self.wire.ended_by = self.wire.ended_by or "caller_hangup"
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(ConnectionError):
                await self.send(
                    {
                        "event": "stop",
                        "sequenceNumber": str(next(self._seq)),
                        "streamSid": self.stream_sid,
                        "stop": {"accountSid": ACCOUNT_SID, "callSid": self.call_sid},
                    }
                )
                await self.ws.close()
        self.closed.set()

    async def close(self) -> None:
        self.closed.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()


class TwilioDialer:
    """`run_demo`'s dialer over Twilio: the demo caller's turns (16 kHz) sent as a Twilio call would be.

    Keeps the peer, so a test can look at what crossed the wire (marks, the TwiML after the stream).
    """

    def __init__(self) -> None:
        self.peer: TwilioPeer | None = None

    async def __call__(self, daemon: Daemon, turns: list[bytes], opts: CallerOptions) -> CallReport:
        ingress = daemon.ingresses["twilio"]
        cfg = daemon.settings.twilio
        token = cfg.auth_token.get_secret_value() if cfg.auth_token is not None else None
        public = cfg.public_url or f"http://127.0.0.1:{ingress.port}"
        peer = self.peer = TwilioPeer(ingress.port, token, public, caller=opts.caller_id)
        peer.wire = Wire(8000, opts.voiced_dbfs)
        report = CallReport(call_id=peer.call_sid, greeting_latency_ms=None)
        try:
            await peer.place()
            pcm = [resample(t, 16000, 8000) for t in turns]
            script = asyncio.create_task(run_script(pcm, peer.wire, opts, report))
            closed = asyncio.create_task(peer.closed.wait())
            done, _ = await asyncio.wait({script, closed}, return_when=asyncio.FIRST_COMPLETED)
            closed.cancel()
            if script in done:
                script.result()
            else:
                script.cancel()
                await asyncio.gather(script, return_exceptions=True)
            if peer.wire.ended_by is None:
                await peer.hang_up()
            report.ended_by = peer.wire.ended_by or "caller"
            if report.ended_by == "agent_closed":  # let the peer run the TwiML after <Connect>
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):
                        while peer.after_twiml is None:
                            await asyncio.sleep(0.02)
        finally:
            await peer.close()
        return finish_report(report, peer.wire, opts)
