"""Which local addresses the browser phone's ICE binds: `[webrtc] ice_addresses`, scoped to our calls.

aioice (under aiortc) has no option for this. `Connection.gather_candidates()` binds one UDP socket
per address that the module-level `aioice.ice.get_host_addresses()` returns (every interface address
but 127.0.0.1), looking the name up in `aioice.ice`'s globals each time it gathers; aiortc builds the
`Connection` itself and passes nothing that could narrow it. Upstream knows (aiortc/aioice#2, open
since 2018; the allow/block-list PR aiortc/aioice#57 was declined in favour of a filter callable that
does not exist yet). So the one supported-by-nobody seam is that global name, and we replace it once
with `_host_addresses`, which answers our configured list only inside `ice_addresses(...)` — a
ContextVar set around our own `setLocalDescription`, so any other aiortc/aioice user in this process
(there is none today) still gets aioice's own answer. When aioice grows a real option, this module is
the only place to change.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Callable, Iterator
from contextvars import ContextVar

import aioice.ice

_chosen: ContextVar[tuple[str, ...] | None] = ContextVar("sentiric_ice_addresses", default=None)
_aioice_host_addresses: Callable[..., list[str]] | None = None


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """Stands in for `aioice.ice.get_host_addresses` (same signature): our list inside `ice_addresses()`."""
    chosen = _chosen.get()
    if chosen is None:
        assert _aioice_host_addresses is not None
        return _aioice_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    return [a for a in chosen if (use_ipv4 if ipaddress.ip_address(a).version == 4 else use_ipv6)]


def _install() -> None:
    """Put `_host_addresses` where aioice looks the name up (once; idempotent)."""
    global _aioice_host_addresses
    if aioice.ice.get_host_addresses is _host_addresses:
        return
    _aioice_host_addresses = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = _host_addresses


@contextlib.contextmanager
def ice_addresses(addresses: list[str] | None) -> Iterator[None]:
    """ICE gathered inside this block binds only `addresses` (None: every host address, aioice's default).

    Wrap the call that gathers (`RTCPeerConnection.setLocalDescription`): aiortc gathers in tasks it
    creates right there, and tasks inherit this context.
    """
    _install()
    token = _chosen.set(tuple(addresses) if addresses else None)
    try:
        yield
    finally:
        _chosen.reset(token)


def host_addresses(addresses: list[str] | None) -> list[str]:
    """What ICE would bind with this setting, outside a call (for doctor)."""
    with ice_addresses(addresses):
        return aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)


__all__ = ["host_addresses", "ice_addresses"]
