"""The FastAGI registration key through a real Asterisk and the project's dialplan, unchanged (issue 17).

asterisk/extensions.conf passes `${SHA1(${DB(sentiric/agi_secret)}${UUID})}` as the AGI's third argument;
the `pbx` fixture puts the secret in AstDB as README tells the admin to, and the daemon has the same
`[fastagi] secret`. So a real call is verified and a known caller is greeted by name — which also proves
that Asterisk's SHA1() of the joined strings is what the daemon computes. A process on the same host that
registers a customer's number for a UUID it made up, then connects AudioSocket with it (the issue's
probe), gets the plain greeting; and a PBX whose AstDB lacks the secret still has its calls answered,
anonymously, with one clear line saying why.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sentiric_pbx.tools.caller import CallerOptions
from tests.asterisk_peer import AgiPeer, AudioSocketPeer, agi_env_block
from tests.pbx.conftest import DIALPLAN_AUDIOSOCKET, DIALPLAN_FASTAGI, agent_settings, dial, heard, running

pytestmark = pytest.mark.asyncio(loop_scope="session")

CALLER = ("Ahmet Yilmaz", "+905551112233")


async def greeting_heard(call, engines) -> str:
    """Let the greeting play out, hang up, and return what Whisper makes of what the far end received."""
    await call.converse([], CallerOptions(rate=8000, greeting_wait_s=8.0, reply_timeout_s=12.0, reply_silence_s=1.5))
    audio = b"".join(pcm for _t, pcm, _v in call.wire.received)
    await call.hang_up()
    return await heard(engines, audio, 8000)


async def forged_call_greeting(engines) -> str:
    """The probe: register the customer's number for a UUID we made up (the recorded `agi_*` block, no key),
    connect AudioSocket with it as Asterisk would, and hear what the agent says."""
    peer = await AudioSocketPeer.connect(DIALPLAN_AUDIOSOCKET)
    agi = await AgiPeer.connect(DIALPLAN_FASTAGI)
    await agi.send(agi_env_block(call_id=str(peer.call_id), key="0" * 40))
    await agi.serve({"UUID": str(peer.call_id)})
    agi.close()
    peer.send_uuid()
    peer.talk(b"")
    await asyncio.sleep(8.0)  # the greeting, whole
    audio = b"".join(f.payload for f in peer.audio())
    await peer.close()
    return await heard(engines, audio, 8000)


async def test_a_call_through_the_dialplan_is_greeted_by_name_and_a_forged_registration_is_not(
    pbx, ami, farend, engines, models_dir, tmp_path: Path, logs
) -> None:
    async with running(agent_settings(tmp_path, models_dir, pbx), engines) as daemon:
        await daemon.assistant.s.crm.add_customer(CALLER[1], CALLER[0], title="Mr.", language="en")
        real = await greeting_heard(await dial(ami, farend, "100"), engines)
        forged = await forged_call_greeting(engines)

    verified = [e for e in logs if e["event"] == "fastagi_registered"]
    assert [e["verified"] for e in verified] == [True], verified  # the dialplan's key matched ours
    assert "yilmaz" in real or "welcome back" in real, real
    refused = [e for e in logs if e["event"] == "fastagi_registration_refused"]
    assert [e["reason"] for e in refused] == ["wrong_key"], refused
    assert "yilmaz" not in forged and "welcome back" not in forged, forged
    assert "thank you for calling" in forged or "how can i help" in forged, forged  # it was answered


async def test_a_pbx_without_the_secret_in_astdb_gets_anonymous_calls_and_one_line_saying_why(
    pbx, ami, farend, engines, models_dir, tmp_path: Path, logs
) -> None:
    assert "Database entry removed" in pbx.cli("database del sentiric agi_secret")
    async with running(agent_settings(tmp_path, models_dir, pbx), engines) as daemon:
        await daemon.assistant.s.crm.add_customer(CALLER[1], CALLER[0], title="Mr.", language="en")
        said = await greeting_heard(await dial(ami, farend, "100"), engines)

    assert "yilmaz" not in said and "welcome back" not in said, said
    assert "thank you for calling" in said or "how can i help" in said, said  # answered all the same
    [refused] = [e for e in logs if e["event"] == "fastagi_registration_refused"]
    assert refused["reason"] == "wrong_key"  # SHA1 of the UUID alone: a key, but not ours
    assert "database put sentiric agi_secret" in str(refused["detail"])
    assert [e["event"] for e in logs if e["event"] == "audiosocket_call_unregistered"] == [
        "audiosocket_call_unregistered"
    ]
