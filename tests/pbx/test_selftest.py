"""`sentiric-pbx selftest` against a real Asterisk 22.10.1, run the way an admin runs it.

The daemon runs in-process on the suite's models, on the addresses the project's dialplan dials; the
selftest runs as a subprocess (`sentiric-pbx selftest --config … --json`) with a config file that holds
the same settings: its own process, its own models and AMI session, beside a daemon it did not start —
what an admin has with systemd. (Through CliRunner it would share the daemon's models and need a second
event loop inside the test's.) The passing call is checked from both sides: what the selftest printed,
and the call the daemon stored. Each failure test breaks one thing and asserts the one line the admin reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sentiric_pbx.call.transport import CallTransport
from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.engines.pool import EnginePool
from tests.pbx.asterisk import PROJECT_CONFS, SECRET, Asterisk, Install, free_port
from tests.pbx.conftest import _check_free, agent_settings, running, stored_call

pytestmark = pytest.mark.asyncio(loop_scope="session")

CLI = Path(sys.executable).with_name("sentiric-pbx")
FAST = ["--greeting-timeout", "5", "--reply-timeout", "6"]
"""Shorter waits for the tests where the agent is meant to stay silent (defaults: 8 s and 15 s)."""


def config_file(tmp: Path, s: Settings) -> Path:
    """The daemon's settings as the TOML an admin keeps in /etc/sentiric-pbx (mode 600: it holds the AMI secret)."""
    password = s.ami.password.get_secret_value() if s.ami.password else ""
    text = f"""
[agent]
mode = "{s.agent.mode}"
[audiosocket]
host = "{s.audiosocket.host}"
port = {s.audiosocket.port}
[fastagi]
host = "{s.fastagi.host}"
port = {s.fastagi.port}
[metrics]
enabled = {str(s.metrics.enabled).lower()}
host = "{s.metrics.host}"
port = {s.metrics.port}
[models]
dir = "{s.models.dir}"
[ami]
enabled = {str(s.ami.enabled).lower()}
host = "{s.ami.host}"
port = {s.ami.port}
password = "{password}"
"""
    path = tmp / "selftest.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path


async def selftest(config: Path, *args: str, as_json: bool = True) -> tuple[int, dict | str, str]:
    """Run the command; (exit code, the JSON object or the text printed, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIRIC_")}
    proc = await asyncio.create_subprocess_exec(
        str(CLI),
        "selftest",
        "--config",
        str(config),
        *(["--json"] if as_json else []),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    async with asyncio.timeout(180):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    text = out.decode()
    return proc.returncode, (json.loads(text) if as_json else text), err.decode()


def settings_for(tmp: Path, models_dir: Path, pbx: Asterisk | None, *, ami: bool = False) -> Settings:
    """The suite's daemon settings, with /healthz on a free port (the selftest asks it which ports it holds)."""
    s = agent_settings(tmp, models_dir, pbx, ami=ami)
    s.metrics.enabled = True
    s.metrics.port = free_port()
    return s


# -- it works ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("exten", "rate"), [("100", 8000), ("101", 16000)], ids=["100-8kHz", "101-16kHz"])
async def test_selftest_passes_against_the_bundled_asterisk(
    pbx, engines: EnginePool, models_dir: Path, tmp_path: Path, exten: str, rate: int
) -> None:
    s = settings_for(tmp_path, models_dir, pbx, ami=True)
    async with running(s, engines) as daemon:
        code, result, err = await selftest(config_file(tmp_path, s), "--exten", exten)
        assert isinstance(result, dict)
        stored = await stored_call(daemon, result["agent_call_id"]) if result["agent_call_id"] else None

    assert code == 0 and result["ok"] is True and result["problems"] == [], (result, err)
    assert isinstance(result["greeting_ms"], float) and result["greeting_ms"] > 0
    assert isinstance(result["reply_ms"], float) and result["reply_ms"] > 0
    heard = result["heard"].lower()
    assert "monday" in heard and "friday" in heard, heard  # "We are open Monday to Friday, from 9 am to 5 pm."
    assert result["rate"] == rate and result["channel"] == f"Local/{exten}@sentiric/n"
    assert result["daemon"]["pid"] == os.getpid()  # /healthz of the daemon under test, in this process
    # The daemon's side of the same call: the question reached it through Asterisk and was understood.
    assert stored is not None, "the daemon stored no call under the agent leg's UUID"
    callers = [t.text.lower() for t in stored.turns if t.who == "caller"]
    assert callers and "opening hours" in callers[0], callers


# -- it fails, and says why -------------------------------------------------------------------------
async def test_daemon_not_running_is_fastagi_unreachable(pbx, engines, models_dir: Path, tmp_path: Path) -> None:
    s = settings_for(tmp_path, models_dir, pbx)
    code, result, _err = await selftest(config_file(tmp_path, s))
    assert isinstance(result, dict)
    assert code == 1 and result["ok"] is False
    cause = result["problems"][0]
    assert cause.startswith("FastAGI unreachable: the agent's AGI(agi://127.0.0.1:4573/…) failed (AGISTATUS=FAILURE)")
    assert f"no sentiric-pbx answers /healthz on 127.0.0.1:{s.metrics.port} either" in cause
    assert result["greeting_ms"] is None and result["reply_ms"] is None


async def test_wrong_ami_password_is_login_refused_and_never_printed(pbx, models_dir: Path, tmp_path: Path) -> None:
    s = settings_for(tmp_path, models_dir, pbx)
    s.ami.password = "not-the-secret"  # type: ignore[assignment]
    code, result, err = await selftest(config_file(tmp_path, s))
    assert isinstance(result, dict)
    assert code == 1 and len(result["problems"]) == 1
    assert result["problems"][0].startswith(f"AMI login refused: Asterisk AMI at 127.0.0.1:{pbx.ports.ami} refused")
    assert "Authentication failed" in result["problems"][0]
    assert "not-the-secret" not in json.dumps(result) + err and SECRET not in err


async def test_ami_port_closed_is_ami_unreachable(models_dir: Path, tmp_path: Path) -> None:
    s = settings_for(tmp_path, models_dir, None)
    s.ami.port = free_port()
    s.ami.password = SECRET  # type: ignore[assignment]
    code, text, _err = await selftest(config_file(tmp_path, s), as_json=False)
    assert isinstance(text, str)
    assert code == 1
    last = text.strip().splitlines()[-1]
    assert last.startswith(f"FAIL: AMI unreachable at 127.0.0.1:{s.ami.port}: "), text
    assert "is Asterisk running?" in last


async def test_extension_that_does_not_exist_is_dialplan_not_loaded(pbx, engines, models_dir, tmp_path) -> None:
    s = settings_for(tmp_path, models_dir, pbx)
    code, result, _err = await selftest(config_file(tmp_path, s), "--exten", "1999")
    assert isinstance(result, dict)
    assert code == 1
    assert result["problems"] == [
        "dialplan not loaded: extension 1999 does not exist in context sentiric (Asterisk could not start "
        "Local/1999@sentiric): check --context/--exten, #include asterisk/extensions.conf and "
        "`asterisk -rx 'dialplan reload'`"
    ]


class AsteriskWithoutSelftestContext(Asterisk):
    """An Asterisk whose extensions.conf is the project's from before `[sentiric-selftest]` existed."""

    def write_config(self) -> None:
        super().write_config()
        project = (PROJECT_CONFS / "extensions.conf").read_text()
        old = re.sub(r"\n\[sentiric-selftest\]\n.*?(?=\n\[)", "\n", project, flags=re.DOTALL)
        assert "[sentiric-selftest]" not in old and "[sentiric]" in old
        (self.etc / "old-extensions.conf").write_text(old)
        (self.etc / "extensions.conf").write_text(
            f'[general]\nstatic = yes\nwriteprotect = yes\n\n#include "{self.etc / "old-extensions.conf"}"\n'
        )


@pytest.fixture
def old_pbx(asterisk_install: Install, tmp_path: Path) -> Iterator[Asterisk]:
    instance = AsteriskWithoutSelftestContext(asterisk_install, tmp_path / "asterisk")
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


async def test_missing_selftest_context_is_dialplan_not_loaded(old_pbx, engines, models_dir, tmp_path) -> None:
    s = settings_for(tmp_path, models_dir, old_pbx)
    code, result, _err = await selftest(config_file(tmp_path, s))
    assert isinstance(result, dict)
    assert code == 1 and len(result["problems"]) == 1
    assert result["problems"][0].startswith(
        "dialplan not loaded: context sentiric-selftest does not exist in Asterisk (Extension does not exist.)"
    )


async def test_daemon_on_another_audiosocket_port_is_audiosocket_unreachable(
    pbx, engines, models_dir: Path, tmp_path: Path
) -> None:
    s = settings_for(tmp_path, models_dir, pbx)
    s.agent.mode = "echo"
    s.audiosocket.port = free_port()  # the dialplan still dials 9092: FastAGI answers, AudioSocket cannot connect
    async with running(s, engines):
        code, result, _err = await selftest(config_file(tmp_path, s))
    assert isinstance(result, dict)
    assert code == 1
    cause = result["problems"][0]
    assert cause.startswith("AudioSocket unreachable: the agent's AudioSocket(…,127.0.0.1:9092) hung up (cause 0)")
    assert f"listens for audiosocket on 127.0.0.1:{s.audiosocket.port}" in cause


async def test_a_dialplan_secret_other_than_the_daemons_is_registration_refused(
    pbx, engines, models_dir: Path, tmp_path: Path
) -> None:
    """The call itself works (answered, anonymously), which is why this used to PASS: the selftest's own
    caller ID is empty, so nothing it heard was different, while no real caller was greeted by name."""
    assert "Updated database successfully" in pbx.cli("database put sentiric agi_secret not-the-daemons-secret")
    s = settings_for(tmp_path, models_dir, pbx)
    async with running(s, engines):
        code, result, _err = await selftest(config_file(tmp_path, s))
    assert isinstance(result, dict)
    assert code == 1 and result["ok"] is False
    assert result["reply_ms"] is not None and "monday" in (result["heard"] or "").lower()  # the call worked
    assert result["problems"] == [
        "registration refused (wrong_key): the dialplan's key does not match [fastagi] secret (AstDB "
        "sentiric/agi_secret holds another secret); calls are answered but anonymously (no caller ID, no greeting "
        "by name): set the same secret on both sides, asterisk -rx 'database put sentiric agi_secret <the "
        "[fastagi] secret>'"
    ]


class SilentAgent:
    """Answers and listens, never speaks: the transport still sends its 20 ms silence frames."""

    async def __call__(self, transport: CallTransport) -> None:
        async for _frame in transport.frames():
            pass


@contextlib.asynccontextmanager
async def silent_daemon(s: Settings) -> AsyncIterator[Daemon]:
    _check_free(s.audiosocket.port)
    _check_free(s.fastagi.port)
    daemon = Daemon(s, agent=SilentAgent())
    await daemon.start()
    try:
        yield daemon
    finally:
        await daemon.stop()


async def test_agent_that_never_speaks_is_no_greeting_and_no_reply(pbx, engines, models_dir, tmp_path) -> None:
    s = settings_for(tmp_path, models_dir, pbx)
    async with silent_daemon(s):
        code, result, _err = await selftest(config_file(tmp_path, s), *FAST)
    assert isinstance(result, dict)
    assert code == 1 and result["greeting_ms"] is None and result["reply_ms"] is None
    assert result["problems"] == [
        "no greeting: the agent's audio came back but it said nothing in 5 s; see journalctl -u sentiric-pbx "
        f"for call {result['agent_call_id']}",
        "no reply: the agent did not answer 'What are your opening hours?' within 6 s; see journalctl -u sentiric-pbx",
    ]


async def test_echo_daemon_is_no_greeting_naming_the_echo_mode(pbx, engines, models_dir, tmp_path) -> None:
    s = settings_for(tmp_path, models_dir, pbx)
    s.agent.mode = "echo"
    async with running(s, engines):
        code, result, _err = await selftest(config_file(tmp_path, s), *FAST)
    assert isinstance(result, dict)
    assert code == 1
    assert result["problems"][0] == (
        "no greeting: the agent's audio came back but it said nothing in 5 s; "
        'the daemon runs the echo line test ([agent] mode = "echo"), which only repeats the caller'
    )
    # The line test repeats the question, which is no answer: heard, measured, and refused.
    assert result["reply_ms"] is not None and "opening hours" in (result["heard"] or "").lower()
    assert result["problems"][1].startswith("wrong reply: asked 'What are your opening hours?', the agent said")
