"""`HttpCrm`: the business's own CRM behind a small JSON API.

    GET  {url}/customers?phone=+905551112233  → 200 {"customer_id": "12345", "name": "Ahmet Yılmaz",
                                                     "last_interaction": "2023-11-20", ...}  (the seed's shape)
                                                 404 → not a customer (None)
    POST {url}/calls   {CallSummary as JSON}   → any 2xx

The lookup sits in front of the greeting, so it must be quick and must never take a call down: every
failure becomes one `CrmError` with a message an admin can act on, and the caller greets anyway.
Retries (with a short doubling backoff) are for failures that are over in milliseconds — 5xx answers,
refused or reset connections. A timeout is not retried: a CRM that did not answer in `timeout_s` will
not answer in the next 100 ms either, and the caller is waiting. POSTs carry the call id as an
`Idempotency-Key` so a retried summary can be recognised by the CRM.

The `Authorization` header comes from [crm] auth_header (a SecretStr) and appears in no log line and
no error message.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Any

import httpx
import structlog
from pydantic import SecretStr

from sentiric_pbx.config import CrmConfig
from sentiric_pbx.integrations.crm.base import CallSummary, CrmError, CustomerProfile

log = structlog.get_logger("sentiric_pbx.crm")

_PROFILE_FIELDS = {"customer_id", "name", "phone", "last_interaction", "title", "language"}
_RETRYABLE = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def parse_profile(data: Any, phone: str) -> CustomerProfile | None:
    """The CRM's JSON → `CustomerProfile`; unknown keys go to `extra`. An empty list means "no one"."""
    if isinstance(data, list):
        if not data:
            return None
        data = data[0]
    if not isinstance(data, dict) or data.get("customer_id") in (None, "") or not data.get("name"):
        raise CrmError("CRM answered 200 without a customer_id and name")
    return CustomerProfile(
        customer_id=str(data["customer_id"]),
        name=str(data["name"]),
        phone=str(data.get("phone") or phone),
        last_interaction=data.get("last_interaction"),
        title=data.get("title"),
        language=data.get("language"),
        extra={k: v for k, v in data.items() if k not in _PROFILE_FIELDS},
    )


class HttpCrm:
    """`timeout_s` bounds each attempt; `retries` extra attempts on 5xx/connection errors, after
    `backoff_s`, then twice that, and so on."""

    def __init__(
        self,
        base_url: str,
        *,
        auth_header: SecretStr | str | None = None,
        timeout_s: float = 2.0,
        retries: int = 2,
        backoff_s: float = 0.1,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # For messages: a password in the URL's userinfo must not reach a log line either.
        self.shown_url = str(httpx.URL(self.base_url).copy_with(userinfo=b""))
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        secret = auth_header.get_secret_value() if isinstance(auth_header, SecretStr) else auth_header
        headers = {"Accept": "application/json", "User-Agent": "sentiric-pbx"}
        if secret:
            headers["Authorization"] = secret
        self._client = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport, follow_redirects=False
        )

    @classmethod
    def from_config(cls, config: CrmConfig) -> HttpCrm:
        if not config.url:
            raise CrmError('[crm] kind = "http" needs [crm] url (the CRM\'s base URL)')
        return cls(config.url, auth_header=config.auth_header, timeout_s=config.timeout_s, retries=config.retries)

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One logical request: retried on 5xx and connection failures; never raises anything but CrmError."""
        what = f"{method} {self.shown_url}{path}"
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                # httpx's timeout is per socket operation; this one bounds the whole attempt.
                async with asyncio.timeout(self.timeout_s):
                    response = await self._client.request(method, path, **kwargs)
            except (httpx.TimeoutException, TimeoutError) as exc:
                raise CrmError(f"CRM did not answer {what} within {self.timeout_s} s") from exc
            except _RETRYABLE as exc:
                if last:
                    raise CrmError(f"CRM unreachable: {what}: {type(exc).__name__}: {exc}") from exc
                log.warning("crm_retry", method=method, path=path, attempt=attempt + 1, error=type(exc).__name__)
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise CrmError(f"CRM request {what} failed: {type(exc).__name__}: {exc}") from exc
            else:
                if response.status_code < 500:
                    return response
                if last:
                    raise CrmError(f"CRM answered {response.status_code} to {what} after {attempt + 1} attempts")
                log.warning("crm_retry", method=method, path=path, attempt=attempt + 1, status=response.status_code)
            await asyncio.sleep(self.backoff_s * 2**attempt)
        raise AssertionError("unreachable")

    async def lookup(self, phone_e164: str) -> CustomerProfile | None:
        response = await self._request("GET", "/customers", params={"phone": phone_e164})
        if response.status_code == 404:
            return None
        self._check(response, "GET /customers")
        try:
            data = response.json()
        except json.JSONDecodeError as exc:
            raise CrmError(f"CRM answered GET /customers with something that is not JSON: {exc}") from exc
        return parse_profile(data, phone_e164)

    async def save_call_summary(self, summary: CallSummary) -> None:
        response = await self._request(
            "POST", "/calls", json=asdict(summary), headers={"Idempotency-Key": summary.call_id}
        )
        self._check(response, "POST /calls")
        log.info("crm_summary_saved", call_id=summary.call_id, customer_id=summary.customer_id, crm="http")

    def _check(self, response: httpx.Response, what: str) -> None:
        if response.status_code in (401, 403):
            raise CrmError(f"CRM refused {what} ({response.status_code}): check [crm] auth_header")
        if not response.is_success:
            raise CrmError(f"CRM answered {response.status_code} to {what}")

    async def aclose(self) -> None:
        await self._client.aclose()
