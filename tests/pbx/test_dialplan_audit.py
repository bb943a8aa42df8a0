"""The dialplan audit on a real Asterisk: `ShowDialPlan` over AMI with the project's manager.conf.

A dialplan whose AudioSocket() names another port leaves no trace on the daemon's side: Asterisk fails to
connect and hangs up. These tests show that `doctor` and the running daemon read the real dialplan and
name the extension that points elsewhere, and say why when manager.conf does not let them read it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sentiric_pbx.doctor import check_dialplan
from sentiric_pbx.engines.pool import EnginePool
from tests.asterisk_peer import wait_log
from tests.pbx.asterisk import Asterisk, free_port
from tests.pbx.conftest import DIALPLAN_AUDIOSOCKET, DIALPLAN_FASTAGI, agent_settings, running

pytestmark = pytest.mark.asyncio(loop_scope="session")
DAEMON = f"127.0.0.1:{DIALPLAN_AUDIOSOCKET}"


async def test_doctor_finds_the_projects_dialplan_steps_and_names_the_ones_that_miss_the_daemon(
    pbx: Asterisk, tmp_path: Path
) -> None:
    s = agent_settings(tmp_path, tmp_path, pbx, ami=True)
    good = await check_dialplan(s)
    assert good.status == "ok", good
    assert f"AudioSocket step(s) reach {DAEMON} (100@sentiric:" in good.detail
    assert f"FastAGI register step(s) reach 127.0.0.1:{DIALPLAN_FASTAGI}" in good.detail

    s.audiosocket.port = DIALPLAN_AUDIOSOCKET + 1
    bad = await check_dialplan(s)
    assert bad.status == "fail", bad
    assert f"no AudioSocket step reaches the daemon at 127.0.0.1:{DIALPLAN_AUDIOSOCKET + 1}" in bad.detail
    assert re.search(rf"\b100@sentiric:\d+ → {DAEMON}", bad.detail), bad.detail


async def test_a_manager_user_without_reporting_gets_a_warning_that_says_what_to_add(
    pbx: Asterisk, tmp_path: Path
) -> None:
    conf = pbx.etc / "manager.conf"
    text, n = re.subn(r"^write = (.*),reporting$", r"write = \1", conf.read_text(), flags=re.MULTILINE)
    assert n == 1, "asterisk/manager.conf no longer grants reporting in write ="
    conf.write_text(text)
    pbx.rx("manager reload")
    found = await check_dialplan(agent_settings(tmp_path, tmp_path, pbx, ami=True))
    assert found.status == "warn" and "Permission denied" in found.detail, found
    assert "reporting" in found.hint


async def test_the_daemon_says_at_start_up_when_asterisk_sends_its_calls_to_another_port(
    pbx: Asterisk, tmp_path: Path, models_dir: Path, engines: EnginePool, logs
) -> None:
    s = agent_settings(tmp_path, models_dir, pbx, ami=True)
    s.audiosocket.port = free_port()
    async with running(s, engines):
        line = await wait_log(logs, "dialplan_audit", within_s=15.0)
    assert line["status"] == "fail" and line["log_level"] == "warning", line
    assert f"no AudioSocket step reaches the daemon at 127.0.0.1:{s.audiosocket.port}" in str(line["detail"])
    assert re.search(rf"\b100@sentiric:\d+ → {DAEMON}", str(line["detail"])), line


async def test_the_daemon_on_the_dialplans_port_logs_that_calls_reach_it(
    pbx: Asterisk, tmp_path: Path, models_dir: Path, engines: EnginePool, logs
) -> None:
    async with running(agent_settings(tmp_path, models_dir, pbx, ami=True), engines):
        line = await wait_log(logs, "dialplan_audit", within_s=15.0)
    assert line["status"] == "ok" and line["log_level"] == "info", line
