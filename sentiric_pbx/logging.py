"""structlog set-up: JSON lines for journald, a readable console for an admin at a terminal.

Every line is an event name plus fields. A call's lines carry `call_id` because the call's task
binds it with `structlog.contextvars.bind_contextvars` at its start; asyncio copies the context into
each task, so the binding never leaks into another call.

What a caller says or keys is personal data (a card number spoken or typed, a diagnosis): it goes to
the journal only with `[logging] log_transcripts = true`. Every log line that would carry it passes its
fields through `caller_content()`, which keeps only their size when the switch is off (the default).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}

_log_transcripts = False


def set_log_transcripts(enabled: bool) -> None:
    """[logging] log_transcripts: whether `caller_content()` lets a caller's words and digits through."""
    global _log_transcripts
    _log_transcripts = enabled


def caller_content(**fields: Any) -> dict[str, Any]:
    """Log fields holding what a caller said or keyed: as given with `[logging] log_transcripts = true`;
    otherwise only their size, so the journal shows that something was said, never what.

    `log.info("caller_said", **caller_content(text=text))` logs `text_chars=38`; a dict (NLU entities)
    becomes `entities_keys=["date", "name"]`, a list `<name>_count`, anything else `<name>_redacted=True`.
    """
    if _log_transcripts:
        return fields
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, str):
            out[f"{name}_chars"] = len(value)
        elif isinstance(value, dict):
            out[f"{name}_keys"] = sorted(str(k) for k in value)
        elif isinstance(value, list | tuple):
            out[f"{name}_count"] = len(value)
        elif value is not None:
            out[f"{name}_redacted"] = True
    return out


def configure_logging(
    level: Literal["debug", "info", "warning", "error"] = "info",
    fmt: Literal["auto", "json", "console"] = "auto",
    stream: object | None = None,
    *,
    log_transcripts: bool = False,
) -> None:
    """Configure structlog once per process (the CLI calls it before anything logs)."""
    set_log_transcripts(log_transcripts)
    out = stream if stream is not None else sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not getattr(out, "isatty", lambda: False)())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
