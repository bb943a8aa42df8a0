"""Getting a model's bytes onto this host — over HTTP (`pull`) or from a local path (`import`) —
checking them, and installing them through the store's atomic staging.

Downloads go to `<root>/.downloads/<id>/<name>.part` and are resumed with `Range: bytes=N-`: model
files are tens to hundreds of MB and PBX hosts often sit behind slow or flaky links. A server that
ignores the range (200 instead of 206) is handled by starting over. Nothing is unpacked or placed
before every file's size and sha256 have been checked; a mismatch deletes the partial file, because
resuming a corrupt prefix would only reproduce the same failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from pathlib import Path
from typing import Protocol

import httpx
import structlog

from sentiric_pbx.models.catalog import CatalogEntry, CatalogFile
from sentiric_pbx.models.store import (
    ChecksumMismatchError,
    FileRecord,
    InstallResult,
    Manifest,
    ModelError,
    ModelStore,
    UnsafeArchiveError,
    copy_hashed,
    record_tree,
    sha256_file,
    unpack_archive,
    validate_id,
)

log = structlog.get_logger("sentiric_pbx.models")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
USER_AGENT = "sentiric-pbx-models/1"


class DownloadError(ModelError):
    """HTTP or network failure; `retryable` is False for answers that will not change (404, 403)."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ProgressHook(Protocol):
    """The CLI shows a rich progress bar through this; the library itself never prints."""

    def start(self, name: str, total: int | None, completed: int) -> None: ...

    def update(self, completed: int) -> None: ...

    def stop(self) -> None: ...


class NoProgress:
    def start(self, name: str, total: int | None, completed: int) -> None:
        pass

    def update(self, completed: int) -> None:
        pass

    def stop(self) -> None:
        pass


def _total(resp: httpx.Response, offset: int, expected: int) -> int | None:
    match = _CONTENT_RANGE.match(resp.headers.get("content-range", ""))
    if match and match.group(3) != "*":
        return int(match.group(3))
    length = resp.headers.get("content-length")
    return offset + int(length) if length and length.isdigit() else (expected or None)


def fetch(
    client: httpx.Client, url: str, part: Path, *, expected_size: int = 0, progress: ProgressHook | None = None
) -> None:
    """Download `url` into `part`, continuing from whatever `part` already holds."""
    progress = progress or NoProgress()
    offset = part.stat().st_size if part.exists() else 0
    if expected_size and offset > expected_size:
        part.unlink()
        offset = 0
    if expected_size and offset == expected_size:
        return  # complete from an earlier run; the checksum decides whether it is good
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with client.stream("GET", url, headers=headers) as resp:
        if resp.status_code == 416 and offset:
            return  # our copy already reaches the end (size unknown to the catalog)
        if resp.status_code == 206 and offset:
            match = _CONTENT_RANGE.match(resp.headers.get("content-range", ""))
            if not match or int(match.group(1)) != offset:
                raise DownloadError(f"server answered range {offset}- with {match and match.group(0)!r}")
            mode = "ab"
        elif resp.status_code == 200:
            offset, mode = 0, "wb"  # no range support (or no partial file): start from the beginning
        else:
            retry = resp.status_code >= 500 or resp.status_code == 429
            raise DownloadError(f"HTTP {resp.status_code} {resp.reason_phrase}", retryable=retry)
        progress.start(part.name.removesuffix(".part"), _total(resp, offset, expected_size), offset)
        try:
            with part.open(mode) as fh:
                for chunk in resp.iter_raw():  # as received: a cut connection keeps every byte so far
                    fh.write(chunk)
                    offset += len(chunk)
                    if expected_size and offset > expected_size:
                        raise DownloadError(f"the server sent more than the catalog's {expected_size} bytes")
                    progress.update(offset)
        finally:
            progress.stop()


def _fetch_with_retries(
    client: httpx.Client,
    model_id: str,
    f: CatalogFile,
    part: Path,
    attempts: int,
    retry_delay: float,
    progress: ProgressHook,
) -> None:
    """Network blips and 5xx are retried (each attempt resumes); 404 and friends fail at once."""
    for attempt in range(1, attempts + 1):
        try:
            fetch(client, f.url, part, expected_size=f.size, progress=progress)
            return
        except (httpx.TransportError, DownloadError) as exc:
            retryable = isinstance(exc, httpx.TransportError) or (isinstance(exc, DownloadError) and exc.retryable)
            have = part.stat().st_size if part.exists() else 0
            if retryable and attempt < attempts:
                log.warning("model_download_retry", url=f.url, attempt=attempt, have_bytes=have, error=str(exc))
                time.sleep(retry_delay * attempt)
                continue
            kept = f" ({have} bytes kept: run the same pull again to resume)" if have else ""
            detail = str(exc) or type(exc).__name__
            raise DownloadError(f"cannot download model {model_id} from {f.url}: {detail}{kept}") from exc


def _check(entry: CatalogEntry, f: CatalogFile, part: Path) -> str:
    """Size, then sha256; a failure deletes the file so the next attempt starts clean."""
    size = part.stat().st_size
    if f.size and size != f.size:
        part.unlink()
        raise ModelError(f"size mismatch for model {entry.id} ({f.name}): expected {f.size} bytes, got {size}")
    actual = sha256_file(part)
    if f.sha256 and actual != f.sha256:
        part.unlink()
        raise ChecksumMismatchError(entry.id, f.name, f.sha256, actual)
    return actual


def _install(
    entry: CatalogEntry, store: ModelStore, parts: dict[str, Path], source: dict[str, object], force: bool
) -> InstallResult:
    """Checked files → staging dir (unpacked or placed) → manifest → one rename into place."""
    computed = {name: _check(entry, f, parts[name]) for name, f in ((f.name, f) for f in entry.files)}
    with store.staging() as stage:
        archive = None
        if entry.format == "file":
            for name, part in parts.items():
                os.replace(part, stage / name)
            root = stage
            records = [
                FileRecord(f.name, f.size or (stage / f.name).stat().st_size, computed[f.name]) for f in entry.files
            ]
        else:
            (f,) = entry.files
            try:
                root = unpack_archive(parts[f.name], entry.format, stage / "unpacked")
            except UnsafeArchiveError:
                parts[f.name].unlink(missing_ok=True)  # the same bytes would fail again
                raise
            records = record_tree(root)
            archive = {"name": f.name, "sha256": computed[f.name], "size": parts[f.name].stat().st_size}
        manifest = Manifest(
            id=entry.id,
            kind=entry.kind,
            engine=entry.engine,
            language=entry.language,
            entry=entry.entry,
            files=records,
            source=source,
            verified=entry.verified,
            archive=archive,
        )
        store.commit(root, manifest, replace=force)
    log.info("model_installed", model=entry.id, verified=entry.verified, source=source.get("type"))
    return InstallResult(manifest, store.entry_path(manifest), computed)


def _prune(ddir: Path) -> None:
    for part in ddir.glob("*.part"):
        if part.stat().st_size == 0:
            part.unlink()
    with contextlib.suppress(OSError):
        ddir.rmdir()  # only succeeds when empty


def pull(
    entry: CatalogEntry,
    store: ModelStore,
    *,
    allow_unverified: bool = False,
    force: bool = False,
    progress: ProgressHook | None = None,
    attempts: int = 3,
    retry_delay: float = 1.0,
    timeout_s: float = 30.0,
) -> InstallResult:
    """Download, check and install one catalog entry (resuming any earlier partial download)."""
    if not entry.verified and not allow_unverified:
        raise ModelError(
            f"model {entry.id} has no verified sha256 in the catalog; refusing to install unchecked bytes "
            f"(re-run with --allow-unverified to download it anyway and see its computed sha256)"
        )
    with store.lock(entry.id):
        existing = store.manifest(entry.id)
        if existing is not None and not force:
            return InstallResult(existing, store.entry_path(existing), already=True)
        ddir = store.downloads_dir(entry.id)
        ddir.mkdir(parents=True, exist_ok=True)
        parts = {f.name: ddir / f"{f.name}.part" for f in entry.files}
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
        # identity: byte ranges must refer to the file itself, not to a compressed transfer of it
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        hook = progress or NoProgress()
        try:
            with httpx.Client(follow_redirects=True, timeout=timeout, headers=headers) as client:
                for f in entry.files:
                    log.info("model_download", model=entry.id, file=f.name, url=f.url)
                    _fetch_with_retries(client, entry.id, f, parts[f.name], attempts, retry_delay, hook)
            result = _install(entry, store, parts, {"type": "url", "urls": [f.url for f in entry.files]}, force)
        except ModelError:
            _prune(ddir)  # keep partial downloads for the next run to resume, nothing else
            raise
        shutil.rmtree(ddir, ignore_errors=True)
        return result


def import_for_entry(entry: CatalogEntry, store: ModelStore, src: Path, *, force: bool = False) -> InstallResult:
    """Air-gapped `pull`: the admin copied the catalog's download(s) here; check and install them.

    `src` is the downloaded file for a single-file/archive entry, or a directory holding every
    `files[].name` for a multi-file entry (a Piper voice, a faster-whisper model).
    """
    with store.lock(entry.id):
        existing = store.manifest(entry.id)
        if existing is not None and not force:
            return InstallResult(existing, store.entry_path(existing), already=True)
        ddir = store.downloads_dir(entry.id)
        ddir.mkdir(parents=True, exist_ok=True)
        parts = {}
        for f in entry.files:
            origin = src / f.name if src.is_dir() else src
            if not origin.is_file():
                raise ModelError(
                    f"{origin} does not exist: model {entry.id} needs {', '.join(x.name for x in entry.files)}"
                )
            parts[f.name] = ddir / f"{f.name}.part"
            copy_hashed([origin], parts[f.name])
        try:
            return _install(entry, store, parts, {"type": "local", "path": str(src.resolve())}, force)
        finally:
            shutil.rmtree(ddir, ignore_errors=True)


def matches_entry(entry: CatalogEntry, src: Path) -> bool:
    """Does `src` look like the catalog's download(s) (rather than an already unpacked model)?"""
    if src.is_dir():
        return entry.format == "file" and len(entry.files) > 1 and all((src / f.name).is_file() for f in entry.files)
    return len(entry.files) == 1 and (entry.format != "file" or src.name == entry.files[0].name)


def import_path(
    src: Path,
    store: ModelStore,
    *,
    model_id: str,
    kind: str,
    engine: str,
    language: str = "",
    force: bool = False,
) -> InstallResult:
    """Copy a local model file or directory in as `model_id` (no published checksum: unverified)."""
    validate_id(model_id)
    if not src.exists():
        raise ModelError(f"{src} does not exist")
    sources = [src]
    if src.is_file() and engine == "piper":
        config = src.with_name(src.name + ".json")
        if not config.is_file():
            raise ModelError(f"a Piper voice needs its config next to it: {config} is missing")
        sources.append(config)
    with store.lock(model_id), store.staging() as stage:
        existing = store.manifest(model_id)
        if existing is not None and not force:
            return InstallResult(existing, store.entry_path(existing), already=True)
        known: dict[str, str] = {}
        if src.is_dir():
            for path in sorted(p for p in src.rglob("*") if p.is_file()):
                rel = path.relative_to(src)
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                known[rel.as_posix()] = copy_hashed([path], stage / rel)[0]
        else:
            for path in sources:
                known[path.name] = copy_hashed([path], stage / path.name)[0]
        manifest = Manifest(
            id=model_id,
            kind=kind,
            engine=engine,
            language=language,
            entry="." if src.is_dir() else src.name,
            files=record_tree(stage, known),
            source={"type": "local", "path": str(src.resolve())},
            verified=False,
        )
        store.commit(stage, manifest, replace=force)
    log.info("model_imported", model=model_id, source=str(src))
    return InstallResult(manifest, store.entry_path(manifest), known)
