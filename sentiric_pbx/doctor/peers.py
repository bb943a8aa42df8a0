"""The peers the daemon talks to: Asterisk's AMI and ARI, FreeSWITCH's Event Socket, Redis, and the Twilio
and browser-phone ingresses' own settings."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx

from sentiric_pbx.aio import within
from sentiric_pbx.config import Settings
from sentiric_pbx.doctor.check import NET_TIMEOUT_S, Check, Status
from sentiric_pbx.doctor.ports import RunningDaemon, check_port


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
    checks.append(check_webrtc_access(s))
    return checks


def check_webrtc_access(s: Settings) -> Check:
    """Who can open the page under which names, and whether it may claim a caller ID (issue 17)."""
    from sentiric_pbx.telephony.webrtc.ingress import LOOPBACK_NAMES, WILDCARDS, allowed_host_names

    cfg = s.webrtc
    names = sorted(allowed_host_names(cfg))
    beyond_loopback = cfg.host.strip("[]").lower() not in LOOPBACK_NAMES
    detail = f"served as {', '.join(names)}; caller ID " + ("from the page" if cfg.page_caller_id else "not the page's")
    if cfg.host.strip("[]") in WILDCARDS and not cfg.allowed_hosts:
        hint = 'list the names people open it by: allowed_hosts = ["pbx.example.lan"] (others get 403)'
        return Check("webrtc access", "warn", f"listening on {cfg.host or 'every address'}, but {detail}", hint)
    if cfg.page_caller_id and beyond_loopback:
        hint = "page_caller_id = false where others can open the page: it can claim any number and hear its name"
        return Check("webrtc access", "warn", detail, hint)
    return Check("webrtc access", "ok", detail)


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
_AMI_HINTS = {
    "unreachable": "is Asterisk running? manager.conf: [general] enabled = yes, port = 5038",
    "not_ami": "check [ami] host/port",
    "refused": "check [ami] username/password (SENTIRIC_AMI__PASSWORD) against manager.conf",
    "stalled": "check Asterisk's log; manager.conf permit= may exclude this host",
}


async def check_ami(s: Settings, *, dialplan: bool = True) -> list[Check]:
    """Log in as the daemon does (its `AmiClient`), and on that one login read whether Asterisk's dialplan sends
    calls to our AudioSocket and FastAGI ports, and with ARI on to our Stasis app (`dialplan_audit`): one
    "Manager logged on" in Asterisk's log per doctor run, not two."""
    from sentiric_pbx.telephony.asterisk.ami import AmiClient, AmiError
    from sentiric_pbx.telephony.asterisk.dialplan_audit import audit_over_ami, listening

    cfg = s.ami
    client = AmiClient(cfg, connect_timeout_s=NET_TIMEOUT_S, action_timeout_s=NET_TIMEOUT_S)
    try:
        await client.connect()
    except AmiError as exc:
        return [Check("asterisk ami", "fail", str(exc), _AMI_HINTS.get(exc.kind, ""))]
    try:
        banner = f"Asterisk Call Manager/{client.version} at {cfg.host}:{cfg.port}"
        checks = [Check("asterisk ami", "ok", f"{banner}, logged in as {cfg.username}")]
        if dialplan:
            found = await audit_over_ami(client, listening(s), s.ari.app if s.ari.enabled else None)
            checks.append(Check("asterisk dialplan", found.status, found.detail, found.hint))
    finally:
        await client.close()
    return checks


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
    return (await within(reader.readuntil(b"\n\n"), NET_TIMEOUT_S)).decode("utf-8", "replace")


async def check_freeswitch_esl(s: Settings) -> Check:
    """Connect to mod_event_socket, wait for auth/request, `auth`: reachable and the password right.

    Self-contained like the AMI check, so it speaks even when the ingress's own client is what is broken.
    The password is sent, never shown."""
    cfg = s.freeswitch
    where = f"{cfg.esl_host}:{cfg.esl_port}"
    name = "freeswitch esl"
    try:
        reader, writer = await within(asyncio.open_connection(cfg.esl_host, cfg.esl_port), NET_TIMEOUT_S)
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
        persistence = await _redis_persistence(client)
    except Exception as exc:
        return Check("redis", "fail", f"{shown}: {exc}", "is redis-server running? fix [storage] redis_url")
    finally:
        await client.aclose()
    if persistence == "none":
        # A restart then empties the post-call stream: each daemon reruns its standby copies of the last
        # 10 minutes' jobs (nothing is lost), but older retries waiting in Redis are gone with it.
        return Check(
            "redis", "warn", f"{shown} answers PING, but keeps nothing on disk (appendonly no, save \"\")",
            "a Redis restart loses the queued post-call jobs older than 10 min: set appendonly yes (redis.conf)",
        )
    return Check("redis", "ok", f"{shown} answers PING ({persistence})")


async def _redis_persistence(client: Any) -> str:
    """"AOF", "RDB snapshots", "AOF + RDB snapshots" or "none" (CONFIG GET appendonly / save); "unknown"
    when CONFIG is renamed away (managed Redis): then there is nothing to warn about for sure."""
    from redis.exceptions import ResponseError

    try:
        aof = (await client.config_get("appendonly")).get("appendonly", b"no")
        save = (await client.config_get("save")).get("save", b"")
    except ResponseError:
        return "persistence unknown"
    aof_on = (aof.decode() if isinstance(aof, bytes) else str(aof)) == "yes"
    rdb_on = bool((save.decode() if isinstance(save, bytes) else str(save)).strip())
    found = [name for name, on in (("AOF", aof_on), ("RDB snapshots", rdb_on)) if on]
    return " + ".join(found) if found else "none"



async def check_database(url: str) -> Check:
    """The PostgreSQL site store ([storage] database_url): reachable, the password right, and its schema the
    one this version writes. Read only: migrations are the daemon's, at its start."""
    from sentiric_pbx.integrations.calendar.site import CALENDAR_MIGRATIONS
    from sentiric_pbx.postcall.analytics import ANALYTICS_MIGRATIONS
    from sentiric_pbx.postcall.ledger import LEDGER_MIGRATIONS
    from sentiric_pbx.storage.db import _REGISTRY, DatabaseError
    from sentiric_pbx.storage.postgres import PostgresDatabase, redact, site_schema

    # What this version writes: the components every start migrates, and those migrated on first use.
    known = {c: len(m) for c, m in _REGISTRY.items()}
    known |= {"calendar": len(CALENDAR_MIGRATIONS), "analytics": len(ANALYTICS_MIGRATIONS)}
    known["postcall_ledger"] = len(LEDGER_MIGRATIONS)

    shown = redact(url)
    try:
        db = await PostgresDatabase.connect(url, migrate=False)
    except DatabaseError as exc:
        return Check("site store", "fail", str(exc), "is PostgreSQL running and [storage] database_url right?")
    try:
        stored = await site_schema(db)
    except DatabaseError as exc:
        return Check("site store", "fail", f"{shown}: {exc}", "the user needs to read the database's tables")
    finally:
        await db.aclose()
    if not stored:
        return Check("site store", "ok", f"{shown}: reachable, empty (the daemon creates its tables at start)")
    versions = ", ".join(f"{c} {v}" for c, v in sorted(stored.items()))
    newer = [f"{c} {v} (this version knows {known.get(c, 0)})" for c, v in stored.items() if v > known.get(c, 0)]
    if newer:
        return Check(
            "site store", "fail", f"{shown}: schema newer than this version: {', '.join(newer)}",
            "another host runs a newer sentiric-pbx: upgrade this one (every host must run the same version)",
        )  # fmt: skip
    older = [f"{c} {v} of {known[c]}" for c, v in stored.items() if c in known and v < known[c]]
    if "core" not in stored:
        older.append(f"core 0 of {known['core']}")
    if older:
        return Check(
            "site store", "warn", f"{shown}: schema older than this version: {', '.join(older)}",
            "the daemon migrates it at its next start (stop the other hosts' older versions first)",
        )  # fmt: skip
    return Check("site store", "ok", f"{shown}: reachable, schema {versions}")

# -- disk -----------------------------------------------------------------------------------------


async def check_recordings_store(s: Settings) -> Check:
    """`[storage] recordings_url`: can this host write a recording there, read it back and delete it? The
    probe is a small object (`doctor-probe.wav`); the error is the store's own (no credentials are shown)."""
    from sentiric_pbx.storage.recording_store import recording_store

    url = s.storage.recordings_url or ""
    try:
        store = recording_store(s)
    except ValueError as exc:
        return Check("recordings store", "fail", str(exc), "use s3://bucket/prefix or an absolute directory")
    assert store is not None

    def probe() -> None:
        written = store.put_bytes(b"sentiric-pbx doctor", "doctor-probe.wav")
        if store.read(written) != b"sentiric-pbx doctor":
            raise OSError("what was read back differs from what was written")
        store.delete(written)

    try:
        await within(asyncio.to_thread(probe), 15.0)
    except Exception as exc:
        detail = f"{url}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        hint = (
            "is the bucket there, recordings_endpoint_url right, and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY set?"
            if url.startswith("s3://")
            else "is the directory mounted and writable by the daemon's user?"
        )
        return Check("recordings store", "fail", detail, hint)
    return Check("recordings store", "ok", f"{url}: written, read back and deleted")
