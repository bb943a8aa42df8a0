"""The agent: what answers a call. Every ingress hands it a `CallTransport` and waits for it to return.

`[agent] mode = "assistant"` runs `dialog.assistant.Assistant`, `"echo"` runs `dialog.echo.EchoAgent`; a
test may pass any coroutine function. The agent returns when the conversation is over (it hung up,
transferred, or the caller went away) and the call is stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sentiric_pbx.call.transport import CallTransport

Agent = Callable[[CallTransport], Awaitable[None]]
