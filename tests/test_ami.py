"""AMI client against a fake Asterisk that replays the recorded 22.10.1 session over real sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner, Result

from sentiric_pbx.cli import app
from sentiric_pbx.config import AmiConfig
from sentiric_pbx.metrics import MetricsServer
from sentiric_pbx.telephony.asterisk.ami import AmiClient, AmiError, AmiEvent, AmiLoginError
from tests.ami_server import FakeAmi, parse_transcript

PASSWORD = "sentiric-test"
WRONG = "wrong-password"


def ami_config(port: int, password: str = PASSWORD, **kw: float) -> AmiConfig:
    return AmiConfig(enabled=True, host="127.0.0.1", port=port, password=SecretStr(password), **kw)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAmi]:
    server = await FakeAmi.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def client(fake: FakeAmi) -> AsyncIterator[AmiClient]:
    c = AmiClient(ami_config(fake.port))
    await c.connect()
    try:
        yield c
    finally:
        await c.close()


def events(logs: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return [e for e in logs if e["event"] == name]


async def scrape(port: int, series: str) -> float:
    """One series' value from a real scrape of `/metrics` (0 when it has no sample yet)."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_fake_replays_the_whole_recorded_session() -> None:
    banner, blocks = parse_transcript()
    assert banner == "Asterisk Call Manager/11.0.0"
    assert sum(1 for b in blocks if b.get("Event") == "VarSet") == 4
    assert [b.get("Action") for b in blocks if b.who == "C"] == [
        "Login",
        "Ping",
        "Originate",
        "Originate",
        "Redirect",
        "Redirect",
        "Logoff",
    ]


async def test_login_with_the_configured_credentials(client: AmiClient, fake: FakeAmi) -> None:
    assert client.connected and client.version == "11.0.0"
    assert fake.actions[0] == {
        "Action": "Login",
        "ActionID": fake.actions[0]["ActionID"],
        "Username": "sentiric",
        "Secret": PASSWORD,
    }


async def test_wrong_password_is_a_clear_error_that_never_shows_the_password(
    fake: FakeAmi, logs: list[dict[str, object]]
) -> None:
    with pytest.raises(AmiLoginError) as caught:
        await AmiClient(ami_config(fake.port, WRONG)).connect()
    assert "refused login as 'sentiric'" in str(caught.value)
    assert "Authentication failed" in str(caught.value)
    assert WRONG not in str(caught.value) and WRONG not in repr(caught.value)

    daemon_side = AmiClient(ami_config(fake.port, WRONG))
    daemon_side.start()
    for _ in range(100):
        if events(logs, "ami_login_failed"):
            break
        await asyncio.sleep(0.02)
    await daemon_side.close()
    assert len(events(logs, "ami_login_failed")) == 1
    assert not events(logs, "ami_connected")
    assert WRONG not in repr(logs) and PASSWORD not in repr(logs)


async def test_keepalive_pings_every_interval(fake: FakeAmi) -> None:
    c = AmiClient(ami_config(fake.port, ping_interval_s=0.1))
    await c.connect()
    await asyncio.sleep(0.45)
    assert c.connected
    assert fake.pings >= 3
    await c.close()


async def test_originate_waits_for_the_originate_response_event(client: AmiClient, fake: FakeAmi) -> None:
    result = await client.originate(
        "Local/as-app@fixtures/n",
        "fixtures-player",
        "say",
        caller_id='"Ahmet Yilmaz" <+905551112233>',
        variables={"SENTIRIC_SOURCE": "ami-fixture"},
        timeout_s=30,
    )
    assert result.success and result.response == "Success" and result.reason == 4
    assert result.uniqueid == "1795681154.19"
    assert result.channel == "Local/as-app@fixtures-00000009;1"
    sent = fake.actions[-1]
    assert sent["Async"] == "true" and sent["Timeout"] == "30000" and sent["ActionID"] == result.action_id
    assert sent["Variable"] == "SENTIRIC_SOURCE=ami-fixture"


async def test_a_task_cancelled_as_its_action_is_answered_stops(client: AmiClient) -> None:
    """The answer and the cancel in one loop turn (a call hung up as Asterisk answers its Redirect, the daemon
    stopping as a dialplan read completes): the cancel wins. Python 3.11's `wait_for` returned the answer
    instead, and a stopping task ran on."""
    action = asyncio.create_task(client.action("Ping", {}, action_id="ping-held"))
    await asyncio.sleep(0)
    assert "ping-held" in client._responses
    client._responses["ping-held"].set_result({"Response": "Success", "ActionID": "ping-held"})
    action.cancel()
    with pytest.raises(asyncio.CancelledError):
        await action


async def test_redirect_of_a_live_channel_succeeds_and_of_a_missing_one_says_so(client: AmiClient) -> None:
    held = await client.originate("Local/hold@fixtures/n", "fixtures", "hold")
    assert held.success
    ended: list[AmiEvent] = []
    client.subscribe("Local/hold@fixtures-0000000a;2", ended.append)
    await client.redirect("Local/hold@fixtures-0000000a;2", "fixtures", "redirected", 1)
    with pytest.raises(AmiError, match="Channel does not exist: Local/gone-00000001;2"):
        await client.redirect("Local/gone-00000001;2", "fixtures", "redirected")
    assert [e.cause for e in ended if e.name == "Hangup"] == [16]


async def test_dtmf_and_hangup_events_reach_the_calls_callback(client: AmiClient) -> None:
    got: list[AmiEvent] = []

    async def on_event(event: AmiEvent) -> None:
        got.append(event)

    client.subscribe("1795681154.20", on_event)  # the ;2 leg's Uniqueid: the one that hears the DTMF
    await client.originate("Local/as-app@fixtures/n", "fixtures-player", "say")
    for _ in range(50):
        if any(e.name == "Hangup" for e in got):
            break
        await asyncio.sleep(0.01)
    assert [e.digit for e in got if e.name == "DTMFEnd"] == ["1", "#"]
    assert [(e.name, e.cause) for e in got if e.name == "Hangup"] == [("Hangup", 16)]
    assert [e.fields["Variable"] for e in got if e.name == "VarSet"] == ["SENTIRIC_SOURCE", "UUID"]
    assert got[0].name == "Newchannel"


async def test_getvar_and_hangup(client: AmiClient) -> None:
    await client.originate("Local/as-app@fixtures/n", "fixtures-player", "say")
    await client.originate("Local/hold@fixtures/n", "fixtures", "hold")
    uuid = await client.getvar("Local/as-app@fixtures-00000009;2", "UUID")
    assert uuid == "db585265-1bf2-4081-bfe6-a825c29daf7f"
    assert await client.getvar("Local/hold@fixtures-0000000a;2", "NO_SUCH_VARIABLE") is None
    with pytest.raises(AmiError, match="No such channel"):
        await client.getvar("Local/nope-00000000;1", "UUID")
    await client.hangup("Local/hold@fixtures-0000000a;1")
    with pytest.raises(AmiError, match="No such channel"):
        await client.hangup("Local/nope-00000000;1")


async def test_asterisk_restart_reconnects_and_logs_in_again(fake: FakeAmi, logs: list[dict[str, object]]) -> None:
    c = AmiClient(ami_config(fake.port, reconnect_max_s=2.0))
    scraper = MetricsServer("127.0.0.1", 0).start()
    c.start()
    await c.wait_connected(2.0)
    before = len(logs)
    reconnects = await scrape(scraper.port, 'sentiric_control_reconnects_total{peer="ami"}')
    assert await scrape(scraper.port, 'sentiric_control_connected{peer="ami"}') == 1
    await fake.restart(down_s=1.0)
    assert not c.connected
    assert await scrape(scraper.port, 'sentiric_control_connected{peer="ami"}') == 0
    with pytest.raises(AmiError, match="not connected"):
        await c.getvar("Local/x;1", "UUID")
    await c.wait_connected(5.0)
    restart = logs[before:]
    # The reconnect is counted on /metrics, once (the first login is not a reconnect).
    assert await scrape(scraper.port, 'sentiric_control_reconnects_total{peer="ami"}') == reconnects + 1
    assert await scrape(scraper.port, 'sentiric_control_connected{peer="ami"}') == 1
    await asyncio.to_thread(scraper.close)
    await c.close()
    assert fake.logins == 2
    assert [(e["event"], e["log_level"]) for e in restart if e["event"] != "ami_retry"] == [
        ("ami_disconnected", "warning"),
        ("ami_connected", "info"),
    ]
    assert restart[0]["reason"] == "closed by Asterisk"


def invoke_against_fake(monkeypatch: pytest.MonkeyPatch, password: str, args: list[str]) -> Result:
    """Run the CLI (its own event loop) in a thread while the fake serves on this test's loop."""

    async def serve_and_run() -> Result:
        server = await FakeAmi.start()
        monkeypatch.setenv("SENTIRIC_AMI__PORT", str(server.port))
        monkeypatch.setenv("SENTIRIC_AMI__PASSWORD", password)
        try:
            return await asyncio.to_thread(CliRunner().invoke, app, args)
        finally:
            await server.stop()

    return asyncio.run(serve_and_run())


def test_cli_originate_through_the_fake(monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke_against_fake(monkeypatch, PASSWORD, ["originate", "as-app@fixtures/n", "--channel-tech", "Local"])
    assert result.exit_code == 0, result.output
    assert "Local/as-app@fixtures/n" in result.stdout and "Success" in result.stdout
    assert "1795681154.19" in result.stdout


def test_cli_originate_with_a_wrong_password_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke_against_fake(monkeypatch, WRONG, ["originate", "+905551112233"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "refused login as 'sentiric': Authentication failed" in lines[0]
    assert WRONG not in result.output


def test_cli_originate_with_asterisk_down_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIRIC_AMI__PORT", str(free_port()))
    monkeypatch.setenv("SENTIRIC_AMI__PASSWORD", PASSWORD)
    result = CliRunner().invoke(app, ["originate", "+905551112233"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sentiric-pbx: error: cannot reach Asterisk AMI at 127.0.0.1:")


async def test_the_daemon_connects_to_ami_when_enabled(fake: FakeAmi, settings) -> None:
    """`[ami] enabled = true`: the daemon logs in at start and keeps the connection beside AudioSocket."""
    from sentiric_pbx.daemon import Daemon

    settings.ami = ami_config(fake.port)
    daemon = Daemon(settings)
    await daemon.start()
    try:
        await daemon.ami.wait_connected(5.0)
        assert daemon.ami.connected
    finally:
        await daemon.stop()
    assert not daemon.ami.connected
