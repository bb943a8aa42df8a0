"""ARI's REST half and its addresses: JSON in, JSON out, `AriError` on 4xx/5xx.

The password is a SecretStr, sent only as a Basic header, and never logged: neither it nor a URL carrying it.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from sentiric_pbx.config import AriConfig


class AriError(Exception):
    """A non-2xx ARI answer: the status and Asterisk's `message`."""

    def __init__(self, status: int, message: str, method: str, path: str) -> None:
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.message = message


class AriRest:
    """The REST half: JSON in, JSON out, AriError on 4xx/5xx (204 → None)."""

    def __init__(self, cfg: AriConfig, timeout_s: float = 5.0) -> None:
        password = cfg.password.get_secret_value() if cfg.password is not None else ""
        self._http = httpx.AsyncClient(
            base_url=cfg.url.rstrip("/"), auth=httpx.BasicAuth(cfg.username, password), timeout=timeout_s
        )

    async def call(self, method: str, path: str, **params: str | int) -> Any:
        resp = await self._http.request(method, path, params=params or None)
        if resp.status_code >= 400:
            try:
                message = str(resp.json().get("message", resp.reason_phrase))
            except (ValueError, AttributeError):
                message = resp.reason_phrase
            raise AriError(resp.status_code, message, method, path)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    async def aclose(self) -> None:
        await self._http.aclose()


def events_url(cfg: AriConfig) -> str:
    """`ws(s)://host:port/ari/events?app=NAME&subscribeAll=false` (credentials go in a header, not here)."""
    parts = urlsplit(cfg.url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    query = urlencode({"app": cfg.app, "subscribeAll": "false"})
    return urlunsplit((scheme, parts.netloc, parts.path + "/events", query, ""))


def media_url(cfg: AriConfig, connection_id: str) -> str:
    """chan_websocket's server side: `/media/<id>` on the HTTP server whose `/ari` is `cfg.url` (same prefix)."""
    parts = urlsplit(cfg.url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    prefix = parts.path.removesuffix("/ari")
    return urlunsplit((scheme, parts.netloc, f"{prefix}/media/{connection_id}", "", ""))


def basic_auth_header(cfg: AriConfig) -> str:
    password = cfg.password.get_secret_value() if cfg.password is not None else ""
    return "Basic " + base64.b64encode(f"{cfg.username}:{password}".encode()).decode()


def parse_transfer_target(target: str) -> dict[str, str | int]:
    """`PJSIP/reception` (a dial string) → redirect; `exten@context` or `context,exten[,prio]` → continue."""
    if "/" in target:
        return {"endpoint": target}
    if "@" in target:
        exten, context = target.split("@", 1)
        return {"context": context, "extension": exten, "priority": 1}
    parts = target.split(",")
    if len(parts) >= 2:
        prio = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else 1
        return {"context": parts[0], "extension": parts[1], "priority": prio}
    return {"extension": target, "priority": 1}
