"""Real headless Chromium for the browser-phone tests, driven by Playwright over the DevTools protocol.

Debian's `chromium` (never Playwright's own browser download), on a fresh profile, with the flags that
keep it off the network (no component updates, sync, QUIC or background fetches: on a closed network
those only stall) and a fake microphone that plays a WAV file. Chromium loops that file, so callers
build it with silence long enough that the loop never matters.

ICE runs over loopback: the daemon under test binds only 127.0.0.1 (`ice_addresses`), and Chromium is
allowed loopback candidates (`--allow-loopback-in-peer-connection`; RFC 8445 keeps them out by default),
so a machine whose only interface is `lo` connects too, and without an mDNS responder (it would listen
on 224.0.0.251:5353; its host names are only for pages without microphone permission, and ours has it).
No Chromium switch narrows its own gathering to loopback: it still binds its other interfaces' addresses
(`--force-webrtc-ip-handling-policy` changes nothing in this headless Chromium; checked with `ss -uanp`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("SENTIRIC_TEST_CHROMIUM", "/usr/bin/chromium")
QUIET_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-default-browser-check",
]
LOOPBACK_ICE_FLAGS = ["--allow-loopback-in-peer-connection", "--disable-features=WebRtcHideLocalIpsWithMdns"]


def chromium_or_skip() -> str:
    """The Chromium binary, or a skip that says how to get it (CI installs it: .ci/run)."""
    path = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).is_file() else None)
    if path is None:
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    return path


@asynccontextmanager
async def headless_chromium(microphone_wav: Path) -> AsyncIterator[object]:
    """A Playwright `Browser` whose microphone is `microphone_wav` and whose camera/mic prompts are auto-allowed."""
    from playwright.async_api import async_playwright

    executable = chromium_or_skip()
    args = [
        *QUIET_FLAGS,
        *LOOPBACK_ICE_FLAGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone_wav}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox
    async with async_playwright() as pw:
        # Playwright starts every launch on a fresh temporary profile (--user-data-dir) and removes it after.
        browser = await pw.chromium.launch(executable_path=executable, headless=True, args=args)
        try:
            yield browser
        finally:
            await browser.close()
