"""`caller_content()`: the one gate every log line with a caller's words or digits goes through."""

from __future__ import annotations

import io
import json

import structlog

from sentiric_pbx.config import Settings
from sentiric_pbx.logging import caller_content, configure_logging


def test_off_by_default_only_sizes_reach_the_log() -> None:
    assert Settings().logging.log_transcripts is False
    fields = caller_content(text="my PIN is 4321", digit="7", entities={"name": "Ahmet", "date": "x"}, words=["a"])
    assert fields == {"text_chars": 14, "digit_chars": 1, "entities_keys": ["date", "name"], "words_count": 1}
    assert caller_content(score=0.5, nothing=None) == {"score_redacted": True}


def test_log_transcripts_lets_the_content_through_and_the_log_line_shows_it() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out, log_transcripts=True)
    structlog.get_logger("t").info("caller_said", **caller_content(text="my PIN is 4321"))
    assert json.loads(out.getvalue())["text"] == "my PIN is 4321"

    configure_logging("info", "json", stream=out)  # a restart with the switch off again
    assert caller_content(text="my PIN is 4321") == {"text_chars": 14}
