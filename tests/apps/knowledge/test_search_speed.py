"""Hybrid search's speed-ups keep its results: the fp32 ONNX query embedder gives torch's vectors
(the chunks' space), and the keyword half run beside the vector half (its own pooled connection)
returns exactly the fusion of the two halves run one after the other. Real model, real database."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection, transaction

from apps.knowledge import warmup
from apps.knowledge.embeddings import LocalEmbedder
from apps.knowledge.models import KnowledgeBase
from apps.knowledge.query_embedder import EMBEDDER_ID, embed_query, folder, query_embedder
from apps.knowledge.search import _vector_ranked, knowledge_search
from apps.knowledge.services import document_upload
from apps.knowledge.warmup import search_warm_up, start_search_warm_up
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)

QUERIES = [
    "How do I rotate the API key?",
    "otters",
    "Wie setze ich das Passwort zurück, wenn die E-Mail nicht ankommt?",
    "知识库如何分块",
    "What does frobnicate_headers return when the header block is empty and the reader is closed? " * 12,
    "   leading spaces, UPPER case and punctuation!!! ???",
]

PAGES = {
    f"page-{i}.md": f"# {title}\n\n{body}"
    for i, (title, body) in enumerate(
        [
            ("Otters", "Sea otters float on their backs and crack shellfish open with stones."),
            ("Beavers", "Beavers build dams of branches and mud across slow streams."),
            ("Keys", "Rotate an API key under Settings; the old key stops working at once."),
            ("Passwords", "A forgotten password is reset through the link sent by e-mail."),
            ("Chunking", "Documents are split into chunks along headings, then sentences."),
            ("Headers", "The function frobnicate_headers parses the raw header block into a dictionary."),
            ("Rivers", "Streams carry sediment downstream; otters and beavers live along them."),
            ("Billing", "Invoices are sent monthly; a failed payment is retried three times."),
        ]
    )
}


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def test_onnx_query_vectors_are_torchs() -> None:
    embedder = query_embedder()
    assert embedder is not None, "the fp32 ONNX export must load"
    assert (folder() / "embedder.json").read_text().count(EMBEDDER_ID) == 1
    torch_vectors = LocalEmbedder().embed(QUERIES)
    for query, expected in zip(QUERIES, torch_vectors, strict=True):
        vector = embed_query(query)
        assert len(vector) == len(expected) == 384
        assert abs(math.sqrt(sum(x * x for x in vector)) - 1) < 1e-5
        assert _cosine(vector, expected) >= 0.9999, query
        assert max(abs(x - y) for x, y in zip(vector, expected, strict=True)) < 2e-3, query


def _kb(member: Member, make_kb: Callable[..., KnowledgeBase]) -> KnowledgeBase:
    kb = make_kb(member, chunk_size=128, chunk_overlap=0)
    uploads = [files.upload(name, text.encode()) for name, text in PAGES.items()]
    document_upload(access=member.access, knowledge_base_id=kb.id, files=uploads)
    assert set(ingest_pending(kb)) == {"ready"}
    return kb


def test_onnx_query_ranks_chunks_as_torch(org_a: Member, make_kb: Callable[..., KnowledgeBase]) -> None:
    kb = _kb(org_a, make_kb)
    for query in QUERIES:
        by_torch = _vector_ranked(kb, LocalEmbedder().embed([query])[0], _no_filters(), 10)
        by_onnx = _vector_ranked(kb, embed_query(query), _no_filters(), 10)
        assert [chunk_id for chunk_id, _ in by_onnx] == [chunk_id for chunk_id, _ in by_torch], query
        for (_, a), (_, b) in zip(by_onnx, by_torch, strict=True):
            assert abs(a - b) < 1e-4


@contextmanager
def _statements_here() -> Iterator[list[str]]:
    """The SQL this thread's connection runs meanwhile (another thread's connection is not seen)."""
    seen: list[str] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield seen


def _hits(result: Any) -> list[tuple[int, float, int | None, int | None, str]]:
    return [(h.chunk_id, h.score, h.vector_rank, h.keyword_rank, h.passage) for h in result.hits]


def test_concurrent_halves_return_the_sequential_fusion(org_a: Member, make_kb: Callable[..., KnowledgeBase]) -> None:
    kb = _kb(org_a, make_kb)
    for query in ["otters and beavers", "How do I reset a forgotten password?", "frobnicate_headers", "zzzz"]:
        with _statements_here() as sequential_sql:
            sequential = knowledge_search(knowledge_base=kb, query=query, k=5, mode="hybrid", concurrent=False)
        with _statements_here() as concurrent_sql:
            concurrent = knowledge_search(knowledge_base=kb, query=query, k=5, mode="hybrid")
        assert _hits(concurrent) == _hits(sequential), query
        assert concurrent.terms == sequential.terms
        # one after the other, the BM25 statements ran on this thread's connection; beside the
        # vector half, on another one
        assert any("knowledge_keywordcorpus" in sql for sql in sequential_sql)
        assert not any("knowledge_keywordcorpus" in sql for sql in concurrent_sql)
    assert _hits(knowledge_search(knowledge_base=kb, query="otters", k=3))[0][0] in {
        h.chunk_id for h in knowledge_search(knowledge_base=kb, query="otters", k=3, mode="vector").hits
    } | {h.chunk_id for h in knowledge_search(knowledge_base=kb, query="otters", k=3, mode="keyword").hits}


def test_inside_a_transaction_the_halves_run_on_its_connection(
    org_a: Member, make_kb: Callable[..., KnowledgeBase]
) -> None:
    """Another connection would not see the transaction's uncommitted chunks."""
    kb = _kb(org_a, make_kb)
    outside = knowledge_search(knowledge_base=kb, query="otters and beavers", k=5)
    with transaction.atomic(), _statements_here() as sql:
        inside = knowledge_search(knowledge_base=kb, query="otters and beavers", k=5)
    assert _hits(inside) == _hits(outside)
    assert any("knowledge_keywordcorpus" in statement for statement in sql)


def test_search_warm_up_is_bounded_and_runs_in_the_background(
    org_a: Member, make_kb: Callable[..., KnowledgeBase]
) -> None:
    _kb(org_a, make_kb)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knowledge_chunk")
    small = search_warm_up()  # the suite's few chunks: below WARM_MIN_CHUNKS, nothing is read
    assert small.skipped and small.read_pages == small.touched_pages == 0 and not small.steps

    nothing_left = search_warm_up(min_chunks=1, budget_pages=0)  # the budget spent: no walk, no heap
    assert [step.split(":")[0] for step in nothing_left.steps] == ["knowledge_keywordcorpus", "knowledge_keywordterm"]

    thread = start_search_warm_up(min_chunks=1)  # what a queue worker starts: returns at once
    assert thread.daemon
    thread.join(timeout=120)
    assert not thread.is_alive()
    report = warmup.last_report
    assert report is not None and not report.skipped
    assert report.budget_pages > 0 and report.read_pages <= report.budget_pages
    assert any(step.startswith("chunk_embedding_hnsw_384 (") for step in report.steps), report.steps
    assert any(step.startswith("knowledge_chunk heap (") for step in report.steps), report.steps
    assert report.touched_pages > 0

    # one process at a time: while this connection holds the lock, another one skips
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [warmup.LOCK_KEY])
        try:
            start_search_warm_up(min_chunks=1).join(timeout=60)
            assert warmup.last_report is not None and warmup.last_report.skipped == "another process is warming"
        finally:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [warmup.LOCK_KEY])


def _no_filters() -> Any:
    from apps.knowledge.search import SearchFilters

    return SearchFilters()
