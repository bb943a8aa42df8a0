"""The systemd unit agrees with the daemon (notify, watchdog, drain timeout) and passes `systemd-analyze verify`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sentiric_pbx.config import DaemonConfig

UNIT = Path(__file__).parent.parent / "systemd" / "sentiric-pbx.service"


def service_keys() -> dict[str, str]:
    keys: dict[str, str] = {}
    section = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service":
            key, _, value = line.partition("=")
            keys[key] = value  # the last one wins, as in systemd (for these single-valued keys)
    return keys


def seconds(value: str) -> float:
    return float(value.removesuffix("s"))


def test_notify_watchdog_and_stop_timeout_match_the_daemon() -> None:
    keys = service_keys()
    assert (keys["Type"], keys["NotifyAccess"], keys["WatchdogSec"]) == ("notify", "main", "30")
    # systemd SIGKILLs at TimeoutStopSec: the drain, plus a few seconds to store the last calls, must fit.
    assert seconds(keys["TimeoutStopSec"]) >= DaemonConfig().drain_timeout_s + 10
    for hardening in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices"):
        assert keys[hardening] in ("yes", "strict"), hardening
    assert keys["RestrictAddressFamilies"] == "AF_INET AF_INET6 AF_UNIX"  # AF_UNIX: $NOTIFY_SOCKET


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart exists: point it at this checkout's entry point instead of /opt.
    binary = Path(sys.executable).parent / "sentiric-pbx"
    unit = tmp_path / "sentiric-pbx.service"
    unit.write_text(UNIT.read_text().replace("/opt/sentiric-pbx/.venv/bin/sentiric-pbx", str(binary)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
