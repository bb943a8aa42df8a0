"""The dialplan audit on a real Asterisk: `ShowDialPlan` over AMI with the project's manager.conf.

A dialplan whose AudioSocket() names another port leaves no trace on the daemon's side: Asterisk fails to
connect and hangs up. These tests show that `doctor` and the running daemon read the real dialplan and
name the extension that points elsewhere, and say why when manager.conf does not let them read it.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from sentiric_pbx.config import Settings
from sentiric_pbx.doctor import Check, check_ami
from sentiric_pbx.engines.pool import EnginePool
from tests.asterisk_peer import eventually, wait_log
from tests.pbx.asterisk import Asterisk, free_port
from tests.pbx.conftest import DIALPLAN_AUDIOSOCKET, DIALPLAN_FASTAGI, agent_settings, running

pytestmark = pytest.mark.asyncio(loop_scope="session")
DAEMON = f"127.0.0.1:{DIALPLAN_AUDIOSOCKET}"


async def check_dialplan(s: Settings) -> Check:
    """doctor's dialplan line, read on its AMI login (which must succeed)."""
    login, dialplan = await check_ami(s)
    assert login.status == "ok", login
    return dialplan


async def test_doctor_logs_in_to_ami_once_for_the_login_and_the_dialplan(pbx: Asterisk, tmp_path: Path) -> None:
    def logins() -> int:  # manager.conf's displayconnects: one line per AMI login
        return pbx.log_path.read_text(errors="replace").count("Manager 'sentiric' logged on")

    before = logins()
    checks = await check_ami(agent_settings(tmp_path, tmp_path, pbx, ami=True))
    assert [(c.name, c.status) for c in checks] == [("asterisk ami", "ok"), ("asterisk dialplan", "ok")], checks
    await eventually(lambda: logins() > before, "the doctor's login in Asterisk's log")
    await asyncio.sleep(0.2)
    assert logins() - before == 1


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


async def test_with_ari_on_doctor_checks_the_stasis_step_names_the_daemons_app(pbx: Asterisk, tmp_path: Path) -> None:
    s = agent_settings(tmp_path, tmp_path, pbx, ami=True)
    s.ari.enabled = True
    good = await check_dialplan(s)
    assert good.status == "ok" and re.search(r"1 Stasis\(sentiric\) step\(s\) \(200@sentiric:\d+\)", good.detail), good
    s.ari.app = "sentric"
    bad = await check_dialplan(s)
    assert bad.status == "fail", bad
    assert re.search(r"ARI app 'sentric': 200@sentiric:\d+ → Stasis\(sentiric\)", bad.detail), bad.detail


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
    """In its log, in /healthz (`health()`), and as a banner on the console's first page."""
    from playwright.async_api import async_playwright

    from tests.test_console import console_on, launch_chromium

    s = console_on(agent_settings(tmp_path, models_dir, pbx, ami=True))
    s.audiosocket.port = free_port()
    async with running(s, engines) as daemon:
        line = await wait_log(logs, "dialplan_audit", within_s=15.0)
        health = daemon.health()["dialplan"]
        async with async_playwright() as pw:
            browser = await launch_chromium(pw)
            try:
                page = await browser.new_page()
                await page.goto(daemon.console.url("/"))
                banner = page.locator("#dialplan-alert")
                await banner.wait_for()
                shown = await banner.inner_text()
            finally:
                await browser.close()
    assert line["status"] == "fail" and line["log_level"] == "warning", line
    assert f"no AudioSocket step reaches the daemon at 127.0.0.1:{s.audiosocket.port}" in str(line["detail"])
    assert re.search(rf"\b100@sentiric:\d+ → {DAEMON}", str(line["detail"])), line
    assert health == {"status": "fail", "detail": line["detail"], "hint": line["hint"]}
    assert f"127.0.0.1:{s.audiosocket.port}" in shown and "extensions.conf" in shown, shown


async def test_the_daemon_on_the_dialplans_port_logs_that_calls_reach_it(
    pbx: Asterisk, tmp_path: Path, models_dir: Path, engines: EnginePool, logs
) -> None:
    async with running(agent_settings(tmp_path, models_dir, pbx, ami=True), engines):
        line = await wait_log(logs, "dialplan_audit", within_s=15.0)
    assert line["status"] == "ok" and line["log_level"] == "info", line


def point_the_dialplan_at(pbx: Asterisk, tmp_path: Path, port: int) -> None:
    """Rewrite the instance's dialplan: the project's extensions.conf with its AudioSocket port changed."""
    project = Path(__file__).resolve().parents[2] / "asterisk" / "extensions.conf"
    text, n = re.subn(rf"127\.0\.0\.1:{DIALPLAN_AUDIOSOCKET}\b", f"127.0.0.1:{port}", project.read_text())
    assert n >= 2, "asterisk/extensions.conf no longer dials 127.0.0.1:9092 from 100 and 101"
    copy = tmp_path / f"extensions-{port}.conf"
    copy.write_text(text)
    (pbx.etc / "extensions.conf").write_text(f'[general]\nstatic = yes\nwriteprotect = yes\n\n#include "{copy}"\n')


def audits(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [e for e in logs if e["event"] == "dialplan_audit"]


async def next_audit(logs: list[dict[str, object]], seen: int, within_s: float) -> dict[str, object]:
    """The dialplan_audit line after the first `seen` ones."""
    await eventually(lambda: len(audits(logs)) > seen, f"dialplan_audit line #{seen + 1}", within_s)
    return audits(logs)[seen]


async def test_a_reload_that_breaks_the_dialplan_is_said_at_once_and_so_is_the_mend(
    pbx: Asterisk, tmp_path: Path, models_dir: Path, engines: EnginePool, logs
) -> None:
    """`module reload pbx_config.so` and `core reload` send a Reload event: no timer is needed to hear them."""
    s = agent_settings(tmp_path, models_dir, pbx, ami=True)
    s.ami.dialplan_audit_s = 0  # events only
    async with running(s, engines) as daemon:
        assert (await next_audit(logs, 0, 15.0))["status"] == "ok"
        point_the_dialplan_at(pbx, tmp_path, DIALPLAN_AUDIOSOCKET + 7)
        pbx.rx("module reload pbx_config.so")
        broken = await next_audit(logs, 1, 10.0)
        assert broken["status"] == "fail" and broken["log_level"] == "warning", broken
        assert re.search(rf"\b100@sentiric:\d+ → 127\.0\.0\.1:{DIALPLAN_AUDIOSOCKET + 7}", str(broken["detail"]))

        point_the_dialplan_at(pbx, tmp_path, DIALPLAN_AUDIOSOCKET)
        pbx.rx("core reload")
        mended = await next_audit(logs, 2, 10.0)
        health = daemon.health()["dialplan"]
    assert mended["status"] == "ok" and mended["log_level"] == "info", mended
    assert health is not None and health["status"] == "ok", health


async def test_the_clis_dialplan_reload_sends_no_event_and_is_caught_by_the_periodic_read(
    pbx: Asterisk, tmp_path: Path, models_dir: Path, engines: EnginePool, logs
) -> None:
    s = agent_settings(tmp_path, models_dir, pbx, ami=True)
    s.ami.dialplan_audit_s = 1.0
    async with running(s, engines):
        assert (await next_audit(logs, 0, 15.0))["status"] == "ok"
        point_the_dialplan_at(pbx, tmp_path, DIALPLAN_AUDIOSOCKET + 7)
        assert "Dialplan reloaded" in pbx.rx("dialplan reload").stdout
        broken = await next_audit(logs, 1, 10.0)
        assert broken["status"] == "fail", broken
        await asyncio.sleep(2.5)  # two more reads of the same dialplan
    assert len(audits(logs)) == 2, "an unchanged verdict was logged again"


async def test_an_asterisk_restarted_with_another_dialplan_is_audited_when_ami_logs_in_again(
    pbx: Asterisk, tmp_path: Path, models_dir: Path, engines: EnginePool, logs
) -> None:
    s = agent_settings(tmp_path, models_dir, pbx, ami=True)
    s.ami.dialplan_audit_s = 0
    write_config = pbx.write_config

    def write_a_broken_config() -> None:
        write_config()
        point_the_dialplan_at(pbx, tmp_path, DIALPLAN_AUDIOSOCKET + 7)

    async with running(s, engines) as daemon:
        assert (await next_audit(logs, 0, 15.0))["status"] == "ok"
        pbx.write_config = write_a_broken_config  # type: ignore[method-assign]
        await asyncio.to_thread(pbx.restart)
        broken = await next_audit(logs, 1, 30.0)
        assert daemon.ami is not None and daemon.ami.connections == 2
    assert broken["status"] == "fail", broken


async def test_an_asterisk_that_stops_is_said_in_health_and_on_the_console_until_ami_and_ari_are_back(
    pbx: Asterisk, tmp_path: Path, models_dir: Path, engines: EnginePool, logs
) -> None:
    from playwright.async_api import async_playwright

    from tests.test_console import console_on, launch_chromium

    s = console_on(agent_settings(tmp_path, models_dir, pbx, ami=True))
    s.ari.enabled = True
    s.ami.reconnect_max_s = s.ari.reconnect_max_s = 1.0

    def up() -> bool:
        health = daemon.health()
        return health["ami"]["connected"] and health["ari"]["connected"]

    async with running(s, engines) as daemon:
        await eventually(up, "AMI and ARI connected", 15)
        assert daemon.health()["ami"]["address"] == f"127.0.0.1:{pbx.ports.ami}"
        assert daemon.health()["ari"]["address"] == pbx.ari_url
        await asyncio.to_thread(pbx.stop)
        await eventually(lambda: not any(daemon.health()[k]["connected"] for k in ("ami", "ari")), "both down", 10)
        async with async_playwright() as pw:
            browser = await launch_chromium(pw)
            try:
                page = await browser.new_page()
                await page.goto(daemon.console.url("/"))
                await page.locator("#ami-alert").wait_for()
                shown = await page.inner_text("#alerts")
                await asyncio.to_thread(pbx.start)
                await eventually(up, "AMI and ARI back", 30)
                await page.reload()
                await page.locator("#alerts[data-checked]").wait_for(state="attached")
                after = await page.locator("#alerts .alert").count()
            finally:
                await browser.close()
    assert f"not connected to 127.0.0.1:{pbx.ports.ami}" in shown, shown
    assert f"not connected to {pbx.ari_url}" in shown and "Stasis(sentiric)" in shown, shown
    assert after == 0, "a banner stayed after AMI and ARI came back"
