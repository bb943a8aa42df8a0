"""A daemon or worker that cannot start says why in one line and exits: no traceback, no half-started process.

The admin's most common start failure is a port someone else holds (a second sentiric-pbx, an old one
that systemd has not reaped yet). By then the daemon has loaded its models, opened its database and started
its post-call workers; before this test, the error line was printed and the process then never exited,
held up by the database's thread, so systemd waited for a daemon that was neither ready nor gone.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.faults.harness import READY_WITHIN_S, Process, assistant_env
from tests.redis_server import free_port


def test_a_taken_audiosocket_port_ends_the_daemon_with_one_clear_line_and_exit_code_2(
    tmp_path: Path, models_dir: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = assistant_env(
            tmp_path, models_dir, SENTIRIC_AUDIOSOCKET__PORT=str(port), SENTIRIC_FASTAGI__PORT=str(free_port())
        )
        with Process(["run"], env, tmp_path, "daemon.log") as daemon:
            code = daemon.start().exits(READY_WITHIN_S)

    assert code == 2, daemon.tail()
    said = daemon.log.read_text()
    [line] = [ln for ln in said.splitlines() if "cannot start listeners" in ln]
    assert str(port) in line and "address already in use" in line, line
    # It had got as far as the post-call workers, and stopped them (and everything else) on its way out.
    assert daemon.events("postcall_worker_started") and daemon.events("postcall_worker_stopped"), daemon.tail()
    assert not daemon.events("daemon_ready")
    [failed] = daemon.events("daemon_start_failed")  # the same reason as a JSON line, for log-based alerts
    assert failed["level"] == "error" and str(port) in failed["error"], failed


@pytest.mark.parametrize("command", ["run", "worker"])
def test_a_postcall_model_that_is_not_installed_is_one_line_naming_the_setting(
    tmp_path: Path, models_dir: Path, command: str
) -> None:
    absent = tmp_path / "absent.gguf"
    env = assistant_env(
        tmp_path,
        models_dir,
        SENTIRIC_POSTCALL__LLM_MODEL=str(absent),
        SENTIRIC_AUDIOSOCKET__PORT=str(free_port()),
        SENTIRIC_FASTAGI__PORT=str(free_port()),
    )
    with Process([command], env, tmp_path, f"{command}.log") as process:
        code = process.start().exits(READY_WITHIN_S)

    said = process.log.read_text()
    assert code == 2, said[-3000:]
    [line] = [ln for ln in said.splitlines() if ln.startswith("sentiric-pbx: error:")]
    assert "[postcall] llm_model" in line and str(absent) in line, line
    assert "Traceback" not in said and "ModelNotFoundError" not in said, said[-3000:]
