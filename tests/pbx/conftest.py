"""The real-PBX suite: a real Asterisk per test, the daemon on the project's dialplan, a caller on the far side.

Each test gets its own Asterisk instance (`pbx`: own directory, own SIP/AMI/HTTP/RTP ports, the project's
`asterisk/*.conf`), and runs the daemon in-process on the bundled models (`engines`, loaded once for the
whole suite) on the addresses that dialplan dials: FastAGI 127.0.0.1:4573 and AudioSocket 127.0.0.1:9092.
Calls are placed with AMI `Originate` into the agent's extension, with the caller's side in the
project's own `[sentiric-selftest]` context connected to a `FarEnd` (sentiric_pbx/tools/farend.py),
or from baresip, a real SIP phone.

Without an Asterisk (a user's clone without ../shared/asterisk and no SENTIRIC_TEST_ASTERISK) the suite
is skipped with one line; under CI=true that is a failure instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from sentiric_pbx.audio.resample import resample
from sentiric_pbx.call.record import CallContext
from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.engines.pool import EnginePool
from sentiric_pbx.tools.farend import FarEnd
from tests.pbx.ami import PbxAmi
from tests.pbx.asterisk import SECRET, Asterisk, AsteriskUnavailable, Install, find_install

AGI_SECRET = "sentiric-pbx-test-agi-secret"
"""`[fastagi] secret` of the daemon under test, and AstDB's sentiric/agi_secret in every test Asterisk."""
DIALPLAN_FASTAGI = 4573
DIALPLAN_AUDIOSOCKET = 9092
"""What the project's asterisk/extensions.conf dials; the daemon under test must listen there."""


# -- Asterisk -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def asterisk_install() -> Install:
    try:
        return find_install()
    except AsteriskUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"real-PBX suite: {exc} (CI=true: a missing PBX is a failure, not a skip)")
        pytest.skip(f"real-PBX suite skipped: {exc}")


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    item.stash.setdefault(_FAILED, False)
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture
def pbx(asterisk_install: Install, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Asterisk]:
    """A fresh Asterisk for this test; its console log is printed when the test fails."""
    instance = Asterisk(asterisk_install, tmp_path / "asterisk")
    instance.start()
    # What README "Dialplan secret" tells the admin to do once: the dialplan keys registrations with it.
    put = instance.cli(f"database put sentiric agi_secret {AGI_SECRET}")
    assert "Updated database successfully" in put, put
    try:
        yield instance
    finally:
        instance.stop()
        if request.node.stash.get(_FAILED, False):
            print(f"\n--- Asterisk console ({instance.root}) ---\n{instance.console_tail()}")


@pytest_asyncio.fixture(loop_scope="session")
async def ami(pbx: Asterisk) -> AsyncIterator[PbxAmi]:
    client = await PbxAmi.connect(pbx.ports.ami)
    yield client
    await client.close()


# -- the daemon -----------------------------------------------------------------------------------
def agent_settings(tmp: Path, models_dir: Path, pbx: Asterisk | None = None, *, ami: bool = False) -> Settings:
    """The assistant on the dialplan's addresses, data under `tmp`; AMI/ARI pointed at `pbx` (off by default)."""
    s = Settings()
    s.agent.mode = "assistant"
    s.audiosocket.host = s.fastagi.host = "127.0.0.1"
    s.audiosocket.port = DIALPLAN_AUDIOSOCKET
    s.fastagi.port = DIALPLAN_FASTAGI
    s.fastagi.secret = AGI_SECRET  # type: ignore[assignment]
    s.metrics.enabled = False
    s.models.dir = models_dir
    s.storage.db_path = tmp / "sentiric.db"
    s.storage.archive_dir = tmp / "archive"
    s.dialog.no_input_reprompt_s = 30.0
    if pbx is not None:
        s.ami.port = pbx.ports.ami
        s.ami.password = SECRET  # type: ignore[assignment]
        s.ami.enabled = ami
        s.ari.url = pbx.ari_url
        s.ari.password = SECRET  # type: ignore[assignment]
    return s


def _check_free(port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            pytest.fail(
                f"127.0.0.1:{port} is taken: the real-PBX suite runs the project's dialplan unchanged, which "
                f"dials the daemon there (stop the sentiric-pbx service on this host while testing)"
            )


@contextlib.asynccontextmanager
async def running(settings: Settings, engines: EnginePool) -> AsyncIterator[Daemon]:
    """The daemon with `settings`, sharing the suite's models; stopped (and every call stored) after."""
    _check_free(settings.audiosocket.port)
    _check_free(settings.fastagi.port)
    daemon = Daemon(settings, engines=engines)
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def farend() -> AsyncIterator[FarEnd]:
    server = await FarEnd().start()
    yield server
    await server.close()


# -- calls ----------------------------------------------------------------------------------------
async def dial(
    ami: PbxAmi,
    farend: FarEnd,
    exten: str,
    *,
    rate: int = 8000,
    silent_frames: bool = True,
    caller_id: str = '"Ahmet Yilmaz" <+905551112233>',
    context: str = "sentiric",
):
    """Originate Local/<exten>@<context>/n with the caller's side on `farend`; return the answered call."""
    call_id = farend.expect()
    fields = {"Context": "sentiric-selftest", "Exten": "wideband" if rate == 16000 else "s", "Priority": "1"}
    if rate == 16000:
        fields["Codecs"] = "slin16"
    await ami.originate(
        f"Local/{exten}@{context}/n",
        CallerID=caller_id,
        variables={"SENTIRIC_SELFTEST_UUID": call_id, "SENTIRIC_SELFTEST_ADDR": farend.address},
        **fields,
    )
    return await farend.answer(call_id, rate=rate, silent_frames=silent_frames)


async def finished_calls(daemon: Daemon, count: int = 1, within_s: float = 20.0) -> list[CallContext]:
    """The daemon's stored calls (newest first) once `count` of them exist and none is still active."""
    store = daemon.assistant.s.store
    async with asyncio.timeout(within_s):
        while True:
            calls = await store.list(limit=50)
            if len(calls) >= count and all(c.status != "active" for c in calls):
                return calls
            await asyncio.sleep(0.1)


async def stored_call(daemon: Daemon, call_id: str, within_s: float = 20.0) -> CallContext:
    store = daemon.assistant.s.store
    async with asyncio.timeout(within_s):
        while True:
            ctx = await store.load(call_id)
            if ctx is not None and ctx.status != "active":
                return ctx
            await asyncio.sleep(0.1)


@pytest.fixture(scope="session")
def phrases() -> dict[str, str]:
    return {
        "booking": "I would like to book an appointment tomorrow at 3 pm.",
        "hours": "What are your opening hours?",
        "human": "Can I talk to a human please?",
    }


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def speech(engines: EnginePool, phrases: dict[str, str]) -> dict[tuple[str, int], bytes]:
    """Each phrase spoken by Piper, at 8 and 16 kHz: what the far-end caller says."""
    out: dict[tuple[str, int], bytes] = {}
    for key, text in phrases.items():
        pcm16 = await engines.tts.synthesize_sentence(text)  # type: ignore[union-attr]
        out[(key, 16000)] = pcm16
        out[(key, 8000)] = resample(pcm16, 16000, 8000)
    return out


async def heard(engines: EnginePool, pcm: bytes, rate: int) -> str:
    """What Whisper makes of audio the far end received (lowercase)."""
    pcm16 = pcm if rate == 16000 else resample(pcm, rate, 16000)
    return (await engines.stt_for("en").transcribe(pcm16)).text.lower()  # type: ignore[attr-defined]


# -- SIP phones (baresip) -----------------------------------------------------------------------------
@pytest_asyncio.fixture(loop_scope="session")
async def phones(pbx: Asterisk, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator:
    """`await phones("1001", "G722")`: a baresip registered to this test's Asterisk; all stopped after the test.

    Skips (fails under CI=true) when baresip or its modules are missing. A failed test prints each log.
    """
    from tests.pbx.baresip import BaresipUnavailable, Phone, find_baresip

    try:
        find_baresip()
    except BaresipUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"real-PBX suite: {exc} (CI=true: a missing phone is a failure, not a skip)")
        pytest.skip(f"SIP phone tests skipped: {exc}")
    started: list[Phone] = []

    async def make(user: str, codec: str = "PCMU", *, auto_answer: bool = False) -> Phone:
        phone = Phone(pbx, tmp_path / f"phone-{user}", user, codec=codec, auto_answer=auto_answer)
        started.append(phone)
        return await phone.start()

    yield make
    for phone in started:
        await phone.stop()
        if request.node.stash.get(_FAILED, False):
            print(f"\n--- baresip {phone.user} ({phone.root}) ---\n{phone.log_tail()}")
