"""`NluOptions`: what the NLU needs to know about the business, and how long the LLM may think."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sentiric_pbx.config import BusinessConfig
from sentiric_pbx.dialog.nlu.plugin_intents import PluginIntents


@dataclass(frozen=True, slots=True)
class NluOptions:
    timezone: str = "Europe/Istanbul"
    """Dates and datetimes are resolved and returned in this zone. Defaults to Europe/Istanbul."""
    open_time: str = "09:00"
    close_time: str = "17:00"
    """Opening hours decide am/pm for a bare "at four" (→ 16:00). Default 09:00–17:00."""
    default_country_code: str = "90"
    """For national phone numbers said by the caller ("0532 …" → +90532…). Defaults to 90."""
    use_model: bool = True
    """Ask the learned model (`classifier`) where the rules are unsure. False: rules (and LLM) only."""
    llm_below_confidence: float = 0.6
    """The LLM is asked only when the rules' confidence is below this. Defaults to 0.6."""
    llm_budget_s: float = 1.0
    """Longest the LLM may take (prompt + label) before the rules' answer is kept. The daemon sets it from
    `[llm] nlu_budget_s`. Defaults to 1 s."""
    plugin_intents: PluginIntents | None = None
    """The intents task plug-ins declared, with their example phrasings (`plugin_intents`); set at start-up."""

    @property
    def opens(self) -> dt.time:
        return dt.time.fromisoformat(self.open_time)

    @property
    def closes(self) -> dt.time:
        return dt.time.fromisoformat(self.close_time)

    @classmethod
    def from_business(cls, business: BusinessConfig, **overrides: object) -> NluOptions:
        """Options for the configured business ([business] in the TOML file)."""
        return cls(
            timezone=business.timezone,
            open_time=business.open_time,
            close_time=business.close_time,
            default_country_code=business.default_country_code,
            **overrides,  # type: ignore[arg-type]
        )
