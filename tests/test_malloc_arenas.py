"""The daemon caps glibc's malloc arenas, so model threads share freed memory instead of keeping their own."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

# Eight threads each allocate once through libc, then glibc lists its arenas on stderr (malloc_stats).
PROBE = """
import ctypes, sys, threading
from sentiric_pbx.engines.malloc_arenas import cap_malloc_arenas
applied = cap_malloc_arenas(int(sys.argv[1]))
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
ready = threading.Barrier(8)
def work():
    ready.wait()
    libc.malloc(4096)
    ready.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
sys.stdout.write(str(applied))
libc.malloc_stats()
"""


def arenas_after(cap: int) -> tuple[str, int]:
    done = subprocess.run([sys.executable, "-c", PROBE, str(cap)], capture_output=True, text=True, check=True)
    return done.stdout, len(re.findall(r"^Arena \d+:", done.stderr, re.MULTILINE))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_two_arenas_serve_eight_threads_once_capped() -> None:
    applied, capped = arenas_after(2)
    assert applied == "True"
    assert capped <= 2
    # Without the cap the same eight threads take arenas of their own: the cap is what made the difference.
    applied, default = arenas_after(0)
    assert applied == "False"
    assert default > 2
