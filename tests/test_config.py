"""Configuration: loopback defaults, TOML + environment, where the file is found, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from sentiric_pbx import config as config_module
from sentiric_pbx.cli import app
from sentiric_pbx.config import ConfigError, Settings, load_config

REPO = Path(__file__).resolve().parent.parent
REAL_DEFAULT_PATHS = config_module.DEFAULT_PATHS  # before the fixture below swaps it per test


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No SENTIRIC_* from the developer's shell, no real /etc file, and Settings.source restored."""
    for name in list(os.environ):
        if name.startswith("SENTIRIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(config_module, "DEFAULT_PATHS", (tmp_path / "etc" / "config.toml", Path("sentiric-pbx.toml")))
    monkeypatch.setattr(Settings, "source", Settings.source)
    monkeypatch.chdir(tmp_path)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _hosts(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        found: dict[str, Any] = {}
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            found.update({name: value} if key == "host" else _hosts(value, name))
        return found
    return {}


# --- defaults -------------------------------------------------------------------------------------
def test_every_listener_defaults_to_loopback() -> None:
    hosts = _hosts(Settings().model_dump())
    assert {"audiosocket.host", "fastagi.host", "metrics.host"} <= hosts.keys()
    assert set(hosts.values()) == {"127.0.0.1"}, hosts


def test_no_file_and_no_environment_gives_the_defaults() -> None:
    settings = load_config(None, environ={})
    assert settings.model_dump() == Settings().model_dump()
    assert settings.audiosocket.port == 9092 and settings.fastagi.port == 4573
    assert Settings.source == "defaults"


def test_the_shipped_example_config_is_valid_and_loopback_only() -> None:
    settings = load_config(REPO / "sentiric-pbx.example.toml", environ={})
    assert set(_hosts(settings.model_dump()).values()) == {"127.0.0.1"}


# --- file + environment ---------------------------------------------------------------------------
def test_environment_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "pbx.toml", '[audiosocket]\nhost = "127.0.0.2"\nport = 9999\n\n[vad]\npre_roll_ms = 200\n')
    assert load_config(path, environ={}).audiosocket.port == 9999
    monkeypatch.setenv("SENTIRIC_AUDIOSOCKET__PORT", "19092")
    settings = load_config(path)
    assert settings.audiosocket.port == 19092
    # Only that key: the rest of the file's section and the other sections still apply.
    assert settings.audiosocket.host == "127.0.0.2"
    assert settings.vad.pre_roll_ms == 200


def test_environment_alone_overrides_a_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIRIC_VAD__END_OF_TURN_SILENCE_MS", "700")
    monkeypatch.setenv("SENTIRIC_METRICS__ENABLED", "false")
    settings = load_config(None)
    assert settings.vad.end_of_turn_silence_ms == 700
    assert settings.metrics.enabled is False


def test_a_bad_environment_value_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIRIC_AUDIOSOCKET__PORT", "abc")
    with pytest.raises(ConfigError, match=r"audiosocket\.port") as info:
        load_config(None)
    assert "SENTIRIC_" in str(info.value)


def test_the_config_path_variable_is_not_mistaken_for_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "from-env.toml", "[fastagi]\nport = 4999\n")
    monkeypatch.setenv("SENTIRIC_CONFIG", str(path))
    settings = load_config(None)
    assert settings.fastagi.port == 4999
    assert Settings.source == str(path)


def test_an_explicit_environ_is_the_whole_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTIRIC_AUDIOSOCKET__PORT", "19092")
    assert load_config(None, environ={}).audiosocket.port == 9092
    assert load_config(None, environ={"SENTIRIC_AUDIOSOCKET__PORT": "19093"}).audiosocket.port == 19093


def _int_choice_fields() -> list[tuple[str, str, tuple[int, ...], int]]:
    """Every field whose value is one of some numbers (`Literal[8000, 16000]`, bare or inside `Annotated`):
    (section, key, choices, default). Found by walking the model, so a new one is covered without a test edit."""
    found = []
    for section, sfield in Settings.model_fields.items():
        model = sfield.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        for key, field in model.model_fields.items():
            hint = typing.get_type_hints(model, include_extras=True)[key]
            while typing.get_origin(hint) is typing.Annotated:
                hint = typing.get_args(hint)[0]
            choices = typing.get_args(hint) if typing.get_origin(hint) is Literal else ()
            if choices and all(type(c) is int for c in choices):
                found.append((section, key, choices, field.default))
    return found


def test_every_numeric_choice_can_be_set_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """`SENTIRIC_AUDIOSOCKET__DEFAULT_RATE=16000` used to fail with "Input should be 8000 or 16000 (got
    '16000')": the environment is text, and a Literal of numbers does not compare text to its numbers."""
    fields = _int_choice_fields()
    assert {("audiosocket", "default_rate"), ("freeswitch", "sample_rate")} <= {(s, k) for s, k, _c, _d in fields}
    for section, key, choices, default in fields:
        value = next(c for c in choices if c != default)
        monkeypatch.setenv(f"SENTIRIC_{section.upper()}__{key.upper()}", f" {value}")
    settings = load_config(None)
    for section, key, choices, default in fields:
        got = getattr(getattr(settings, section), key)
        assert got == next(c for c in choices if c != default) and type(got) is int, (section, key, got)
    # Still only the listed numbers.
    monkeypatch.setenv("SENTIRIC_AUDIOSOCKET__DEFAULT_RATE", "12000")
    with pytest.raises(ConfigError, match=r"audiosocket\.default_rate: Input should be 8000 or 16000"):
        load_config(None)


def test_ari_rtp_defaults_to_ulaw_and_refuses_slin16_with_the_reason(tmp_path: Path) -> None:
    """slin16 over externalMedia RTP is one-way (Asterisk drops its dynamic payload type): refused at load,
    in one line that says why and what to use instead; slin16 with AudioSocket or WebSocket media is fine."""
    assert Settings().ari.format == "ulaw"
    path = _write(tmp_path / "ari.toml", '[ari]\nenabled = true\nmedia = "rtp"\nformat = "slin16"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert "\n" not in message
    for fragment in ("ari", "slin16", "hear nothing", '"g722"', '"audiosocket"', '"websocket"'):
        assert fragment in message, message
    for media in ("audiosocket", "websocket"):
        _write(path, f'[ari]\nmedia = "{media}"\nformat = "slin16"\n')
        assert load_config(path, environ={}).ari.media == media
    _write(path, '[ari]\nformat = "g722"\n')
    assert load_config(path, environ={}).ari.format == "g722"


# --- where the file comes from --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("explicit", "env", "etc", "cwd", "winner"),
    [
        (True, True, True, True, "explicit"),
        (False, True, True, True, "env"),
        (False, False, True, True, "etc"),
        (False, False, False, True, "cwd"),
        (False, False, False, False, None),
        (True, False, False, False, "explicit"),
        (False, True, False, True, "env"),
    ],
)
def test_search_order(tmp_path: Path, explicit: bool, env: bool, etc: bool, cwd: bool, winner: str | None) -> None:
    ports = {"explicit": 1001, "env": 1002, "etc": 1003, "cwd": 1004}
    paths = {
        "explicit": tmp_path / "given" / "explicit.toml",
        "env": tmp_path / "env" / "env.toml",
        "etc": tmp_path / "etc" / "config.toml",  # DEFAULT_PATHS[0] in this test
        "cwd": tmp_path / "sentiric-pbx.toml",  # ./sentiric-pbx.toml, cwd is tmp_path
    }
    for name, path in paths.items():
        _write(path, f"[audiosocket]\nport = {ports[name]}\n")
    if not etc:
        paths["etc"].unlink()
    if not cwd:
        paths["cwd"].unlink()
    environ = {"SENTIRIC_CONFIG": str(paths["env"])} if env else {}

    settings = load_config(paths["explicit"] if explicit else None, environ=environ)

    assert settings.audiosocket.port == (ports[winner] if winner else 9092)
    if winner == "cwd":
        assert Path(Settings.source) == Path("sentiric-pbx.toml")
    elif winner:
        assert Settings.source == str(paths[winner])
    else:
        assert Settings.source == "defaults"


def test_the_documented_default_locations() -> None:
    assert REAL_DEFAULT_PATHS == (Path("/etc/sentiric-pbx/config.toml"), Path("sentiric-pbx.toml"))


def test_an_empty_config_variable_is_ignored(tmp_path: Path) -> None:
    _write(tmp_path / "sentiric-pbx.toml", "[fastagi]\nport = 4600\n")
    assert load_config(None, environ={"SENTIRIC_CONFIG": ""}).fastagi.port == 4600


# --- errors: one readable line naming the key ---------------------------------------------------
@pytest.mark.parametrize(
    ("toml", "must_name"),
    [
        ('[audiosocket]\nport = "abc"\n', ["audiosocket.port", "'abc'"]),
        ("[audiosocket]\nport = 70000\n", ["audiosocket.port", "65535"]),
        ("[audiosocket]\nprot = 9092\n", ["audiosocket.prot", "unknown key"]),
        ("[audiosockets]\nport = 9092\n", ["audiosockets", "unknown key"]),
        ("[vad]\naggressiveness = 4\n", ["vad.aggressiveness", "3"]),
        ("[vad]\nend_of_turn_silence_ms = 50\n", ["vad.end_of_turn_silence_ms", "100"]),
        ('[agent]\nmode = "llm-maybe"\n', ["agent.mode", "echo"]),
        ('[audiosocket]\nport = "abc"\n\n[fastagi]\nhots = "x"\n', ["audiosocket.port", "fastagi.hots"]),
    ],
)
def test_invalid_values_give_one_line_naming_the_key(tmp_path: Path, toml: str, must_name: list[str]) -> None:
    path = _write(tmp_path / "bad.toml", toml)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    for fragment in must_name:
        assert fragment in message, message


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.toml", "[audiosocket\nport = 9092\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(path, environ={})
    assert str(path) in str(info.value)
    assert "line 1" in str(info.value)


@pytest.mark.parametrize("via", ["explicit", "env"])
def test_a_missing_file_is_a_config_error(tmp_path: Path, via: str) -> None:
    missing = tmp_path / "nope" / "config.toml"
    with pytest.raises(ConfigError, match="does not exist") as info:
        if via == "explicit":
            load_config(missing, environ={})
        else:
            load_config(None, environ={"SENTIRIC_CONFIG": str(missing)})
    assert str(missing) in str(info.value)


# --- the CLI ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("toml", "expect"),
    [
        ('[audiosocket]\nport = "abc"\n', "audiosocket.port"),
        ("[audiosocket]\nprot = 1\n", "audiosocket.prot"),
        ("[audiosocket\n", "not valid TOML"),
        (None, "does not exist"),
    ],
)
def test_cli_run_with_a_bad_config_exits_2_with_one_line(tmp_path: Path, toml: str | None, expect: str) -> None:
    path = tmp_path / "bad.toml"
    if toml is not None:
        _write(path, toml)
    result = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sentiric-pbx: error: ")
    assert expect in lines[0]
    assert "Traceback" not in result.output


def test_cli_run_bad_config_as_a_real_process(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.toml", '[audiosocket]\nport = "abc"\n')
    exe = Path(sys.executable).parent / "sentiric-pbx"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "sentiric_pbx.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTIRIC_")}
    proc = subprocess.run([*command, "run", "--config", str(path)], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "audiosocket.port" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("toml", "key", "secret"),
    [
        ('[fastagi]\nsecret = "has,a-comma-0123456789"\n', "fastagi.secret", "has,a-comma-0123456789"),
        ("[crm]\nauth_header = 987654321987\n", "crm.auth_header", "987654321987"),
        ('[storage]\nredis_url = "redus://:hunter2-pw@10.0.0.5:6379/0"\n', "storage.redis_url", "hunter2-pw"),
    ],
)
def test_a_refused_secret_is_named_but_never_shown(tmp_path: Path, toml: str, key: str, secret: str) -> None:
    path = _write(tmp_path / "bad.toml", toml)
    path.chmod(0o640)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert key in message and "not shown" in message, message
    assert secret not in message, message


def test_a_value_that_is_not_a_secret_is_still_shown_when_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.toml", '[storage]\nredis_url = "htp://127.0.0.1:6379"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert "storage.redis_url" in str(info.value) and "redis://" in str(info.value)
    assert "'htp://127.0.0.1:6379'" in str(info.value)


@pytest.mark.parametrize("section", ["crm", "calendar"])
def test_a_world_readable_file_with_an_auth_header_is_refused(tmp_path: Path, section: str) -> None:
    """`auth_header` is declared a secret (`SecretStr`) though its name does not say so."""
    path = _write(tmp_path / "loose.toml", f'[{section}]\nauth_header = "Bearer abc123"\n')
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=rf"holds secrets \({section}\.auth_header\).*chmod 640"):
        load_config(path, environ={})
    path.chmod(0o640)
    assert load_config(path, environ={}).model_dump()[section]["auth_header"] is not None
