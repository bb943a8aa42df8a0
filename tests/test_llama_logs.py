"""llama.cpp's own log lines go into our structured log, not as bare text between the daemon's JSON lines.

llama-cpp-python maps ggml's log levels by an older enum, so with `verbose=False` it still printed ggml's
warnings: "llama_kv_cache_iswa: using full-size SWA cache …" at every context, one line of plain text in a
journal of JSON lines. Run in a process of its own, as the daemon is, so the callback it installs is the
one under test and what reaches the process's stderr is exactly what an admin's log shipper would read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sentiric_pbx.models import resolve_model


def test_loading_the_model_writes_only_our_json_lines(tmp_path: Path) -> None:
    path = resolve_model("bundled:gemma3-270m", models_dir=tmp_path / "models")
    code = (
        "from pathlib import Path\n"
        "from sentiric_pbx.logging import configure_logging\n"
        "from sentiric_pbx.engines.llm.llama_cpp import LlamaCppLlm\n"
        "configure_logging('debug', 'json')\n"
        f"LlamaCppLlm(Path({str(path)!r}), chat_format='gemma', n_threads=1).load()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    assert [line for line in lines if not line.startswith("{")] == [], lines
    events = [json.loads(line) for line in lines]
    said = [e["text"] for e in events if e["event"] == "llama_cpp_says"]
    assert any("SWA cache" in text for text in said), said  # the line that leaked, now a debug event
    assert all(e["level"] == "debug" for e in events if e["event"] == "llama_cpp_says"), events
    assert any(e["event"] == "llm_loaded" for e in events)
