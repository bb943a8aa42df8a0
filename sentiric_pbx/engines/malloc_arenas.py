"""Cap glibc's malloc arenas before the model threads start.

glibc gives each thread that allocates under contention an arena of its own, up to 8 per core, and an arena
keeps the memory its thread freed for that thread's next allocation. Here a dozen model threads (Whisper's,
Piper's and the turn model's pools, llama.cpp's) each grow one while eight callers finish a sentence at once,
and hold it after: on a 2-core host with every bundled model, 8 calls left the daemon's RSS 140 MiB above
idle, at the 1.5 GiB budget. Two arenas reuse each other's freed blocks instead, and the model runtimes kept
their speed (a Whisper turn 212 ms against 210–221 without it, a Piper sentence 138 ms against 139–141;
bench/README.md has the load figures).

The same as `MALLOC_ARENA_MAX` in the environment, but set by the daemon itself, so it holds however the
daemon is started (systemd, a shell, a container). Arenas already made stay with their threads; the model
threads, all started after this, share the two. A C library other than glibc (musl has no arenas) is left as
it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import structlog

log = structlog.get_logger("sentiric_pbx.engines")

M_ARENA_MAX = -8  # <malloc.h>


def cap_malloc_arenas(arenas: int) -> bool:
    """Ask glibc for at most `arenas` malloc arenas (0: leave its default). True if it was applied."""
    if arenas <= 0:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        log.debug("malloc_arenas_unsupported", libc=name)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
