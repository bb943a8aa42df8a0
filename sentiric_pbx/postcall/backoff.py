"""Retry delays shared by both queues: exponential, capped, jittered.

Jitter matters here because failures come in bursts: when the CRM is down for a minute, every call
that ended in that minute fails at once, and without jitter they would all retry in the same second
again. "Equal jitter" keeps at least half of the exponential delay, so a retry never comes back
sooner than the backoff promises, while the other half spreads the herd out.
"""

from __future__ import annotations

import random
from collections.abc import Callable


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
