"""Rules first, the learned model where the rules are unsure: the one decision that joins them.

The rules' confidence (`intents.confidence`) says how much cue evidence they found: 0.3 with none,
~0.9 for one strong cue without a rival. Where it reaches RULES_SURE the rules answer — they are right
on the phrasings they know and deterministic where the dialog depends on them (negations, corrections).
Below it the model answers if its probability reaches MODEL_SURE; otherwise the rules' weak guess
stands (and the LLM, when the daemon has a capable one, may still be asked: see `understand`).

The thresholds are per language, chosen on out-of-fold predictions over the training paraphrases
(`scripts/train_nlu.py --evaluate`, grouped by template so a phrasing is never judged by a model that saw
its siblings) and, for English, on held-out caller turns written apart from the paraphrases
(`scripts/nlu_training/heldout_en.jsonl`, batch "b": written after the last paraphrases and never trained
on) — never on the blind set. The rule: the best mean of the two figures.

- Turkish, 5573 rows: rules alone 80.7 %, the model alone 88.7 %, 0.7 / 0.3 gives 94.0 % — the best
  cell. The model's probability is spread over nine intents, so 0.3 is already a clear favourite.
- English, 12082 rows after the fifth paraphrase pass: rules alone 80.3 %, the model alone 88.6 %;
  out-of-fold 0.7 / 0.3 gives 89.7 %, 0.8 / 0.4 90.4 % (the best), 0.8 / 0.7 90.2 %; on the 122
  held-out turns 95.9 / 95.9 / 98.4 % (rules alone 85.2 %, the model alone 95.1 %). 0.8 / 0.7 has
  the best mean: the rules answer up to a higher confidence than in Turkish, and the model overrules
  them only when it is clearly sure.
"""

from __future__ import annotations

from typing import Literal

from sentiric_pbx.dialog.nlu.intents import RulesVerdict

RULES_SURE = 0.7
MODEL_SURE = 0.3
THRESHOLDS: dict[str, tuple[float, float]] = {"en": (0.8, 0.7), "tr": (RULES_SURE, MODEL_SURE)}
"""(rules_sure, model_sure) per language (see the module docstring); RULES_SURE / MODEL_SURE elsewhere."""

Source = Literal["rules", "model"]


def choose(
    rules: RulesVerdict,
    model_intent: str | None,
    model_probability: float,
    rules_sure: float = RULES_SURE,
    model_sure: float = MODEL_SURE,
) -> tuple[str, float, Source]:
    """(intent, confidence, source) for one turn from the rules' verdict and the model's best guess."""
    if model_intent is None or rules.confidence >= rules_sure:
        return rules.intent, rules.confidence, "rules"
    if model_intent == rules.intent:
        return rules.intent, round(max(rules.confidence, model_probability), 2), "rules"
    if model_probability >= model_sure:
        return model_intent, round(model_probability, 2), "model"
    return rules.intent, rules.confidence, "rules"


def thresholds(language: str) -> tuple[float, float]:
    """(rules_sure, model_sure) for one language."""
    return THRESHOLDS.get(language, (RULES_SURE, MODEL_SURE))
