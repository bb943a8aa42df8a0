"""The `JobQueue` protocol: durable post-call jobs, retried with backoff, never lost on restart.

Implementations: a SQLite outbox processed in-process (default) and Redis Streams with a consumer
group (when Redis is configured), so `sentiric-pbx worker` processes on other hosts share the load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(slots=True)
class Job:
    job_id: str
    kind: str
    """"summary", "archive", "analytics"."""
    call_id: str
    payload: dict[str, Any]
    attempts: int = 0


class JobQueue(Protocol):
    async def enqueue(self, kind: str, call_id: str, payload: dict[str, Any]) -> str: ...

    async def claim(self, worker: str, block_s: float = 1.0) -> Job | None:
        """Take the next due job (or one whose previous worker died holding it)."""
        ...

    async def complete(self, job: Job) -> None: ...

    async def fail(self, job: Job, error: str, transient: bool = False) -> None:
        """Schedule a retry with exponential backoff (or park it as dead after max attempts).

        `transient`: the host failed, not the job (disk full): retry at most `TRANSIENT_CAP_S` apart, never dead.
        """
        ...

    async def aclose(self) -> None: ...
