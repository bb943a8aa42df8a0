"""Does Asterisk's dialplan send its calls to this daemon? Read over AMI (`ShowDialPlan`).

Why: a dialplan whose `AudioSocket()` names another port leaves no trace on our side. Asterisk fails to
connect, says so in its own console, and hangs up; the daemon never sees a byte, and the admin sees a
daemon that "does nothing". The same holds for the FastAGI `register` step. So `doctor` and the
daemon (once AMI is up) compare every such step's address with where we listen, and say which
extension points elsewhere.

With ARI on, the same holds for `Stasis(<app>)`: a step naming another app leaves the daemon as unaware.

Only steps that are ours by shape count: `AudioSocket(uuid,host:port)`, `Dial(AudioSocket/host:port/…)`
and `AGI(agi://host[:port]/register,…)`. Other AudioSocket servers on the same PBX are normal, so a step
to another address is a failure only when no step reaches us at all. An address built from variables
(`${SENTIRIC_SELFTEST_ADDR}`) cannot be judged and is only counted.

`ShowDialPlan` needs `reporting` (or `config`) in the manager user's `write =` (manager.conf), which the
project's asterisk/manager.conf grants; without it Asterisk answers "Permission denied".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from sentiric_pbx.config import Settings
from sentiric_pbx.telephony.asterisk.ami import AmiClient, AmiError

FASTAGI_DEFAULT_PORT = 4573
"""`agi://host/…` without a port means this one (res_agi.c)."""
SHOWN = 3
"""Places named per line: enough to find the extension, short enough for one log line."""
_ANY = {"", "0.0.0.0", "::", "*"}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}

Kind = Literal["audiosocket", "fastagi"]
Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class Target:
    """One dialplan step that connects out to an AudioSocket or FastAGI server."""

    kind: Kind
    place: str
    """`100@sentiric:3` (extension@context:priority): where the admin finds it."""
    address: str
    """As the dialplan writes it, `127.0.0.1:9092`."""


@dataclass(frozen=True, slots=True)
class Audit:
    status: Status
    detail: str
    hint: str = ""


def targets(steps: Iterable[Mapping[str, str]]) -> list[Target]:
    """The AudioSocket and FastAGI `register` steps among `ListDialplan` events."""
    found = []
    for step in steps:
        app, data = step.get("Application", ""), step.get("AppData", "")
        place = _place(step)
        address = _address(app, data)
        if address is not None:
            found.append(Target(address[0], place, address[1]))
    return found


def _place(step: Mapping[str, str]) -> str:
    """`100@sentiric:3` (extension@context:priority): where the admin finds a step."""
    return f"{step.get('Extension', '?')}@{step.get('Context', '?')}:{step.get('Priority', '?')}"


def _address(app: str, data: str) -> tuple[Kind, str] | None:
    if app == "AudioSocket":  # AudioSocket(<uuid>,host:port[,…])
        parts = data.split(",")
        return ("audiosocket", parts[1].strip()) if len(parts) > 1 else None
    if app == "Dial" and data.startswith("AudioSocket/"):  # Dial(AudioSocket/host:port/<uuid>/c(slin16))
        parts = data.split(",", 1)[0].split("/")
        return ("audiosocket", parts[1].strip()) if len(parts) > 2 else None
    if app == "AGI" and data.startswith("agi://"):  # AGI(agi://host[:port]/register,…)
        hostport, _, script = data[len("agi://") :].split(",", 1)[0].partition("/")
        if script.split("?", 1)[0] != "register":
            return None
        return "fastagi", hostport if ":" in hostport.strip("[]") else f"{hostport}:{FASTAGI_DEFAULT_PORT}"
    return None


def _reaches(address: str, host: str, port: int) -> bool:
    """Does a dialplan `host:port` reach a server listening on `host`, `port`?"""
    to_host, _, to_port = address.rpartition(":")
    to_host = to_host.strip("[]")
    if to_port != str(port):
        return False
    return host in _ANY or to_host == host or {to_host, host} <= _LOOPBACK


def _places(found: list[Target]) -> str:
    shown = ", ".join(f"{t.place} → {t.address}" for t in found[:SHOWN])
    return shown + (f" and {len(found) - SHOWN} more" if len(found) > SHOWN else "")


def _audit_kind(found: list[Target], kind: Kind, host: str, port: int, *, required: bool) -> Audit | None:
    mine = [t for t in found if t.kind == kind]
    label = {"audiosocket": "AudioSocket", "fastagi": "FastAGI register"}[kind]
    section = {"audiosocket": "[audiosocket]", "fastagi": "[fastagi]"}[kind]
    judged = [t for t in mine if "${" not in t.address]
    ours = [t for t in judged if _reaches(t.address, host, port)]
    elsewhere = [t for t in judged if t not in ours]
    if ours:
        detail = f"{len(ours)} {label} step(s) reach {host}:{port} ({_places(ours)})"
        return Audit("ok", detail + (f"; {len(elsewhere)} go elsewhere" if elsewhere else ""))
    if elsewhere:
        return Audit(
            "fail",
            f"no {label} step reaches the daemon at {host}:{port}: {_places(elsewhere)}",
            f"make the dialplan's address and {section} host/port agree (asterisk/extensions.conf, then "
            "`dialplan reload`)",
        )
    if not required:
        return None
    if mine:
        return Audit("warn", f"{label} steps take their address from variables ({_places(mine)}): not checked")
    return Audit(
        "warn",
        f"no {label} step in Asterisk's dialplan: no call reaches the daemon's {host}:{port}",
        "include the project's asterisk/extensions.conf (README, Asterisk set-up), then `dialplan reload`",
    )


Listening = tuple[str, int]
"""(host, port) a server of ours listens on."""


def listening(settings: Settings) -> dict[Kind, Listening]:
    """Where the configured AudioSocket and FastAGI listeners are (the daemon passes the bound ports)."""
    return {
        "audiosocket": (settings.audiosocket.host, settings.audiosocket.port),
        "fastagi": (settings.fastagi.host, settings.fastagi.port),
    }


def _audit_stasis(steps: list[Mapping[str, str]], app: str) -> Audit:
    """With ARI on, calls reach us only through a `Stasis(<our app>)` step; a misspelt app name fails as silently
    as a wrong port (Asterisk logs that no such app is registered and the call goes on without us)."""
    stasis = [s for s in steps if s.get("Application") == "Stasis"]
    ours = [s for s in stasis if s.get("AppData", "").split(",", 1)[0].strip() == app]
    if ours:
        return Audit("ok", f"{len(ours)} Stasis({app}) step(s) ({', '.join(_place(s) for s in ours[:SHOWN])})")
    hint = f"make the dialplan's Stasis() app and [ari] app = {app!r} agree, then `dialplan reload`"
    if stasis:
        shown = ", ".join(f"{_place(s)} → Stasis({s.get('AppData', '')})" for s in stasis[:SHOWN])
        return Audit("fail", f"no Stasis step names the daemon's ARI app {app!r}: {shown}", hint)
    return Audit(
        "warn",
        f"no Stasis({app}) step in Asterisk's dialplan: only calls originated into the app reach it over ARI",
        "include the project's asterisk/extensions.conf (extension 200), then `dialplan reload`",
    )


def audit(steps: Iterable[Mapping[str, str]], at: Mapping[Kind, Listening], stasis_app: str | None = None) -> Audit:
    """One verdict for the whole dialplan: the worst of the AudioSocket, FastAGI and (with ARI on,
    `stasis_app`) Stasis findings."""
    steps = list(steps)
    found = targets(steps)
    parts = [
        _audit_kind(found, "audiosocket", *at["audiosocket"], required=True),
        _audit_kind(found, "fastagi", *at["fastagi"], required=False),
        _audit_stasis(steps, stasis_app) if stasis_app else None,
    ]
    audits = [a for a in parts if a is not None]
    rank = {"ok": 0, "warn": 1, "fail": 2}
    status = max((a.status for a in audits), key=rank.__getitem__)
    return Audit(status, "; ".join(a.detail for a in audits), " · ".join(a.hint for a in audits if a.hint))


async def audit_over_ami(client: AmiClient, at: Mapping[Kind, Listening], stasis_app: str | None = None) -> Audit:
    """Read the dialplan through a logged-in `client` and judge it; a refusal is a warning that says why."""
    try:
        steps = await client.list_action("ShowDialPlan", {}, "ShowDialPlanComplete")
    except (AmiError, TimeoutError) as exc:
        why = str(exc) or "no answer"
        hint = "manager.conf: add `reporting` to the AMI user's write = (as asterisk/manager.conf does)"
        return Audit("warn", f"cannot read Asterisk's dialplan over AMI: {why}", hint if "ermission" in why else "")
    return audit(steps, at, stasis_app)
