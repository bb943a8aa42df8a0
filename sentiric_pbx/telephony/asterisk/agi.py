"""FastAGI: how an AudioSocket call gets its caller ID.

AudioSocket carries only a UUID. The dialplan therefore first runs
`AGI(agi://127.0.0.1:4573/register,${UUID})`; Asterisk connects, sends its `agi_*` environment
(caller ID, DNID, language, channel) ending in an empty line, and waits for commands. We store a
`CallInfo` under the UUID, set `SENTIRIC_CALL_ID` on the channel (so the dialplan can see that
registration worked), and close the socket: closing is what makes AGI() return SUCCESS and the
dialplan go on to `AudioSocket()` with the same UUID (fixtures: `fastagi-register.txt`).

Why our own accept loop rather than panoramisk's `fast_agi.Application` or pyst2: pyst2 is blocking
(a thread per call) and unmaintained since 2019; panoramisk's handler reads the environment with an
unbounded `while b'\\n\\n' not in buffer` loop that spins forever if the peer closes early and has no
timeout. We keep panoramisk for what it does well, parsing AGI result lines (`parse_agi_result`), and
wrap it in a reader with a size cap and timeouts. Lines end in `\\n` only.

Who may register (issue 17): anything that can reach the port could otherwise make the agent greet it as
any customer. So the dialplan passes a key, `AGI(agi://…/register,${UUID},app,${SHA1(<secret>${UUID})})`
(the secret from AstDB, asterisk/extensions.conf), and we recompute it with `[fastagi] secret`
(`registration.py`). A call registered with the right key is *verified*; a missing or wrong key is refused
with one `fastagi_registration_refused` line per peer and window (then a count); with no secret configured
every registration is *unverified* and keeps no caller identity. The dialplan goes on to AudioSocket in
every case: a refused call is anonymous, not dead. The first registration of a UUID wins, the waiting ones
are capped (`CallRegistry.register`), and so are the connections open at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog
from panoramisk.utils import parse_agi_result

from sentiric_pbx import metrics
from sentiric_pbx.aio import within
from sentiric_pbx.call.transport import CallInfo
from sentiric_pbx.config import FastAgiConfig
from sentiric_pbx.telephony.asterisk.registration import Verdict, check_registration
from sentiric_pbx.telephony.audiosocket.problems import PeerProblems
from sentiric_pbx.telephony.ingress import IngressContext
from sentiric_pbx.telephony.registry import CallRegistry

log = structlog.get_logger("sentiric_pbx.fastagi")
_UNKNOWN = {"", "unknown"}
SCRIPTS = frozenset({"register"})
"""The scripts we serve; any other name the peer sends is the metric label `other` (labels are a closed set)."""


class AgiError(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class AgiSession:
    """One FastAGI request: its environment and a way to send commands."""

    def __init__(
        self, env: dict[str, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout_s: float
    ) -> None:
        self.env = env
        self.reader = reader
        self.writer = writer
        self.timeout_s = timeout_s
        self.hung_up = False

    @property
    def script(self) -> str:
        return self.env.get("agi_network_script", "")

    async def command(self, line: str) -> dict[str, Any]:
        """Send one AGI command and return panoramisk's parse of the reply."""
        self.writer.write(line.encode() + b"\n")
        await self.writer.drain()
        while True:
            raw = await self._readline()
            result = parse_agi_result(raw)
            if result.get("error") == "AGIResultHangup":
                # Asterisk says HANGUP unprompted, then still answers the command we sent.
                self.hung_up = True
                continue
            if result.get("status_code") == 100:
                continue
            if raw.startswith("520-"):
                while not (await self._readline()).startswith("520 "):
                    pass
            return result

    async def _readline(self) -> str:
        try:
            async with asyncio.timeout(self.timeout_s):
                raw = await self.reader.readline()
        except TimeoutError:
            # TimeoutError is an OSError: uncaught here it would be logged as a connection reset.
            raise AgiError("command_timeout", f"no reply to an AGI command within {self.timeout_s}s") from None
        except ValueError:  # StreamReader limit overrun
            raise AgiError("reply_too_long", "an AGI reply line is too long") from None
        if not raw.endswith(b"\n"):
            raise AgiError("closed", "Asterisk closed the AGI connection mid-command")
        return raw[:-1].decode("utf-8", errors="replace")


async def read_environment(reader: asyncio.StreamReader, max_bytes: int, timeout_s: float) -> dict[str, str]:
    """Read the `agi_name: value` block up to its empty line, within a size cap and a deadline."""
    env: dict[str, str] = {}
    total = 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                raw = await reader.readline()
                total += len(raw)
                if total > max_bytes:
                    raise AgiError("header_too_long", f"AGI environment exceeds {max_bytes} bytes")
                if not raw.endswith(b"\n"):
                    raise AgiError("closed", "connection closed before the AGI environment ended")
                line = raw.rstrip(b"\r\n").decode("utf-8", errors="replace")
                if not line:
                    return env
                key, sep, value = line.partition(": ")
                if not sep or not key.startswith("agi_"):
                    raise AgiError("bad_header", f"not an AGI environment line: {line[:80]!r}")
                env[key] = value
    except TimeoutError:
        raise AgiError("header_timeout", f"no complete AGI environment within {timeout_s}s") from None
    except ValueError:  # StreamReader limit overrun: one line longer than the buffer
        raise AgiError("header_too_long", "an AGI environment line is too long") from None


def call_info_from_env(env: dict[str, str], call_id: str) -> CallInfo:
    def pick(*keys: str) -> str | None:
        for key in keys:
            value = env.get(key, "").strip()
            if value.lower() not in _UNKNOWN:
                return value
        return None

    extra = {k: v for k, v in env.items() if k in ("agi_uniqueid", "agi_context", "agi_type")}
    # `AGI(agi://…/register,${UUID},dial)`: the leg is Dial(AudioSocket/…), which a transfer must redirect.
    mode = env.get("agi_arg_2", "").strip().lower()
    if mode in ("app", "dial"):
        extra["audiosocket_mode"] = mode
    return CallInfo(
        call_id=call_id,
        caller_id=pick("agi_callerid"),
        caller_name=pick("agi_calleridname"),
        called_number=pick("agi_dnid", "agi_extension"),
        language=pick("agi_language"),
        channel=pick("agi_channel"),
        ingress="audiosocket",
        extra=extra,
    )


class FastAgiServer:
    """Serves `agi://host:port/register,<uuid>` and fills the `CallRegistry`. An ingress with no calls of its
    own: it tells the AudioSocket side who is calling."""

    name = "fastagi"
    calls_active = 0

    def __init__(
        self,
        cfg: FastAgiConfig,
        registry: CallRegistry,
        on_registered: Callable[[CallInfo], None] | None = None,
        is_full: Callable[[], bool] | None = None,
    ) -> None:
        self.cfg = cfg
        self.registry = registry
        self.on_registered = on_registered
        """Called with each verified registration (the assistant starts its CRM lookup here, before the audio)."""
        self.is_full = is_full
        """Every line taken (`[agent] max_calls`): the channel is told SENTIRIC_BUSY=1, so a site's dialplan
        can send the call to the next daemon instead (asterisk/extensions.conf, [sentiric-site])."""
        self._server: asyncio.Server | None = None
        self.reading: OrderedDict[asyncio.StreamWriter, tuple[str, int]] = OrderedDict()
        """Connections still sending their environment, oldest first (`cfg.max_connections` at most)."""
        self._evicted: set[asyncio.StreamWriter] = set()
        """Closed by `_make_room` (and logged there): their own ending is not logged again."""
        self.problems = PeerProblems(
            "fastagi", "fastagi_registration_refused", "fastagi_registrations_refused", logger=log
        )
        """Refused registrations and connections: one line at once per peer host, then a count per window."""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.cfg.host, self.cfg.port, limit=4096)
        log.info("fastagi_listening", host=self.cfg.host, port=self.port)
        if self.cfg.secret is None:
            log.warning(
                "fastagi_secret_not_set",
                effect="registrations are unverified: calls get no caller ID and no greeting by name",
                fix="set [fastagi] secret (or SENTIRIC_FASTAGI__SECRET) and the same value in Asterisk: "
                "asterisk -rx 'database put sentiric agi_secret <secret>' (README: Dialplan secret)",
            )

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def drain(self, timeout_s: float) -> int:
        """Refuse registrations at once: the dialplan then plays its "no service" branch."""
        await self.close()
        return 0

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.problems.close()

    def listeners(self) -> dict[str, tuple[str, int]]:
        return {"fastagi": (self.cfg.host, self.port)}

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.reading[writer] = peer
        try:
            self._make_room()
            await self._serve(peer, reader, writer)
        finally:
            self.reading.pop(writer, None)
            self._evicted.discard(writer)

    def _make_room(self) -> None:
        """Over `max_connections`, the connection that has spent longest on its environment is closed.

        Asterisk sends its whole environment at once (fixtures: within 0.1 ms), so the oldest connection still
        sending one is the least likely to be a call, and a flood of half-sent requests only keeps closing its
        own connections instead of locking the dialplan's registrations out.
        """
        while len(self.reading) > self.cfg.max_connections:
            writer, peer = self.reading.popitem(last=False)
            metrics.AGI_REQUESTS.labels(script="other", outcome="too_many_connections").inc()
            self.problems.report(
                peer[0],
                "too_many_connections",
                peer=f"{peer[0]}:{peer[1]}",
                detail=f"more than {self.cfg.max_connections} connections sending their AGI environment "
                "([fastagi] max_connections): the oldest was closed",
            )
            self._evicted.add(writer)
            writer.transport.abort()

    async def _serve(self, peer: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        bound = log.bind(peer=f"{peer[0]}:{peer[1]}")
        script = "other"
        try:
            env = await read_environment(reader, self.cfg.max_header_bytes, self.cfg.header_timeout_s)
            self.reading.pop(writer, None)
            session = AgiSession(env, reader, writer, self.cfg.header_timeout_s)
            script = session.script if session.script in SCRIPTS else "other"
            if script != "register":
                raise AgiError(
                    "unknown_script", f"no FastAGI script {session.script[:60]!r}; the dialplan should call /register"
                )
            outcome = await self._register(session, peer, bound)
            metrics.AGI_REQUESTS.labels(script=script, outcome=outcome).inc()
        except AgiError as exc:
            if writer in self._evicted:
                return
            metrics.AGI_REQUESTS.labels(script=script, outcome=exc.reason).inc()
            bound.warning("fastagi_error", reason=exc.reason, detail=exc.detail)
        except (ConnectionError, OSError) as exc:
            metrics.AGI_REQUESTS.labels(script=script, outcome="connection_reset").inc()
            bound.warning("fastagi_error", reason="connection_reset", detail=str(exc))
        finally:
            # Closing the socket is what lets the dialplan continue to AudioSocket().
            with contextlib.suppress(Exception):
                writer.close()
                await within(writer.wait_closed(), 1.0)

    async def _register(self, session: AgiSession, peer: tuple[str, int], bound: Any) -> str:
        """Register the call if its key checks out; return the metric's outcome. The channel is told
        SENTIRIC_CALL_ID whatever the outcome, so the dialplan goes on to AudioSocket (anonymous if refused),
        and SENTIRIC_REFUSED=<reason> when the registration was refused."""
        raw_id = session.env.get("agi_arg_1", "").strip()
        if not raw_id:
            reply = await session.command("GET VARIABLE UUID")
            flag, value = reply.get("result", ("0", ""))
            raw_id = value if flag == "1" else ""
        try:
            call_id = str(uuid.UUID(raw_id))
        except ValueError:
            raise AgiError("bad_uuid", f"agi_arg_1 {raw_id[:60]!r} is not a UUID; pass ${{UUID}}") from None
        verdict = check_registration(self.cfg.secret, raw_id, session.env.get("agi_arg_3", ""))
        refused = verdict.refusal
        info = call_info_from_env(session.env, call_id)
        if verdict is Verdict.UNVERIFIED:
            info = unverified(info)
        if refused is None:
            refused = self.registry.register(
                info, peer[0], max_pending=self.cfg.max_pending, max_per_peer=self.cfg.max_pending_per_peer
            )
        if refused is not None:
            self.problems.report(
                peer[0], refused, call_id=call_id, peer=f"{peer[0]}:{peer[1]}", detail=REFUSALS[refused]
            )
        elif verdict is Verdict.VERIFIED and self.on_registered is not None:
            try:
                self.on_registered(info)
            except Exception as exc:
                bound.warning("fastagi_hook_failed", error=repr(exc))
        await session.command(f"SET VARIABLE SENTIRIC_CALL_ID {call_id}")
        if refused is not None:
            # Why, on the channel: `selftest` reads it from AMI (a wrong key is otherwise a PASS whose callers
            # are all anonymous), an admin from `core show channel`. The peer learns nothing it did not send.
            await session.command(f"SET VARIABLE SENTIRIC_REFUSED {refused}")
        if self.is_full is not None and self.is_full():
            # A hint, not a refusal: a dialplan without failover still connects and hears "all lines are busy".
            await session.command("SET VARIABLE SENTIRIC_BUSY 1")
            bound.info("fastagi_busy", call_id=call_id, hint="told the dialplan SENTIRIC_BUSY=1")
        if refused is not None:
            return refused
        bound.info(
            "fastagi_registered",
            call_id=call_id,
            verified=verdict is Verdict.VERIFIED,
            caller_id=info.caller_id,
            called_number=info.called_number,
            channel=info.channel,
        )
        return "ok" if verdict is Verdict.VERIFIED else "unverified"


REFUSALS = {
    "missing_key": "no key in the AGI's third argument: the dialplan must pass "
    "${SHA1(${DB(sentiric/agi_secret)}${UUID})} (asterisk/extensions.conf); the call goes on without caller ID",
    "wrong_key": "the key does not match [fastagi] secret: set the same secret in Asterisk "
    "(asterisk -rx 'database put sentiric agi_secret <secret>'), or a process is forging registrations",
    "duplicate": "this UUID is registered already (or its call has started): the first registration wins",
    "full": "too many registrations wait for their AudioSocket leg ([fastagi] max_pending)",
    "peer_full": "too many registrations from this peer wait for their AudioSocket leg "
    "([fastagi] max_pending_per_peer)",
}
"""Why a registration was refused, for its log line (the reason itself is the metric's label)."""


def unverified(info: CallInfo) -> CallInfo:
    """What an unkeyed registration may tell: how the call is carried and where it was dialled, not who calls
    (a forged caller ID would be greeted by its customer's name) nor which channel a transfer moves."""
    return CallInfo(
        call_id=info.call_id,
        called_number=info.called_number,
        language=info.language,
        ingress=info.ingress,
        extra={**info.extra, "metadata": "fastagi_unverified"},
    )


def build(ctx: IngressContext) -> FastAgiServer:
    """The table's entry (telephony/ingress.py); an agent that can prepare for a call (`prefetch`) is told, and
    told again (`forget`) when a registration expires with no media leg to claim it."""
    forget = getattr(ctx.agent, "forget", None)
    if forget is not None:
        ctx.registry.on_expire.append(forget)
    capacity = ctx.capacity

    def is_full() -> bool:
        return bool(capacity.limit) and capacity.in_use >= capacity.limit

    return FastAgiServer(
        ctx.settings.fastagi, ctx.registry, on_registered=getattr(ctx.agent, "prefetch", None), is_full=is_full
    )
