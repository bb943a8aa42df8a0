"""The post-call model (`[postcall] llm_model`): in memory only while there is post-call work, and below the calls.

The real bundled gemma-3-270m through llama-cpp-python, as `OnDemandLlm` runs it for the worker: nothing is
loaded until the first request; the arithmetic runs on its one thread at the lower priority (read from
/proc: which threads spent the CPU, at which nice value); idle, it is freed and the process's memory goes
back down; the next job loads it again. `postcall_llm` builds it from the config without loading it.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from sentiric_pbx.config import Settings
from sentiric_pbx.engines.base import LlmRequest
from sentiric_pbx.engines.llm.fallback import FallbackLlm
from sentiric_pbx.engines.llm.on_demand import OnDemandLlm
from sentiric_pbx.models import resolve_model
from sentiric_pbx.postcall.model import postcall_llm

NOTE = LlmRequest(
    [{"role": "user", "content": "Write a long note about a patient who called the clinic to book a visit. " * 3}],
    max_tokens=96,
    temperature=0.0,
)


def threads_cpu() -> dict[int, tuple[int, int]]:
    """Native thread id → (CPU ticks used so far, nice), from /proc/self/task/*/stat (fields 14+15, 19)."""
    out = {}
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue  # a thread that ended while we looked
        out[int(task.name)] = (int(fields[11]) + int(fields[12]), int(fields[16]))
    return out


def rss_mb() -> float:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@pytest.fixture(scope="module")
def gemma_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return resolve_model("bundled:gemma3-270m", models_dir=tmp_path_factory.mktemp("models"))


async def test_the_post_call_model_loads_on_demand_computes_below_the_calls_and_is_freed_when_idle(
    gemma_path: Path, logs
) -> None:
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    model = OnDemandLlm(gemma_path, chat_format="gemma", n_threads=1, nice=10, idle_s=0.5)
    try:
        assert not model.loaded and model.loads == 0  # built is not loaded: the daemon starts without it
        before = rss_mb()

        await model.complete(LlmRequest([{"role": "user", "content": "Hi"}], max_tokens=2))
        assert model.loaded and model.loads == 1
        engine_thread = await model.local.runner.run(threading.get_native_id)

        # Where the CPU goes while it writes: its own thread, at the calls' nice + 10. With n_threads = 1
        # llama.cpp computes on the calling thread (no ggml workers), so that priority is the arithmetic's.
        start = threads_cpu()
        assert (await model.complete(NOTE)).strip()
        end = threads_cpu()
        spent = {tid: end[tid][0] - start.get(tid, (0, 0))[0] for tid in end}
        total = sum(spent.values())
        low = sum(ticks for tid, ticks in spent.items() if end[tid][1] >= loop_nice + 10)
        assert total > 20, spent  # it did compute (ticks are 10 ms)
        assert max(spent, key=lambda tid: spent[tid]) == engine_thread
        assert end[engine_thread][1] == loop_nice + 10
        assert low >= 0.8 * total, (spent, end)
        loaded = rss_mb()
        assert loaded - before > 100  # weights and context are resident

        async with asyncio.timeout(30):
            while model.loaded:  # idle_s after the last request
                await asyncio.sleep(0.1)
        assert [line["engine"] for line in logs if line.get("event") == "llm_unloaded"] == ["postcall_llm"]
        assert rss_mb() < loaded - 0.5 * (loaded - before)  # the memory went back

        assert (await model.complete(NOTE)).strip()  # the next job brings it back
        assert model.loads == 2
    finally:
        await model.aclose()
    assert not model.loaded


async def test_the_config_builds_the_post_call_model_unloaded_with_the_fallback_behind_it(
    gemma_path: Path, tmp_path: Path
) -> None:
    settings = Settings()
    settings.models.dir = tmp_path / "models"
    settings.postcall.llm_model = str(gemma_path)
    settings.postcall.llm_chat_format = "gemma"
    settings.llm.fallback_url = "http://127.0.0.1:9/v1"
    llm, on_demand = postcall_llm(settings)
    try:
        assert isinstance(llm, FallbackLlm) and llm.primary is on_demand and llm.fallback is not None
        assert isinstance(on_demand, OnDemandLlm) and not on_demand.loaded
        assert (on_demand.local.n_threads, on_demand.idle_s) == (1, settings.postcall.llm_idle_unload_s)
    finally:
        assert on_demand is not None
        await on_demand.aclose()

    settings.postcall.llm_model = "bundled:no-such-model"
    with pytest.raises(LookupError, match="no-such-model"):
        postcall_llm(settings)  # at start, not at the first call's end
