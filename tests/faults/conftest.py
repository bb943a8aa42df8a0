"""Fixtures shared by the fault modules: a tiny real filesystem (the models directory is the session's,
tests/conftest.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def small_filesystem(path: Path, size: str = "2m") -> Iterator[Path | None]:
    """A real tmpfs of `size` mounted at `path` (root only: CI runs as root); None when it cannot be made.

    A real filesystem is what makes `write()` fail with ENOSPC exactly as a full archive disk does —
    a read-only or permission-denied directory fails differently (and root ignores permissions).
    """
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        yield None
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(filesystem: Path) -> Path:
    """Write zeros into one file until the filesystem is full (ENOSPC); return the file to free it later."""
    filler = filesystem / "filler.bin"
    with filler.open("wb", buffering=0) as out:
        for size in (64 * 1024, 4096, 1):
            with contextlib.suppress(OSError):
                while out.write(bytes(size)):
                    pass
    return filler
