"""What the model-manager tests share: a hermetic config for the CLI, and a file's sha256 computed on its own."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog


@pytest.fixture(autouse=True)
def _hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No /etc config or SENTIRIC_* variable leaks in; the CLI's logging set-up does not leak out. Autouse in
    every test module that imports it."""
    cfg = tmp_path / "empty.toml"
    cfg.write_text("")
    monkeypatch.setenv("SENTIRIC_CONFIG", str(cfg))
    monkeypatch.delenv("SENTIRIC_MODELS__DIR", raising=False)
    monkeypatch.delenv("SENTIRIC_MODELS__CATALOG", raising=False)
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def sha256_of(*paths: Path) -> str:
    """The sha256 of the files' bytes one after the other (a joined model's slices give the joined file's)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()
