"""A remote OpenAI-compatible chat endpoint (vLLM, llama.cpp server, Ollama, OpenAI…), streamed.

It is the fallback when the local model is slow, so it must fail fast and clearly: a refused
connection, an HTTP error or a malformed stream each raise `LlmError` with the reason, and the API
key never appears in a log line or an error message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import structlog
from pydantic import SecretStr

from sentiric_pbx.config import LlmConfig
from sentiric_pbx.engines.base import LlmRequest
from sentiric_pbx.engines.llm.errors import LlmError

log = structlog.get_logger("sentiric_pbx.llm")


class OpenAICompatLlm:
    name = "openai_compat"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 3.0,
        client: httpx.AsyncClient | None = None,
        name: str = "openai_compat",
    ) -> None:
        self.name = name
        """In log lines and metrics: which remote this is ("remote" primary, "fallback")."""
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)
        self._client = client or httpx.AsyncClient(timeout=self._timeout)

    def _body(self, request: LlmRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
        }
        if request.stop:
            body["stop"] = request.stop
        if request.json_schema:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": request.json_schema, "strict": True},
            }
        return body

    async def stream(self, request: LlmRequest) -> AsyncIterator[str]:
        url = f"{self.base_url}/chat/completions"
        try:
            async with self._client.stream("POST", url, json=self._body(request), headers=self._headers) as resp:
                if resp.status_code != 200:
                    body = (await resp.aread())[:200].decode("utf-8", errors="replace")
                    raise LlmError(self.name, f"http_{resp.status_code}", body)
                async for line in resp.aiter_lines():
                    delta = _parse_sse_line(line, self.name)
                    if delta is _END:
                        return
                    if delta:
                        yield delta  # type: ignore[misc]
        except httpx.TimeoutException as exc:
            raise LlmError(self.name, "timeout", type(exc).__name__) from None
        except httpx.HTTPError as exc:
            raise LlmError(self.name, "connection_failed", f"{type(exc).__name__}: {exc}") from None

    async def complete(self, request: LlmRequest) -> str:
        return "".join([d async for d in self.stream(request)])

    async def aclose(self) -> None:
        await self._client.aclose()


def remote_models(cfg: LlmConfig) -> tuple[OpenAICompatLlm | None, OpenAICompatLlm | None]:
    """`[llm] url` (the "remote" primary) and `fallback_url` (the "fallback"), None where not configured: the
    daemon's engine pool and the standalone post-call worker build them the same way, keys read only here."""

    def build(url: str | None, model: str, key: SecretStr | None, name: str) -> OpenAICompatLlm | None:
        if not url:
            return None
        secret = key.get_secret_value() if key else None
        return OpenAICompatLlm(url, model, api_key=secret, timeout_s=cfg.request_timeout_s, name=name)

    return (
        build(cfg.url, cfg.url_model, cfg.api_key, "remote"),
        build(cfg.fallback_url, cfg.fallback_model, cfg.fallback_api_key, "fallback"),
    )


_END = object()


def _parse_sse_line(line: str, engine: str) -> object:
    """One SSE line → a text delta, `_END`, or None (comments, keep-alives, empty deltas)."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return _END
    try:
        event = json.loads(data)
        choices = event.get("choices") or [{}]
        return choices[0].get("delta", {}).get("content") or None
    except (ValueError, AttributeError, IndexError) as exc:
        raise LlmError(engine, "bad_stream", f"unparseable SSE data: {data[:80]!r}") from exc
