"""The learned second opinion: a linear model over hashed character and word n-grams, per language.

Rules are right on the phrasings they were written from and silent on the rest: on a blind set of
public bots' utterances (bench/nlu_blind.jsonl) the rules as they stood scored 89.2 % in English and
80.5 % in Turkish, and a new caller's "until when can I reach you today" found no cue.
Character n-grams generalise over what rules cannot enumerate — inflections ("erteleyebilir",
"ertelemek"), typos and STT spellings, new verbs next to known nouns — and a linear model over them
is small, fast and deterministic.

Trained at build time by `scripts/train_nlu.py` (scikit-learn's logistic regression on the paraphrases
in `scripts/nlu_training/*.txt` plus the labelled bench set's train split) and shipped as plain arrays
in `intent_model.npz`: for each language the hashed feature ids seen in training (sorted), their
weights per intent and the intents' biases. Nothing is unpickled and scikit-learn is not needed at run
time: one turn is ~300 crc32 hashes, one `searchsorted` and a 9-column dot product (well under 1 ms).

Features (`features`) are read from `Normalized.digits` with every number as "0", so "at three", "at 3"
and "saat üçte" ("saat 0te") look alike: word unigrams and bigrams, and character 2–5-grams inside
each space-padded word. Each distinct feature counts once and the vector is L2-normalised, exactly as
in training.
"""

from __future__ import annotations

import itertools
import json
import re
import zlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from sentiric_pbx.dialog.nlu.normalize import Normalized

MODEL_FILE = "intent_model.npz"
N_BITS = 20
"""Feature hashing space: 2^20 buckets. The ~7–9 k distinct features per language seen in training
barely collide in it, and only those buckets are stored."""
CHAR_NGRAMS = (2, 5)


def features(norm: Normalized) -> list[str]:
    """The distinct n-gram features of one normalised utterance (see the module docstring)."""
    words = re.sub(r"\d+", "0", norm.digits).split()
    feats: set[str] = {f"w:{w}" for w in words}
    feats.update(f"b:{a} {b}" for a, b in itertools.pairwise(words))
    low, high = CHAR_NGRAMS
    for w in words:
        padded = f" {w} "
        for n in range(low, high + 1):
            feats.update(f"c:{padded[i : i + n]}" for i in range(len(padded) - n + 1))
    return sorted(feats)


def hashed(feats: list[str], n_bits: int = N_BITS) -> np.ndarray:
    """Distinct bucket ids of `feats` (crc32: stable across platforms and Python runs, unlike hash())."""
    mask = (1 << n_bits) - 1
    return np.unique(np.fromiter((zlib.crc32(f.encode()) & mask for f in feats), dtype=np.int64, count=len(feats)))


@dataclass(frozen=True, slots=True)
class LanguageModel:
    """One language's weights: `index` (sorted bucket ids) → rows of `weights` (one column per intent)."""

    intents: tuple[str, ...]
    index: np.ndarray
    weights: np.ndarray
    bias: np.ndarray

    def probabilities(self, buckets: np.ndarray) -> np.ndarray:
        """Softmax over intents for one utterance's distinct buckets (binary, L2-normalised)."""
        scores = self.bias.astype(np.float64)
        if len(buckets):
            pos = np.searchsorted(self.index, buckets)
            pos = np.minimum(pos, len(self.index) - 1)
            known = pos[self.index[pos] == buckets]
            scores = scores + self.weights[known].sum(axis=0, dtype=np.float64) / np.sqrt(len(buckets))
        exp = np.exp(scores - scores.max())
        return exp / exp.sum()


@dataclass(frozen=True, slots=True)
class ModelVerdict:
    intent: str
    probability: float
    probabilities: dict[str, float]


@cache
def load_models() -> dict[str, LanguageModel]:
    """The shipped weights, once per process (~2 MB of arrays); no pickle (`allow_pickle=False`)."""
    path = resources.files("sentiric_pbx.dialog.nlu").joinpath(MODEL_FILE)
    with resources.as_file(path) as file, np.load(file, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        if meta["n_bits"] != N_BITS or tuple(meta["char_ngrams"]) != CHAR_NGRAMS:
            raise ValueError(f"{MODEL_FILE} was built with other feature settings: retrain (scripts/train_nlu.py)")
        return {
            lang: LanguageModel(
                tuple(meta["intents"]),
                data[f"{lang}.index"].astype(np.int64),
                data[f"{lang}.weights"].astype(np.float32),
                data[f"{lang}.bias"].astype(np.float32),
            )
            for lang in meta["languages"]
        }


def predict(norm: Normalized) -> ModelVerdict | None:
    """The model's intent and probability for one utterance; None when it has no model or nothing to read."""
    model = load_models().get(norm.language)
    feats = features(norm)
    if model is None or not feats:
        return None
    probs = model.probabilities(hashed(feats))
    best = int(np.argmax(probs))
    return ModelVerdict(model.intents[best], float(probs[best]), dict(zip(model.intents, probs.tolist(), strict=True)))
