"""The control plane on a real Asterisk: AMI and ARI across an Asterisk restart, caller ID from AMI
without FastAGI, and `sentiric-pbx originate` ringing a real phone.

Calls without FastAGI: the project's dialplan has no extension for that (102 is commented out, and the
suite includes asterisk/extensions.conf unchanged), but its `[sentiric-selftest] s` is exactly such a
dialplan — `Answer()` then `AudioSocket(${SENTIRIC_SELFTEST_UUID},${SENTIRIC_SELFTEST_ADDR})`, no AGI.
We originate an `AudioSocket/<far end>` channel (chan_audiosocket: the caller's audio comes from, and the
agent's goes to, the test's `FarEnd`) into that extension with the address pointed at the daemon and
`UUID=<uuid>` set as 102 would set it. Asterisk then emits what a real 102 call emits — the `VarSet` of
`UUID` and the `Newexten` of `AudioSocket(<uuid>,127.0.0.1:9092)` — and nothing else tells the daemon
who is calling.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from sentiric_pbx.tools.farend import FarEnd, FarEndCall
from tests.pbx.ami import PbxAmi
from tests.pbx.asterisk import SECRET, Asterisk
from tests.pbx.baresip import speech_ends
from tests.pbx.conftest import DIALPLAN_AUDIOSOCKET, agent_settings, dial, finished_calls, heard, running

pytestmark = pytest.mark.asyncio(loop_scope="session")

CALLER = ("Ahmet Yilmaz", "+905551112233")
QUIET_S = 1.2


async def dial_without_fastagi(ami: PbxAmi, farend: FarEnd, caller: tuple[str, str] = CALLER) -> tuple[str, FarEndCall]:
    """A call whose only metadata is AMI's: returns the agent leg's UUID and the far end's side of the call."""
    agent_uuid, far_uuid = str(uuid.uuid4()), farend.expect()
    await ami.originate(
        f"AudioSocket/{farend.address}/{far_uuid}/c(slin)",
        Context="sentiric-selftest",
        Exten="s",
        Priority="1",
        CallerID=f'"{caller[0]}" <{caller[1]}>',
        variables={
            "UUID": agent_uuid,
            "SENTIRIC_SELFTEST_UUID": agent_uuid,
            "SENTIRIC_SELFTEST_ADDR": f"127.0.0.1:{DIALPLAN_AUDIOSOCKET}",
        },
    )
    return agent_uuid, await farend.answer(far_uuid, rate=8000)


async def greeting(call: FarEndCall, within_s: float = 20.0) -> bytes:
    """The far end's received audio once it has heard speech and then `QUIET_S` without any."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(within_s):
        while True:
            await asyncio.sleep(0.1)
            voiced = [t for t, _pcm, v in call.wire.received if v]
            if voiced and loop.time() - voiced[-1] >= QUIET_S:
                return b"".join(pcm for _t, pcm, _v in call.wire.received)


def reconnects(peer: str) -> float:
    return REGISTRY.get_sample_value("sentiric_control_reconnects_total", {"peer": peer}) or 0.0


async def test_caller_id_comes_from_ami_when_the_dialplan_has_no_fastagi_step(
    pbx, ami, farend, engines, models_dir, tmp_path: Path, logs
) -> None:
    async with running(agent_settings(tmp_path, models_dir, pbx, ami=True), engines) as daemon:
        await daemon.ami.wait_connected(10)
        await daemon.assistant.s.crm.add_customer(CALLER[1], CALLER[0], title="Mr.", language="en")
        call_id, call = await dial_without_fastagi(ami, farend)
        said = await heard(engines, await greeting(call), 8000)
        await call.hang_up()
        [ctx] = await finished_calls(daemon)

    assert not [e for e in logs if e["event"] == "fastagi_registered"], "FastAGI was used: nothing is proven"
    sources = {e["source"] for e in logs if e["event"] == "ami_call_metadata" and e.get("call_id") == call_id}
    assert sources, "the daemon took no metadata from AMI for the call"
    assert "welcome back" in said or "yilmaz" in said, said  # greeted by name: the caller ID arrived in time
    assert (ctx.call_id, ctx.caller_id) == (call_id, CALLER[1])


async def test_after_an_asterisk_restart_ami_and_ari_reconnect_and_calls_work_again(
    pbx: Asterisk, farend, engines, models_dir, tmp_path: Path
) -> None:
    settings = agent_settings(tmp_path, models_dir, pbx, ami=True)
    settings.ari.enabled = True
    async with running(settings, engines) as daemon:
        await daemon.ami.wait_connected(10)
        await asyncio.wait_for(daemon.ari.connected.wait(), 10)
        await daemon.assistant.s.crm.add_customer(CALLER[1], CALLER[0], title="Mr.", language="en")
        before = {peer: reconnects(peer) for peer in ("ami", "ari")}

        await asyncio.to_thread(pbx.restart)
        up = time.monotonic()
        async with asyncio.timeout(60):
            while daemon.ami.connections < 2 or daemon.ari.connections < 2 or not daemon.ari.connected.is_set():
                await asyncio.sleep(0.1)
        print(f"\ncontrol plane back {time.monotonic() - up:.1f} s after Asterisk was fully booted again")
        after = {peer: reconnects(peer) for peer in ("ami", "ari")}

        ami = await PbxAmi.connect(pbx.ports.ami)
        try:
            # AMI: its events give a call without FastAGI the caller's name again.
            _, call = await dial_without_fastagi(ami, farend)
            by_ami = await heard(engines, await greeting(call), 8000)
            await call.hang_up()
            # ARI: the Stasis app is registered again, so extension 200 reaches the agent.
            call = await dial(ami, farend, "200")
            by_ari = await heard(engines, await greeting(call), 8000)
            await call.hang_up()
        finally:
            await ami.close()
        calls = await finished_calls(daemon, count=2)

    assert after == {peer: before[peer] + 1 for peer in before}, (before, after)
    assert "welcome back" in by_ami or "yilmaz" in by_ami, by_ami
    assert "calling" in by_ari or "help" in by_ari or "welcome" in by_ari, by_ari
    assert {c.ingress for c in calls} == {"audiosocket", "ari"}, [c.ingress for c in calls]


async def test_the_originate_command_rings_a_phone_and_connects_it_to_the_agent(
    pbx: Asterisk, ami, engines, models_dir, phones, tmp_path: Path
) -> None:
    config = tmp_path / "originate.toml"
    config.write_text(f'[ami]\nhost = "127.0.0.1"\nport = {pbx.ports.ami}\npassword = "{SECRET}"\n')
    config.chmod(0o600)
    async with running(agent_settings(tmp_path, models_dir, pbx), engines) as daemon:
        reception = await phones("reception", auto_answer=True)
        cli = await asyncio.create_subprocess_exec(
            *(Path(sys.executable).parent / "sentiric-pbx", "originate", "reception", "--exten", "100"),
            *("--caller-id", '"Clinic" <5000>', "--config", str(config)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(cli.communicate(), 60)
        answered = await reception.wait_answered(within_s=10)
        greeting_end = await speech_ends(reception.heard, answered.answered_at, QUIET_S)
        said = await heard(engines, reception.heard().pcm_between(answered.answered_at, greeting_end + 0.1), 8000)
        await reception.hang_up()
        [ctx] = await finished_calls(daemon)

    assert cli.returncode == 0, (out.decode(), err.decode())
    assert "PJSIP/reception" in out.decode() and "Success" in out.decode(), out.decode()
    [dialled] = [
        e for e in ami.events if e.get("Event") == "DialEnd" and e["DestChannel"].startswith("PJSIP/reception-")
    ]
    assert dialled["DialStatus"] == "ANSWER", dialled
    [placed] = [e for e in ami.events if e.get("Event") == "OriginateResponse"]
    assert (placed["Response"], placed["Channel"], placed["Exten"]) == ("Success", dialled["DestChannel"], "100")
    assert "calling" in said or "help" in said, said
    assert (ctx.called_number, ctx.caller_name) == ("100", "Clinic"), ctx  # the agent's call is the one placed
