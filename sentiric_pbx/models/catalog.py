"""The model catalog (`models/catalog.toml`): what can be pulled, from where, with which checksum.

One `[[model]]` table per model. A model made of one download gives `url`, `sha256` and `size` at
the top level; one made of several files (a Piper voice is `.onnx` + `.onnx.json`, a faster-whisper
model is a CTranslate2 directory) lists them as `[[model.files]]` tables with `name`, `url`,
`sha256`, `size`. `format` says what to do with the bytes: `zip` / `tar.gz` are unpacked, `file`
is placed as is. An empty `sha256` means nobody has published a checksum we could confirm: `pull`
refuses such an entry unless the admin passes `--allow-unverified`. `size` 0 means unknown.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import sentiric_pbx
from sentiric_pbx.models.store import ModelError, validate_id

KINDS = ("stt", "tts", "llm")
ENGINES = ("vosk", "whisper", "piper", "llama_cpp")
FORMATS = ("zip", "tar.gz", "file")
_SHA_RE = re.compile(r"^([0-9a-f]{64})?$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class CatalogError(ModelError):
    """The catalog file is missing or malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class CatalogFile:
    name: str
    url: str
    sha256: str
    size: int


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    kind: str
    engine: str
    language: str
    format: str
    files: tuple[CatalogFile, ...]
    entry: str
    license: str
    notes: str

    @property
    def verified(self) -> bool:
        """Every file has a checksum from a source we could confirm."""
        return all(f.sha256 for f in self.files)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def default_catalog_path() -> Path:
    """The catalog that ships with this checkout: `<repo>/models/catalog.toml`."""
    return Path(sentiric_pbx.__file__).resolve().parents[1] / "models" / "catalog.toml"


def _str(table: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise CatalogError(f"{where}: '{key}' must be a string")
    return value


def _file(table: dict[str, Any], where: str) -> CatalogFile:
    url = _str(table, "url", where)
    if urlparse(url).scheme not in ("http", "https"):
        raise CatalogError(f"{where}: url must be http(s), got {url!r}")
    name = _str(table, "name", where, Path(urlparse(url).path).name)
    sha = _str(table, "sha256", where, "").lower()
    size = table.get("size", 0)
    if not _NAME_RE.match(name):
        raise CatalogError(f"{where}: file name {name!r} is not a plain file name")
    if not _SHA_RE.match(sha):
        raise CatalogError(f"{where}: sha256 must be 64 hex digits or empty, got {sha!r}")
    if not isinstance(size, int) or size < 0:
        raise CatalogError(f"{where}: size must be a non-negative integer (bytes)")
    return CatalogFile(name, url, sha, size)


def _entry(table: dict[str, Any], where: str) -> CatalogEntry:
    model_id = _str(table, "id", where)
    where = f"{where} ({model_id})"
    try:
        validate_id(model_id)
    except ModelError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    kind, engine, fmt = _str(table, "kind", where), _str(table, "engine", where), _str(table, "format", where)
    for value, allowed, key in ((kind, KINDS, "kind"), (engine, ENGINES, "engine"), (fmt, FORMATS, "format")):
        if value not in allowed:
            raise CatalogError(f"{where}: {key} must be one of {', '.join(allowed)}, got {value!r}")
    if "files" in table:
        if "url" in table:
            raise CatalogError(f"{where}: give either url or [[model.files]], not both")
        files = tuple(_file(f, f"{where} file {i}") for i, f in enumerate(table["files"]))
    else:
        files = (_file(table, where),)
    if not files or len({f.name for f in files}) != len(files):
        raise CatalogError(f"{where}: needs at least one file, with distinct names")
    if fmt != "file" and len(files) != 1:
        raise CatalogError(f"{where}: a {fmt} model is a single archive")
    default_entry = files[0].name if fmt == "file" and len(files) == 1 else "."
    entry = _str(table, "entry", where, default_entry)
    if entry != "." and entry not in {f.name for f in files}:
        raise CatalogError(f"{where}: entry {entry!r} is not one of its files")
    return CatalogEntry(
        id=model_id,
        kind=kind,
        engine=engine,
        language=_str(table, "language", where, ""),
        format=fmt,
        files=files,
        entry=entry,
        license=_str(table, "license", where, ""),
        notes=_str(table, "notes", where, ""),
    )


def load_catalog(path: Path | None = None) -> dict[str, CatalogEntry]:
    """Parse and validate the whole catalog; any problem is one `CatalogError` line."""
    path = path or default_catalog_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"model catalog {path} does not exist (set [models] catalog or --catalog)") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"model catalog {path} is not valid TOML: {exc}") from None
    entries: dict[str, CatalogEntry] = {}
    for i, table in enumerate(data.get("model", [])):
        entry = _entry(table, f"{path}: model {i}")
        if entry.id in entries:
            raise CatalogError(f"{path}: model id {entry.id} appears twice")
        entries[entry.id] = entry
    return entries
