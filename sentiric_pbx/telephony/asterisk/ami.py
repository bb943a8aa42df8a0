"""Asterisk Manager Interface client: originate, redirect (transfer), hang up, read variables, and events.

Control only, never audio (DESIGN: "control is not media"). The wire format is the one recorded from
Asterisk 22.10.1 in `tests/fixtures/asterisk/ami-session.txt`: a one-line banner
`Asterisk Call Manager/11.0.0`, then `Key: Value` lines ending in CRLF, each message closed by an
empty line. Responses carry our `ActionID`; events arrive unrequested and interleaved with them.

Why our own client on asyncio streams and not panoramisk 1.4 (installed; it runs on Python 3.11 from a
running loop): its connection semantics do not fit a daemon that must survive an Asterisk restart quietly.

* Reconnect is a fixed integer delay (`reconnect_timeout=2`); there is no backoff, so a PBX that is
  down for an hour gets 1800 connection attempts, and `ping_interval` is truncated to an int.
* A refused Login only sets `authenticated = False`; nothing is raised, and it keeps pinging.
* Actions that were unanswered when the socket dropped are *sent again* after the next FullyBooted.
  For an Originate that means the customer's phone can ring twice; we fail them instead.
* Its Ping never checks the Pong, so a half-open TCP connection is not noticed.
* Connection state goes to stdlib `logging`, not to one structlog line per state change.

The protocol is small (about 60 lines below): owning it costs less than working around these. The secret
is read from `SecretStr` only when the Login is written, and is never logged or put in an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import structlog

from sentiric_pbx import metrics
from sentiric_pbx.aio import within
from sentiric_pbx.config import AmiConfig
from sentiric_pbx.telephony.asterisk.ami_wire import BANNER_PREFIX, Fields, callerid_field, encode_message, read_message

log = structlog.get_logger(__name__)

SUBSCRIBED_EVENTS = frozenset({"Hangup", "DTMFEnd", "VarSet", "Newchannel", "Newexten", "FullyBooted", "Reload"})
"""Events delivered to per-call callbacks. Everything else Asterisk sends is ignored."""
RECONNECT_MIN_S = 0.5
"""First retry delay after a drop; it doubles up to `AmiConfig.reconnect_max_s`."""


class AmiError(Exception):
    """An AMI action failed, or AMI is not reachable: the message is for the admin, `kind` names the step
    ("unreachable", "not_ami", "stalled", "refused", "action") for `doctor`'s hint."""

    def __init__(self, message: str, kind: str = "action") -> None:
        super().__init__(message)
        self.kind = kind


class AmiLoginError(AmiError):
    """Asterisk refused our username/password (manager.conf). Never carries the password."""


# -- results and events --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AmiEvent:
    """One AMI event. `fields` holds every line as Asterisk sent it (`Uniqueid`, `Channel`, `Cause` …)."""

    name: str
    fields: Mapping[str, str]

    @property
    def uniqueid(self) -> str | None:
        return self.fields.get("Uniqueid")

    @property
    def channel(self) -> str | None:
        return self.fields.get("Channel")

    @property
    def digit(self) -> str | None:
        """DTMFEnd: the digit ("1", "#")."""
        return self.fields.get("Digit")

    @property
    def cause(self) -> int | None:
        """Hangup: the Q.850 cause (16 = normal clearing, 0 = AudioSocket() timeout)."""
        value = self.fields.get("Cause")
        return int(value) if value and value.lstrip("-").isdigit() else None


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """What the OriginateResponse event said. `reason` 4 is "answered"; `channel`/`uniqueid` are the ;1 leg."""

    success: bool
    response: str
    action_id: str
    channel: str | None = None
    uniqueid: str | None = None
    reason: int | None = None
    fields: Mapping[str, str] = field(default_factory=dict)


EventCallback = Callable[[AmiEvent], Awaitable[None] | None]


@dataclass(slots=True)
class _Listing:
    """The events of one list action so far; `done` resolves at its `complete` event."""

    complete: str
    done: asyncio.Future[None]
    items: list[dict[str, str]] = field(default_factory=list)

    def take(self, msg: dict[str, str]) -> None:
        if msg.get("Event") == self.complete:
            if not self.done.done():
                self.done.set_result(None)
        elif "Event" in msg:
            self.items.append(msg)


# -- client --------------------------------------------------------------------------------------
class AmiClient:
    """A logged-in AMI connection that comes back by itself after Asterisk restarts.

    `start()` runs the connection in the background (the daemon's way: AMI being down must not stop
    calls); `connect()` makes one attempt and raises (the CLI's way). Actions raise `AmiError` while
    there is no connection; they are never queued and replayed, because a replayed Originate rings twice.
    """

    def __init__(self, config: AmiConfig, *, connect_timeout_s: float = 5.0, action_timeout_s: float = 10.0) -> None:
        self.config = config
        self.connect_timeout_s = connect_timeout_s
        self.action_timeout_s = action_timeout_s
        self.version: str | None = None
        self._ids = itertools.count(1)
        self._writer: asyncio.StreamWriter | None = None
        self._responses: dict[str, asyncio.Future[dict[str, str]]] = {}
        self._originates: dict[str, asyncio.Future[dict[str, str]]] = {}
        self._lists: dict[str, _Listing] = {}
        self._subscribers: dict[str, list[EventCallback]] = {}
        self._connected = asyncio.Event()
        self._state = "init"
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._ping_timed_out = False
        self.connections = 0
        """Successful logins so far; every one after the first is a reconnect."""

    # -- public state -----------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout_s: float | None) -> None:
        """Wait until logged in; `TimeoutError` after `timeout_s` (None: wait as long as it takes)."""
        await within(self._connected.wait(), timeout_s)

    def subscribe(self, key: str, callback: EventCallback) -> Callable[[], None]:
        """Deliver Hangup/DTMFEnd/VarSet/Newchannel/Newexten events whose Uniqueid or Channel equals `key`.

        Callbacks (plain or async) run one after another on the reader, in wire order, so a call
        sees its DTMF before its Hangup; keep them short. `key="*"` receives all of them, and alone
        FullyBooted (after each login, once Asterisk has booted) and Reload, which name no channel.
        Returns a function that removes the subscription (call it when the call ends, or the dict
        grows with every call).
        """
        self._subscribers.setdefault(key, []).append(callback)

        def unsubscribe() -> None:
            callbacks = self._subscribers.get(key, [])
            if callback in callbacks:
                callbacks.remove(callback)
            if not callbacks:
                self._subscribers.pop(key, None)

        return unsubscribe

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background and keep reconnecting (exponential backoff) until `close()`."""
        if self._supervisor is None:
            self._closing = False
            self._supervisor = asyncio.create_task(self._supervise(), name="ami-supervisor")

    async def connect(self) -> None:
        """One connect + login attempt; raise `AmiError`/`AmiLoginError`. Then stays up until `close()`."""
        reader, writer = await self._open()
        self._attach(writer)
        self._supervisor = asyncio.create_task(self._serve(reader, writer), name="ami-session")

    async def close(self) -> None:
        """Log off politely if connected, then stop reconnecting."""
        self._closing = True
        if self.connected:
            with contextlib.suppress(AmiError, TimeoutError):
                await self.action("Logoff", {}, timeout_s=2.0)
        if self._writer is not None:
            self._writer.close()
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """TCP connect, check the banner, log in. On success the reader loop must be started by the caller."""
        cfg = self.config
        where = f"{cfg.host}:{cfg.port}"
        try:
            reader, writer = await within(asyncio.open_connection(cfg.host, cfg.port), self.connect_timeout_s)
        except (OSError, TimeoutError) as exc:
            raise AmiError(f"cannot reach Asterisk AMI at {where}: {exc or 'timeout'}", "unreachable") from None
        try:
            banner = (await within(reader.readline(), self.connect_timeout_s)).decode("utf-8", "replace")
            if not banner.startswith(BANNER_PREFIX):
                raise AmiError(f"{where} is not Asterisk AMI (banner {banner.strip()[:60]!r})", "not_ami")
            self.version = banner.strip()[len(BANNER_PREFIX) :]
            reply = await self._login(reader, writer)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            writer.close()
            raise AmiError(f"AMI at {where} closed or stalled during login: {exc or 'timeout'}", "stalled") from None
        except AmiError:
            writer.close()
            raise
        if reply.get("Response") != "Success":
            writer.close()
            raise AmiLoginError(
                f"Asterisk AMI at {where} refused login as {cfg.username!r}: "
                f"{reply.get('Message', 'no reason given')} (check [ami] username/password and manager.conf)",
                "refused",
            )
        return reader, writer

    async def _login(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict[str, str]:
        """Send Login and read until its response (events may come first). The secret lives only here."""
        action_id = f"{next(self._ids)}-login"
        secret = self.config.password.get_secret_value() if self.config.password else ""
        writer.write(
            encode_message(
                [("Action", "Login"), ("ActionID", action_id), ("Username", self.config.username), ("Secret", secret)]
            )
        )
        await writer.drain()
        while True:
            msg = await within(read_message(reader), self.connect_timeout_s)
            if msg is None:
                return {"Response": "Error", "Message": "connection closed before the login response"}
            if msg.get("ActionID") == action_id and "Response" in msg:
                return msg

    async def _supervise(self) -> None:
        """Connect, serve until the connection drops, wait (doubling up to reconnect_max_s), repeat.

        Whatever goes wrong in an attempt, the loop goes on (the catch-all ESL has): an exception escaping
        here would end AMI for the life of the process, with every transfer failing from then on.
        """
        delay = RECONNECT_MIN_S
        while not self._closing:
            try:
                reader, writer = await self._open()
            except AmiLoginError as exc:
                cfg = self.config
                self._set_state("login_failed", host=cfg.host, port=cfg.port, username=cfg.username, error=str(exc))
            except AmiError as exc:
                if self._state == "init":
                    self._set_state("down", reason=str(exc))
                log.debug("ami_retry", error=str(exc), retry_in_s=delay)
            except Exception as exc:
                log.exception("ami_connect_failed", error=repr(exc), retry_in_s=delay)
            else:
                delay = RECONNECT_MIN_S
                try:
                    self._attach(writer)
                    await self._serve(reader, writer)
                except Exception as exc:  # _serve ends every session itself; this is for a bug in doing so
                    log.exception("ami_session_failed", error=repr(exc))
                    writer.close()
                    await asyncio.sleep(delay)
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.config.reconnect_max_s)

    def _attach(self, writer: asyncio.StreamWriter) -> None:
        """Logged in: actions may be sent from now on (before the reader task has even started)."""
        self._writer = writer
        self._ping_timed_out = False
        self.connections += 1
        if self.connections > 1:
            metrics.CONTROL_RECONNECTS.labels(peer="ami").inc()
        metrics.CONTROL_CONNECTED.labels(peer="ami").set(1)
        self._connected.set()
        self._set_state("up", host=self.config.host, port=self.config.port, version=self.version)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read messages and ping until the connection ends; then fail whatever was waiting on it."""
        pinger = asyncio.create_task(self._ping_loop(), name="ami-ping")
        reason = "closed by Asterisk"
        try:
            while True:
                msg = await read_message(reader)
                if msg is None:
                    break
                await self._dispatch(msg)
        except (OSError, asyncio.IncompleteReadError) as exc:
            reason = f"read error: {exc}"
        except ValueError:
            # StreamReader.readline: a line past its 64 KiB limit. Where it ends is lost, so is the stream's
            # framing: start a fresh session rather than guess.
            reason = "a line longer than 64 KiB"
        except asyncio.CancelledError:
            reason = "closed by us"
            raise
        except Exception as exc:
            # A bug in our handling of one message must not end AMI for good (as a ValueError once did, logged
            # as "closed by Asterisk"): log it with its traceback, and reconnect like any other drop.
            log.exception("ami_session_failed", error=repr(exc))
            reason = f"internal error: {exc!r}"
        finally:
            pinger.cancel()
            self._connected.clear()
            metrics.CONTROL_CONNECTED.labels(peer="ami").set(0)
            self._writer = None
            writer.close()
            if self._closing:
                reason = "closed by us"
            elif self._ping_timed_out:
                reason = "no Pong within the ping interval"
            self._set_state("down", reason=reason)
            self._fail_pending(AmiError(f"AMI connection lost ({reason})"))

    async def _ping_loop(self) -> None:
        """A Ping every `ping_interval_s`; no Pong within the interval means a dead peer: drop and reconnect."""
        interval = self.config.ping_interval_s
        while True:
            await asyncio.sleep(interval)
            writer = self._writer
            try:
                await self.action("Ping", {}, timeout_s=interval)
            except TimeoutError:
                if writer is not None:
                    self._ping_timed_out = True
                    writer.close()
                return
            except AmiError:
                return

    # -- messages ---------------------------------------------------------------------------------
    async def _dispatch(self, msg: dict[str, str]) -> None:
        action_id = msg.get("ActionID")
        if "Response" in msg and action_id in self._responses:
            future = self._responses.pop(action_id)
            if not future.done():
                future.set_result(msg)
            return
        name = msg.get("Event")
        if name is None:
            return
        listing = self._lists.get(action_id or "")
        if listing is not None:
            listing.take(msg)
            return
        if name == "OriginateResponse" and action_id in self._originates:
            future = self._originates.pop(action_id)
            if not future.done():
                future.set_result(msg)
            return
        if name in SUBSCRIBED_EVENTS:
            await self._deliver(AmiEvent(name, msg))

    async def _deliver(self, event: AmiEvent) -> None:
        keys = {event.uniqueid, event.channel, "*"}
        for key in keys:
            for callback in list(self._subscribers.get(key or "", [])):
                try:
                    result = callback(event)
                    if result is not None:
                        await result
                except Exception:
                    log.exception("ami_callback_failed", ami_event=event.name, key=key)

    def _fail_pending(self, exc: AmiError) -> None:
        for pending in (self._responses, self._originates):
            for future in pending.values():
                if not future.done():
                    future.set_exception(exc)
            pending.clear()
        for listing in self._lists.values():
            if not listing.done.done():
                listing.done.set_exception(exc)
        self._lists.clear()

    def _set_state(self, state: str, **fields: object) -> None:
        """One log line per state change: ami_connected, ami_disconnected, ami_login_failed, ami_unreachable."""
        previous, self._state = self._state, state
        if state == previous:
            return
        if state == "up":
            log.info("ami_connected", **fields)
        elif state == "login_failed":
            log.error("ami_login_failed", **fields)
        elif previous == "up":
            # Our own close() is routine (info); Asterisk going away is what an admin must see (warning).
            emit = log.info if self._closing else log.warning
            emit("ami_disconnected", host=self.config.host, port=self.config.port, **fields)
        elif previous == "init":
            log.warning("ami_unreachable", host=self.config.host, port=self.config.port, **fields)

    # -- actions ----------------------------------------------------------------------------------
    async def action(
        self, name: str, fields: Fields, *, timeout_s: float | None = None, action_id: str | None = None
    ) -> dict[str, str]:
        """Send one action and return its response message (Success or Error alike)."""
        action_id, future = self._send(name, fields, action_id)
        try:
            return await within(future, timeout_s or self.action_timeout_s)
        finally:
            self._responses.pop(action_id, None)

    def _send(self, name: str, fields: Fields, action_id: str | None) -> tuple[str, asyncio.Future[dict[str, str]]]:
        writer = self._writer
        if writer is None or not self.connected:
            raise AmiError(f"not connected to Asterisk AMI at {self.config.host}:{self.config.port}")
        action_id = action_id or f"{next(self._ids)}-{name.lower()}"
        future: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self._responses[action_id] = future
        pairs = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
        writer.write(encode_message([("Action", name), ("ActionID", action_id), *pairs]))
        return action_id, future

    async def _checked(self, name: str, fields: Fields) -> dict[str, str]:
        reply = await self.action(name, fields)
        if reply.get("Response") != "Success":
            raise AmiError(f"AMI {name} failed: {reply.get('Message', reply.get('Response', 'no reason given'))}")
        return reply

    async def list_action(self, name: str, fields: Fields, complete: str) -> list[dict[str, str]]:
        """An action answered by a list of events (`ShowDialPlan` → `ListDialplan` …): the events up to the
        one named `complete` (`ShowDialPlanComplete`). A refusal ("Permission denied") → `AmiError`."""
        action_id = f"{next(self._ids)}-{name.lower()}"
        listing = self._lists[action_id] = _Listing(complete, asyncio.get_running_loop().create_future())
        try:
            reply = await self.action(name, fields, action_id=action_id)
            if reply.get("Response") != "Success":
                raise AmiError(f"AMI {name} failed: {reply.get('Message', 'no reason given')}")
            await within(listing.done, self.action_timeout_s)
        finally:
            self._lists.pop(action_id, None)
            if listing.done.done() and not listing.done.cancelled():
                listing.done.exception()  # a dropped connection's error, already raised by `action`
        return listing.items

    async def originate(
        self,
        channel: str,
        context: str,
        exten: str,
        priority: int = 1,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        timeout_s: float = 30,
    ) -> OriginateResult:
        """Place a call (Async): wait for "Originate successfully queued", then for its OriginateResponse event.

        `timeout_s` is how long the far end may ring; we wait that long plus a margin for the event.
        """
        fields: list[tuple[str, str]] = [
            ("Channel", channel),
            ("Context", context),
            ("Exten", exten),
            ("Priority", str(priority)),
        ]
        if caller_id:
            fields.append(("CallerID", callerid_field(caller_id)))
        fields += [("Timeout", str(int(timeout_s * 1000))), ("Async", "true")]
        fields += [("Variable", f"{k}={v}") for k, v in (variables or {}).items()]
        # The OriginateResponse event is registered under the ActionID before the action is written:
        # the queued response always comes first, but nothing then can race the registration.
        action_id = f"{next(self._ids)}-originate"
        event: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self._originates[action_id] = event
        try:
            reply = await self.action("Originate", fields, action_id=action_id)
            if reply.get("Response") != "Success":
                raise AmiError(f"AMI Originate of {channel} refused: {reply.get('Message', 'no reason given')}")
            done = await within(event, timeout_s + 10)
        finally:
            self._originates.pop(action_id, None)
        reason = done.get("Reason", "")
        result = OriginateResult(
            success=done.get("Response") == "Success",
            response=done.get("Response", ""),
            action_id=action_id,
            channel=done.get("Channel"),
            uniqueid=done.get("Uniqueid"),
            reason=int(reason) if reason.isdigit() else None,
            fields=done,
        )
        log.info("ami_originate", channel=channel, response=result.response, uniqueid=result.uniqueid)
        return result

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1) -> None:
        """Send a live channel to another dialplan place (our transfer). Unknown channel → `AmiError`."""
        await self._checked(
            "Redirect", [("Channel", channel), ("Context", context), ("Exten", exten), ("Priority", str(priority))]
        )
        log.info("ami_redirect", channel=channel, context=context, exten=exten, priority=priority)

    async def setvar(self, channel: str, name: str, value: str) -> None:
        """Set a channel variable (manager.c action_setvar: "Variable Set", or "No such channel")."""
        await self._checked("Setvar", [("Channel", channel), ("Variable", name), ("Value", value)])
        log.info("ami_setvar", channel=channel, variable=name)

    async def hangup(self, channel: str, cause: int = 16) -> None:
        await self._checked("Hangup", [("Channel", channel), ("Cause", str(cause))])

    async def getvar(self, channel: str, name: str) -> str | None:
        """A channel variable's value; None when it is not set (Asterisk answers with an empty Value)."""
        reply = await self._checked("Getvar", [("Channel", channel), ("Variable", name)])
        return reply.get("Value") or None
