"""A stand-in for the far side of a wire we do not own: an OpenAI-compatible chat endpoint.

It speaks real HTTP/1.1 and the real streaming format (`text/event-stream`, `data: {chat.completion.chunk}`
lines, `data: [DONE]`), so `OpenAICompatLlm` is exercised exactly as against vLLM or OpenAI. Modes:
`ok` streams the configured words, `error` answers 500, `hang` accepts the connection and never
answers, `hang_after_first` sends one token then stalls, `rephrase` answers `prefix` followed by the
request's last user message (a model that rephrases faithfully, whatever the facts are). `answers` maps
a phrase of the system prompt to the reply for such requests (a model that writes greetings), whatever
the mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field


@dataclass
class FakeOpenAI:
    mode: str = "ok"
    words: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " fallback", "."])
    prefix: str = "Certainly."
    answers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """How long the model thinks before its first token (a slow primary)."""
    requests: list[dict[str, object]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> FakeOpenAI:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for w in list(self._writers):
            w.close()
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return lines[0], headers, body

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            _line, headers, body = await self._read_request(reader)
            self.requests.append(json.loads(body or b"{}"))
            self.auth_headers.append(headers.get("authorization", ""))
            if self.mode == "hang":
                await asyncio.sleep(3600)
            if self.mode == "error":
                payload = b'{"error":{"message":"upstream exploded","type":"server_error"}}'
                writer.write(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
                return
            await asyncio.sleep(self.delay_s)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            )
            words = self.words
            system = " ".join(
                str(m.get("content")) for m in self.requests[-1].get("messages", []) if m.get("role") == "system"
            )
            scripted = [answer for phrase, answer in self.answers.items() if phrase in system]
            if scripted:
                words = [scripted[0]]
            elif self.mode == "rephrase":
                said = [m["content"] for m in self.requests[-1].get("messages", []) if m.get("role") == "user"]
                words = [self.prefix, *(" " + w for w in str(said[-1] if said else "").split())]
            for i, word in enumerate(words):
                chunk = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion.chunk",
                    "model": "fake",
                    "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
                }
                self._chunk(writer, f"data: {json.dumps(chunk)}\n\n".encode())
                await writer.drain()
                if self.mode == "hang_after_first" and i == 0:
                    await asyncio.sleep(3600)
            self._chunk(writer, b"data: [DONE]\n\n")
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    def _chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
