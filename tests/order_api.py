"""The shop's order API the example plug-in asks (examples/order_status_plugin), as a real aiohttp server
on 127.0.0.1, and the plug-in installed the way pip leaves it (a .dist-info with its entry point)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "order_status_plugin"
ASKED = web.AppKey("asked", list)
"""The order numbers the API was asked about, in order."""
ORDERS = {"4512": {"status": "shipped", "eta": "Friday"}, "7001": {"status": "processing"}}


async def _order(request: web.Request) -> web.Response:
    order = ORDERS.get(request.match_info["number"])
    request.app[ASKED].append(request.match_info["number"])
    return web.json_response(order) if order else web.json_response({"error": "not found"}, status=404)


@contextlib.asynccontextmanager
async def serving_orders(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[web.Application]:
    """The order API on a free loopback port, with the plug-in's `SENTIRIC_ORDERS_URL` pointing at it."""
    app = web.Application()
    app[ASKED] = []
    app.router.add_get("/orders/{number}", _order)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setenv("SENTIRIC_ORDERS_URL", f"http://127.0.0.1:{port}")
    try:
        yield app
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="module")
async def order_api(monkeypatch_module: pytest.MonkeyPatch) -> AsyncIterator[web.Application]:
    async with serving_orders(monkeypatch_module) as app:
        yield app


@pytest.fixture(scope="module")
def monkeypatch_module() -> AsyncIterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp  # type: ignore[misc]


@pytest.fixture(scope="module")
def order_plugin_installed(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch) -> Path:
    """The example plug-in importable, with its entry point visible to importlib.metadata, as after
    `pip install examples/order_status_plugin` (its pyproject.toml's entry point, copied verbatim)."""
    import tomllib

    site = tmp_path_factory.mktemp("site")
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    points = project["project"]["entry-points"]["sentiric_pbx.tasks"]
    info = site / "sentiric_order_status-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sentiric-order-status\nVersion: 0.1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in points.items())
    (info / "entry_points.txt").write_text(f"[sentiric_pbx.tasks]\n{lines}")
    monkeypatch_module.syspath_prepend(str(site))
    monkeypatch_module.syspath_prepend(str(EXAMPLE))
    return site
