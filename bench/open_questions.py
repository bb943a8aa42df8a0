"""What the FAQ and plug-in intents cost a turn, and how far apart their matches and non-matches score.

    python bench/open_questions.py [--json]

The material is the test suite's own (tests/test_faq.py: an FAQ of parking, insurance and the business
facts; examples/order_status_plugin: check_order_status with its phrasings): the paraphrases that
should find an answer or the plug-in's intent, and the other requests (bookings, hours, a person, small
talk) that must not. Reported: the score range of each group against its threshold (`faq_min_score`,
`plugin_intents.MIN_SCORE`), how many land on the wrong side, and the time per turn of the FAQ lookup and
of the whole rules NLU with the plug-in intents (p50 / p95 over 20 passes), against the NLU's 50 ms
budget per turn. A benchmark: no pass/fail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "order_status_plugin"))

ORDER_YES = [
    "Where is my order 4512?",
    "Hi, I'd like to know the status of my order, number four five one two.",
    "Has my order shipped yet?",
    "Can you track my order please",
    "I ordered something last week, where is it?",
    "Where's my order? The number is 4 5 1 2.",
    "When will my order get here?",
]
ORDER_NO = [
    "I would like to book an appointment.",
    "What are your opening hours?",
    "Can I talk to a human please?",
    "I want to cancel my appointment.",
    "I want to move my appointment",
    "Is there parking?",
    "What is the status of my appointment?",
    "I'd like to order a pizza",
    "Where is the clinic?",
    "what's the status of the car park",
    "Can I check when you are open",
]


def timed(fn: Any, texts: list[str], passes: int = 20) -> dict[str, float]:
    ms = []
    for _ in range(passes):
        for t in texts:
            started = time.perf_counter()
            fn(t)
            ms.append((time.perf_counter() - started) * 1000)
    q = statistics.quantiles(ms, n=20)
    return {"p50_ms": round(statistics.median(ms), 3), "p95_ms": round(q[18], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    from sentiric_order_status import OrderStatusTask

    from sentiric_pbx.dialog.faq import Faq
    from sentiric_pbx.dialog.nlu import NluOptions, understand_rules, warmup
    from sentiric_pbx.dialog.nlu.normalize import normalize
    from sentiric_pbx.dialog.nlu.plugin_intents import MIN_SCORE, PluginIntents
    from tests.test_faq import OTHER_REQUESTS, PARAPHRASES, business_settings

    warmup()
    faq = Faq(business_settings(Path(tempfile.mkdtemp())).business)
    faq_yes = [q for q, _ in PARAPHRASES]
    index = faq._index["en"]
    yes_scores = [index.best(q).score for q in faq_yes]  # type: ignore[union-attr]
    no_scores = [(h.score if (h := index.best(q)) else 0.0) for q in OTHER_REQUESTS]
    plugins = PluginIntents(
        {"check_order_status": OrderStatusTask.examples}, {"check_order_status": OrderStatusTask.slots}
    )
    opts = NluOptions(plugin_intents=plugins)
    now = dt.datetime(2030, 1, 2, 10, 0, tzinfo=dt.UTC)
    order_yes = [understand_rules(t, now=now, options=opts).intent == "check_order_status" for t in ORDER_YES]
    order_no = [understand_rules(t, now=now, options=opts).intent == "check_order_status" for t in ORDER_NO]
    everything = faq_yes + OTHER_REQUESTS + ORDER_YES + ORDER_NO
    report = {
        "faq": {
            "threshold": faq.min_score,
            "paraphrases": {"n": len(yes_scores), "min": min(yes_scores), "max": max(yes_scores),
                            "missed": sum(s < faq.min_score for s in yes_scores)},
            "other_requests": {"n": len(no_scores), "min": min(no_scores), "max": max(no_scores),
                               "answered": sum(s >= faq.min_score for s in no_scores)},
            "lookup": timed(lambda t: faq.answer(t, "en"), everything),
        },
        "plugin_intent": {
            "threshold": MIN_SCORE,
            "recognised": f"{sum(order_yes)}/{len(order_yes)}",
            "false_claims": f"{sum(order_no)}/{len(order_no)}",
            "match": timed(lambda t: plugins.match(normalize(t, "en"), t), everything),
            "rules_nlu_with_plugins": timed(lambda t: understand_rules(t, now=now, options=opts), everything),
            "rules_nlu_without": timed(lambda t: understand_rules(t, now=now, options=NluOptions()), everything),
        },
    }  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=2))
        return
    f, p = report["faq"], report["plugin_intent"]
    print(f"FAQ (threshold {f['threshold']}): paraphrases {f['paraphrases']}, other requests {f['other_requests']}")
    print(f"  lookup per turn: {f['lookup']}")
    print(f"plug-in intent (threshold {p['threshold']}): recognised {p['recognised']}, "
          f"false claims {p['false_claims']}")  # fmt: skip
    print(f"  match per turn: {p['match']}")
    print(f"  rules NLU per turn with plug-ins {p['rules_nlu_with_plugins']}, without {p['rules_nlu_without']}")


if __name__ == "__main__":
    main()
