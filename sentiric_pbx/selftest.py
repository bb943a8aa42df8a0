"""`sentiric-pbx selftest`: one real call through Asterisk to the running daemon, judged from the caller's side.

Why: `doctor` proves that each piece answers (ports, AMI login, models); only a call proves that they are
wired together — the dialplan dials the daemon's FastAGI and AudioSocket, the agent greets, hears a caller
and answers. An admin runs this after installing, with the daemon running (systemd), as any user that can
read the config (`sudo -u sentiric-pbx …`): nothing here needs root.

How: with the config's `[ami]` account it originates `Local/<exten>@<context>/n` whose other leg runs the
project's `[sentiric-selftest]` context (asterisk/extensions.conf): an AudioSocket back to a `FarEnd` this
command listens with on 127.0.0.1. The far end waits for the greeting, asks "What are your opening hours?"
(in the daemon's own Piper voice), waits for the reply and hangs up. The daemon's Whisper then tells what
the agent said, and the reply must carry the words of `[business] opening_hours_text`. Latencies are
measured at the far end, as `sentiric-pbx call` measures them (`tools/caller.py`).

When it fails, the call's own AMI events say where, in one line: the Originate's response, the agent
leg's AGISTATUS and DIALSTATUS, the application it was in when it hung up, and whether any audio came
back. Only what the project's manager.conf grants is used (write = originate; read = call, dialplan):
`ShowDialPlan` needs `config` and is refused, so "the dialplan is not loaded" is read from how the
Originate fails. The daemon's `/healthz` (when `[metrics]` is on) adds which ports it really listens on.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from sentiric_pbx.aio import within
from sentiric_pbx.config import Settings
from sentiric_pbx.telephony.asterisk.ami import AmiClient, AmiError, AmiEvent, AmiLoginError
from sentiric_pbx.telephony.asterisk.registration import refusal_problem

if TYPE_CHECKING:  # the far end pulls in numpy and soxr: loaded when a selftest runs, not with every command
    from sentiric_pbx.tools.caller import CallReport
    from sentiric_pbx.tools.farend import FarEnd, FarEndCall

log = structlog.get_logger("sentiric_pbx.selftest")

QUESTION = "What are your opening hours?"
SELFTEST_CONTEXT = "sentiric-selftest"
"""The caller's side in asterisk/extensions.conf: `s` (AudioSocket() app, 8 kHz), `wideband` (slin16)."""
WIDEBAND_EXTENSIONS = frozenset({"101", "wideband"})
"""The project's dialplan runs these through `Dial(AudioSocket/…/c(slin16))`: call them at 16 kHz."""
CALLER_ID = '"sentiric-pbx selftest" <>'
_MAX_EVENTS = 1_000
"""Events kept before our call's Linkedid is known (every call on the PBX sends them; ours come first)."""


@dataclass(slots=True)
class SelftestOptions:
    context: str = "sentiric"
    exten: str = "100"
    wideband: bool | None = None
    """16 kHz end to end (`Codecs: slin16`, caller side `wideband`). None: from `exten` (101, wideband)."""
    answer_timeout_s: float = 10.0
    """Originate → the caller's side connected to our far end."""
    greeting_timeout_s: float = 8.0
    reply_timeout_s: float = 15.0
    reply_silence_s: float = 1.5
    """A greeting or reply has ended after this much silence."""

    @property
    def rate(self) -> int:
        wide = self.exten in WIDEBAND_EXTENSIONS if self.wideband is None else self.wideband
        return 16000 if wide else 8000


@dataclass(slots=True)
class SelftestResult:
    """What the admin reads: PASS/FAIL, both latencies, what the agent said, and the likely cause first."""

    ok: bool
    greeting_ms: float | None = None
    reply_ms: float | None = None
    heard: str | None = None
    """Whisper on the agent's reply to the question, as the far end received it."""
    greeting: str | None = None
    """Whisper on the greeting."""
    problems: list[str] = field(default_factory=list)
    """The likely cause first, one line each; empty on PASS."""
    question: str = QUESTION
    channel: str = ""
    rate: int = 8000
    call_id: str | None = None
    """The UUID of our far-end connection (SENTIRIC_SELFTEST_UUID)."""
    agent_call_id: str | None = None
    """The agent leg's UUID: the daemon's call id (`sentiric-pbx calls show`, journald's call_id)."""
    daemon: dict[str, Any] | None = None
    """The running daemon's /healthz (pid, agent mode, listeners), when [metrics] lets us ask."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[str], None]


# -- the call's AMI events -----------------------------------------------------------------------
class CallEvents:
    """The AMI events of the selftest call: both Local legs, told apart from other calls by their Linkedid.

    The Originate's variables are set on both legs first thing, so the VarSet of SENTIRIC_SELFTEST_UUID
    names the call's Linkedid; the few events before it (Newchannel) are kept until then and filtered.
    `ended` is set when a leg of our call hangs up, so nobody waits out a timeout for a call that is gone.
    """

    def __init__(self, call_id: str, agent_prefix: str) -> None:
        self.call_id = call_id
        self.agent_prefix = agent_prefix
        self.linkedid: str | None = None
        self.ours: list[AmiEvent] = []
        """Until the Linkedid is known: every event (bounded); then only the call's own."""
        self.ended = asyncio.Event()

    def __call__(self, event: AmiEvent) -> None:
        fields = event.fields
        named = fields.get("Variable") == "SENTIRIC_SELFTEST_UUID" and fields.get("Value") == self.call_id
        if self.linkedid is None and event.name == "VarSet" and named:
            self.linkedid = fields.get("Linkedid")
            self.ours = [e for e in self.ours if e.fields.get("Linkedid") == self.linkedid]
        if self.linkedid is None:
            if len(self.ours) < _MAX_EVENTS:
                self.ours.append(event)
            return
        if fields.get("Linkedid") == self.linkedid:
            self.ours.append(event)
            if event.name == "Hangup":
                self.ended.set()

    @property
    def agent_leg(self) -> list[AmiEvent]:
        """The `;2` leg: the one that runs the agent's extension (AGI, AudioSocket)."""
        legs = [(e, e.channel or "") for e in self.ours]
        return [e for e, name in legs if name.startswith(self.agent_prefix) and name.endswith(";2")]

    def agent_var(self, name: str) -> str | None:
        sets = [e.fields for e in self.agent_leg if e.name == "VarSet" and e.fields.get("Variable") == name]
        return sets[-1].get("Value") if sets else None

    def agent_apps(self) -> list[tuple[str, str]]:
        """(application, data) of each dialplan step the agent's leg ran, in order."""
        steps = [e.fields for e in self.agent_leg if e.name == "Newexten"]
        return [(f.get("Application", ""), f.get("AppData", "")) for f in steps]

    def agent_hangup(self) -> AmiEvent | None:
        return next((e for e in self.agent_leg if e.name == "Hangup"), None)


# -- what went wrong ------------------------------------------------------------------------------
def _daemon_hint(health: dict[str, Any] | None, settings: Settings, kind: str, dialled: str | None) -> str:
    """Why the daemon did not answer where the dialplan dials: not running, or listening elsewhere."""
    m = settings.metrics
    if health is None:
        asked = f"no sentiric-pbx answers /healthz on {m.host}:{m.port} either: " if m.enabled else ""
        return asked + "is the daemon running? (systemctl status sentiric-pbx)"
    if health.get("status") == "draining":
        return f"the daemon (pid {health.get('pid')}) is draining for a stop or restart"
    where = (health.get("listening") or {}).get(kind)
    if where and dialled and f"{where[0]}:{where[1]}" != dialled:
        return (
            f"the running daemon (pid {health.get('pid')}) listens for {kind} on {where[0]}:{where[1]}: "
            f"make [{kind}] and asterisk/extensions.conf agree"
        )
    return f"the daemon (pid {health.get('pid')}) is up: see journalctl -u sentiric-pbx"


def _address(app_data: str, kind: str) -> str | None:
    """host:port from `AGI(agi://h:p/register,…)`, `AudioSocket(uuid,h:p)` or `Dial(AudioSocket/h:p/uuid/…)`."""
    if kind == "fastagi":
        found = re.match(r"agi://([^/,]+)", app_data)
    elif app_data.startswith("AudioSocket/"):
        found = re.match(r"AudioSocket/([^/]+)/", app_data)
    else:
        found = re.match(r"[^,]*,([^,]+)", app_data)
    return found.group(1) if found else None


def diagnose_dialplan(
    events: CallEvents, opts: SelftestOptions, got_audio: bool, health: dict[str, Any] | None, s: Settings
) -> str | None:
    """The one-line cause when the agent's leg never reached the daemon with audio; None when it did.

    Read in the order the dialplan runs: the extension exists, AGI registers, AudioSocket connects.
    `got_audio`: the far end received frames (the daemon sends 20 ms frames from connect, silence too).
    """
    apps = events.agent_apps()
    hangup = events.agent_hangup()
    if not apps and hangup is not None:
        return (
            f"dialplan not loaded: extension {opts.exten} does not exist in context {opts.context} "
            f"(Asterisk could not start Local/{opts.exten}@{opts.context}): check --context/--exten, "
            "#include asterisk/extensions.conf and `asterisk -rx 'dialplan reload'`"
        )
    agi = next((data for app, data in apps if app == "AGI"), None)
    agi_status = events.agent_var("AGISTATUS")
    if agi is not None and agi_status not in (None, "SUCCESS"):
        dialled = _address(agi, "fastagi")
        return (
            f"FastAGI unreachable: the agent's AGI(agi://{dialled}/…) failed (AGISTATUS={agi_status}); "
            + _daemon_hint(health, s, "fastagi", dialled)
        )
    reached = [(app, data) for app, data in apps if app == "AudioSocket" or data.startswith("AudioSocket/")]
    if agi is not None and agi_status == "SUCCESS" and events.agent_var("SENTIRIC_CALL_ID") is None and not reached:
        return (
            "the daemon's FastAGI answered but did not register the call (SENTIRIC_CALL_ID unset, the dialplan "
            "took its 'unregistered' branch): is it draining? see journalctl -u sentiric-pbx"
        )
    if not reached:
        return None
    app, data = reached[-1]
    dialled = _address(data, "audiosocket")
    dial_status = events.agent_var("DIALSTATUS")
    if app == "Dial" and dial_status in ("CHANUNAVAIL", "CONGESTION"):
        how = f"Dial(AudioSocket/{dialled}/…) gave DIALSTATUS={dial_status}"
    elif app == "AudioSocket" and hangup is not None and not got_audio:
        how = f"AudioSocket(…,{dialled}) hung up (cause {hangup.cause}) before any audio came back"
    else:
        return None
    return f"AudioSocket unreachable: the agent's {how}; " + _daemon_hint(health, s, "audiosocket", dialled)


_NUMBER_WORDS = dict(
    zip(
        "one two three four five six seven eight nine ten eleven twelve".split(),
        [str(n) for n in range(1, 13)],
        strict=True,
    )
)
_FILLER = frozenset("we are is our the a an to from and at on of in until till".split())


def _words(text: str) -> list[str]:
    """Lowercase words and numbers, "a.m." → "am", "nine" → "9": how Whisper and a template can be compared."""
    text = text.lower().replace("a.m.", "am").replace("p.m.", "pm")
    return [_NUMBER_WORDS.get(w, w) for w in re.findall(r"[a-z]+|\d+", text)]


def answers_the_question(heard: str, expected: str) -> bool:
    """At least half of the expected answer's content words (`[business] opening_hours_text`) were heard."""
    want = {w for w in _words(expected) if w not in _FILLER}
    got = set(_words(heard))
    return len(want & got) * 2 >= len(want) if want else bool(got)


def diagnose_conversation(
    result: SelftestResult,
    report: CallReport | None,
    ended: str | None,
    health: dict[str, Any] | None,
    s: Settings,
    opts: SelftestOptions,
) -> list[str]:
    """Greeting, reply and what the reply said, for a call whose audio got through both ways."""
    problems = []
    if result.greeting_ms is None:
        echo = (health or {}).get("agent", s.agent.mode) == "echo"
        why = (
            'the daemon runs the echo line test ([agent] mode = "echo"), which only repeats the caller'
            if echo
            else "see journalctl -u sentiric-pbx"
            + (f" for call {result.agent_call_id}" if result.agent_call_id else "")
        )
        problems.append(
            f"no greeting: the agent's audio came back but it said nothing in {opts.greeting_timeout_s:g} s; {why}"
        )
    if report is not None and report.turns and report.turns[0].latency_ms is not None:
        if not answers_the_question(result.heard or "", s.business.opening_hours_text):
            problems.append(
                f"wrong reply: asked {QUESTION!r}, the agent said {result.heard!r}, not the opening hours "
                f"({s.business.opening_hours_text!r}); the caller's audio may not reach it intact"
            )
    elif ended is not None:
        problems.append(f"the call ended before the agent answered the question ({ended})")
    else:
        problems.append(
            f"no reply: the agent did not answer {QUESTION!r} within {opts.reply_timeout_s:g} s; "
            "see journalctl -u sentiric-pbx"
        )
    return problems


# -- the call -------------------------------------------------------------------------------------
async def _load_engines(s: Settings) -> Any:
    """The daemon's Piper voice (to ask) and its Whisper model (to hear the answer), nothing else."""
    from sentiric_pbx.engines.pool import EnginePool

    mine = s.model_copy(deep=True)
    mine.stt.engines = {"default": "whisper"}
    mine.stt.default_language = "en"
    pool = EnginePool(mine)
    await pool.start(stt=True, tts=True, llm=False)
    return pool


def _voiced_pcm(frames: list[tuple[float, bytes, bool]]) -> bytes:
    """The frames from the first voiced one to the last (plus 200 ms): Whisper invents words in long silence."""
    voiced = [i for i, (_t, _pcm, v) in enumerate(frames) if v]
    if not voiced:
        return b""
    tail = round(0.2 / 0.02)
    return b"".join(pcm for _t, pcm, _v in frames[voiced[0] : voiced[-1] + 1 + tail])


async def _transcribe(engines: Any, pcm: bytes, rate: int) -> str | None:
    from sentiric_pbx.audio.resample import resample

    if not pcm:
        return None
    pcm16 = pcm if rate == 16000 else resample(pcm, rate, 16000)
    return (await engines.stt_for("en").transcribe(pcm16)).text.strip()


async def _originate(ami: AmiClient, opts: SelftestOptions, farend: FarEnd, call_id: str) -> dict[str, str]:
    """Originate (Async) as a plain action: `Codecs: slin16` keeps a wideband call wideband end to end (the
    Local pair is 8 kHz slin without it), which `AmiClient.originate` has no field for; and the outcome is
    read from the call's events, not from its OriginateResponse."""
    fields = [
        ("Channel", f"Local/{opts.exten}@{opts.context}/n"),
        ("Context", SELFTEST_CONTEXT),
        ("Exten", "wideband" if opts.rate == 16000 else "s"),
        ("Priority", "1"),
        ("CallerID", CALLER_ID),
        ("Timeout", str(int(opts.answer_timeout_s * 1000))),
        ("Async", "true"),
        ("Variable", f"SENTIRIC_SELFTEST_UUID={call_id}"),
        ("Variable", f"SENTIRIC_SELFTEST_ADDR={farend.address}"),
    ]
    if opts.rate == 16000:
        fields.append(("Codecs", "slin16"))
    return await ami.action("Originate", fields)


async def _answered(farend: FarEnd, call_id: str, events: CallEvents, opts: SelftestOptions) -> FarEndCall | None:
    """The far end's connection, or None when the call's legs hung up (or nothing came) first."""
    answer = asyncio.create_task(farend.answer(call_id, rate=opts.rate, within_s=opts.answer_timeout_s))
    gone = asyncio.create_task(events.ended.wait())
    await asyncio.wait({answer, gone}, return_when=asyncio.FIRST_COMPLETED)
    gone.cancel()
    if not answer.done():
        answer.cancel()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        return await answer
    return None


async def run_selftest(
    settings: Settings, opts: SelftestOptions, progress: Progress = lambda _m: None
) -> SelftestResult:
    """Place the call, converse, diagnose. Never raises for a PBX or daemon problem: that is a `problems` line."""
    from sentiric_pbx.engines.pool import EngineLoadError
    from sentiric_pbx.metrics import fetch_health

    s, cfg = settings, settings.ami
    channel = f"Local/{opts.exten}@{opts.context}/n"
    result = SelftestResult(ok=False, channel=channel, rate=opts.rate)
    if s.metrics.enabled:
        result.daemon = await asyncio.to_thread(fetch_health, s.metrics.host, s.metrics.port)
    ami = AmiClient(cfg)
    try:
        await ami.connect()
    except AmiLoginError as exc:
        unset = " ([ami] password is not set: SENTIRIC_AMI__PASSWORD)" if cfg.password is None else ""
        result.problems.append(f"AMI login refused: {exc}{unset}")
        return result
    except AmiError as exc:
        result.problems.append(
            f"AMI unreachable at {cfg.host}:{cfg.port}: {exc} (is Asterisk running? manager.conf "
            "[general] enabled = yes and port; the config's [ami] host/port)"
        )
        return result
    try:
        progress("loading the voice and speech recognition models…")
        try:
            engines = await _load_engines(s)
        except EngineLoadError as exc:
            result.problems.append(f"cannot load the selftest's voice or speech recognition: {exc}")
            return result
        question = await engines.tts.synthesize_sentence(QUESTION)
        return await _call(ami, engines, question, s, opts, result, progress)
    finally:
        await ami.close()


async def _call(
    ami: AmiClient,
    engines: Any,
    question16: bytes,
    s: Settings,
    opts: SelftestOptions,
    result: SelftestResult,
    progress: Progress,
) -> SelftestResult:
    from sentiric_pbx.audio.resample import resample
    from sentiric_pbx.tools.caller import CallerOptions
    from sentiric_pbx.tools.farend import FarEnd

    question = question16 if opts.rate == 16000 else resample(question16, 16000, opts.rate)
    farend = await FarEnd().start()
    call_id = result.call_id = farend.expect()
    events = CallEvents(call_id, f"Local/{opts.exten}@{opts.context}-")
    unsubscribe = ami.subscribe("*", events)
    report: CallReport | None = None
    call: FarEndCall | None = None
    try:
        progress(f"calling {result.channel} through Asterisk (caller side {SELFTEST_CONTEXT} → {farend.address})…")
        reply = await _originate(ami, opts, farend, call_id)
        log.info("selftest_originate", channel=result.channel, rate=opts.rate, response=reply.get("Response"))
        if reply.get("Response") != "Success":
            result.problems.append(_originate_refused(reply.get("Message", "no reason given")))
            return result
        call = await _answered(farend, call_id, events, opts)
        if call is not None:
            caller = CallerOptions(
                rate=opts.rate,
                greeting_wait_s=opts.greeting_timeout_s,
                reply_timeout_s=opts.reply_timeout_s,
                reply_silence_s=opts.reply_silence_s,
            )
            try:
                report = await call.converse([question], caller)
            finally:
                await call.hang_up()  # close TCP, as Asterisk does for a caller who hangs up
        with contextlib.suppress(TimeoutError):  # the agent leg's Hangup and its last VarSets
            await within(events.ended.wait(), 3.0)
    except (AmiError, TimeoutError) as exc:
        result.problems.append(f"AMI stopped answering during the call: {exc or 'timeout'}")
        return result
    finally:
        unsubscribe()
        await farend.close()
    result.agent_call_id = events.agent_var("UUID")
    return await _judge(result, events, call, report, engines, s, opts)


def _originate_refused(message: str) -> str:
    if "does not exist" in message.lower():
        return (
            f"dialplan not loaded: context {SELFTEST_CONTEXT} does not exist in Asterisk ({message}): "
            "#include the project's asterisk/extensions.conf (it defines it) and `asterisk -rx 'dialplan reload'`"
        )
    return f"AMI Originate refused: {message} (manager.conf: the [ami] user needs write = originate)"


async def _judge(
    result: SelftestResult,
    events: CallEvents,
    call: FarEndCall | None,
    report: CallReport | None,
    engines: Any,
    s: Settings,
    opts: SelftestOptions,
) -> SelftestResult:
    """Latencies and transcripts from the far end's wire, then the cause if anything is missing."""
    wire = call.wire if call is not None else None
    got_audio = wire is not None and len(wire.received) > 0
    cause = diagnose_dialplan(events, opts, got_audio, result.daemon, s)
    if cause is None and call is None:
        cause = (
            f"the caller's side never connected to this selftest's listener ({SELFTEST_CONTEXT} → AudioSocket "
            "to 127.0.0.1): is Asterisk on this host? (its log says why)"
        )
    elif cause is None and not got_audio:
        last = (events.agent_apps() or [("?", "")])[-1][0]
        hangup = events.agent_hangup()
        cause = (
            f"no audio back: the agent's leg ran {last}() and "
            + (f"hung up (cause {hangup.cause}) " if hangup else "")
            + "without sending any audio; see journalctl -u sentiric-pbx"
        )
    if cause is not None:
        result.problems.append(cause)
    refused = refusal_problem(events.agent_var("SENTIRIC_REFUSED"), ami_enabled=s.ami.enabled)
    if refused is not None:  # the call works, anonymously: without this line a wrong AstDB secret would PASS
        result.problems.append(refused)
    if wire is not None and report is not None:
        sent = [t for t, pcm in wire.sent if wire.voiced(pcm)]
        start, end = (sent[0], sent[-1]) if sent else (float("inf"), float("inf"))
        result.greeting = await _transcribe(engines, _voiced_pcm([f for f in wire.received if f[0] < start]), opts.rate)
        result.heard = await _transcribe(engines, _voiced_pcm([f for f in wire.received if f[0] > end]), opts.rate)
        result.greeting_ms = report.greeting_latency_ms
        result.reply_ms = report.turns[0].latency_ms if report.turns else None
        if got_audio and cause is None:
            ended = None
            if wire.ended_by is not None:
                hangup = events.agent_hangup()
                ended = f"the agent's leg hung up, cause {hangup.cause}" if hangup else wire.ended_by
            result.problems += diagnose_conversation(result, report, ended, result.daemon, s, opts)
    result.ok = not result.problems
    log.info(
        "selftest_done",
        ok=result.ok,
        greeting_ms=result.greeting_ms,
        reply_ms=result.reply_ms,
        agent_call_id=result.agent_call_id,
        problems=len(result.problems),
    )
    return result
