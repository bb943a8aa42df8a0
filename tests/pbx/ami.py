"""A small AMI client for the tests' own use: originate calls, send actions, and wait for events.

Deliberately independent of `sentiric_pbx.telephony.asterisk.ami`: the tests drive Asterisk with it and watch
what the daemon's own AMI client does, so a bug in ours must not be able to hide itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable

Message = dict[str, str]


class PbxAmi:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.events: list[Message] = []
        self._responses: dict[str, asyncio.Future[Message]] = {}
        self._changed = asyncio.Event()
        self._ids = itertools.count(1)
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, port: int, username: str = "sentiric", secret: str = "sentiric-test") -> PbxAmi:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()  # banner
        ami = cls(reader, writer)
        reply = await ami.action("Login", Username=username, Secret=secret)
        if reply.get("Response") != "Success":
            raise RuntimeError(f"AMI login refused: {reply}")
        return ami

    async def _read(self) -> None:
        message: Message = {}
        while line := await self._reader.readline():
            text = line.decode(errors="replace").rstrip("\r\n")
            if text:
                key, _, value = text.partition(":")
                message[key.strip()] = value.strip()
                continue
            if "Event" in message:
                self.events.append(message)
                self._changed.set()
            elif (aid := message.get("ActionID")) in self._responses:
                fut = self._responses.pop(aid)
                if not fut.done():
                    fut.set_result(message)
            message = {}

    async def action(self, name: str, *, variables: dict[str, str] | None = None, **fields: str) -> Message:
        aid = f"t{next(self._ids)}"
        lines = [f"Action: {name}", f"ActionID: {aid}", *(f"{k}: {v}" for k, v in fields.items())]
        lines += [f"Variable: {k}={v}" for k, v in (variables or {}).items()]
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._responses[aid] = fut
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        async with asyncio.timeout(10):
            return await fut

    async def originate(self, channel: str, *, variables: dict[str, str] | None = None, **fields: str) -> Message:
        reply = await self.action("Originate", Channel=channel, Async="true", variables=variables, **fields)
        if reply.get("Response") != "Success":
            raise RuntimeError(f"Originate {channel} refused: {reply}")
        return reply

    async def wait_event(self, predicate: Callable[[Message], bool], within_s: float = 30.0, since: int = 0) -> Message:
        """The first event (from index `since`) matching `predicate`; TimeoutError names what was awaited."""
        async with asyncio.timeout(within_s):
            index = since
            while True:
                for event in self.events[index:]:
                    if predicate(event):
                        return event
                index = len(self.events)
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.action("Logoff"), 2)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._writer.close()
