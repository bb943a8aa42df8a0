"""`HttpCalendar`: the business's own booking system, spoken to over HTTP/JSON.

The wire contract (what an integrator implements):

- `GET {url}/slots?start=ISO&end=ISO&limit=N` → `{"slots": [{"start": ISO, "end": ISO}, ...]}` (or a bare list)
- `POST {url}/bookings` with `{"start", "end", "customer_id", "phone", "name", "call_id"}` →
  2xx `{"booking_id" | "id", "start", "end", ...}`; **409 means the slot is taken** (→ `SlotTaken`)
- `GET {url}/bookings?phone=E164` → `{"bookings": [...]}` (or a bare list), each like the POST answer
- `DELETE {url}/bookings/{id}` → 2xx; 404 is taken as "already gone"

Every other failure — refused connection, timeout, 5xx, a body that is not the JSON above — becomes
`CalendarError`, so a task can apologise instead of the call dying. The `Authorization` header comes
from `[calendar] auth_header` and is never logged: log lines carry method, path and status only (no
query string either, it holds the caller's phone number).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import structlog

from sentiric_pbx.config import CalendarConfig, ConfigError
from sentiric_pbx.integrations.calendar.base import Booking, CalendarError, Slot, SlotTaken

log = structlog.get_logger(__name__)


class HttpCalendar:
    """Calendar over HTTP. `tz` (the business timezone) is what returned times are converted to.

    `transport` is for tests and exotic set-ups (a Unix socket); normally None.
    """

    def __init__(
        self, config: CalendarConfig, tz: str = "UTC", *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        if not config.url:
            raise ConfigError('calendar.kind = "http" needs calendar.url (the booking system\'s base URL)')
        headers = {"Accept": "application/json"}
        if config.auth_header is not None:
            headers["Authorization"] = config.auth_header.get_secret_value()
        self._tz = ZoneInfo(tz)
        self._client = httpx.AsyncClient(
            base_url=config.url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s),
            transport=transport,
        )

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            log.warning("calendar_http_timeout", method=method, path=path)
            raise CalendarError(f"calendar {method} {path} timed out") from exc
        except httpx.HTTPError as exc:
            log.warning("calendar_http_unreachable", method=method, path=path, error=type(exc).__name__)
            raise CalendarError(f"calendar {method} {path} failed: {type(exc).__name__}") from exc
        log.debug("calendar_http_response", method=method, path=path, status=response.status_code)
        return response

    @staticmethod
    def _check(response: httpx.Response, method: str, path: str) -> None:
        if response.is_success:
            return
        log.warning("calendar_http_error", method=method, path=path, status=response.status_code)
        raise CalendarError(f"calendar {method} {path} answered HTTP {response.status_code}")

    @staticmethod
    def _json(response: httpx.Response, key: str) -> list[Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise CalendarError("calendar answered with a body that is not JSON") from exc
        items = body.get(key) if isinstance(body, dict) else body
        if not isinstance(items, list):
            raise CalendarError(f"calendar answer has no {key!r} list")
        return items

    def _time(self, value: Any) -> datetime:
        try:
            dt = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise CalendarError(f"calendar sent a time that is not ISO 8601: {value!r}") from exc
        if dt.tzinfo is None:
            raise CalendarError(f"calendar sent a time without a UTC offset: {value!r}")
        return dt.astimezone(self._tz)

    def _slot(self, item: Any) -> Slot:
        if not isinstance(item, dict):
            raise CalendarError("calendar sent a slot that is not an object")
        return Slot(self._time(item.get("start")), self._time(item.get("end")))

    def _booking(self, item: Any) -> Booking:
        slot = self._slot(item)
        booking_id = item.get("booking_id", item.get("id"))
        if booking_id is None:
            raise CalendarError("calendar sent a booking without an id")

        def text(key: str) -> str | None:
            return None if item.get(key) is None else str(item[key])

        return Booking(str(booking_id), slot, text("customer_id"), text("phone"), text("name"), text("call_id"))

    async def free_slots(self, start: datetime, end: datetime, limit: int = 10) -> list[Slot]:
        params = {"start": start.isoformat(), "end": end.isoformat(), "limit": str(limit)}
        response = await self._request("GET", "/slots", params=params)
        self._check(response, "GET", "/slots")
        slots = sorted((self._slot(item) for item in self._json(response, "slots")), key=lambda s: s.start)
        return slots[:limit]

    async def book(
        self, slot: Slot, *, customer_id: str | None, phone: str | None, name: str | None, call_id: str | None
    ) -> Booking:
        payload = {
            "start": slot.start.isoformat(),
            "end": slot.end.isoformat(),
            "customer_id": customer_id,
            "phone": phone,
            "name": name,
            "call_id": call_id,
        }
        response = await self._request("POST", "/bookings", json=payload)
        if response.status_code == 409:
            log.info("calendar_slot_taken", start=slot.start.isoformat(), call_id=call_id)
            raise SlotTaken(f"slot {slot.start.isoformat()} is already booked")
        self._check(response, "POST", "/bookings")
        try:
            item = response.json()
        except ValueError as exc:
            raise CalendarError("calendar answered the booking with a body that is not JSON") from exc
        booking = self._booking(item)
        log.info("calendar_booked", booking_id=booking.booking_id, start=slot.start.isoformat(), call_id=call_id)
        return booking

    async def bookings_for(self, phone: str) -> list[Booking]:
        response = await self._request("GET", "/bookings", params={"phone": phone})
        self._check(response, "GET", "/bookings")
        return sorted((self._booking(item) for item in self._json(response, "bookings")), key=lambda b: b.slot.start)

    async def cancel(self, booking_id: str) -> None:
        path = "/bookings/" + quote(booking_id, safe="")
        response = await self._request("DELETE", path)
        if response.status_code == 404:
            log.warning("calendar_cancel_unknown", booking_id=booking_id)
            return
        self._check(response, "DELETE", "/bookings/{id}")
        log.info("calendar_cancelled", booking_id=booking_id)

    async def aclose(self) -> None:
        await self._client.aclose()
