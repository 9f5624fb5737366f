"""The evaluators that need no model call: deterministic checks, reference metrics (ROUGE-L with
`rouge-score`, BLEU with `sacrebleu`), embedding similarity and retrieval metrics."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache
from typing import Any

import regex

from apps.evaluation.evaluators.spec import EvaluatorSpec, SampleInput, Score

REGEX_TIMEOUT_S = 0.2  # a pattern that backtracks catastrophically scores 0 instead of hanging the worker


def _norm(text: str, spec: EvaluatorSpec) -> str:
    text = text.strip()
    return text if spec.case_sensitive else text.casefold()


def _reference(spec: EvaluatorSpec, sample: SampleInput) -> str:
    return spec.value if spec.value is not None else sample.expected_output


def exact(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    return Score(float(_norm(sample.output, spec) == _norm(_reference(spec, sample), spec)))


def contains(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    needle = _norm(_reference(spec, sample), spec)
    return Score(float(bool(needle) and needle in _norm(sample.output, spec)))


def regex_match(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    flags = 0 if spec.case_sensitive else regex.IGNORECASE
    try:
        found = regex.search(spec.pattern or "", sample.output, flags=flags, timeout=REGEX_TIMEOUT_S)
    except TimeoutError:
        return Score(0.0, f"The pattern took longer than {REGEX_TIMEOUT_S} s on this answer.")
    return Score(float(found is not None))


def _json(text: str) -> tuple[bool, Any]:
    stripped = text.strip()
    if stripped.startswith("```"):  # a fenced block: its body
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        return True, json.loads(stripped)
    except ValueError:
        return False, None


def json_valid(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    ok, _ = _json(sample.output)
    return Score(float(ok), "" if ok else "The answer is not valid JSON.")


def json_schema(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    from jsonschema import Draft202012Validator

    ok, value = _json(sample.output)
    if not ok:
        return Score(0.0, "The answer is not valid JSON.")
    errors = list(Draft202012Validator(spec.json_schema or {}).iter_errors(value))
    return Score(float(not errors), "; ".join(error.message for error in errors[:3]))


def length(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    size = len(sample.output)
    ok = (spec.min is None or size >= spec.min) and (spec.max is None or size <= spec.max)
    return Score(float(ok), f"{size} characters")


def latency(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    if sample.latency_ms is None:
        return Score(None, "No latency recorded.")
    return Score(float(sample.latency_ms <= (spec.max_latency_ms or 0)), f"{sample.latency_ms:.0f} ms")


def cost(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    return Score(float(sample.cost <= (spec.max_cost or 0)), f"{sample.cost:.6f}")


@cache
def _rouge() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    """ROUGE-L F-measure (longest common subsequence), rouge-score's tokenizer."""
    result = _rouge().score(_reference(spec, sample), sample.output)["rougeL"]
    return Score(float(result.fmeasure))


def bleu(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    """sacrebleu's sentence BLEU (exponential smoothing) / 100."""
    import sacrebleu

    return Score(float(sacrebleu.sentence_bleu(sample.output, [_reference(spec, sample)]).score) / 100)


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def embedding_scorer(embed: Callable[[list[str]], list[list[float]]]) -> Callable[[EvaluatorSpec, SampleInput], Score]:
    """Cosine similarity of the answer and the reference, with the knowledge base's embedding
    model (negative similarity counts as 0)."""

    def score(spec: EvaluatorSpec, sample: SampleInput) -> Score:
        answer, reference = embed([sample.output, _reference(spec, sample)])
        return Score(max(0.0, min(1.0, _cosine(answer, reference))))

    return score


def bertscore(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    """BERTScore needs its model (roberta-large by default) and `bert-score`; neither ships
    offline with Trellis, and nothing downloads weights at run time: not scored, said why."""
    try:
        import bert_score  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return Score(None, "BERTScore is not available: install bert-score and its model on this server.")
    return Score(None, "BERTScore's model is not available offline on this server.")


def _source_keys(citation: dict[str, Any]) -> set[str]:
    keys = {str(citation.get(name)).casefold() for name in ("document", "title", "url") if citation.get(name)}
    return {key for key in keys if key}


def _relevant(sample: SampleInput) -> list[bool]:
    """For each cited/retrieved source in rank order: is it one of the expected sources?"""
    expected = {source.casefold() for source in sample.expected_sources}
    return [bool(_source_keys(citation) & expected) for citation in sample.citations]


def hit_at_k(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    if not sample.expected_sources:
        return Score(None, "The item names no expected sources.")
    return Score(float(any(_relevant(sample)[: spec.k])))


def mrr(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    if not sample.expected_sources:
        return Score(None, "The item names no expected sources.")
    for rank, relevant in enumerate(_relevant(sample)[: spec.k], start=1):
        if relevant:
            return Score(1 / rank)
    return Score(0.0)


def context_precision(spec: EvaluatorSpec, sample: SampleInput) -> Score:
    """Mean precision@i over the ranks i that hold an expected source (RAGAS's definition)."""
    if not sample.expected_sources:
        return Score(None, "The item names no expected sources.")
    relevant = _relevant(sample)[: spec.k]
    if not relevant:
        return Score(0.0, "Nothing was retrieved.")
    hits, total = 0, 0.0
    for rank, is_relevant in enumerate(relevant, start=1):
        if is_relevant:
            hits += 1
            total += hits / rank
    return Score(total / hits if hits else 0.0)


SYNC_SCORERS: dict[str, Callable[[EvaluatorSpec, SampleInput], Score]] = {
    "exact": exact,
    "contains": contains,
    "regex": regex_match,
    "json_valid": json_valid,
    "json_schema": json_schema,
    "length": length,
    "latency": latency,
    "cost": cost,
    "rouge_l": rouge_l,
    "bleu": bleu,
    "bertscore": bertscore,
    "hit_at_k": hit_at_k,
    "mrr": mrr,
    "context_precision": context_precision,
}


def preload(kinds: set[str]) -> None:
    """Import the scoring libraries these evaluators need (rouge-score pulls in nltk and
    scikit-learn: seconds of imports). An evaluation job does it before its first run, off the
    event loop, so the first score does not stall every sample in flight; a worker pays it once."""
    if "rouge_l" in kinds:
        _rouge()
    if "bleu" in kinds:
        import sacrebleu  # noqa: F401
