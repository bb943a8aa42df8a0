"""The shipped catalog, catalog validation, and where models and the catalog are looked for."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sentiric_pbx.config import Settings
from sentiric_pbx.models import (
    CatalogError,
    ModelError,
    ModelNotFoundError,
    catalog_path,
    default_catalog_path,
    load_catalog,
    models_root,
    resolve_model,
)
from sentiric_pbx.models.bundled import BUNDLED, JOE_SHA256, WHISPER_BASE_SHA256
from sentiric_pbx.models.store import default_models_dir, validate_id

REPO_CATALOG = Path(__file__).resolve().parents[1] / "models" / "catalog.toml"


def test_the_shipped_catalog_is_found_relative_to_the_package_and_is_valid() -> None:
    assert default_catalog_path() == REPO_CATALOG
    catalog = load_catalog()
    for needed in (
        "vosk-model-small-en-us-0.15",
        "vosk-model-small-tr-0.3",
        "en_US-joe-medium",
        "tr_TR-dfki-medium",
        "faster-whisper-base",
        "faster-whisper-small",
        "qwen2.5-0.5b-instruct-q4_k_m",
        "qwen2.5-1.5b-instruct-q4_k_m",
    ):
        assert needed in catalog
    for entry in catalog.values():
        assert entry.license and entry.notes, entry.id
        for f in entry.files:
            assert f.url.startswith("https://"), f.url
            # a checksum always comes with its size, and a source named in the notes
            assert bool(f.sha256) == bool(f.size), (entry.id, f.name)
        if not entry.verified:
            assert "no published sha256" in entry.notes.lower(), entry.id


def test_multi_file_entries_have_the_layout_engines_expect() -> None:
    catalog = load_catalog()
    whisper = catalog["faster-whisper-base"]
    assert whisper.entry == "." and {f.name for f in whisper.files} == {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.txt",
    }
    voice = catalog["tr_TR-dfki-medium"]
    assert voice.entry == "tr_TR-dfki-medium.onnx"
    assert [f.name for f in voice.files] == ["tr_TR-dfki-medium.onnx", "tr_TR-dfki-medium.onnx.json"]
    assert catalog["qwen2.5-0.5b-instruct-q4_k_m"].entry == "qwen2.5-0.5b-instruct-q4_k_m.gguf"
    assert catalog["vosk-model-small-en-us-0.15"].format == "zip"


def test_bundled_checksums_are_the_catalogs() -> None:
    """bundled.py carries the same upstream values as the catalog; this keeps them in step."""
    catalog = load_catalog()
    joe = {f.name: f.sha256 for f in catalog["en_US-joe-medium"].files}
    whisper = {f.name: f.sha256 for f in catalog["faster-whisper-base"].files}
    assert joe == JOE_SHA256
    assert whisper == WHISPER_BASE_SHA256
    assert BUNDLED["en_US-joe-medium"].catalog_id == "en_US-joe-medium"
    assert BUNDLED["whisper-base"].catalog_id == "faster-whisper-base"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(body)
    return path


GOOD = """
[[model]]
id = "m"
kind = "llm"
engine = "llama_cpp"
format = "file"
url = "https://example.invalid/m.gguf"
sha256 = ""
"""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('kind = "llm"', 'kind = "vision"'), "kind must be one of"),
        (('sha256 = ""', 'sha256 = "abc"'), "sha256 must be 64 hex digits"),
        (('format = "file"', 'format = "rar"'), "format must be one of"),
        (('url = "https://example.invalid/m.gguf"', 'url = "file:///etc/passwd"'), "url must be http(s)"),
        (('id = "m"', 'id = "../m"'), "invalid model id"),
        (('sha256 = ""', 'sha256 = ""\nentry = "other.gguf"'), "entry 'other.gguf' is not one of its files"),
    ],
)
def test_a_bad_entry_is_one_error_naming_the_file_and_entry(tmp_path: Path, change: tuple[str, str], message: str):
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(CatalogError, match=re.escape(message)) as err:
        load_catalog(path)
    assert str(path) in str(err.value)


def test_duplicate_ids_and_multi_file_archives_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="appears twice"):
        load_catalog(_write(tmp_path, GOOD + GOOD))
    two_files = GOOD.replace('format = "file"', 'format = "zip"').replace(
        'url = "https://example.invalid/m.gguf"\nsha256 = ""',
        '[[model.files]]\nurl = "https://example.invalid/a.zip"\n[[model.files]]\nurl = "https://example.invalid/b.zip"',
    )
    with pytest.raises(CatalogError, match="single archive"):
        load_catalog(_write(tmp_path, two_files))


def test_a_missing_or_broken_catalog_says_which_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "nope.toml")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(_write(tmp_path, "[[model]\n"))


def test_default_models_dir_is_var_lib_for_root_and_xdg_for_users(tmp_path: Path) -> None:
    assert default_models_dir({}, euid=0) == Path("/var/lib/sentiric-pbx/models")
    assert default_models_dir({"HOME": "/home/ada"}, euid=1000) == Path("/home/ada/.local/share/sentiric-pbx/models")
    xdg = {"HOME": "/home/ada", "XDG_DATA_HOME": str(tmp_path)}
    assert default_models_dir(xdg, euid=1000) == tmp_path / "sentiric-pbx" / "models"


def test_models_dir_and_catalog_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    settings.models.dir = tmp_path / "from-config"
    assert models_root(settings, tmp_path / "flag") == tmp_path / "flag"
    assert models_root(settings) == tmp_path / "from-config"
    monkeypatch.setenv("SENTIRIC_MODELS__DIR", str(tmp_path / "from-env"))
    assert models_root() == tmp_path / "from-env"
    settings.models.catalog = tmp_path / "c.toml"
    assert catalog_path(settings, tmp_path / "flag.toml") == tmp_path / "flag.toml"
    assert catalog_path(settings) == tmp_path / "c.toml"
    assert catalog_path(Settings()) == REPO_CATALOG


def test_ids_are_safe_directory_names() -> None:
    for bad in ("../etc", "a/b", "", ".hidden", "bundled", "x" * 200):
        with pytest.raises(ModelError):
            validate_id(bad)
    assert validate_id("qwen2.5-0.5b-instruct-q4_k_m") == "qwen2.5-0.5b-instruct-q4_k_m"


def test_resolve_model_tells_the_admin_which_command_to_run(tmp_path: Path) -> None:
    settings = Settings()
    settings.models.dir = tmp_path
    with pytest.raises(ModelNotFoundError, match=re.escape("sentiric-pbx models pull vosk-model-small-en-us-0.15")):
        resolve_model("vosk-model-small-en-us-0.15", settings)
    with pytest.raises(
        ModelNotFoundError, match=r"sentiric-pbx models pull faster-whisper-base \(or configure bundled:whisper-base"
    ):
        resolve_model("faster-whisper-base", settings)
    with pytest.raises(ModelNotFoundError, match="sentiric-pbx models import PATH --id my-model"):
        resolve_model("my-model", settings)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "nothing.gguf"), settings)
    with pytest.raises(ModelNotFoundError, match="unknown bundled model"):
        resolve_model("bundled:nope", settings)
    model = tmp_path / "local.gguf"
    model.write_bytes(b"GGUF")
    assert resolve_model(str(model), settings) == model
    # what the engine pool catches: a missing model is a LookupError, not a crash
    assert issubclass(ModelNotFoundError, LookupError)
