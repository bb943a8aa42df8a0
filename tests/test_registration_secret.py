"""FastAGI registration bound to the call (issue 17 item 1), on real loopback sockets.

The probes of the issue, each as the scenario it was: a local process registers a caller ID for a UUID it
picked and connects AudioSocket with it; a second registration overwrites the first; 10 000 junk
registrations push a real call's entry out; the peer's `agi_network_script` becomes a Prometheus label.
Asterisk's side is the recorded `agi_*` block (tests/asterisk_peer.py) with the key the project's dialplan
computes, `${SHA1(${DB(sentiric/agi_secret)}${UUID})}`; the daemon runs the echo agent.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.telephony.asterisk.registration import Verdict, check_registration, registration_key
from tests.asterisk_peer import (
    AGI_SECRET,
    AgiPeer,
    AudioSocketPeer,
    agi_env_block,
    answers_a_real_call,
    demo_turn,
    log_lines,
    register,
    wait_log,
)
from tests.test_fastagi import knobs, settings  # noqa: F401 (the [fastagi] knobs fixture)

Logs = list[dict[str, object]]


def anonymous_calls(reason: str) -> float:
    return REGISTRY.get_sample_value("sentiric_anonymous_calls_total", {"reason": reason}) or 0.0


async def send_registration(port: int, block: bytes, call_id: str) -> AgiPeer:
    """One registration with `block` as its environment; Asterisk's answers to our commands; closed."""
    peer = await AgiPeer.connect(port)
    await peer.send(block)
    await peer.serve({"UUID": call_id})
    peer.close()
    return peer


def test_the_key_is_what_asterisks_sha1_of_secret_and_uuid_gives() -> None:
    """`${SHA1(${secret}${UUID})}`: the lower-case hex SHA-1 of the secret and the UUID joined, in that order
    (FIPS 180 test vector: SHA-1 of "abc"). tests/pbx/test_registration.py shows a real Asterisk agrees."""
    assert registration_key("ab", "c") == "a9993e364706816aba3e25717850c26c9cd0d89d"
    call_id = "e750b741-641e-4575-aac2-28ae7c3b8d42"
    secret = SecretStr(AGI_SECRET)
    key = registration_key(AGI_SECRET, call_id)
    assert check_registration(secret, call_id, key) is Verdict.VERIFIED
    assert check_registration(secret, call_id, key.upper()) is Verdict.VERIFIED
    assert check_registration(secret, call_id, "") is Verdict.MISSING_KEY
    assert check_registration(secret, call_id, registration_key("another-secret-value", call_id)) is Verdict.WRONG_KEY
    assert check_registration(secret, str(uuid.uuid4()), key) is Verdict.WRONG_KEY  # a key names one UUID
    assert check_registration(None, call_id, "") is Verdict.UNVERIFIED


# -- probe: any local process could be greeted as any customer --------------------------------------
@pytest.mark.parametrize("key", [None, "0" * 40], ids=["no-key", "forged-key"])
async def test_a_forged_registration_gives_the_call_no_caller_and_one_log_line(
    daemon: Daemon, logs: Logs, key: str | None
) -> None:
    """The issue's probe: register Ahmet Yilmaz's number for a UUID we picked, then connect AudioSocket
    with it. Refused: the call runs, anonymous (no caller ID, so no CRM lookup and no name), one line each."""
    peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
    call_id = str(peer.call_id)
    block = agi_env_block(call_id=call_id, key=key) if key else agi_env_block(call_id=call_id)
    agi = await send_registration(daemon.fastagi.port, block, call_id)

    reason = "wrong_key" if key else "missing_key"
    # The dialplan still goes on, and the channel says why it is anonymous (selftest reads it over AMI).
    assert agi.commands == [f"SET VARIABLE SENTIRIC_CALL_ID {call_id}", f"SET VARIABLE SENTIRIC_REFUSED {reason}"]
    assert call_id not in daemon.registry
    refused = log_lines(logs, "fastagi_registration_refused")
    assert [(r["reason"], r["call_id"]) for r in refused] == [(reason, call_id)]
    assert "secret" in str(refused[0]["detail"]) or "SHA1" in str(refused[0]["detail"])
    assert AGI_SECRET not in str(logs)  # the secret is never logged

    anonymous_before = anonymous_calls("unregistered")
    peer.send_uuid()
    started = await wait_log(logs, "call_started", call_id=call_id)
    assert (started["caller_id"], started["registered"]) == (None, False)
    assert len(log_lines(logs, "audiosocket_call_unregistered", call_id=call_id)) == 1
    assert anonymous_calls("unregistered") == anonymous_before + 1
    await peer.close()
    await answers_a_real_call(daemon, logs)


async def test_a_registration_with_the_dialplans_key_is_verified(daemon: Daemon, logs: Logs) -> None:
    call_id = str(uuid.uuid4())
    await register(daemon.fastagi.port, call_id)
    line = await wait_log(logs, "fastagi_registered", call_id=call_id)
    assert line["verified"] is True
    info = daemon.registry.take(call_id)
    assert info is not None and (info.caller_id, info.channel) == ("+905551112233", "Local/agi-as@fixtures-00000006;2")


# -- probe: a second registration overwrote the first -------------------------------------------------
async def test_the_first_registration_of_a_uuid_wins(daemon: Daemon, logs: Logs) -> None:
    """Even with the right key (seen in Asterisk's verbose log, say): the first registration stays."""
    call_id = str(uuid.uuid4())
    await register(daemon.fastagi.port, call_id)
    forged = agi_env_block(call_id=call_id, secret=AGI_SECRET).replace(b"+905551112233", b"+905550000000")
    await send_registration(daemon.fastagi.port, forged, call_id)

    refused = log_lines(logs, "fastagi_registration_refused")
    assert [(r["reason"], r["call_id"]) for r in refused] == [("duplicate", call_id)]
    info = daemon.registry.take(call_id)
    assert info is not None and info.caller_id == "+905551112233"
    # Once the media leg has claimed it, the UUID cannot be registered again either.
    await send_registration(daemon.fastagi.port, agi_env_block(call_id=call_id, secret=AGI_SECRET), call_id)
    assert call_id not in daemon.registry


# -- probe: 10 000 junk registrations pushed a real call's entry out ------------------------------------
@knobs(max_pending=5, max_pending_per_peer=5)
async def test_registrations_beyond_the_cap_are_refused_and_never_push_a_waiting_call_out(
    daemon: Daemon, logs: Logs
) -> None:
    real = str(uuid.uuid4())
    await register(daemon.fastagi.port, real)
    junk = [str(uuid.uuid4()) for _ in range(5)]
    for call_id in junk:  # keyed, even: what a flood of real calls beyond the cap would look like
        await register(daemon.fastagi.port, call_id)

    assert real in daemon.registry
    assert sum(call_id in daemon.registry for call_id in junk) == 4  # the cap is 5 waiting in all
    refused = log_lines(logs, "fastagi_registration_refused")
    assert [(r["reason"], r["call_id"]) for r in refused] == [("full", junk[-1])]
    await answers_a_real_call(daemon, logs, real)


@knobs(max_pending=100, max_pending_per_peer=3)
async def test_one_peer_cannot_hold_more_than_its_share(daemon: Daemon, logs: Logs) -> None:
    ids = [str(uuid.uuid4()) for _ in range(4)]
    for call_id in ids:
        await register(daemon.fastagi.port, call_id)
    assert [call_id in daemon.registry for call_id in ids] == [True, True, True, False]
    refused = log_lines(logs, "fastagi_registration_refused")
    assert [(r["reason"], r["call_id"]) for r in refused] == [("peer_full", ids[3])]
    daemon.registry.take(ids[0])  # a call connects: its slot is free again
    await register(daemon.fastagi.port, ids[3])
    assert ids[3] in daemon.registry


# -- probe: the peer's script name became a Prometheus label --------------------------------------------
async def test_unknown_script_names_share_one_metric_label(settings: Settings, logs: Logs) -> None:  # noqa: F811
    settings.metrics.enabled = True
    settings.metrics.port = 0
    daemon = Daemon(settings)
    await daemon.start()
    try:
        url = f"http://127.0.0.1:{daemon.metrics_port}/metrics"
        series = 'sentiric_fastagi_requests_total{outcome="unknown_script",script="other"}'
        async with httpx.AsyncClient() as http:
            before = (await http.get(url)).text
            for i in range(50):
                block = agi_env_block().replace(b"agi_network_script: register", f"agi_network_script: x{i}".encode())
                peer = await AgiPeer.connect(daemon.fastagi.port)
                await peer.send(block)
                await peer.wait_closed_by_server()
                peer.close()
            after = (await http.get(url)).text
        assert "x17" not in after
        assert value(after, series) - value(before, series) == 50
        assert len(after) - len(before) < 2000  # at most one new series, not fifty
    finally:
        await daemon.stop()


def value(text: str, series: str) -> float:
    """One series' value in a `/metrics` page (0 before its first sample)."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# -- an installation that has not set the secret ------------------------------------------------------
@knobs(secret=None)
async def test_without_a_secret_registrations_are_unverified_and_start_up_says_how_to_fix_it(
    daemon: Daemon, logs: Logs
) -> None:
    """Decided: calls keep working, but nobody is greeted by name — caller ID and channel are not taken."""
    peer = await AudioSocketPeer.connect(daemon.audiosocket.port)
    call_id = str(peer.call_id)
    await register(daemon.fastagi.port, call_id, secret=None)
    line = await wait_log(logs, "fastagi_registered", call_id=call_id)
    assert (line["verified"], line["caller_id"], line["channel"]) == (False, None, None)
    peer.send_uuid()
    peer.talk(demo_turn(8000))
    await peer.wait_echo()  # the call is answered
    started = await wait_log(logs, "call_started", call_id=call_id)
    assert started["caller_id"] is None
    assert not log_lines(logs, "audiosocket_call_unregistered")  # registered, as unverified
    await peer.close()


@knobs(secret=None)
async def test_the_start_up_warning_names_the_fix(settings: Settings, logs: Logs) -> None:  # noqa: F811
    daemon = Daemon(settings)
    await daemon.start()
    await daemon.stop()
    [warning] = log_lines(logs, "fastagi_secret_not_set")
    assert "[fastagi] secret" in str(warning["fix"]) and "database put sentiric agi_secret" in str(warning["fix"])


def test_a_secret_the_dialplan_could_not_hash_as_written_is_refused_at_load() -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        Settings(fastagi={"secret": "has,a,comma-and-is-long"})
    with pytest.raises(ValueError, match="letters, digits"):
        Settings(fastagi={"secret": "short"})
    assert Settings(fastagi={"secret": "a" * 32}).fastagi.secret is not None


async def test_registrations_at_once_each_get_their_own_verdict(daemon: Daemon, logs: Logs) -> None:
    good = [str(uuid.uuid4()) for _ in range(10)]
    bad = [str(uuid.uuid4()) for _ in range(10)]
    await asyncio.gather(
        *(register(daemon.fastagi.port, c) for c in good),
        *(send_registration(daemon.fastagi.port, agi_env_block(call_id=c, key="f" * 40), c) for c in bad),
    )
    assert all(c in daemon.registry for c in good)
    assert not any(c in daemon.registry for c in bad)


def test_doctor_warns_while_no_secret_is_set_and_says_how_to_set_both_sides() -> None:
    from sentiric_pbx.doctor import check_fastagi_secret

    unset = check_fastagi_secret(Settings())
    assert unset.status == "warn" and "database put sentiric agi_secret" in unset.hint
    assert check_fastagi_secret(Settings(fastagi={"secret": AGI_SECRET})).status == "ok"
    assert AGI_SECRET not in str(check_fastagi_secret(Settings(fastagi={"secret": AGI_SECRET})))
