"""LLM failures, worded for a log line: which engine, what happened."""

from __future__ import annotations


class LlmError(Exception):
    def __init__(self, engine: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{engine}: {reason}{': ' + detail if detail else ''}")
        self.engine = engine
        self.reason = reason
        self.detail = detail
