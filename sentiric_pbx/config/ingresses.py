"""The config sections of the ways in: Asterisk (AudioSocket, FastAGI, AMI, ARI + RTP), Twilio, the browser
phone, FreeSWITCH. Every listener defaults to loopback."""

from __future__ import annotations

import ipaddress
import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from sentiric_pbx.config.base import SampleRate, _Section


class AudioSocketConfig(_Section):
    """Asterisk AudioSocket media listener (`AudioSocket()` app, `Dial(AudioSocket/...)`, externalMedia)."""

    host: str = "127.0.0.1"
    port: int = Field(9092, ge=0, le=65535)
    max_payload_bytes: int = Field(8192, ge=320, le=65535)
    """Hard cap on one frame's payload. 20 ms of slin192 is 7680 bytes, the largest Asterisk sends."""
    uuid_timeout_s: float = Field(10.0, gt=0)
    """How long a new connection may take to send its UUID frame. Dial() connects before it calls."""
    frame_timeout_s: float = Field(2.0, gt=0)
    """Once a frame has started, the rest of it must arrive within this time (slow-loris guard)."""
    idle_timeout_s: float = Field(30.0, gt=0)
    """No frame at all for this long ends the call (half-open socket, vanished peer)."""
    write_buffer_limit_bytes: int = Field(64_000, ge=4096)
    """Outbound bytes queued in the kernel/transport beyond which the peer is considered gone."""
    default_rate: SampleRate = 8000
    """Rate we answer in until the caller's first audio frame tells us theirs (AudioSocket() is 8 kHz)."""
    max_unregistered_calls: int = Field(2, ge=0)
    """Calls at once whose UUID nobody registered (no FastAGI registration, no AMI metadata), when the dialplan
    is expected to register its calls (`[fastagi] secret` set, or `[ami] enabled`). One more hears "all lines
    are busy" and is hung up (`audiosocket_call_refused reason=unregistered`): a local process that makes UUIDs
    up cannot take the lines real callers need (8 such calls used to fill `[agent] max_calls`). 0 refuses every
    unregistered call. With neither a secret nor AMI nothing tells a made-up call from a real one, so none is
    refused. Defaults to 2 (room for a hand-dialled `AudioSocket()` test line)."""
    max_pending_connections: int = Field(64, ge=1)
    """Connections that have not sent their UUID yet, at once; one more closes the one that has waited longest
    (logged once per peer and window, counted). Asterisk sends the UUID the moment it connects, so a call is
    never here for long: this bounds what idle or garbage connections hold, and cannot lock calls out.
    Defaults to 64."""


class FastAgiConfig(_Section):
    """FastAGI listener that registers caller metadata before the AudioSocket leg connects."""

    host: str = "127.0.0.1"
    port: int = Field(4573, ge=0, le=65535)
    header_timeout_s: float = Field(5.0, gt=0)
    max_header_bytes: int = Field(16_384, ge=1024)
    callinfo_ttl_s: float = Field(120.0, gt=0)
    """How long registered metadata waits for its AudioSocket connection before it is dropped."""
    secret: SecretStr | None = None
    """The key the dialplan hashes each call's UUID with (`${SHA1(${DB(sentiric/agi_secret)}${UUID})}`, passed
    as the AGI's third argument), so only Asterisk can register a call. Prefer SENTIRIC_FASTAGI__SECRET; 16 to
    128 letters, digits, `-` or `_` (`openssl rand -hex 32`). None (the default): registrations are taken as
    unverified — language, number dialled and AudioSocket form only, no caller ID, so no caller is greeted by
    name — and the daemon warns at start-up. Never logged."""
    max_connections: int = Field(32, ge=1)
    """Connections still sending their AGI environment, at once (Asterisk sends it in one go); one more closes
    the one that has taken longest. Defaults to 32."""
    max_pending: int = Field(1000, ge=1)
    """Registered calls waiting for their AudioSocket leg, in all; a registration beyond it is refused (the
    waiting ones are never pushed out). Defaults to 1000."""
    max_pending_per_peer: int = Field(200, ge=1)
    """The same, per Asterisk host (the AGI peer's address). Defaults to 200."""

    @field_validator("secret")
    @classmethod
    def _dialplan_safe(cls, value: SecretStr | None) -> SecretStr | None:
        """The dialplan pastes the key into `SHA1()`: a comma, quote or `$` there would change what it hashes."""
        if value is None:
            return None
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,128}", value.get_secret_value()):
            raise ValueError("must be 16 to 128 letters, digits, '-' or '_' (e.g. the output of openssl rand -hex 32)")
        return value


class AmiConfig(_Section):
    """Asterisk Manager Interface: events, originate, redirect (transfer)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "sentiric"
    password: SecretStr | None = None
    """Prefer SENTIRIC_AMI__PASSWORD. Never logged."""
    reconnect_max_s: float = Field(30.0, gt=0)
    ping_interval_s: float = Field(20.0, gt=0)
    uuid_variable: str = "UUID"
    """The channel variable the dialplan stores the AudioSocket UUID in (`Set(UUID=${UUID()})`): its
    VarSet event gives an AudioSocket call its caller ID without the FastAGI step."""
    metadata_wait_s: float = Field(0.5, ge=0, le=5)
    """An AudioSocket call with no registered metadata waits this long for the AMI events (another TCP
    connection, so they can arrive a moment after the audio's UUID frame)."""
    transfer_context: str = "sentiric"
    transfer_extension: str = "transfer"
    """Where a Redirect sends a caller to dial `${SENTIRIC_TRANSFER}` (asterisk/extensions.conf)."""
    dialplan_audit_s: float = Field(300.0, ge=0)
    """How often the daemon reads the dialplan again to check that it still sends calls to us (it also does
    at every AMI login and when `pbx_config` is reloaded; the CLI's `dialplan reload` sends no event, so
    this catches that one). A changed verdict is logged as `dialplan_audit`. 0: only at login and reload.
    Defaults to 300 s."""


class AriConfig(_Section):
    """Asterisk REST Interface: a Stasis app whose calls reach us through externalMedia."""

    enabled: bool = False
    url: str = "http://127.0.0.1:8088/ari"
    """ARI's base URL. The chan_websocket media URL is made from it too (`…/media/<id>` on the same HTTP server)."""
    username: str = "sentiric"
    password: SecretStr | None = None
    """Prefer SENTIRIC_ARI__PASSWORD. Never logged."""
    app: str = "sentiric"
    media: Literal["rtp", "audiosocket", "websocket"] = "rtp"
    """How a caller's audio reaches us. `rtp`: externalMedia RTP/UDP to our [rtp] ports, in `format`.
    `audiosocket`: Asterisk connects to our [audiosocket] listener, slin16. `websocket`: chan_websocket
    (Asterisk 22.8+), we connect to Asterisk's HTTP server, slin16. Defaults to rtp."""
    format: Literal["ulaw", "alaw", "g722", "slin16"] = "ulaw"
    """The RTP codec (media = "rtp"): ulaw or alaw (8 kHz), g722 (16 kHz wideband, static payload type 9).
    slin16 is refused with RTP (see `_rtp_needs_a_static_payload_type`); AudioSocket and WebSocket media are
    always slin16, whatever this says. Defaults to ulaw."""
    websocket_max_message_bytes: int = Field(65_500, ge=1024, le=1_048_576)
    """Largest chan_websocket message accepted (a 20 ms slin16 frame is 640 bytes; Asterisk's own limit is
    65 500). More is a protocol error that ends that call. Defaults to 65 500."""
    reconnect_max_s: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _rtp_needs_a_static_payload_type(self) -> AriConfig:
        """externalMedia's UnicastRTP channel has no SDP, so it maps no dynamic payload type: Asterisk sends
        slin16 with PT 118 but silently drops every packet we send with it (it looks only PT <= 34 up in its
        static table). The call would store a full conversation while the caller heard nothing."""
        if self.media == "rtp" and self.format == "slin16":
            raise ValueError(
                'format = "slin16" cannot be used with media = "rtp": Asterisk drops RTP with slin16\'s dynamic '
                'payload type, so the caller would hear nothing; use format = "g722" for wideband RTP, or '
                'media = "audiosocket" or "websocket" for slin16'
            )
        return self


class RtpConfig(_Section):
    """Our RTP endpoint for ARI externalMedia."""

    host: str = "127.0.0.1"
    port_min: int = Field(40000, ge=1024, le=65535)
    port_max: int = Field(40999, ge=1024, le=65535)
    allow: list[str] = ["127.0.0.1"]
    """Source addresses RTP is accepted from (Asterisk's address); anything else is dropped."""
    jitter_buffer_ms: int = Field(60, ge=0, le=500)


class TwilioConfig(_Section):
    """Twilio Media Streams ingress (`telephony/twilio/`): voice webhook + Media Streams WebSocket."""

    enabled: bool = False
    host: str = "127.0.0.1"
    """The webhook and the WebSocket share one listener. Loopback: Twilio reaches it through your TLS proxy."""
    port: int = Field(8089, ge=0, le=65535)
    public_url: str | None = None
    """The https URL Twilio uses for this listener (`https://pbx.example.com`, or with the path prefix your
    proxy strips). Signatures are computed over it and the TwiML's `wss://` stream URL is made from it."""
    auth_token: SecretStr | None = None
    """The Twilio account's Auth Token (or `SENTIRIC_TWILIO__AUTH_TOKEN`): the HMAC key of `X-Twilio-Signature`."""
    validate_signature: bool = True
    """Reject (403) every webhook and WebSocket upgrade without a valid signature. Off only for a lab."""
    transfer_to: str | None = None
    """Where a transfer goes (`+15551234567` or `sip:reception@pbx.example.com`) when the agent's target is not
    itself a number or SIP URI; None = a transfer ends the call."""
    start_timeout_s: float = Field(10.0, gt=0)
    """A new stream must send `start` within this time."""
    idle_timeout_s: float = Field(10.0, gt=0)
    """Twilio sends a `media` message every 20 ms; nothing at all for this long ends the call."""
    max_message_bytes: int = Field(65_536, ge=4096)
    """Largest WebSocket message accepted (a 20 ms `media` message is about 350 bytes)."""
    send_queue_frames: int = Field(250, ge=10)
    """Outbound messages waiting for the socket (250 = 5 s of audio) beyond which Twilio is gone."""
    mark_timeout_s: float = Field(3.0, gt=0)
    """After our last frame went out, how long `wait_played` waits for Twilio's `mark` before going on."""


class WebRtcConfig(_Section):
    """Browser phone ingress (`telephony/webrtc/`): the `/phone` page, signalling, Opus over WebRTC."""

    enabled: bool = False
    host: str = "127.0.0.1"
    """The page and its signalling WebSocket. Loopback by default: a browser phone on the LAN is a choice."""
    port: int = Field(8090, ge=0, le=65535)
    """Not 8088: that is Asterisk's own HTTP/ARI port (http.conf bindport) on the same host."""
    allowed_hosts: list[str] = []
    """Host names (or addresses) under which the page and its WebSocket are served, besides `host`, localhost,
    127.0.0.1 and ::1: the names people type, e.g. ["pbx.example.lan", "192.0.2.10"] for a LAN page behind a
    TLS proxy. Any other `Host` header gets 403 and one `webrtc_host_refused` line: a web page whose own name
    an attacker re-points at 127.0.0.1 (DNS rebinding) is then not our page, though its Origin equals its Host."""
    page_caller_id: bool = False
    """Take the caller ID from the page (its field, `/phone?caller=+905551112233`). Off by default: the browser
    can claim any number, and a known number is greeted by name (the CRM's name read back to whoever asks).
    On only for a page that trusted people alone can open (the demo, a line test)."""
    default_caller_id: str | None = None
    """Caller ID for calls whose page gives none (or when `page_caller_id` is off); None = anonymous."""
    max_calls: int = Field(20, ge=1)
    """Concurrent browser calls; one more is refused at signalling with a clear message."""
    connect_timeout_s: float = Field(15.0, gt=0)
    """From the offer to an established ICE + DTLS connection; a browser that never connects is dropped."""
    media_timeout_s: float = Field(10.0, gt=0)
    """No audio from the browser for this long ends the call (a tab frozen or a network gone)."""
    max_message_bytes: int = Field(65_536, ge=4096)
    """Largest signalling message accepted (an SDP offer is a few kB)."""
    ice_addresses: list[str] | None = Field(None, min_length=1)
    """The only addresses our side of the media binds and offers as ICE candidates. None (the default) =
    every address of every interface but 127.0.0.1, as aioice gathers them; a list = only these, e.g.
    ["192.0.2.10"] on a multi-homed PBX, or ["127.0.0.1"] for a browser on this machine only (it reaches
    127.0.0.1 from its own host candidates; on a host whose only interface is lo, Chromium has none unless
    started with --allow-loopback-in-peer-connection). Never a STUN/TURN server."""

    @field_validator("ice_addresses")
    @classmethod
    def _ip_addresses(cls, value: list[str] | None) -> list[str] | None:
        """Literal IPs only (an interface name or host name is a typo here, not something to resolve)."""
        return None if value is None else [str(ipaddress.ip_address(a.strip())) for a in value]

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        """Names as a `Host` header carries them, without a port: compared case-blind, `[::1]` as `::1`."""
        names = [v.strip().lower().strip("[]").rstrip(".") for v in value]
        bad = [v for v in names if not v or any(c in v for c in "/ @?#") or v.count(":") == 1]
        if bad:
            raise ValueError(f"not a host name or address: {bad[0]!r} (no scheme, path or port)")
        return names


class FreeswitchConfig(_Section):
    """FreeSWITCH ingress (`telephony/freeswitch/`): Event Socket control + mod_audio_stream media."""

    enabled: bool = False
    mode: Literal["inbound", "outbound"] = "inbound"
    """inbound: we hold one connection to mod_event_socket and take parked channels marked `call_variable`.
    outbound: the dialplan's `socket <outbound_host>:<outbound_port> async full` connects each call to us."""
    esl_host: str = "127.0.0.1"
    """mod_event_socket's listen-ip (we connect to it: inbound mode)."""
    esl_port: int = Field(8021, ge=0, le=65535)
    esl_password: SecretStr = SecretStr("ClueCon")
    """event_socket.conf.xml's password. ClueCon is FreeSWITCH's shipped default: doctor warns while it is
    unchanged. Prefer SENTIRIC_FREESWITCH__ESL_PASSWORD. Never logged."""
    outbound_host: str = "127.0.0.1"
    """Outbound mode: where we listen for the dialplan's `socket` application."""
    outbound_port: int = Field(8084, ge=0, le=65535)
    """8084 is the `socket` application's default port."""
    call_variable: str = "sentiric_pbx"
    """A parked channel is ours only when the dialplan set this channel variable to true."""
    stream_host: str = "127.0.0.1"
    """Where our WebSocket for mod_audio_stream listens."""
    stream_port: int = Field(8091, ge=0, le=65535)
    """Not 8089/8090 (Twilio, the browser phone) nor FreeSWITCH's own 8021/8081/8082."""
    stream_url: str | None = None
    """The ws:// base URL FreeSWITCH dials; default ws://stream_host:stream_port (set it when FreeSWITCH
    reaches us by another address)."""
    sample_rate: SampleRate = 16000
    """`uuid_audio_stream … mono 16k|8k`: the rate of the L16 frames both ways."""
    play_chunk_ms: int = Field(100, ge=20, le=1000, multiple_of=20)
    """Agent audio goes back in `streamAudio` messages of this length; FreeSWITCH plays each one as a file
    (mod_audio_stream::play → uuid_broadcast). Longer chunks: fewer files, up to this much later start."""
    media_start_timeout_s: float = Field(5.0, gt=0)
    """How long after `uuid_audio_stream start` the module gets to connect before the call is hung up."""
    max_message_bytes: int = Field(1024 * 1024, ge=4096)
    """Largest ESL Content-Length and WebSocket message we accept; more is a protocol error."""
    max_pending_connections: int = Field(32, ge=1)
    """Outbound mode: sockets that have not yet answered our `connect` with their channel, at once; one more
    closes the one that has waited longest (FreeSWITCH answers at once). Defaults to 32."""
    reconnect_max_s: float = Field(30.0, gt=0)
