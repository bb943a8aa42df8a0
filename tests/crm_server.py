"""A stand-in for a business's CRM: real HTTP/1.1 on 127.0.0.1, the JSON API `HttpCrm` speaks.

    GET  /customers?phone=<E.164>  → 200 profile JSON, or 404
    POST /calls                    → 201

`script` scripts the next answers, one entry per request: "500" answers 500, "401" answers 401,
"hang" accepts the request and never answers, "ok" (also when the script is empty) answers normally.
Every request is recorded (method, path, query, headers, body) so a test can check what went over the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeCrm:
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    script: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    async def start(self) -> FakeCrm:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server:
            await self._server.wait_closed()

    async def _read(self, reader: asyncio.StreamReader) -> Request:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        lines = head.split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        url = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        return Request(method, url.path, query, headers, body)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:  # keep-alive: httpx reuses the connection for retries
                try:
                    request = await self._read(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests.append(request)
                mode = self.script.pop(0) if self.script else "ok"
                if mode == "hang":
                    await asyncio.sleep(3600)
                status, payload = self._answer(request, mode)
                body = json.dumps(payload).encode()
                head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                writer.write(head.encode() + body)
                await writer.drain()
        finally:
            self._handlers.discard(task)
            writer.close()

    def _answer(self, request: Request, mode: str) -> tuple[str, Any]:
        if mode == "500":
            return "500 Internal Server Error", {"error": "database is restarting"}
        if mode == "401":
            return "401 Unauthorized", {"error": "bad token"}
        if request.method == "GET" and request.path == "/api/customers":
            profile = self.customers.get(request.query.get("phone", ""))
            return ("200 OK", profile) if profile else ("404 Not Found", {"error": "no such customer"})
        if request.method == "POST" and request.path == "/api/calls":
            return "201 Created", {"ok": True}
        return "404 Not Found", {"error": "no such route"}
