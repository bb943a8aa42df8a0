"""The sample Asterisk configs agree with the daemon's defaults, and the dialplan passes asterisklint.

An admin copies `asterisk/*.conf` as they are; a port, a FastAGI script name or a Stasis app name that
drifted from `config.py` would give a dialplan that answers and then plays "no service".
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sentiric_pbx.config import Settings

ASTERISK = Path(__file__).parent.parent / "asterisk"


def sections(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """Asterisk's .conf grammar, as far as these files use it: `[name]`, `key = value`, `key => value`."""
    out: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in path.read_text().splitlines():
        line = re.split(r"(?<!\\);", raw, maxsplit=1)[0].strip()
        if not line:
            continue
        if m := re.fullmatch(r"\[([^\]]+)\].*", line):
            out.append((m.group(1), []))
            continue
        key, _, value = line.partition("=")
        assert out, f"{path.name}: {raw!r} before any [section]"
        out[-1][1].append((key.strip(), value.lstrip(">").strip()))
    return out


def section(path: Path, name: str, **match: str) -> dict[str, str]:
    for sec, items in sections(path):
        d = dict(items)
        if sec == name and all(d.get(k) == v for k, v in match.items()):
            return d
    raise AssertionError(f"{path.name}: no [{name}] with {match}")


def dialplan() -> dict[str, dict[str, list[str]]]:
    """context → extension → its steps (application calls), `same =>` lines joined to their extension."""
    plan: dict[str, dict[str, list[str]]] = {}
    for ctx, items in sections(ASTERISK / "extensions.conf"):
        exts = plan.setdefault(ctx, {})
        current = None
        for key, value in items:
            if key == "exten":
                current, _, step = value.split(",", 2)
                exts.setdefault(current, []).append(step)
            elif key == "same":
                assert current is not None
                exts[current].append(value.split(",", 1)[1])
    return plan


def test_dialplan_addresses_and_names_match_the_daemon_defaults() -> None:
    s = Settings()
    plan = dialplan()
    ctx = plan["sentiric"]
    assert {"s", "wideband", "100", "101", "200", "300", "999"} <= set(ctx)
    steps = [step for ext in ctx.values() for step in ext]
    text = "\n".join(steps)

    agi = re.findall(r"AGI\(agi://([^:/]+):(\d+)/([^,)]+)", text)
    app = re.findall(r"AudioSocket\(\$\{UUID\},([^:]+):(\d+)\)", text)
    dial = re.findall(r"Dial\(AudioSocket/([^:]+):(\d+)/\$\{UUID\}/c\((\w+)\)\)", text)
    assert len(agi) == 4 and set(agi) == {(s.fastagi.host, str(s.fastagi.port), "register")}
    assert len(app) == 2 and set(app) == {(s.audiosocket.host, str(s.audiosocket.port))}
    assert len(dial) == 2 and set(dial) == {(s.audiosocket.host, str(s.audiosocket.port), "slin16")}
    assert any(step.startswith(f"Stasis({s.ari.app})") for step in ctx["200"])
    # Every AudioSocket leg is registered first, with the same UUID, or the daemon has no caller ID.
    for ext in ("s", "wideband", "100", "101"):
        order = [
            next(i for i, step in enumerate(ctx[ext]) if step.startswith(p)) for p in ("Set(UUID=${UUID()})", "AGI(")
        ]
        media = next(i for i, step in enumerate(ctx[ext]) if step.startswith(("AudioSocket(", "Dial(AudioSocket/")))
        assert order[0] < order[1] < media, ext
    # The transfer target is the endpoint the daemon dials by default.
    assert any(s.business.transfer_target in step for step in ctx["300"])
    assert plan["sentiric-phones"] == {}  # only an include (not an extension)


def test_ari_http_and_manager_match_the_daemon_defaults() -> None:
    s = Settings()
    url = urlsplit(s.ari.url)
    http = section(ASTERISK / "http.conf", "general")
    assert (http["enabled"], http["bindaddr"], int(http["bindport"])) == ("yes", url.hostname, url.port)
    assert url.path == "/ari" and http["prefix"] == ""  # Asterisk serves ARI at /<prefix>/ari
    assert section(ASTERISK / "ari.conf", "general")["enabled"] == "yes"
    assert section(ASTERISK / "ari.conf", s.ari.username)["type"] == "user"

    manager = section(ASTERISK / "manager.conf", "general")
    assert (manager["enabled"], manager["bindaddr"], int(manager["port"])) == ("yes", s.ami.host, s.ami.port)
    user = section(ASTERISK / "manager.conf", s.ami.username)
    assert {"call", "originate"} <= set(user["write"].split(","))  # Redirect (transfer) and Originate

    endpoint = section(ASTERISK / "pjsip.conf", s.business.transfer_target.split("/", 1)[1], type="endpoint")
    assert endpoint["context"] in dialplan()


def test_no_real_secret_is_shipped() -> None:
    for conf in ASTERISK.glob("*.conf"):
        for _, items in sections(conf):
            for key, value in items:
                if key in ("password", "secret"):
                    assert value == "CHANGE-ME", f"{conf.name}: {key} = {value}"


def test_asterisklint_accepts_the_dialplan() -> None:
    lint = shutil.which("asterisklint", path=str(Path(sys.executable).parent)) or shutil.which("asterisklint")
    if lint is None:
        pytest.skip("asterisklint is not installed (pip install asterisklint; it is in the `test` extra)")
    env = os.environ | {"ALINT_IGNORE": "E_APP_MISSING"}  # it knows Asterisk 11/13 apps: no AudioSocket, Stasis
    result = subprocess.run(
        [lint, "dialplan-check", "extensions.conf"], cwd=ASTERISK, env=env, capture_output=True, text=True, timeout=60
    )
    messages = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    allowed = (
        # UUID() exists on every Asterisk that has AudioSocket (the recorded fixtures use it); 13 did not.
        re.compile(r"extensions\.conf:\d+ E_FUNC_MISSING: function 'UUID' does not exist"),
        # SHA1() is func_sha1, in Asterisk since 1.4; asterisklint's table lacks it. The registration key
        # is computed with it on a real Asterisk 22 in tests/pbx/test_registration.py.
        re.compile(r"extensions\.conf:\d+ E_FUNC_MISSING: function 'SHA1' does not exist"),
        # Hints for a top-level extensions.conf; this file is #included, it has no [general]/[globals].
        re.compile(r"extensions\.conf:0 H_DP_(GENERAL|GLOBALS)_MISPLACED"),
    )
    unexpected = [m for m in messages if not any(p.match(m) for p in allowed)]
    assert not unexpected, "\n".join(messages)
