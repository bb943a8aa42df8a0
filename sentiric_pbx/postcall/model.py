"""Which model writes the post-call text (CRM note, next greeting), built the same way by the daemon's
in-process workers and by `sentiric-pbx worker`.

    [postcall] llm_model set  → that GGUF, on demand (engines/llm/on_demand.py: loaded on the first job, one
                                thread at a low priority, freed when idle) — or the in-call model itself when
                                it is the same file and already loaded —, `[llm] fallback_url` behind it
    not set, in the daemon    → the in-call model when `[dialog] llm_capable`, else none (extractive notes)
    not set, in a worker      → a remote `[llm] url` / `fallback_url`, else none

The fallback rule is the seed's: no first token within `[llm] fallback_timeout_s` (5 s) → the fallback; and
whatever the models do, the extractive note is the last resort (postcall/summary.py).
"""

from __future__ import annotations

from typing import Any

import structlog

from sentiric_pbx.config import Settings
from sentiric_pbx.engines.base import LlmEngine
from sentiric_pbx.engines.llm.fallback import FallbackLlm
from sentiric_pbx.engines.llm.on_demand import OnDemandLlm
from sentiric_pbx.engines.llm.openai_compat import remote_models

log = structlog.get_logger("sentiric_pbx.postcall")


def postcall_llm(settings: Settings, engines: Any = None) -> tuple[LlmEngine | None, OnDemandLlm | None]:
    """(the engine the summary job and the next greeting use, the on-demand model to close at stop, if any).

    `engines`: the daemon's `EnginePool` (None in `sentiric-pbx worker`). Raises `ModelNotFoundError` (its
    message is the command that installs the model) when `[postcall] llm_model` is missing: found at start,
    not at the first call's end.
    """
    from sentiric_pbx.models import ModelNotFoundError, resolve_model

    cfg = settings.postcall
    remote, fallback = remote_models(settings.llm)
    if cfg.llm_model is None:
        if engines is not None:
            return (engines.llm if settings.dialog.llm_capable else None), None
        if remote is None:
            return (None if fallback is None else FallbackLlm(fallback, None, settings.llm.fallback_timeout_s)), None
        return FallbackLlm(remote, fallback, settings.llm.fallback_timeout_s), None
    try:
        path = resolve_model(cfg.llm_model, settings)
    except ModelNotFoundError as exc:  # which setting names the missing model, with the store's fix
        raise ModelNotFoundError(f"[postcall] llm_model: {exc}") from exc
    local = getattr(engines, "local_llm", None)
    if local is not None and local.loaded and local.model_path.resolve() == path.resolve():
        log.info("postcall_llm_shared", model=cfg.llm_model)  # one copy in memory, the calls' turns go first
        return engines.llm, None
    model = OnDemandLlm(
        path,
        chat_format=cfg.llm_chat_format,
        n_ctx=cfg.llm_n_ctx,
        n_threads=cfg.llm_n_threads,
        nice=cfg.llm_nice,
        idle_s=cfg.llm_idle_unload_s,
    )
    log.info("postcall_llm_on_demand", model=cfg.llm_model, threads=cfg.llm_n_threads, nice=cfg.llm_nice)
    return FallbackLlm(model, fallback, settings.llm.fallback_timeout_s), model


__all__ = ["postcall_llm"]
