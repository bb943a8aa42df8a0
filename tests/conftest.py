"""Shared fixtures: a real daemon on free loopback ports, and the recorded Asterisk traffic."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import structlog
import uvloop

from sentiric_pbx.config import Settings
from sentiric_pbx.daemon import Daemon
from sentiric_pbx.engines.pool import EnginePool
from sentiric_pbx.logging import set_log_transcripts
from tests.asterisk_peer import AGI_SECRET
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401 (fixtures)

# Tests start many daemons at once: none of them serves the web console on its fixed port 8095 unless the
# test asks for it (tests/test_console.py sets `console.enabled` and port 0 itself).
os.environ.setdefault("SENTIRIC_CONSOLE__ENABLED", "false")

FIXTURES = Path(__file__).parent / "fixtures" / "asterisk"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where every daemon and engine pool of the session imports the bundled models, once: an import copies
    and hashes ~460 MB (seconds, far more on a busy host), and a fresh directory per module paid it a dozen
    times a run. Only that import writes here; a test that damages a model does it in a store of its own."""
    return tmp_path_factory.mktemp("models")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def engines(models_dir: Path) -> EnginePool:
    """The bundled models on the default engine settings, loaded once for the session (each load took ~10 s,
    and five modules loaded their own). For the daemons of every test that leaves `[stt]`, `[tts]`, `[vad]`,
    `[language]` and `[llm]` alone: `Daemon(settings, engines=engines)`, `run_demo(..., engines=engines)`.
    Nothing a call leaves behind lives here (the TTS cache is the daemon's Assistant's), and a test that
    swaps an engine does it with monkeypatch, which puts it back."""
    settings = Settings()
    settings.models.dir = models_dir
    pool = EnginePool(settings)
    await pool.start()
    return pool


@pytest.fixture
def settings() -> Settings:
    """Defaults, but the echo agent, every listener on 127.0.0.1 port 0, and no metrics server."""
    s = Settings()
    s.agent.mode = "echo"
    s.audiosocket.host = "127.0.0.1"
    s.audiosocket.port = 0
    s.fastagi.host = "127.0.0.1"
    s.fastagi.port = 0
    s.fastagi.secret = AGI_SECRET  # type: ignore[assignment]
    s.metrics.enabled = False
    return s


@pytest.fixture
async def daemon(settings: Settings) -> AsyncIterator[Daemon]:
    d = Daemon(settings)
    await d.start()
    try:
        yield d
    finally:
        await d.stop()


@pytest.fixture
def logs() -> AsyncIterator[list[dict[str, object]]]:
    """Every structlog event emitted during the test, as dicts (event name + fields, call_id included)."""
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as captured:
        yield captured


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    """CLI tests configure structlog onto CliRunner's captured stderr, which is closed afterwards;
    every test starts from and returns to the same logging configuration."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
    set_log_transcripts(False)  # a test that turned [logging] log_transcripts on leaves it off again


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    """Every async test runs on the loop the daemon runs on by default ([daemon] event_loop = "uvloop"), so
    the suite proves the daemon on the loop admins get."""
    return {"uvloop": uvloop.new_event_loop}


def pytest_itemcollected(item: pytest.Item) -> None:
    """Tests that need the daemon's fixed ports run one after another on one xdist worker.

    The real Asterisk of tests/pbx dials 4573 (FastAGI) and 9092 (AudioSocket), and a test marked
    `fixed_ports` holds a default port (the console's 8095) on purpose; with `--dist loadgroup` they share
    one group, so parallel workers never race for those ports. Without xdist the mark is inert. (Marked
    here, as each item is collected: xdist reads the group in its own `pytest_collection_modifyitems`.)
    """
    if Path(__file__).parent / "pbx" in item.path.parents or item.get_closest_marker("fixed_ports"):
        item.add_marker(pytest.mark.xdist_group("fixed-ports"))


_rerun_failures: list[pytest.TestReport] = []
_SECTION_TAIL = 4000


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep the failure behind each rerun (`--reruns`): a test that passes the second time still failed
    once, and the summary's "RERUN" line alone does not say how, so a flaky test could not be diagnosed.
    (Under xdist the workers' reports reach this hook in the controller, which prints the summary.)"""
    if report.outcome == "rerun":
        _rerun_failures.append(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for report in _rerun_failures:
        terminalreporter.section(f"first failure of rerun test {report.nodeid}", sep="-")
        terminalreporter.line(report.longreprtext)
        for title, text in report.sections:  # what it logged and printed, the end of each (the daemon's last lines)
            terminalreporter.line(f"--- {title} (last {_SECTION_TAIL} characters) ---")
            terminalreporter.line(text[-_SECTION_TAIL:])
