"""Twilio's wire, without I/O: request signatures, the TwiML we answer with, and Media Streams messages.

Signatures (Twilio "Security – validating requests"): `X-Twilio-Signature` is base64(HMAC-SHA1(auth token,
URL + every POST parameter as name+value, sorted by name)). The URL is the one Twilio called, as the
admin configured it, so behind a TLS proxy it is the public `https://…` URL, not the loopback one we
listen on. A WebSocket upgrade is a GET: the string is the `wss://…` URL alone. Twilio's own validator
accepts the URL with and without an explicit default port, because Twilio's signers differ; so do we.

Media Streams messages (Twilio "Media Streams – WebSocket messages"): JSON text frames with an `event`
discriminator. From Twilio: `connected`, `start` (streamSid, callSid, customParameters, mediaFormat),
`media` (base64 μ-law 8 kHz, 20 ms), `dtmf`, `mark` (echo of ours once the audio before it played, or
at once after a `clear`), `stop`. To Twilio: `media`, `mark`, `clear`. `parse_message` turns one frame
into a typed message or raises `ProtocolError` with a short reason; it ignores nothing silently except
events it does not know (Twilio adds events over time; an unknown one is not a broken peer).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import quoteattr

SIGNATURE_HEADER = "X-Twilio-Signature"
MULAW = "audio/x-mulaw"
MULAW_RATE = 8000
MULAW_FRAME_BYTES = 160  # 20 ms at 8 kHz, one byte a sample
MAX_PAYLOAD_BYTES = 16_000  # 2 s of μ-law in one message: far more than Twilio's 20 ms, less than a flood


class ProtocolError(Exception):
    """The peer broke the Media Streams protocol; `reason` is a short machine word for logs and metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# -- signatures ---------------------------------------------------------------------------------
def compute_signature(token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """base64(HMAC-SHA1(token, url + name1 + value1 + name2 + value2 …)), parameters sorted by name."""
    data = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> list[str]:
    """The URL as given, without its port, and with the scheme's default port made explicit."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    default = 443 if parts.scheme in ("https", "wss") else 80
    without = urlunsplit(parts._replace(netloc=prefix + host))
    with_port = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{parts.port or default}"))
    return list(dict.fromkeys([url, without, with_port]))


def signature_valid(token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None) -> bool:
    """Constant-time check of `signature` against every form of `url` Twilio may have signed."""
    if not signature:
        return False
    items = list(params)
    return any(
        hmac.compare_digest(compute_signature(token, candidate, items).encode(), signature.encode())
        for candidate in _url_variants(url)
    )


# -- TwiML ----------------------------------------------------------------------------------------
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def connect_stream_twiml(stream_url: str, parameters: dict[str, str], after_url: str) -> str:
    """`<Connect><Stream>` (bidirectional) carrying the call's identity, then what follows the stream.

    `<Connect>` ends when we close the WebSocket; Twilio then runs the next verb. The `<Redirect>` asks
    us (signed, like every webhook) what that is: `<Hangup/>` after a normal end, `<Dial>` after a
    transfer. Parameters ride as `<Parameter>`s because `<Stream url>` must not carry a query string.
    """
    params = "".join(f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in parameters.items())
    return (
        f"{XML_HEAD}<Response><Connect><Stream url={quoteattr(stream_url)}>{params}</Stream></Connect>"
        f'<Redirect method="POST">{_text(after_url)}</Redirect></Response>'
    )


def dial_twiml(target: str) -> str:
    """Dial a number or a SIP URI; when the dialled party hangs up, so does the call."""
    noun = "Sip" if target.lower().startswith(("sip:", "sips:")) else "Number"
    return f"{XML_HEAD}<Response><Dial><{noun}>{_text(target)}</{noun}></Dial></Response>"


def hangup_twiml() -> str:
    return f"{XML_HEAD}<Response><Hangup/></Response>"


def reject_twiml() -> str:
    """What a draining daemon answers: busy, so Twilio's fallback URL or the caller's retry takes over."""
    return f'{XML_HEAD}<Response><Reject reason="busy"/></Response>'


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def dialable(target: str) -> bool:
    """A target Twilio's `<Dial>` understands: an E.164-ish number or a SIP URI (not `PJSIP/reception`)."""
    t = target.strip()
    if t.lower().startswith(("sip:", "sips:")):
        return "@" in t
    digits = t[1:] if t.startswith("+") else t
    return digits.isdigit() and 3 <= len(digits) <= 15


# -- Media Streams messages -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: list[str]
    custom_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Media:
    payload: bytes
    """μ-law 8 kHz, decoded from base64."""
    track: str = "inbound"


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    digit: str


@dataclass(frozen=True, slots=True)
class Mark:
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    call_sid: str


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str


@dataclass(frozen=True, slots=True)
class Unknown:
    event: str


Message = Connected | Start | Media | DtmfDigit | Mark | Stop | Unknown

DTMF_DIGITS = frozenset("0123456789*#ABCDabcd")


def _obj(msg: dict[str, Any], key: str) -> dict[str, Any]:
    value = msg.get(key)
    if not isinstance(value, dict):
        raise ProtocolError("missing_field", f"`{msg.get('event')}` message without a `{key}` object")
    return value


def _str(obj: dict[str, Any], key: str, event: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolError("missing_field", f"`{event}` message without a string `{key}`")
    return value


def _start(msg: dict[str, Any]) -> Start:
    start = _obj(msg, "start")
    fmt = start.get("mediaFormat")
    if not isinstance(fmt, dict):
        raise ProtocolError("missing_field", "`start` message without `mediaFormat`")
    encoding, rate, channels = fmt.get("encoding"), fmt.get("sampleRate"), fmt.get("channels", 1)
    if encoding != MULAW or rate != MULAW_RATE or channels != 1:
        raise ProtocolError(
            "unsupported_media_format", f"{encoding!r} {rate!r} Hz × {channels!r}; Media Streams is μ-law 8000 mono"
        )
    custom = start.get("customParameters") or {}
    if not isinstance(custom, dict):
        raise ProtocolError("bad_field", "`customParameters` is not an object")
    tracks = start.get("tracks") or ["inbound"]
    return Start(
        stream_sid=_str(start, "streamSid", "start"),
        call_sid=_str(start, "callSid", "start"),
        account_sid=str(start.get("accountSid", "")),
        tracks=[str(t) for t in tracks] if isinstance(tracks, list) else ["inbound"],
        custom_parameters={str(k): str(v) for k, v in custom.items()},
    )


def _media(msg: dict[str, Any]) -> Media:
    media = _obj(msg, "media")
    payload = _str(media, "payload", "media")
    if len(payload) > MAX_PAYLOAD_BYTES * 4 // 3 + 4:
        raise ProtocolError("oversized_media", f"{len(payload)} base64 characters in one `media` message")
    try:
        audio = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("bad_base64", "`media.payload` is not base64") from None
    return Media(audio, str(media.get("track", "inbound")))


def parse_message(text: str) -> Message:
    """One Media Streams text frame → a typed message. Raises `ProtocolError` for anything malformed."""
    try:
        msg = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ProtocolError("bad_json", f"not JSON: {text[:60]!r}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("event"), str):
        raise ProtocolError("bad_message", f"a JSON {type(msg).__name__} without an `event` string")
    event = msg["event"]
    if event == "media":
        return _media(msg)
    if event == "start":
        return _start(msg)
    if event == "connected":
        return Connected(str(msg.get("protocol", "")))
    if event == "mark":
        return Mark(_str(_obj(msg, "mark"), "name", "mark"))
    if event == "dtmf":
        digit = _str(_obj(msg, "dtmf"), "digit", "dtmf")
        if len(digit) != 1 or digit not in DTMF_DIGITS:
            raise ProtocolError("bad_dtmf", f"DTMF digit {digit[:8]!r}")
        return DtmfDigit(digit)
    if event == "stop":
        stop = msg.get("stop")
        return Stop(str(stop.get("callSid", "")) if isinstance(stop, dict) else "")
    return Unknown(event)


def media_message(stream_sid: str, mulaw: bytes) -> str:
    payload = base64.b64encode(mulaw).decode()
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_message(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})
