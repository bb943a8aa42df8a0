"""Nearest phrasing: which of a few hundred example sentences is a caller's turn most like?

Used where the answer is a table an admin writes, not rules we write: the FAQ's question variants
(`dialog/faq.py`) and a plug-in task's example phrasings (`dialog/nlu/plugin_intents.py`).

Character n-grams (3 to 5 letters, inside word boundaries) weighted by TF-IDF and compared by cosine:
STT spells a word one way one day and another the next ("parking"/"park in", "located"/"locate it"),
and callers inflect ("appointments", "randevumu"); shared letter runs survive both where whole words do
not. The index is a dense numpy matrix (a few hundred rows by a few thousand n-grams): one query is a
vector product of well under a millisecond, with no model to ship and nothing trained.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

K = TypeVar("K")

NGRAMS = (3, 4, 5)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-case words, Turkish dotted and dotless i folded into one (STT writes either)."""
    return _WORD.findall(text.replace("İ", "i").replace("I", "i").lower().replace("ı", "i"))


def grams(text: str) -> Counter[str]:
    """Character n-grams of each word padded with spaces, so word starts and ends count."""
    out: Counter[str] = Counter()
    for word in words(text):
        padded = f" {word} "
        for n in NGRAMS:
            out.update(padded[i : i + n] for i in range(max(1, len(padded) - n + 1)))
    return out


@dataclass(frozen=True, slots=True)
class Hit(Generic[K]):
    key: K
    """What the matched phrasing belongs to (an FAQ entry, an intent)."""
    phrasing: str
    score: float
    """Cosine similarity, 0..1."""


class PhraseIndex(Generic[K]):
    """Example phrasings, each belonging to a key; `best(text)` is the key of the nearest one."""

    def __init__(self, phrasings: list[tuple[K, str]], background: list[str] | None = None) -> None:
        """`background`: other sentences callers say, counted only for the IDF. Without them, a word every
        phrasing shares ("order" in each way to ask about an order) would weigh least, though it is what
        sets them apart from everything else a caller says."""
        self.keys = [k for k, _ in phrasings]
        self.phrasings = [p for _, p in phrasings]
        counts = [grams(p) for p in self.phrasings]
        others = [grams(p) for p in background or []]
        vocab = sorted({g for c in counts for g in c})
        self._column = {g: i for i, g in enumerate(vocab)}
        df = np.zeros(len(vocab))
        for c in counts + others:
            for g in c:
                if g in self._column:
                    df[self._column[g]] += 1
        n = max(1, len(counts) + len(others))
        self._idf = np.log((1 + n) / (1 + df)) + 1.0  # smoothed, as scikit-learn's TfidfVectorizer
        self._unseen_idf = math.log(1 + n) + 1.0
        self._matrix = np.vstack([self._vector(c) for c in counts]) if counts else np.zeros((0, len(vocab)))

    def _vector(self, counts: Counter[str]) -> np.ndarray:
        """Sublinear TF × IDF, unit length. N-grams no phrasing has still count in the length (at the
        rarest IDF): "where *exactly* is your office" is less like "where is your office" than itself."""
        v = np.zeros(len(self._column))
        unseen = 0.0
        for g, c in counts.items():
            i = self._column.get(g)
            if i is not None:
                v[i] = 1.0 + math.log(c)
            else:
                unseen += ((1.0 + math.log(c)) * self._unseen_idf) ** 2
        v *= self._idf
        norm = math.sqrt(float(v @ v) + unseen)
        return v / norm if norm else v

    def __len__(self) -> int:
        return len(self.keys)

    def best(self, text: str) -> Hit[K] | None:
        """The nearest phrasing to `text` (None for an empty index or a text with no known n-gram)."""
        if not self.keys:
            return None
        q = self._vector(grams(text))
        if not q.any():
            return None
        scores = self._matrix @ q
        i = int(np.argmax(scores))
        return Hit(self.keys[i], self.phrasings[i], round(float(scores[i]), 3))
