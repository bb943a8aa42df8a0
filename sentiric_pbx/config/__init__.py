"""One TOML file, validated by pydantic, every key overridable from the environment.

An admin edits one file (`/etc/sentiric-pbx/config.toml`) and may override any key for one run with
`SENTIRIC_<SECTION>__<KEY>` (e.g. `SENTIRIC_AUDIOSOCKET__PORT=19092`); the environment wins over the
file. Every listener defaults to loopback: exposing a media port to the LAN is a decision the admin
makes on purpose, never a default.

A bad file must end in one line that names the key and what is wrong with it, because the person
reading it is on a PBX console, not in a debugger. `load_config` raises `ConfigError` for that.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, get_args

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from sentiric_pbx.config.base import DEFAULT_PATHS, ENV_PREFIX, ConfigError, EnvInt, SampleRate
from sentiric_pbx.config.console import ConsoleConfig
from sentiric_pbx.config.ingresses import (
    AmiConfig,
    AriConfig,
    AudioSocketConfig,
    FastAgiConfig,
    FreeswitchConfig,
    RtpConfig,
    TwilioConfig,
    WebRtcConfig,
)
from sentiric_pbx.config.sections import (
    AgentConfig,
    BusinessConfig,
    CalendarConfig,
    CrmConfig,
    DaemonConfig,
    DialogConfig,
    LanguageConfig,
    LlmConfig,
    LoggingConfig,
    MetricsConfig,
    ModelsConfig,
    PostcallConfig,
    StorageConfig,
    SttConfig,
    TtsConfig,
    VadConfig,
)

_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("sentiric_config_environ", default=None)
"""The environment `load_config(environ=...)` was given, for the one `Settings` it builds."""


class _GivenEnvironment(EnvSettingsSource):
    """pydantic-settings reads `os.environ` itself; this reads the mapping a caller passed instead, so
    `load_config(environ=...)` means the same for finding the file and for the SENTIRIC_* overrides."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._given = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {(k if self.case_sensitive else k.lower()): v for k, v in self._given.items()}


class Settings(BaseSettings):
    """The whole daemon configuration. Sections mirror the TOML file's tables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
    )

    audiosocket: AudioSocketConfig = AudioSocketConfig()
    fastagi: FastAgiConfig = FastAgiConfig()
    vad: VadConfig = VadConfig()
    agent: AgentConfig = AgentConfig()
    dialog: DialogConfig = DialogConfig()
    models: ModelsConfig = ModelsConfig()
    stt: SttConfig = SttConfig()
    tts: TtsConfig = TtsConfig()
    language: LanguageConfig = LanguageConfig()
    llm: LlmConfig = LlmConfig()
    business: BusinessConfig = BusinessConfig()
    storage: StorageConfig = StorageConfig()
    crm: CrmConfig = CrmConfig()
    calendar: CalendarConfig = CalendarConfig()
    postcall: PostcallConfig = PostcallConfig()
    ami: AmiConfig = AmiConfig()
    ari: AriConfig = AriConfig()
    rtp: RtpConfig = RtpConfig()
    twilio: TwilioConfig = TwilioConfig()
    webrtc: WebRtcConfig = WebRtcConfig()
    freeswitch: FreeswitchConfig = FreeswitchConfig()
    metrics: MetricsConfig = MetricsConfig()
    console: ConsoleConfig = ConsoleConfig()
    daemon: DaemonConfig = DaemonConfig()
    logging: LoggingConfig = LoggingConfig()

    source: ClassVar[str] = "defaults"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file; the file arrives as init kwargs.
        environ = _ENVIRON.get()
        if environ is not None:
            env_settings = _GivenEnvironment(settings_cls, environ)
        return (env_settings, init_settings)


def find_config_file(explicit: Path | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """`--config`, then `$SENTIRIC_CONFIG`, then the first default path that exists."""
    environ = os.environ if environ is None else environ
    if explicit is not None:
        return explicit
    if environ.get("SENTIRIC_CONFIG"):
        return Path(environ["SENTIRIC_CONFIG"])
    for candidate in DEFAULT_PATHS:
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"config file {path} is not readable by this user") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _describe(exc: ValidationError, origin: str) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        env_name = ENV_PREFIX + "__".join(str(p) for p in err["loc"]).upper()
        if err["type"] == "extra_forbidden":
            problems.append(f"{key}: unknown key (typo? see the sample config) [env {env_name}]")
            continue
        got = err.get("input")
        if isinstance(got, dict):
            shown = ""
        elif _is_secret(key, got):
            shown = " (the value is a secret: not shown)"  # the error reaches terminals and journals
        else:
            shown = f" (got {got!r})"
        problems.append(f"{key}: {err['msg']}{shown}")
    return f"invalid configuration in {origin}: " + "; ".join(problems)


def _secret_fields(model: type[BaseModel] = Settings, prefix: str = "") -> frozenset[str]:
    """The dotted keys the configuration declares `SecretStr` ("ami.password", "crm.auth_header", …)."""
    found: set[str] = set()
    for name, field in model.model_fields.items():
        kinds = (field.annotation, *get_args(field.annotation))
        if SecretStr in kinds:
            found.add(prefix + name)
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found |= _secret_fields(kind, f"{prefix}{name}.")
    return frozenset(found)


_SECRET_FIELDS = _secret_fields()
_SECRET_SUFFIXES = ("password", "secret", "token", "api_key")
"""Besides the declared fields: a key named like a secret (a plug-in's own section) is treated as one."""
_URL_WITH_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:]*:[^/@]+@", re.IGNORECASE)
"""`postgresql://user:password@host/db`, `redis://:password@host`: a URL that carries its password is a secret too."""


def _is_secret(key: str, value: object) -> bool:
    return (
        key in _SECRET_FIELDS
        or key.rsplit(".", 1)[-1].lower().endswith(_SECRET_SUFFIXES)
        or (isinstance(value, str) and _URL_WITH_PASSWORD.match(value) is not None)
    )


def _secret_keys(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found += _secret_keys(value, name + ".")
        elif value and _is_secret(name, value):
            found.append(name)
    return found


def check_secret_permissions(path: Path, data: Mapping[str, Any]) -> None:
    """Refuse a world-readable config that holds secrets, as ssh refuses a loose private key.

    Group-readable is fine: the packaged layout is 0640 root:sentiric-pbx.
    """
    secrets = _secret_keys(data)
    if not secrets:
        return
    mode = path.stat().st_mode & 0o777
    if mode & 0o007:
        raise ConfigError(
            f"config file {path} holds secrets ({', '.join(secrets)}) but is readable by every user "
            f"(mode {mode:o}); run: chmod 640 {path}  (or move the secrets to the environment)"
        )


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load, merge and validate; raise `ConfigError` with one readable message on any problem."""
    found = find_config_file(path, environ)
    data = _read_toml(found) if found is not None else {}
    if found is not None:
        check_secret_permissions(found, data)
    origin = f"{found} (and SENTIRIC_* environment)" if found else "SENTIRIC_* environment"
    given = _ENVIRON.set(environ)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None
    finally:
        _ENVIRON.reset(given)
    type(settings).source = str(found) if found else "defaults"
    return settings


__all__ = [
    "DEFAULT_PATHS",
    "ENV_PREFIX",
    "AgentConfig",
    "AmiConfig",
    "AriConfig",
    "AudioSocketConfig",
    "BusinessConfig",
    "CalendarConfig",
    "ConfigError",
    "ConsoleConfig",
    "CrmConfig",
    "DaemonConfig",
    "DialogConfig",
    "EnvInt",
    "FastAgiConfig",
    "FreeswitchConfig",
    "LanguageConfig",
    "LlmConfig",
    "LoggingConfig",
    "MetricsConfig",
    "ModelsConfig",
    "PostcallConfig",
    "RtpConfig",
    "SampleRate",
    "Settings",
    "StorageConfig",
    "SttConfig",
    "TtsConfig",
    "TwilioConfig",
    "VadConfig",
    "WebRtcConfig",
    "check_secret_permissions",
    "find_config_file",
    "load_config",
]
