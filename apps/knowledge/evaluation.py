"""A knowledge base's test questions: each names the documents that should answer it; running them
reports hit@1, hit@5, hit@k, MRR@k and latency per search mode, with the ranking parameters of the
request (BM25 k1/b, fusion weights and depth) so a user can tune them before saving them.

The questions are kept on the base (`KnowledgeBase.test_questions`); an uploaded set can also be
run once without saving, and so can a version of an evaluation dataset (apps/evaluation: its items'
messages with their expected sources), read through the question-set provider that app registers
(this layer never imports it). An expected document is named by its id, its name, its title or (for a
source's document) its URL or path; a name that matches no document is reported, not guessed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps.config.errors import InvalidInput
from apps.knowledge.models import Document, KnowledgeBase
from apps.knowledge.search import HYBRID_DEPTH, KEYWORD_WEIGHT, MODES, VECTOR_WEIGHT, knowledge_search

MAX_QUESTIONS = 200
MAX_EXPECTED = 20

# (organization, dataset id, version number or None for the latest) -> [{"question", "expected"}]
QuestionSetProvider = Callable[[Any, str, int | None], list[dict[str, Any]]]
_question_sets: list[QuestionSetProvider] = []


def question_set_register(provider: QuestionSetProvider) -> None:
    """apps.evaluation plugs its datasets in here (AppConfig.ready)."""
    if provider not in _question_sets:
        _question_sets.append(provider)


def dataset_questions(organization: Any, dataset_id: str, version: int | None) -> list[dict[str, Any]]:
    """The questions of an evaluation dataset version of `organization` (NotFound for another
    tenant's dataset, InvalidInput when the version has no item with expected sources)."""
    if not _question_sets:
        raise InvalidInput("Evaluation datasets are not available on this server.", code="datasets_unavailable")
    return _question_sets[0](organization, dataset_id, version)


@dataclass(frozen=True)
class Tuning:
    k: int = 10
    bm25_k1: float | None = None
    bm25_b: float | None = None
    vector_weight: float = VECTOR_WEIGHT
    keyword_weight: float = KEYWORD_WEIGHT
    depth: int = HYBRID_DEPTH
    rerank: str | None = None


@dataclass
class ModeScore:
    mode: str
    questions: int
    hit_at_1: float
    hit_at_5: float
    hit_at_k: float
    mrr: float
    p50_ms: float
    p95_ms: float


@dataclass
class QuestionResult:
    question: str
    expected: list[str]
    unmatched: list[str]
    ranks: dict[str, int | None] = field(default_factory=dict)


def clean_questions(raw: Any) -> list[dict[str, Any]]:
    """[{"question", "expected": [..]}] checked and trimmed; InvalidInput names the bad row."""
    if not isinstance(raw, list):
        raise InvalidInput("Send the questions as a list.", code="invalid_questions")
    if len(raw) > MAX_QUESTIONS:
        raise InvalidInput(f"At most {MAX_QUESTIONS} questions.", code="too_many_questions")
    cleaned = []
    for number, row in enumerate(raw, start=1):
        question = str(row.get("question", "")).strip() if isinstance(row, dict) else ""
        expected = row.get("expected") if isinstance(row, dict) else None
        if isinstance(expected, str):
            expected = [expected]
        if not question or not isinstance(expected, list) or not any(str(e).strip() for e in expected):
            raise InvalidInput(
                f"Question {number} needs a question and at least one expected document.", code="invalid_questions"
            )
        names = [str(e).strip()[:2000] for e in expected if str(e).strip()][:MAX_EXPECTED]
        cleaned.append({"question": question[:2000], "expected": names})
    return cleaned


def _document_index(knowledge_base: KnowledgeBase) -> dict[str, str]:
    """Every way a question may name a document -> the document's id (lower-cased names)."""
    index: dict[str, str] = {}
    rows = Document.objects.filter(
        knowledge_base=knowledge_base, organization_id=knowledge_base.organization_id
    ).values_list("id", "name", "title", "source_key")
    for document_id, name, title, key in rows:
        for label in (str(document_id), name, title, key):
            if label:
                index.setdefault(label.strip().lower(), str(document_id))
    return index


def evaluate(
    *, knowledge_base: KnowledgeBase, questions: list[dict[str, Any]], modes: list[str], tuning: Tuning
) -> tuple[list[ModeScore], list[QuestionResult]]:
    if not questions:
        raise InvalidInput("Add test questions first.", code="no_questions")
    if not modes or any(mode not in MODES for mode in modes):
        raise InvalidInput(f"Modes are {', '.join(MODES)}.", code="invalid_mode")
    # Tuning applies to this run only: the base in memory is changed, never saved.
    knowledge_base = KnowledgeBase.objects.select_related("organization").get(pk=knowledge_base.pk)
    if tuning.bm25_k1 is not None:
        knowledge_base.bm25_k1 = tuning.bm25_k1
    if tuning.bm25_b is not None:
        knowledge_base.bm25_b = tuning.bm25_b
    index = _document_index(knowledge_base)
    results = []
    for row in questions:
        unmatched = [name for name in row["expected"] if name.lower() not in index]
        results.append(QuestionResult(row["question"], row["expected"], unmatched))
    scores = []
    for mode in modes:
        times: list[float] = []
        for result, row in zip(results, questions, strict=True):
            wanted = {index[name.lower()] for name in row["expected"] if name.lower() in index}
            start = time.perf_counter()
            hits = knowledge_search(
                knowledge_base=knowledge_base,
                query=result.question,
                k=tuning.k,
                mode=mode,
                vector_weight=tuning.vector_weight,
                keyword_weight=tuning.keyword_weight,
                depth=tuning.depth,
                rerank=tuning.rerank,
            ).hits
            times.append((time.perf_counter() - start) * 1000)
            result.ranks[mode] = next(
                (rank for rank, hit in enumerate(hits, start=1) if str(hit.document_id) in wanted), None
            )
        scores.append(_score(mode, [r.ranks[mode] for r in results], times, tuning.k))
    return scores, results


def _score(mode: str, ranks: list[int | None], times: list[float], k: int) -> ModeScore:
    count = len(ranks)

    def hit_at(n: int) -> float:
        return round(sum(1 for r in ranks if r is not None and r <= n) / count, 4)

    ordered = sorted(times)
    return ModeScore(
        mode=mode,
        questions=count,
        hit_at_1=hit_at(1),
        hit_at_5=hit_at(5),
        hit_at_k=hit_at(k),
        mrr=round(sum(1 / r for r in ranks if r is not None) / count, 4),
        p50_ms=round(statistics.median(ordered), 1),
        p95_ms=round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
    )
