"""`[business] faq`: answers the admin writes for the questions callers ask beyond the tasks.

Inline in the config::

    [[business.faq]]
    questions = ["is there parking", "where can I park", "do you have a car park"]
    answer = "Yes, there is free parking behind the building."

or in a file of its own, TOML (the same `[[faq]]` tables) or YAML (`faq:` a list, or just the list),
named by `[business] faq_file`; both are used together. The file is read when the config is loaded,
so a broken one stops the daemon with one line naming the file, as a broken config does.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from sentiric_pbx.config.base import _Section


class FaqEntry(_Section):
    """One answer and the ways callers ask for it (more variants, better matching)."""

    questions: list[str] = Field(min_length=1)
    answer: str = Field(min_length=1)
    language: str | None = None
    """Only for calls in this language ("en", "tr"); None: any call."""

    @field_validator("questions")
    @classmethod
    def _no_blank_question(cls, value: list[str]) -> list[str]:
        if any(not q.strip() for q in value):
            raise ValueError("a question variant is empty")
        return value


def read_faq_file(path: Path) -> list[FaqEntry]:
    """The entries of a TOML or YAML FAQ file; ValueError naming the file and what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"faq_file {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data: Any = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except Exception as exc:
        raise ValueError(f"faq_file {path}: not valid {path.suffix.lstrip('.') or 'TOML'} ({exc})") from None
    entries = data.get("faq") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise ValueError(f"faq_file {path}: expected a list of entries under `faq`")
    try:
        return [FaqEntry.model_validate(e) for e in entries]
    except Exception as exc:
        raise ValueError(f"faq_file {path}: {exc}") from None
