"""Retry delays shared by both queues: exponential, capped, jittered.

Jitter matters here because failures come in bursts: when the CRM is down for a minute, every call
that ended in that minute fails at once, and without jitter they would all retry in the same second
again. "Equal jitter" keeps at least half of the exponential delay, so a retry never comes back
sooner than the backoff promises, while the other half spreads the herd out.
"""

from __future__ import annotations

import errno
import random
from collections.abc import Callable

TRANSIENT_CAP_S = 300.0
"""Longest wait between retries of a job held up by its surroundings (a full disk), not by itself:
once the admin frees space, the archive catches up within five minutes."""


HOST_ERRNOS = {
    errno.ENOSPC: "disk space",
    errno.EDQUOT: "disk space",
    errno.EROFS: "a writable disk",
    errno.EACCES: "write permission",
}
"""What a job held up by the host waits for, by the error it got: a full disk or quota, a disk mounted (or
remounted after an error, as NFS and ext4 do) read-only, a directory the service user may not write
(`[storage] archive_dir` created by root). Each lasts until the admin acts, and then the job must succeed."""


def waiting_for(exc: BaseException) -> str | None:
    """What a job that failed with `exc` waits for, if the failure is the host's and not the job's; else None.

    Such a job must not use up its attempts and be parked as dead while the disk is full (or read-only) for
    an hour; it waits (backoff capped at `TRANSIENT_CAP_S`) and succeeds once the admin has mended the disk.
    """
    if getattr(exc, "transient", False):  # e.g. archive.RecordingNotUploaded: waiting for another host
        return "the recording's upload"
    return HOST_ERRNOS.get(exc.errno) if isinstance(exc, OSError) and exc.errno is not None else None


def backoff_delay_s(
    attempt: int,
    base_s: float,
    cap_s: float = 3600.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Delay before retry number `attempt` (1 = after the first failure): base·2^(attempt-1), halved-jittered.

    >>> backoff_delay_s(1, 2.0, rng=lambda: 0.0), backoff_delay_s(3, 2.0, rng=lambda: 1.0)
    (1.0, 8.0)
    """
    ceiling = min(cap_s, base_s * 2.0 ** max(0, attempt - 1))
    return ceiling / 2.0 + rng() * ceiling / 2.0
