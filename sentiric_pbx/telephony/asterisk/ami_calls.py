"""AMI for AudioSocket calls: who is calling (instead of FastAGI), and transfers that really transfer.

AudioSocket carries only a UUID, and its only control is "end this leg" (0x00). AMI fills both gaps:

* **Metadata.** Every event carries a snapshot of its channel (CallerIDNum/Name, Exten, Language,
  Channel, Uniqueid). Two of them name the AudioSocket UUID: the `VarSet` of the variable the dialplan
  keeps it in (`Set(UUID=${UUID()})`, `[ami] uuid_variable`), and the `Newexten` that starts the media
  (`Application: AudioSocket` with `AppData: <uuid>,host:port`, or `Application: Dial` with
  `AppData: AudioSocket/host:port/<uuid>/…`). Both are in the recorded session
  (`tests/fixtures/asterisk/ami-session.txt`). They are `offer()`ed to the `CallRegistry`, so a call
  that FastAGI registered keeps FastAGI's (richer) entry.
* **Transfer.** The dialplan after `AudioSocket()` dials `${SENTIRIC_TRANSFER}` when it is set
  (asterisk/extensions.conf), so for the app we `Setvar` it on the caller's channel and then end the
  leg with 0x00. `Dial(AudioSocket/…)` does not continue after its callee hangs up (no `g` option), so
  there we `Redirect` the caller's channel instead — to `[ami] transfer_context,transfer_extension`,
  which dials `${SENTIRIC_TRANSFER}`, or straight to a dialplan target (`300@sentiric`).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from sentiric_pbx.call.transport import CallInfo
from sentiric_pbx.config import AmiConfig
from sentiric_pbx.telephony.asterisk.ami import AmiClient, AmiError, AmiEvent
from sentiric_pbx.telephony.audiosocket.transport import Mode
from sentiric_pbx.telephony.registry import CallRegistry

log = structlog.get_logger("sentiric_pbx.ami_calls")

TRANSFER_VARIABLE = "SENTIRIC_TRANSFER"
MAX_TRACKED = 10_000
_UNKNOWN = {"", "<unknown>", "unknown"}


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None


def media_start(event: AmiEvent, port: int | None = None) -> tuple[str, Mode] | None:
    """The UUID and form of an AudioSocket leg from the `Newexten` that starts it, else None.

    With `port`, only a leg to that port counts: other AudioSocket servers on the same PBX (another
    application, the selftest's own caller side) are not our calls, and registering them would only
    leave stale metadata and misleading `ami_call_metadata` lines.
    """
    app, data = event.fields.get("Application", ""), event.fields.get("AppData", "")
    if app == "AudioSocket":  # AudioSocket(<uuid>,host:port)
        uuid_part, _, address = data.partition(",")
        found = _uuid(uuid_part)
        return (found, "app") if found and _to_port(address, port) else None
    if app == "Dial" and data.startswith("AudioSocket/"):  # Dial(AudioSocket/host:port/<uuid>/c(slin16))
        parts = data.split(",", 1)[0].split("/")
        found = _uuid(parts[2]) if len(parts) > 2 else None
        return (found, "dial") if found and _to_port(parts[1], port) else None
    return None


def _to_port(address: str, port: int | None) -> bool:
    """Does `host:port` (as the dialplan wrote it) point at `port`? Always, when we do not know ours."""
    if port is None:
        return True
    return address.strip().rpartition(":")[2] == str(port)


def call_info_from_event(fields: Mapping[str, str], call_id: str) -> CallInfo:
    """CallInfo from an event's channel snapshot; Asterisk writes `<unknown>` for what it does not know."""

    def pick(key: str) -> str | None:
        value = str(fields.get(key, "")).strip()
        return None if value.lower() in _UNKNOWN else value

    extra = {k: v for k, v in (("ami_uniqueid", pick("Uniqueid")), ("ami_context", pick("Context"))) if v}
    return CallInfo(
        call_id=call_id,
        caller_id=pick("CallerIDNum"),
        caller_name=pick("CallerIDName"),
        called_number=pick("Exten"),
        language=pick("Language"),
        channel=pick("Channel"),
        ingress="audiosocket",
        extra={**extra, "metadata": "ami"},
    )


def dialplan_location(target: str) -> tuple[str, str, int] | None:
    """`300@sentiric` or `sentiric,300[,2]` → (context, exten, priority); a dial string (`PJSIP/x`) → None."""
    if "/" in target:
        return None
    if "@" in target:
        exten, context = target.split("@", 1)
        return context, exten, 1
    parts = target.split(",")
    if len(parts) >= 2:
        return parts[0], parts[1], int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
    return None


class AmiCallWatcher:
    """Maps AMI events to AudioSocket calls, and transfers those calls through AMI."""

    def __init__(
        self, client: AmiClient, registry: CallRegistry, config: AmiConfig, audiosocket_port: int | None = None
    ) -> None:
        self.client = client
        self.registry = registry
        self.config = config
        self.audiosocket_port = audiosocket_port
        """Our AudioSocket listener's port: legs to any other port are someone else's."""
        self.modes: OrderedDict[str, tuple[Mode, str]] = OrderedDict()
        """UUID → (form of the AudioSocket leg, the channel that runs it), from `Newexten`."""
        self.channels: OrderedDict[str, str] = OrderedDict()
        """UUID → the channel Asterisk names with it (the `VarSet` of `uuid_variable`, the media's `Newexten`):
        where a transfer goes, whatever a registration claimed."""
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> None:
        self._unsubscribe = self.client.subscribe("*", self._on_event)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = None

    def _on_event(self, event: AmiEvent) -> None:
        if event.name == "VarSet" and event.fields.get("Variable") == self.config.uuid_variable:
            call_id = _uuid(event.fields.get("Value", ""))
            if call_id is not None:
                self._remember(self.channels, call_id, event.channel)
                self._offer(event, call_id, "varset")
        elif event.name == "Newexten":
            found = media_start(event, self.audiosocket_port)
            if found is not None:
                call_id, mode = found
                self._remember(self.modes, call_id, (mode, event.channel or ""))
                self._remember(self.channels, call_id, event.channel)
                self._offer(event, call_id, "newexten")

    @staticmethod
    def _remember(table: OrderedDict[str, Any], call_id: str, value: Any) -> None:
        """The newest `MAX_TRACKED` calls: a transfer can come an hour into a call, but not for a forgotten one."""
        if not value:
            return
        table[call_id] = value
        table.move_to_end(call_id)
        while len(table) > MAX_TRACKED:
            table.popitem(last=False)

    def _offer(self, event: AmiEvent, call_id: str, source: str) -> None:
        info = call_info_from_event(event.fields, call_id)
        if source == "varset" and info.caller_id is None:
            # Too early to be worth keeping: an AMI Originate sets its `Variable:`s before its `CallerID`
            # (Asterisk 22: VarSet UUID, then NewCallerid), and the first offer wins. The Newexten that
            # starts AudioSocket carries the caller, and the media side waits `metadata_wait_s` for it.
            return
        if self.registry.offer(info):
            log.info(
                "ami_call_metadata", call_id=call_id, source=source, caller_id=info.caller_id, channel=info.channel
            )

    @property
    def metadata_wait_s(self) -> float:
        return self.config.metadata_wait_s

    def mode_of(self, call_id: str, fallback: Mode) -> Mode:
        known = self.modes.get(call_id.lower())
        return known[0] if known else fallback

    async def transfer(self, info: CallInfo, target: str, mode: Mode) -> str:
        """Hand the caller to `target`; returns "dialplan" (the 0x00 that follows lets the dialplan dial it)
        or "redirect". Raises `AmiError` when AMI is down or Asterisk refuses (the caller then just ends)."""
        known = self.modes.get(info.call_id.lower())
        mode = known[0] if known else mode
        # The channel AMI saw carry this UUID first: it is Asterisk's own word, where the registered
        # `agi_channel` is only what the FastAGI peer said (a forged one would move someone else's call).
        # The registered one only when AMI has not seen the call (its events lost across a reconnect).
        channel = self.channels.get(info.call_id.lower()) or info.channel
        if not channel:
            raise AmiError(f"no Asterisk channel is known for call {info.call_id} (no FastAGI or AMI metadata)")
        location = dialplan_location(target)
        if location is None:
            await self.client.setvar(channel, TRANSFER_VARIABLE, target)
            if mode == "app":
                log.info("ami_transfer", channel=channel, target=target, via="dialplan", mode=mode)
                return "dialplan"
            location = (self.config.transfer_context, self.config.transfer_extension, 1)
        await self.client.redirect(channel, *location)
        log.info("ami_transfer", channel=channel, target=target, via="redirect", mode=mode)
        return "redirect"
