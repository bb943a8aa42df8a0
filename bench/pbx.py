"""Greeting and reply latency measured at the caller's end, through a real Asterisk 22.10.1.

    python bench/pbx.py [--calls 3] [--scenarios sip-100-pcmu,ari-rtp-ulaw,…] [--json]

One Asterisk (the bundle in ../shared/asterisk, or SENTIRIC_TEST_ASTERISK; the project's asterisk/*.conf as
the real-PBX suite loads them, tests/pbx/asterisk.py) and the daemon in this process on the bundled models,
listening where the project's dialplan dials (FastAGI 127.0.0.1:4573, AudioSocket 127.0.0.1:9092: stop a
sentiric-pbx service on this host first, or run the bench in its own network namespace:
`unshare --net bash -c 'ip link set lo up && .venv/bin/python bench/pbx.py'`). Each scenario places
`--calls` calls one after the other; each call waits for the greeting, says "I would like to book an
appointment tomorrow at 3 pm." and waits for the reply:

    sip-<exten>-<codec>   baresip, a real SIP phone registered as 1001 (asterisk/pjsip.conf), dials 100
                          (AudioSocket() app, 8 kHz) or 101 (Dial(AudioSocket/…/c(slin16)), 16 kHz) with PCMU
                          or G.722; measured on the audio baresip decoded (its sndfile dump)
    ari-<media>[-<fmt>]   a caller originated into 200 (Stasis) over AMI, its side a FarEnd on
                          [sentiric-selftest]; the daemon's [ari] media/format as named
    as-100-quiet          a caller on 100 whose side sends nothing while quiet (a Local channel, DTX)

Greeting: from the answer (baresip's CALL_ESTABLISHED; the far end's connect) to the agent's first voiced
20 ms; reply: from the caller's last voiced 20 ms to the agent's first after it. Voiced = RMS > −40 dBFS.
A handset's own jitter buffer and playout delay are not included. Prints a table (one JSON object with
`--json`); no pass/fail. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sentiric_pbx.tools.caller import CallerOptions
from sentiric_pbx.tools.farend import FarEnd
from tests.pbx.ami import PbxAmi
from tests.pbx.asterisk import Asterisk, find_install
from tests.pbx.baresip import Phone, speech_ends
from tests.pbx.conftest import AGI_SECRET, agent_settings, dial, running

PHRASE = "I would like to book an appointment tomorrow at 3 pm."
SCENARIOS = {
    "sip-100-pcmu": ("sip", "100", "PCMU"),
    "sip-100-g722": ("sip", "100", "G722"),
    "sip-101-pcmu": ("sip", "101", "PCMU"),
    "sip-101-g722": ("sip", "101", "G722"),
    "ari-rtp-ulaw": ("ari", "rtp", "ulaw"),
    "ari-rtp-g722": ("ari", "rtp", "g722"),
    "ari-audiosocket": ("ari", "audiosocket", "slin16"),
    "ari-websocket": ("ari", "websocket", "slin16"),
    "as-100-quiet": ("quiet", "100", ""),
}


async def sip_call(pbx: Asterisk, root: Path, exten: str, codec: str, speech: dict[int, bytes]) -> dict[str, Any]:
    phone = await Phone(pbx, root, "1001", codec=codec).start()
    try:
        call = await phone.dial(exten)
        await speech_ends(phone.heard, call.answered_at, 1.5)
        said_at = await phone.say(speech[phone.rate])
        caller_end = await speech_ends(phone.sent, said_at, 0.3, within_s=len(speech[phone.rate]) / 2 / phone.rate + 5)
        await speech_ends(phone.heard, caller_end, 1.5)
        await phone.hang_up()
        heard = phone.heard()
        greeting_at, reply_at = heard.first_voiced(call.answered_at), heard.first_voiced(caller_end)
        return {
            "greeting_ms": None if greeting_at is None else round(1000 * (greeting_at - call.answered_at), 1),
            "reply_ms": None if reply_at is None else round(1000 * (reply_at - caller_end), 1),
        }
    finally:
        await phone.stop()


async def farend_call(ami: PbxAmi, farend: FarEnd, exten: str, rate: int, silent: bool, pcm: bytes) -> dict[str, Any]:
    call = await dial(ami, farend, exten, rate=rate, silent_frames=silent)
    opts = CallerOptions(rate=rate, greeting_wait_s=8.0, reply_timeout_s=12.0, reply_silence_s=1.5)
    report = await call.converse([pcm], opts)
    await call.hang_up()
    return {
        "greeting_ms": report.greeting_latency_ms,
        "reply_ms": report.turns[0].latency_ms if report.turns else None,
    }


def summary(values: list[float | None]) -> dict[str, Any]:
    got = [v for v in values if v is not None]
    return {
        "n": len(values),
        "missing": len(values) - len(got),
        "p50": round(median(got), 1) if got else None,
        "max": round(max(got), 1) if got else None,
        "all": values,
    }


async def run(calls: int, names: list[str]) -> dict[str, Any]:
    from sentiric_pbx.audio.resample import resample
    from sentiric_pbx.engines.pool import EnginePool

    tmp = Path(tempfile.mkdtemp(prefix="bench-pbx-"))
    engines = EnginePool(agent_settings(tmp, tmp / "models"))
    await engines.start()
    pcm16 = await engines.tts.synthesize_sentence(PHRASE)  # type: ignore[union-attr]
    speech = {16000: pcm16, 8000: resample(pcm16, 16000, 8000)}
    pbx = Asterisk(find_install(), tmp / "asterisk")
    pbx.start()
    pbx.rx(f"database put sentiric agi_secret {AGI_SECRET}")  # the dialplan's registration key (README)
    results: dict[str, Any] = {}
    try:
        ami = await PbxAmi.connect(pbx.ports.ami)
        farend = await FarEnd().start()
        for name in names:
            kind, a, b = SCENARIOS[name]
            settings = agent_settings(tmp / name, tmp / "models", pbx)
            if kind == "ari":
                settings.ari.enabled = True
                settings.ari.media = a  # type: ignore[assignment]
                settings.ari.format = b  # type: ignore[assignment]
            rows = []
            async with running(settings, engines) as daemon:
                if kind == "ari":
                    await asyncio.wait_for(daemon.ari.connected.wait(), 10)
                for i in range(calls):
                    if kind == "sip":
                        rows.append(await sip_call(pbx, tmp / name / f"phone-{i}", a, b, speech))
                    elif kind == "ari":
                        rate = 8000 if b in ("ulaw", "alaw") else 16000
                        rows.append(await farend_call(ami, farend, "200", rate, True, speech[rate]))
                    else:
                        rows.append(await farend_call(ami, farend, a, 8000, False, speech[8000]))
                    await asyncio.sleep(1.0)  # the call's record and recording are written before the next
            results[name] = {
                "greeting_ms": summary([r["greeting_ms"] for r in rows]),
                "reply_ms": summary([r["reply_ms"] for r in rows]),
            }
        await farend.close()
        await ami.close()
    finally:
        pbx.stop()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=3, help="calls per scenario (default 3)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated, default all")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    names = [n for n in args.scenarios.split(",") if n]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings and errors only
    started = time.time()
    results = asyncio.run(run(args.calls, names))
    out = {"calls_per_scenario": args.calls, "seconds": round(time.time() - started, 1), "scenarios": results}
    if args.json:
        print(json.dumps(out))
        return
    print(f"{'scenario':<18} {'greeting p50 / max':>20} {'reply p50 / max':>20}  missing")
    for name, r in results.items():
        g, rep = r["greeting_ms"], r["reply_ms"]
        print(
            f"{name:<18} {g['p50']!s:>9} / {g['max']!s:<8} ms {rep['p50']!s:>9} / {rep['max']!s:<8} ms"
            f"  {g['missing'] + rep['missing']}"
        )


if __name__ == "__main__":
    main()
