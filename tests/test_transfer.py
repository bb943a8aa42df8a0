"""AudioSocket calls and AMI: transfers that reach the target, and caller metadata without FastAGI.

A real daemon (AudioSocket + FastAGI listeners, AMI client) against the fake AMI of
`tests/ami_server.py`, which replays the recorded Asterisk 22 session over real TCP: the call's events
(Newchannel … `VarSet UUID=…` … the `Newexten` that starts AudioSocket) arrive unrequested, and the
Setvar/Redirect actions the daemon sends are answered as manager.c does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from pydantic import SecretStr

from sentiric_pbx.call.transport import CallInfo, CallTransport
from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.telephony.audiosocket.protocol import Kind
from tests.ami_server import RECORDED_CHANNEL, FakeAmi
from tests.asterisk_peer import AudioSocketPeer, eventually, wait_log

Logs = list[dict[str, object]]
PASSWORD = "sentiric-test"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = await FakeAmi.start(password=PASSWORD)
    try:
        yield server
    finally:
        await server.stop()


def with_ami(settings: Settings, fake: FakeAmi) -> Settings:
    settings.ami.enabled = True
    settings.ami.port = fake.port
    settings.ami.password = SecretStr(PASSWORD)
    settings.ami.metadata_wait_s = 2.0
    return settings


class Transferring:
    """An agent that transfers at once to `target` and keeps what it saw of the call."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.infos: list[CallInfo] = []

    async def __call__(self, transport: CallTransport) -> None:
        self.infos.append(transport.info)
        # After the caller's first frame, as any real agent (it greets first): the leg's kind of audio is
        # what tells Dial(AudioSocket/…) from AudioSocket() when AMI has not said, and on uvloop the agent
        # could otherwise run before that frame was read.
        async for _ in transport.frames():
            break
        await transport.transfer(self.target)


async def running(settings: Settings, agent: Callable[[CallTransport], Awaitable[None]]) -> Daemon:
    daemon = Daemon(settings, agent=agent)
    await daemon.start()
    if settings.ami.enabled:
        await daemon.ami.wait_connected(5)
    return daemon


def actions(fake: FakeAmi, name: str) -> list[dict[str, str]]:
    return [a for a in fake.actions if a.get("Action") == name]


async def call(daemon: Daemon, call_id: uuid.UUID, rate: int = 8000) -> AudioSocketPeer:
    """Asterisk's AudioSocket leg: the UUID frame, then 20 ms frames of the caller (silence here)."""
    assert daemon.audiosocket is not None
    peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
    peer.call_id = call_id
    peer.send_uuid()
    peer.talk(b"", rate)
    return peer


def hangup_frame_seen(peer: AudioSocketPeer) -> bool:
    return any(f.kind == Kind.HANGUP for f in peer.received)


async def test_app_leg_transfer_sets_the_variable_then_ends_the_leg(
    settings: Settings, fake: FakeAmi, logs: Logs
) -> None:
    """AudioSocket() app: Setvar SENTIRIC_TRANSFER on the caller's channel, then 0x00 (dialplan dials it)."""
    agent = Transferring("PJSIP/reception")
    daemon = await running(with_ami(settings, fake), agent)
    call_id = uuid.uuid4()
    try:
        channel = fake.announce_call(str(call_id))  # no FastAGI: the metadata comes from AMI only
        peer = await call(daemon, call_id)
        await eventually(lambda: hangup_frame_seen(peer), "the 0x00 that ends the AudioSocket leg")
        setvars = actions(fake, "Setvar")
        assert [(a["Channel"], a["Variable"], a["Value"]) for a in setvars] == [
            (channel, "SENTIRIC_TRANSFER", "PJSIP/reception")
        ]
        assert fake.variables[(channel, "SENTIRIC_TRANSFER")] == "PJSIP/reception"
        assert not actions(fake, "Redirect")  # the dialplan after AudioSocket() does the dialling
        ended = await wait_log(logs, "call_ended", call_id=str(call_id))
        assert (ended["by"], ended["reason"]) == ("agent", "transferred")
        await peer.close()
    finally:
        await daemon.stop()


async def test_dial_leg_transfer_redirects_the_caller_channel(settings: Settings, fake: FakeAmi, logs: Logs) -> None:
    """Dial(AudioSocket/…): Dial does not continue, so the caller's channel is redirected to `transfer`."""
    agent = Transferring("PJSIP/reception")
    daemon = await running(with_ami(settings, fake), agent)
    call_id = uuid.uuid4()
    try:
        channel = fake.announce_call(str(call_id), dial=True)
        peer = await call(daemon, call_id, rate=16000)
        await eventually(lambda: hangup_frame_seen(peer), "the 0x00 after the redirect")
        assert [(a["Channel"], a["Variable"], a["Value"]) for a in actions(fake, "Setvar")] == [
            (channel, "SENTIRIC_TRANSFER", "PJSIP/reception")
        ]
        redirect = actions(fake, "Redirect")
        assert [(a["Channel"], a["Context"], a["Exten"], a["Priority"]) for a in redirect] == [
            (channel, "sentiric", "transfer", "1")
        ]
        # The variable is set before the redirect: the `transfer` extension reads it at once.
        assert fake.actions.index(actions(fake, "Setvar")[0]) < fake.actions.index(redirect[0])
        await wait_log(logs, "ami_transfer", via="redirect", mode="dial")
        await peer.close()
    finally:
        await daemon.stop()


async def test_fastagi_registered_dial_leg_redirects_to_a_dialplan_target(
    settings: Settings, fake: FakeAmi, logs: Logs
) -> None:
    """FastAGI said `,dial` and the channel; a dialplan target (`300@sentiric`) is redirected to directly."""
    agent = Transferring("300@sentiric")
    daemon = await running(with_ami(settings, fake), agent)
    call_id = uuid.uuid4()
    try:
        fake.announce_call(str(uuid.uuid4()))  # another call: makes its channel known to the fake
        daemon.registry.put(
            CallInfo(
                str(call_id), caller_id="+905551112233", channel=RECORDED_CHANNEL, extra={"audiosocket_mode": "dial"}
            )
        )
        peer = await call(daemon, call_id, rate=8000)  # 8 kHz Dial(…/c(slin)): only the hint says "dial"
        await eventually(lambda: hangup_frame_seen(peer), "the 0x00 after the redirect")
        assert not actions(fake, "Setvar")
        assert [(a["Channel"], a["Context"], a["Exten"], a["Priority"]) for a in actions(fake, "Redirect")] == [
            (RECORDED_CHANNEL, "sentiric", "300", "1")
        ]
        assert agent.infos[0].caller_id == "+905551112233"  # FastAGI's entry was used
        await peer.close()
    finally:
        await daemon.stop()


async def test_asterisk_refusing_the_transfer_still_ends_the_leg(settings: Settings, fake: FakeAmi, logs: Logs) -> None:
    agent = Transferring("PJSIP/reception")
    daemon = await running(with_ami(settings, fake), agent)
    call_id = uuid.uuid4()
    try:
        daemon.registry.put(CallInfo(str(call_id), channel="PJSIP/gone-00000001"))
        peer = await call(daemon, call_id)
        await eventually(lambda: hangup_frame_seen(peer), "the 0x00")
        failed = await wait_log(logs, "transfer_failed", call_id=str(call_id))
        assert "No such channel" in str(failed["error"]) and failed["channel"] == "PJSIP/gone-00000001"
        await peer.close()
    finally:
        await daemon.stop()


async def test_without_ami_the_transfer_warns_and_names_the_missing_config(settings: Settings, logs: Logs) -> None:
    agent = Transferring("PJSIP/reception")
    daemon = await running(settings, agent)
    call_id = uuid.uuid4()
    try:
        peer = await call(daemon, call_id)
        await eventually(lambda: hangup_frame_seen(peer), "the 0x00")
        warning = await wait_log(logs, "transfer_without_ami", call_id=str(call_id))
        assert warning["log_level"] == "warning" and "[ami] enabled = true" in str(warning["missing"])
        await peer.close()
    finally:
        await daemon.stop()


async def test_ami_events_give_an_audiosocket_call_its_caller_without_fastagi(
    settings: Settings, fake: FakeAmi, logs: Logs
) -> None:
    seen: list[CallInfo] = []

    async def agent(transport: CallTransport) -> None:
        seen.append(transport.info)
        await transport.hangup()

    daemon = await running(with_ami(settings, fake), agent)
    late, early = uuid.uuid4(), uuid.uuid4()
    try:
        fake.announce_call(str(early))
        peer = await call(daemon, early)
        await eventually(lambda: seen, "the agent")
        info = seen[0]
        assert (info.call_id, info.caller_id, info.caller_name) == (str(early), "+905551112233", "Ahmet Yilmaz")
        assert (info.channel, info.language, info.called_number) == (RECORDED_CHANNEL, "en", "as-app")
        assert info.extra["metadata"] == "ami" and info.extra["ami_uniqueid"] == "1795681154.20"
        started = await wait_log(logs, "call_started", call_id=str(early))
        assert started["registered"] is True
        await peer.close()

        # The AMI events travel on their own TCP connection and may come after the UUID frame.
        peer = await call(daemon, late)
        await asyncio.sleep(0.2)
        fake.end_call()
        fake.announce_call(str(late))
        await eventually(lambda: len(seen) == 2, "the second call's agent")
        assert (seen[1].call_id, seen[1].caller_id) == (str(late), "+905551112233")
        await peer.close()
    finally:
        await daemon.stop()


async def test_fastagi_metadata_is_not_replaced_by_ami(settings: Settings, fake: FakeAmi) -> None:
    seen: list[CallInfo] = []

    async def agent(transport: CallTransport) -> None:
        seen.append(transport.info)
        await transport.hangup()

    daemon = await running(with_ami(settings, fake), agent)
    call_id = uuid.uuid4()
    try:
        daemon.registry.put(CallInfo(str(call_id), caller_id="+905559990000", called_number="5000"))
        fake.announce_call(str(call_id))
        await daemon.ami.action("Ping", {})  # the events were written before the Pong: they have been read
        peer = await call(daemon, call_id)
        await eventually(lambda: seen, "the agent")
        assert (seen[0].caller_id, seen[0].called_number) == ("+905559990000", "5000")
        await peer.close()
    finally:
        await daemon.stop()


async def test_newexten_parsing_and_dialplan_targets() -> None:
    from sentiric_pbx.telephony.asterisk.ami import AmiEvent
    from sentiric_pbx.telephony.asterisk.ami_calls import dialplan_location, media_start

    u = str(uuid.uuid4())
    assert media_start(AmiEvent("Newexten", {"Application": "AudioSocket", "AppData": f"{u},127.0.0.1:9092"})) == (
        u,
        "app",
    )
    dial = {"Application": "Dial", "AppData": f"AudioSocket/127.0.0.1:9092/{u}/c(slin16),30"}
    assert media_start(AmiEvent("Newexten", dial)) == (u, "dial")
    assert media_start(AmiEvent("Newexten", {"Application": "Dial", "AppData": "PJSIP/reception,30"})) is None
    assert media_start(AmiEvent("Newexten", {"Application": "AudioSocket", "AppData": "not-a-uuid,x"})) is None
    # Another AudioSocket server on the same PBX (another port) is not ours.
    app_leg = AmiEvent("Newexten", {"Application": "AudioSocket", "AppData": f"{u},127.0.0.1:9092"})
    assert media_start(app_leg, port=9092) == (u, "app")
    assert media_start(app_leg, port=19092) is None
    assert media_start(AmiEvent("Newexten", dial), port=9092) == (u, "dial")
    assert media_start(AmiEvent("Newexten", dial), port=19092) is None
    assert dialplan_location("300@sentiric") == ("sentiric", "300", 1)
    assert dialplan_location("sentiric,300,2") == ("sentiric", "300", 2)
    assert dialplan_location("PJSIP/reception") is None


def test_fastagi_dial_argument_marks_the_leg() -> None:
    """`AGI(agi://…/register,${UUID},dial)` (asterisk/extensions.conf 101) tells a transfer to redirect."""
    from sentiric_pbx.telephony.asterisk.agi import call_info_from_env

    env = {"agi_callerid": "+905551112233", "agi_channel": "PJSIP/alice-00000001", "agi_arg_2": "dial"}
    assert call_info_from_env(env, "x").extra["audiosocket_mode"] == "dial"
    assert "audiosocket_mode" not in call_info_from_env({"agi_arg_2": "nonsense"}, "x").extra


# What a real Asterisk 22.10.1 emitted right after the daemon's Redirect of a 101 caller to
# `sentiric,transfer,1` (tests/pbx/test_transfer.py): the new place, but the *old* application — the
# Dial(AudioSocket/…) with the UUID of the call that has just ended.
REDIRECTED_NEWEXTEN = {
    "Event": "Newexten",
    "Privilege": "dialplan,all",
    "Channel": "PJSIP/1001-00000000",
    "ChannelState": "6",
    "ChannelStateDesc": "Up",
    "CallerIDNum": "1001",
    "CallerIDName": "<unknown>",
    "Language": "en",
    "Context": "sentiric",
    "Exten": "transfer",
    "Priority": "1",
    "Uniqueid": "1796563989.0",
    "Linkedid": "1796563989.0",
    "Extension": "transfer",
    "Application": "Dial",
    "AppData": "AudioSocket/127.0.0.1:9092/3d5bfff3-7a51-4971-8e99-b5f2cc34d501/c(slin16)",
}
REDIRECTED_CALL = "3d5bfff3-7a51-4971-8e99-b5f2cc34d501"


class Subscribable:
    """The one thing AmiCallWatcher needs of an AMI client: `subscribe("*", callback)`."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[object], object]] = []

    def subscribe(self, key: str, callback: Callable[[object], object]) -> Callable[[], None]:
        self.callbacks.append(callback)
        return lambda: None

    def emit(self, fields: dict[str, str]) -> None:
        from sentiric_pbx.telephony.asterisk.ami import AmiEvent

        for callback in self.callbacks:
            callback(AmiEvent(fields["Event"], fields))


def test_the_newexten_after_a_redirect_does_not_register_the_call_that_ended(logs: Logs) -> None:
    from sentiric_pbx.config import AmiConfig
    from sentiric_pbx.telephony.asterisk.ami_calls import AmiCallWatcher
    from sentiric_pbx.telephony.registry import CallRegistry

    client, registry = Subscribable(), CallRegistry()
    AmiCallWatcher(client, registry, AmiConfig()).start()  # type: ignore[arg-type]
    registry.put(CallInfo(REDIRECTED_CALL, caller_id="1001"))  # FastAGI, before the media
    assert registry.take(REDIRECTED_CALL) is not None  # the AudioSocket leg starts
    client.emit(REDIRECTED_NEWEXTEN)  # … the agent transfers, Asterisk redirects the caller
    assert REDIRECTED_CALL not in registry and len(registry) == 0
    assert not [e for e in logs if e["event"] == "ami_call_metadata"]


@pytest.mark.parametrize(
    ("steps", "registered"),
    [
        (["offer"], True),  # AMI-only metadata, media not started yet
        (["take", "offer"], False),  # the leg started (with nothing registered): late events come too late
        (["put", "take", "offer"], False),  # FastAGI's entry claimed, then AMI names the call again
        (["put", "take", "put"], True),  # an explicit registration (the dialplan reuses its UUID) is kept
    ],
)
def test_offers_are_refused_once_the_media_leg_has_started(steps: list[str], registered: bool) -> None:
    from sentiric_pbx.telephony.registry import CallRegistry

    registry = CallRegistry()
    call_id = str(uuid.uuid4())
    for step in steps:
        if step == "take":
            registry.take(call_id)
        else:
            getattr(registry, step)(CallInfo(call_id.upper()))  # ids match whatever their case
    assert (call_id in registry) is registered


def test_started_calls_are_remembered_up_to_max_entries() -> None:
    from sentiric_pbx.telephony.registry import CallRegistry

    registry = CallRegistry(max_entries=3)
    ids = [str(uuid.uuid4()) for _ in range(4)]
    for call_id in ids:
        registry.take(call_id)
    assert registry.offer(CallInfo(ids[0]))  # the oldest was forgotten: memory stays bounded
    assert not registry.offer(CallInfo(ids[-1]))


def test_a_uuid_varset_before_the_caller_id_is_known_leaves_the_call_to_its_newexten() -> None:
    """As a real Asterisk 22 sends them for an AMI Originate with `Variable: UUID=…` and a `CallerID`
    (tests/pbx/test_control_plane.py): the VarSet comes first, before NewCallerid, with `<unknown>`."""
    from sentiric_pbx.config import AmiConfig
    from sentiric_pbx.telephony.asterisk.ami_calls import AmiCallWatcher
    from sentiric_pbx.telephony.registry import CallRegistry

    client, registry = Subscribable(), CallRegistry()
    AmiCallWatcher(client, registry, AmiConfig()).start()  # type: ignore[arg-type]
    call_id = str(uuid.uuid4())
    channel = {"Channel": "AudioSocket/127.0.0.1:36593-9a1d8961", "Context": "sentiric-selftest", "Exten": "s"}
    client.emit({"Event": "VarSet", **channel, "CallerIDNum": "<unknown>", "Variable": "UUID", "Value": call_id})
    assert call_id not in registry
    client.emit(
        {
            "Event": "Newexten",
            **channel,
            "CallerIDNum": "+905551112233",
            "CallerIDName": "Ahmet Yilmaz",
            "Application": "AudioSocket",
            "AppData": f"{call_id},127.0.0.1:9092",
        }
    )
    info = registry.take(call_id)
    assert info is not None and (info.caller_id, info.caller_name) == ("+905551112233", "Ahmet Yilmaz")
