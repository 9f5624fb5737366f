"""Trains the injection classifier (flows/guards/classifier.py): logistic regression over the
local MiniLM's sentence embeddings, on attacks.jsonl + benign.jsonl + classifier_train.jsonl.

    .venv/bin/python tests/corpus/guardrails/train_classifier.py

Deterministic (fixed folds, no sampling). The decision threshold is the lowest one whose
false-positive rate on the benign items of 5 held-out folds stays <= 0.03 (the issue's budget is
0.05), so it is not picked on the items a fold was trained with. Writes
flows/guards/injection_classifier.json (384 weights, a bias, the threshold). The held-out sets
in heldout.py are never read here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from sklearn.linear_model import LogisticRegression  # noqa: E402 - after the path

from flows.guards.classifier import WEIGHTS  # noqa: E402
from tests.corpus.guardrails.evaluate import LocalMiniLM, load  # noqa: E402

C = 2.0  # inverse L2 strength: the best 5-fold recall at FPR <= 0.03 among 0.5, 1, 2, 4, 8, 16
FOLDS = 5
TARGET_FPR = 0.03


def embedder() -> object:
    return LocalMiniLM()


def corpus() -> tuple[list[str], np.ndarray]:
    items = load("attacks.jsonl") + load("benign.jsonl") + load("classifier_train.jsonl")
    return [item["text"] for item in items], np.asarray([int(item["label"]) for item in items])


def fit(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    model = LogisticRegression(C=C, max_iter=2000, class_weight="balanced")
    return model.fit(x, y)


def fold_threshold(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Held-out-fold probabilities: the threshold for TARGET_FPR and the recall it gives."""
    held = np.zeros(len(y))
    for fold in range(FOLDS):
        test = np.arange(len(y)) % FOLDS == fold
        held[test] = fit(x[~test], y[~test]).predict_proba(x[test])[:, 1]
    benign = np.sort(held[y == 0])[::-1]
    allowed = int(TARGET_FPR * len(benign))
    threshold = float(benign[allowed]) + 1e-6 if allowed < len(benign) else 0.5
    threshold = max(threshold, 0.5)
    recall = float((held[y == 1] >= threshold).mean())
    return threshold, recall


def main() -> None:
    texts, y = corpus()
    vectors = np.asarray(embedder().embed(texts), dtype=np.float32)  # type: ignore[attr-defined]
    threshold, recall = fold_threshold(vectors, y)
    model = fit(vectors, y)
    WEIGHTS.write_text(
        json.dumps(
            {
                "embedding_model": "all-MiniLM-L6-v2",
                "trained_on": f"{int(y.sum())} attacks, {int((y == 0).sum())} benign (tests/corpus/guardrails)",
                "C": C,
                "threshold": round(threshold, 4),
                "bias": round(float(model.intercept_[0]), 6),
                "weights": [round(float(w), 6) for w in model.coef_[0]],
            }
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"{len(texts)} items; 5-fold held-out recall {recall:.3f} at threshold {threshold:.3f}; wrote {WEIGHTS}")


if __name__ == "__main__":
    main()
