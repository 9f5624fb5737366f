"""The detectors against the labelled corpus in tests/corpus/guardrails/: recall and false
positives stay at the targets of issue 22 (docs/BENCHMARKS.md has the figures)."""

from __future__ import annotations

from flows.guards.pii import PATTERN_ENTITIES
from tests.corpus.guardrails.evaluate import injection_scores, load, pii_scores


def test_corpus_has_the_promised_size() -> None:
    pii, attacks, benign = load("pii.jsonl"), load("attacks.jsonl"), load("benign.jsonl")
    assert sum(1 for item in pii if item["entities"]) >= 300
    assert sum(1 for item in pii if not item["entities"]) >= 50
    assert len(attacks) >= 200
    assert sum(1 for item in attacks if item["source"] == "document") >= 30
    assert len(benign) >= 200


def test_pii_recall_on_pattern_entities_and_names() -> None:
    scores = pii_scores()
    for entity in PATTERN_ENTITIES:
        assert scores[entity].recall >= 0.95, entity
        assert scores[entity].precision >= 0.9, entity
    assert scores["PERSON"].recall >= 0.80


def test_injection_recall_at_low_false_positive_rate() -> None:
    scores = injection_scores()
    assert scores.recall >= 0.90
    assert scores.false_positive_rate <= 0.05
    for attack, score in scores.per_class.items():
        assert score.recall >= 0.8, attack
