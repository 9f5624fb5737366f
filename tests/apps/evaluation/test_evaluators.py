"""Evaluators against hand-computed values."""

from __future__ import annotations

import asyncio
import time

import pytest

from apps.config.errors import InvalidInput
from apps.evaluation.evaluators import EvaluatorSpec, SampleInput, parse_evaluators, score_sample
from apps.evaluation.evaluators.judge import parse_grade, parse_winner


def _score(kind: str, output: str, expected: str = "", **config: object) -> float | None:
    spec = EvaluatorSpec.model_validate({"name": "e", "kind": kind, **config})
    sample = SampleInput(message="q", output=output, expected_output=expected)
    return asyncio.run(score_sample([spec], sample, models=None, embed=None))["e"].score


def test_evaluators_deterministic_checks() -> None:
    assert _score("exact", " Paris ", "paris") == 1.0
    assert _score("exact", "Paris", "paris", case_sensitive=True) == 0.0
    assert _score("contains", "The capital is Paris.", "paris") == 1.0
    assert _score("contains", "Lyon", "paris") == 0.0
    assert _score("contains", "anything", "") == 0.0  # an empty reference contains nothing
    assert _score("regex", "order #12345 shipped", pattern=r"#\d{5}\b") == 1.0
    assert _score("json_valid", '```json\n{"a": 1}\n```') == 1.0
    assert _score("json_valid", "{a: 1}") == 0.0
    schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
    assert _score("json_schema", '{"city": "Paris"}', json_schema=schema) == 1.0
    assert _score("json_schema", '{"city": 3}', json_schema=schema) == 0.0
    assert _score("length", "12345", min=1, max=5) == 1.0
    assert _score("length", "123456", max=5) == 0.0


def test_evaluators_regex_backtracking_is_cut_off() -> None:
    started = time.monotonic()
    assert _score("regex", "a" * 40 + "!", pattern=r"^(a+)+$") == 0.0
    assert time.monotonic() - started < 5


def test_evaluators_latency_and_cost_limits() -> None:
    spec = EvaluatorSpec.model_validate({"name": "fast", "kind": "latency", "max_latency_ms": 500})
    cheap = EvaluatorSpec.model_validate({"name": "cheap", "kind": "cost", "max_cost": 0.01})
    sample = SampleInput(message="q", output="a", latency_ms=700, cost=0.005)
    scores = asyncio.run(score_sample([spec, cheap], sample, models=None, embed=None))
    assert (scores["fast"].score, scores["cheap"].score) == (0.0, 1.0)


def test_evaluators_rouge_l_and_bleu_known_values() -> None:
    # LCS of "the cat sat on the mat" / "the cat is on the mat" is 5 of 6 tokens: P = R = F = 5/6.
    assert _score("rouge_l", "the cat sat on the mat", "the cat is on the mat") == pytest.approx(5 / 6)
    # n-gram precisions 5/6, 3/5, 1/4 and 0/3 (exp smoothing: 1/2 of 1/3), no brevity penalty.
    expected = (5 / 6 * 3 / 5 * 1 / 4 * 1 / 6) ** 0.25
    assert _score("bleu", "the cat sat on the mat", "the cat is on the mat") == pytest.approx(expected, abs=1e-6)
    assert _score("bleu", "the cat sat on the mat", "the cat sat on the mat") == pytest.approx(1.0)


def test_evaluators_embedding_similarity_with_the_knowledge_model() -> None:
    from apps.knowledge.embeddings import LocalEmbedder

    spec = EvaluatorSpec.model_validate({"name": "sim", "kind": "embedding"})
    embed = LocalEmbedder().embed
    reference = "Paris is France's capital."
    near = SampleInput(message="q", output="The capital of France is Paris.", expected_output=reference)
    far = SampleInput(message="q", output="Bananas are rich in potassium.", expected_output=reference)
    close = asyncio.run(score_sample([spec], near, models=None, embed=embed))["sim"].score
    apart = asyncio.run(score_sample([spec], far, models=None, embed=embed))["sim"].score
    assert close is not None and apart is not None
    assert close > 0.7 > apart


def test_evaluators_bertscore_says_it_is_unavailable() -> None:
    spec = EvaluatorSpec.model_validate({"name": "bs", "kind": "bertscore"})
    score = asyncio.run(score_sample([spec], SampleInput("q", "a", "b"), models=None, embed=None))["bs"]
    assert score.score is None
    assert "not available" in score.reasoning


def test_evaluators_retrieval_hit_mrr_context_precision() -> None:
    citations = [{"document": "d9"}, {"title": "Pricing"}, {"document": "d1"}]
    sample = SampleInput("q", "a", expected_sources=["d1", "pricing"], citations=citations)
    specs = parse_evaluators(
        [
            {"name": "hit1", "kind": "hit_at_k", "k": 1},
            {"name": "hit3", "kind": "hit_at_k", "k": 3},
            {"name": "mrr", "kind": "mrr"},
            {"name": "cp", "kind": "context_precision"},
        ]
    )
    scores = asyncio.run(score_sample(specs, sample, models=None, embed=None))
    assert scores["hit1"].score == 0.0
    assert scores["hit3"].score == 1.0
    assert scores["mrr"].score == pytest.approx(1 / 2)
    assert scores["cp"].score == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_evaluators_judge_replies_parsed() -> None:
    assert parse_grade('{"reasoning": "good", "score": 4}', 5) == (0.75, "good")
    assert parse_grade("Score: 5 because it is right", 5)[0] == 1.0
    assert parse_grade("no idea", 5)[0] is None
    assert parse_winner('{"winner": "B", "reasoning": "shorter"}') == ("B", "shorter")


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"name": "r", "kind": "regex", "pattern": "("}, "not a valid regular expression"),
        ({"name": "j", "kind": "judge"}, "judge 'model'"),
        ({"name": "x", "kind": "nope"}, "Evaluator x"),
        ({"name": "s", "kind": "json_schema", "json_schema": {"type": 5}}, "JSON Schema is invalid"),
    ],
)
def test_evaluators_bad_config_refused(config: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_evaluators([config])
    assert says in caught.value.message
