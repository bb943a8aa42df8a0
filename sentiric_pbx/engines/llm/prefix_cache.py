"""The in-process model's prefix cache, bounded by the bytes it really holds.

llama.cpp reuses the longest common token prefix of its one KV cache; between two turns of a call another
call's turn may have overwritten it, so llama-cpp-python's `LlamaRAMCache` keeps a saved state per recent
conversation (LRU). Its byte budget counts only the KV part of each state (`llama_state_size`). Each saved
state also carries a copy of the logits of every prompt token (`scores`: n_tokens × n_vocab float32) —
for Qwen2.5 (151 936-token vocabulary) 0.6 MB per token, ~200 MB for one call's prompt, against ~10 MB of
KV. So a "256 MB" cache held GBs: bench/load.py with the 1.5B in the reply path reached 6.2 GB RSS at 4
calls.

Those logits are never read back for sampling: a restored state is always decoded again from its last
token (`Llama.generate` replays at least one token when `_requires_eval` is set, and `load_state` sets it).
So `PrefixCache` keeps only the last row (what `load_state` broadcasts into the rows it restores), and
counts every byte it keeps — KV state, logits row, token ids — against `capacity_bytes`, evicting the least
recently used state until the total fits. A state larger than the whole budget is not kept at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_cpp import LlamaRAMCache


def state_bytes(state: Any) -> int:
    """What one saved state holds in memory: its KV bytes, its logits and its token ids."""
    return int(state.llama_state_size) + int(state.scores.nbytes) + int(state.input_ids.nbytes)


class PrefixCache(LlamaRAMCache):  # type: ignore[misc]
    """`LlamaRAMCache` whose budget is the bytes its states really hold (see the module docstring)."""

    def __init__(self, capacity_bytes: int) -> None:
        super().__init__(capacity_bytes=capacity_bytes)

    @property
    def cache_size(self) -> int:
        return sum(state_bytes(state) for state in self.cache_state.values())

    def __setitem__(self, key: Sequence[int], value: Any) -> None:
        if value.scores.shape[0] > 1:
            value.scores = value.scores[-1:].copy()  # load_state broadcasts one row; the rest is never sampled
        super().__setitem__(key, value)


__all__ = ["PrefixCache", "state_bytes"]
