"""LLM candidates for `[dialog] llm_capable`: speed and automatically checked quality on the three jobs we give one.

    python bench/llm_models.py [--json] [--model REF[=CHAT_FORMAT] ...] [--threads 2] [--out FILE]

Jobs (bench/llm_prompts.jsonl, 11 prompts each): a personalised greeting for a known caller from a CRM
record and the last interaction; one or two spoken sentences from a task result with exact facts; a 2–3
sentence post-call summary of a transcript. Each model is loaded in its own child process (so RSS is its
own), with llama-cpp-python's `create_chat_completion` and the model's chat template (`chatml` for Qwen;
`gemma` for the bundled gemma-3-270m, whose missing system role gets the system prompt folded into the first
user turn, as sentiric_pbx.engines.llm does), greedy (temperature 0), n_ctx 2048, `--threads` threads.

Per model: load time; time to first token cold (KV cache reset, whole prompt evaluated) and with the job's
system prompt already in the KV cache (the prompt before was another one of the same job, as in a daemon
that keeps one `Llama`); decode tokens/s (tokens after the first over the time after the first); RSS after
load and peak. Quality, per job, as the share of prompts that pass:

- greeting: names the caller (first or last name, case-insensitive) and is at most 2 sentences;
- task reply: every fact string appears verbatim (case-insensitive), and no time/date in the reply is one
  that the caller's message and the task result do not contain (invented);
- summary: every string of the agreed slot (its date and time) appears; the 2–3 sentence length is
  reported beside it, not scored.

`pass` also requires that the reply does not copy the prompt (a whole line of the message, label included,
of 25+ characters, or the start of the system prompt, appears in it): a model that echoes the transcript
"mentions the agreed slot" without summarising anything. `pass_spec` is the check without that
guard; the table shows `pass (pass_spec)`.

Bundled ids are resolved (and imported on first use) the way sentiric_pbx.models does. Binds nothing.
The JSON (also written to --out) keeps every reply text, so the scores can be read by a person.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HERE = Path(__file__).resolve().parent
PROMPTS = HERE / "llm_prompts.jsonl"
CANDIDATES = [
    ("bundled:gemma3-270m", "gemma"),
    ("bundled:qwen2.5-coder-0.5b-instruct", "chatml"),
    ("bundled:qwen2.5-coder-1.5b-instruct", "chatml"),
]
TASKS = ("greeting", "task_reply", "summary")

# -- automatic checks ------------------------------------------------------------------------------
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_TIME_RE = re.compile(r"\b\d{1,2}(?::\d{2})\s*(?:[ap]\.?\s?m\.?)?|\b\d{1,2}\s*[ap]\.?\s?m\b\.?", re.I)
_DATE_RE = re.compile(
    rf"\b(?:{_MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\b"
    rf"|\b(?:{_DAYS})\b|\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?\b"
    r"|\b(?:today|tomorrow|tonight|yesterday|next week)\b",
    re.I,
)


def _norm(text: str) -> str:
    """Lower case, ordinals and a.m./p.m. spelled one way, spaces collapsed: '3:30 p.m.' == '3:30 PM'."""
    text = text.lower()
    text = re.sub(r"(\d)(?:st|nd|rd|th)\b", r"\1", text)
    text = re.sub(r"\b([ap])\.?\s?m\b\.?", r"\1m", text)
    text = re.sub(r"(\d)\s+([ap]m)\b", r"\1 \2", text)
    return re.sub(r"\s+", " ", text).strip()


def sentences(text: str) -> int:
    """Sentences by their final . ! ? (not the dot of Dr., Mr., Mrs., Ms., St., nor a.m./p.m. before lower case)."""
    text = re.sub(r"\b(Dr|Mr|Mrs|Ms|St|Jr|Sr)\.", r"\1", text.strip())
    text = re.sub(r"\b([aApP])\.[mM]\.(?=\s+[a-z])", r"\1m", text)
    parts = re.split(r"(?<=[.!?])\s+", text)
    return len([p for p in parts if re.search(r"\w", p)])


def invented(reply: str, source: str) -> list[str]:
    """Times and dates in the reply that the prompt's own text (caller's words + task result) does not contain."""
    known = _norm(source)
    found = [m.group(0) for m in _TIME_RE.finditer(reply)] + [m.group(0) for m in _DATE_RE.finditer(reply)]
    return [f for f in found if _norm(f) not in known]


def echoes(reply: str, prompt: dict[str, Any]) -> bool:
    """The reply copies the prompt instead of doing the job."""
    text = _norm(reply)
    copied = [prompt["system"][:60], *prompt["user"].splitlines()]
    return any(len(c.strip()) >= 25 and _norm(c) in text for c in copied)


def _spec(prompt: dict[str, Any], text: str) -> dict[str, Any]:
    low = text.lower()
    if prompt["task"] == "greeting":
        named = any(n.lower() in low for n in prompt["names"])
        n = sentences(text)
        return {"pass_spec": bool(text) and named and n <= 2, "named": named, "sentences": n}
    if prompt["task"] == "task_reply":
        missing = [f for f in prompt["facts"] if f.lower() not in low]
        extra = invented(text, prompt["user"])
        return {"pass_spec": bool(text) and not missing and not extra, "missing": missing, "invented": extra}
    missing = [s for s in prompt["slot"] if s.lower() not in low]
    n = sentences(text)
    return {"pass_spec": bool(text) and not missing, "missing": missing, "sentences": n, "length_ok": 2 <= n <= 3}


def check(prompt: dict[str, Any], reply: str) -> dict[str, Any]:
    text = reply.strip()
    result = _spec(prompt, text)
    result["echo"] = echoes(text, prompt)
    result["pass"] = result["pass_spec"] and not result["echo"]
    return result


# -- the child process: one model -------------------------------------------------------------------
def _rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB, from /proc (the peak is VmHWM)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return round(fields["VmRSS"], 1), round(fields["VmHWM"], 1)


def _messages(prompt: dict[str, Any], fold_system: bool) -> list[dict[str, str]]:
    if fold_system:
        return [{"role": "user", "content": f"{prompt['system']}\n\n{prompt['user']}"}]
    return [{"role": "system", "content": prompt["system"]}, {"role": "user", "content": prompt["user"]}]


def _run(llm: Any, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, float, float]:
    """Stream one greedy completion → (text, seconds to the first content token, seconds in all)."""
    started = time.perf_counter()
    first = None
    out = []
    for chunk in llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0, stream=True):
        delta = chunk["choices"][0].get("delta", {}).get("content")
        if delta:
            first = first if first is not None else time.perf_counter() - started
            out.append(delta)
    total = time.perf_counter() - started
    return "".join(out), first if first is not None else total, total


def worker(path: str, chat_format: str, threads: int, prompts_file: Path) -> dict[str, Any]:
    from llama_cpp import Llama

    prompts = [json.loads(line) for line in prompts_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    fold = chat_format == "gemma"
    started = time.perf_counter()
    llm = Llama(model_path=path, n_ctx=2048, n_threads=threads, chat_format=chat_format, verbose=False)
    load_s = time.perf_counter() - started
    _run(llm, [{"role": "user", "content": "Hi"}], 1)  # warm-up, like the engine's
    rss_loaded, _ = _rss_mb()
    load_before = os.getloadavg()
    by_task = {t: [p for p in prompts if p["task"] == t] for t in TASKS}
    rows = []
    for task, group in by_task.items():
        for i, prompt in enumerate(group):
            llm.reset()  # cold: nothing of this prompt in the KV cache
            text, ttft, total = _run(llm, _messages(prompt, fold), prompt["max_tokens"])
            generated = len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0
            decode_s = total - ttft
            row = {
                "id": prompt["id"],
                "task": task,
                "reply": text,
                "ttft_cold_s": round(ttft, 3),
                "total_s": round(total, 3),
                "tokens": generated,
                "tok_s": round((generated - 1) / decode_s, 2) if generated > 1 and decode_s > 0 else None,
                "check": check(prompt, text),
            }
            # the next prompt of the same job right after this one: its system prompt is in the KV cache
            nxt = group[(i + 1) % len(group)]
            _, row["ttft_warm_s"], _ = _run(llm, _messages(nxt, fold), 1)
            row["ttft_warm_s"] = round(row["ttft_warm_s"], 3)
            rows.append(row)
    rss_end, rss_peak = _rss_mb()
    return {"load_s": round(load_s, 2), "rss_loaded_mb": rss_loaded, "rss_end_mb": rss_end, "rss_peak_mb": rss_peak,
            "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "prompts": rows}  # fmt: skip


# -- the parent: resolve, spawn, summarise ----------------------------------------------------------
def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 3)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 3)


def summarise(ref: str, path: Path, chat_format: str, raw: dict[str, Any]) -> dict[str, Any]:
    rows = raw["prompts"]
    out: dict[str, Any] = {
        "ref": ref,
        "path": str(path),
        "size_mb": round(path.stat().st_size / 2**20, 1),
        "chat_format": chat_format,
        "load_s": raw["load_s"],
        "rss_loaded_mb": raw["rss_loaded_mb"],
        "rss_peak_mb": raw["rss_peak_mb"],
        "loadavg_1m_before_after": [round(raw["loadavg_before"][0], 2), round(raw["loadavg_after"][0], 2)],
        "ttft_cold_p50_s": _pct([r["ttft_cold_s"] for r in rows], 50),
        "ttft_cold_p95_s": _pct([r["ttft_cold_s"] for r in rows], 95),
        "ttft_warm_p50_s": _pct([r["ttft_warm_s"] for r in rows], 50),
        "ttft_warm_p95_s": _pct([r["ttft_warm_s"] for r in rows], 95),
        "tok_s_p50": _pct([r["tok_s"] for r in rows if r["tok_s"]], 50),
        "quality": {},
        "tasks": {},
    }
    for task in TASKS:
        mine = [r for r in rows if r["task"] == task]
        passed = sum(r["check"]["pass"] for r in mine)
        out["quality"][task] = round(passed / len(mine), 3) if mine else None
        out["tasks"][task] = {
            "passed": passed,
            "passed_spec": sum(r["check"]["pass_spec"] for r in mine),
            "echoed": sum(r["check"]["echo"] for r in mine),
            "of": len(mine),
            "ttft_cold_p50_s": _pct([r["ttft_cold_s"] for r in mine], 50),
            "ttft_cold_p95_s": _pct([r["ttft_cold_s"] for r in mine], 95),
            "ttft_warm_p50_s": _pct([r["ttft_warm_s"] for r in mine], 50),
            "ttft_warm_p95_s": _pct([r["ttft_warm_s"] for r in mine], 95),
            "total_p50_s": _pct([r["total_s"] for r in mine], 50),
            "tok_s_p50": _pct([r["tok_s"] for r in mine if r["tok_s"]], 50),
        }
        if task == "summary":
            out["tasks"][task]["length_2_3_sentences"] = sum(r["check"]["length_ok"] for r in mine)
        if task == "task_reply":
            out["tasks"][task]["with_invented_time_or_date"] = sum(bool(r["check"]["invented"]) for r in mine)
            out["tasks"][task]["with_missing_fact"] = sum(bool(r["check"]["missing"]) for r in mine)
    out["prompts"] = rows
    return out


def table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'model':<38} {'load s':>6} {'RSS MB':>7} {'TTFT cold p50/p95 s':>20} {'warm p50/p95 s':>15} "
        f"{'tok/s':>6} {'greeting':>10} {'task reply':>10} {'summary':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        q = r["tasks"]
        lines.append(
            f"{r['ref']:<38} {r['load_s']:>6.2f} {r['rss_peak_mb']:>7.0f} "
            f"{r['ttft_cold_p50_s']:>9.2f} / {r['ttft_cold_p95_s']:<8.2f} "
            f"{r['ttft_warm_p50_s']:>6.2f} / {r['ttft_warm_p95_s']:<6.2f} {r['tok_s_p50'] or 0:>6.1f} "
            + " ".join(f"{q[t]['passed']:>2}/{q[t]['of']} ({q[t]['passed_spec']:>2})" for t in TASKS)
        )
    lines.append("")
    lines.append(
        f"{'model':<38} {'job':<11} {'TTFT cold p50/p95 s':>20} {'warm p50/p95 s':>15} {'tok/s':>6} pass (spec)"
    )
    for r in results:
        for t in TASKS:
            q = r["tasks"][t]
            lines.append(
                f"{r['ref']:<38} {t:<11} {q['ttft_cold_p50_s']:>9.2f} / {q['ttft_cold_p95_s']:<8.2f} "
                f"{q['ttft_warm_p50_s']:>6.2f} / {q['ttft_warm_p95_s']:<6.2f} {q['tok_s_p50'] or 0:>6.1f} "
                f"{q['passed']}/{q['of']} ({q['passed_spec']})"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--model", action="append", default=[], help="REF[=CHAT_FORMAT] (default: the candidates)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", type=Path, default=PROMPTS)
    parser.add_argument("--out", type=Path, default=Path("/tmp/llm_models.json"), help="also write the JSON here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--chat-format", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.chat_format, args.threads, args.prompts)))
        return 0

    from sentiric_pbx.logging import configure_logging
    from sentiric_pbx.models import resolve_model

    configure_logging("warning", stream=sys.stderr)  # stdout is the table or the one JSON object

    models = [(m.split("=", 1)[0], m.split("=", 1)[1] if "=" in m else "chatml") for m in args.model] or CANDIDATES
    results = []
    for ref, chat_format in models:
        path = resolve_model(ref)
        print(f"{ref}: {path} ({chat_format}) …", file=sys.stderr, flush=True)
        cmd = [sys.executable, __file__, "--worker", str(path), "--chat-format", chat_format]
        cmd += ["--threads", str(args.threads), "--prompts", str(args.prompts)]
        child = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if child.returncode != 0:
            print(child.stderr, file=sys.stderr)
            return 1
        results.append(summarise(ref, path, chat_format, json.loads(child.stdout.strip().splitlines()[-1])))
    report = {
        "threads": args.threads,
        "n_ctx": 2048,
        "temperature": 0.0,
        "prompts": str(args.prompts),
        "models": results,
    }
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False) if args.json else table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
