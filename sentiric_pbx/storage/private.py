"""Files that hold callers' personal data: created 0640 in directories 0750, whatever the umask.

Recordings, transcripts and the database are personal data (KVKK, GDPR). The systemd unit runs with
`UMask=0027`, but an admin trying the daemon from a shell has umask 022, and the model store may have
created the data directory (0755) before the first call: a mode left to the umask then makes every
recording world-readable. So every such file and directory gets its mode set explicitly (chmod after
create), and a data directory found open to others is closed.

Group read is kept: the service's group (an admin added to it) may read calls without being root.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import structlog

log = structlog.get_logger("sentiric_pbx.storage.private")

FILE_MODE = 0o640
DIR_MODE = 0o750


def create_private_dirs(path: Path) -> Path:
    """Create `path` and its missing parents, each created one 0750. Existing directories are left alone:
    `path` may be inside a directory the admin chose (/srv, a home), whose mode is theirs."""
    missing: list[Path] = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # another worker made it meanwhile
        os.chmod(folder, DIR_MODE)
    return path


def make_private_dir(path: Path) -> Path:
    """`path` exists and is 0750: for directories that are ours alone (the data directory, recordings,
    the archive), so one created earlier by someone else's umask is closed too."""
    create_private_dirs(path)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        _tighten(path, DIR_MODE)
    return path


def create_private_file(path: Path) -> None:
    """Create `path` empty and 0640 if it does not exist; one that does exists loses any access by others
    (a database from an earlier version, written under umask 022)."""
    create_private_dirs(path.parent)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o007:
            _tighten(path, mode & ~0o007)
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def _tighten(path: Path, mode: int) -> None:
    """chmod, or one warning when the file is another user's (an admin in the service's group running
    the CLI): theirs to fix, and no reason to refuse to work."""
    try:
        os.chmod(path, mode)
    except PermissionError:
        current = oct(stat.S_IMODE(path.stat().st_mode))
        log.warning("private_mode_not_set", path=str(path), mode=current, wanted=oct(mode))


def open_private(path: Path) -> int:
    """A file descriptor for writing `path` (created or truncated), mode 0640 set explicitly."""
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def write_private_atomically(dest: Path, fill: Callable[[IO[bytes]], object]) -> None:
    """`fill` writes `dest`'s bytes into a private temp file beside it, synced, then renamed over `dest`: a
    reader (or a crash) sees the old file or the whole new one, never half of it."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as out:
            fill(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "create_private_dirs",
    "create_private_file",
    "make_private_dir",
    "open_private",
    "write_private_atomically",
]
