"""Where the daemon keeps its state on disk: one data directory, the database in it, the archive beside it.

Root runs the packaged service, whose state belongs in /var/lib (systemd's `StateDirectory=`); an
admin trying things out as themselves gets the XDG data directory instead, so a test run never needs
sudo and never touches the service's database. The models directory follows the same rule
(`sentiric_pbx.models.store.default_models_dir`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sentiric_pbx.config import Settings

SERVICE_DATA_DIR = Path("/var/lib/sentiric-pbx")
DB_FILENAME = "sentiric.db"
ARCHIVE_DIRNAME = "archive"


def data_dir(
    settings: Settings | None = None, *, environ: Mapping[str, str] | None = None, euid: int | None = None
) -> Path:
    """$STATE_DIRECTORY under systemd, /var/lib/sentiric-pbx as root, else $XDG_DATA_HOME/sentiric-pbx.

    The unit runs as the unprivileged `sentiric-pbx` user with `StateDirectory=sentiric-pbx`; systemd
    passes that directory as $STATE_DIRECTORY, and without reading it the service's data would land in
    its HOME's ~/.local/share. `settings` is accepted so every path helper is called the same way; no key
    moves the data directory (the explicit [storage] paths override the files inside it instead).
    """
    del settings
    env = os.environ if environ is None else environ
    if env.get("STATE_DIRECTORY"):
        return Path(env["STATE_DIRECTORY"].split(":")[0])
    if (os.geteuid() if euid is None else euid) == 0:
        return SERVICE_DATA_DIR
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".local" / "share")
    return Path(base) / "sentiric-pbx"


def db_path(settings: Settings, *, environ: Mapping[str, str] | None = None, euid: int | None = None) -> Path:
    """[storage] database_url's `sqlite:///path`, else [storage] db_path, or <data dir>/sentiric.db."""
    url = settings.storage.database_url
    if url is not None and url.get_secret_value().startswith("sqlite:///"):
        return Path(url.get_secret_value()[len("sqlite:///") :]).expanduser()
    if settings.storage.db_path is not None:
        return settings.storage.db_path.expanduser()
    return data_dir(settings, environ=environ, euid=euid) / DB_FILENAME


def archive_dir(settings: Settings, *, environ: Mapping[str, str] | None = None, euid: int | None = None) -> Path:
    """[storage] archive_dir, or <data dir>/archive (recordings and transcripts)."""
    if settings.storage.archive_dir is not None:
        return settings.storage.archive_dir.expanduser()
    return data_dir(settings, environ=environ, euid=euid) / ARCHIVE_DIRNAME


def recordings_dir(settings: Settings, *, environ: Mapping[str, str] | None = None, euid: int | None = None) -> Path:
    """Where a call's recording is written while the call runs: beside the database, until the post-call
    archive job moves it into the archive. Beside the database, so a test or a second daemon with its own
    `[storage] db_path` never writes into the service's directory."""
    return db_path(settings, environ=environ, euid=euid).parent / "recordings"
