"""The in-process model's prefix cache stays within its byte budget, counting every byte it keeps.

The real bundled gemma-3-270m through llama-cpp-python: many conversations with different prefixes pass
through a cache with room for about two saved states; what it holds — measured here from the states
themselves (KV bytes, logits, token ids) — never exceeds the budget, the oldest go first, and a restored
prefix still gives the same greedy answer as a model that never saw the cache.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sentiric_pbx.engines.base import LlmRequest
from sentiric_pbx.engines.llm.llama_cpp import LlamaCppLlm
from sentiric_pbx.models import resolve_model

BUDGET = 4 * 1024 * 1024
"""About two of gemma-3-270m's saved states for these short prompts (~1.6 MB each, a 1 MB logits row of a
262 144-token vocabulary among them); one state with all its prompt's logits would be ~40 MB alone."""


@pytest.fixture(scope="module")
def gemma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppLlm]:
    path = resolve_model("bundled:gemma3-270m", models_dir=tmp_path_factory.mktemp("models"))
    llm = LlamaCppLlm(path, chat_format="gemma", n_threads=1, cache_bytes=BUDGET)
    llm.load()
    yield llm


def held_bytes(cache: object) -> int:
    """Independently of the cache's own accounting: every array and buffer its states keep."""
    states = cache.cache_state.values()  # type: ignore[attr-defined]
    return sum(len(s.llama_state) + s.scores.nbytes + s.input_ids.nbytes for s in states)


def turn(caller: int, *more: str) -> LlmRequest:
    messages = [{"role": "user", "content": f"Caller number {caller} asks when the clinic opens on day {caller}."}]
    for text in more:
        messages += [{"role": "assistant", "content": "We open at nine."}, {"role": "user", "content": text}]
    return LlmRequest(messages, max_tokens=6, temperature=0.0)  # type: ignore[arg-type]


async def test_many_conversations_never_hold_more_than_the_budget(gemma: LlamaCppLlm) -> None:
    cache = gemma._llm.cache
    keys_seen: list[tuple[int, ...]] = []
    for caller in range(12):
        await gemma.complete(turn(caller))
        assert held_bytes(cache) <= BUDGET, (caller, held_bytes(cache))
        assert cache.cache_size == held_bytes(cache)  # the budget counts what is really held
        keys_seen.append(next(reversed(cache.cache_state)))
    assert 2 <= len(cache.cache_state) <= 3  # full, not emptied: the newest states are kept
    assert list(cache.cache_state) == keys_seen[-len(cache.cache_state) :]  # the oldest went first


async def test_a_restored_prefix_answers_as_a_fresh_one_would(
    gemma: LlamaCppLlm, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = gemma._llm.cache
    restores: list[int] = []
    load_state = gemma._llm.load_state

    def counting_load_state(state: object) -> None:  # a spy: llama-cpp-python's own restore still runs
        restores.append(state.n_tokens)  # type: ignore[attr-defined]
        load_state(state)

    monkeypatch.setattr(gemma._llm, "load_state", counting_load_state)
    await gemma.complete(turn(40))
    await gemma.complete(turn(41))  # another call's turn in between: the live KV no longer starts with 40's
    follow_up = turn(40, "And on Saturday?")
    restored = await gemma.complete(follow_up)
    assert len(restores) == 1 and restores[0] > 10  # caller 40's saved prefix was restored, not re-read
    gemma._llm.set_cache(None)
    try:
        await gemma.complete(turn(42))  # throw the live prefix away again
        fresh = await gemma.complete(follow_up)
    finally:
        gemma._llm.set_cache(cache)
    assert restored == fresh and restored.strip()
