"""Tenant isolation: the API (404 for another tenant's ids) and the approximate index (no row
of another tenant, and still k results when the tenant is a small fraction of the table)."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest
from django.db import connection

from apps.knowledge.models import Chunk, Document, KnowledgeBase
from apps.knowledge.search import knowledge_search
from apps.knowledge.services import document_upload
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member

WORDS = [
    "aurora",
    "permit",
    "crowns",
    "beekeeper",
    "hive",
    "council",
    "lighthouse",
    "lens",
    "storm",
    "glacier",
    "tour",
    "dawn",
    "harbour",
    "ferry",
]


def _filler_rows(kb: KnowledgeBase, document: Document, count: int) -> None:
    """Many chunks of the other tenant, so ours are a small fraction of what the index holds."""
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(count, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    Chunk.objects.bulk_create(
        [
            Chunk(
                organization_id=kb.organization_id,
                knowledge_base=kb,
                document=document,
                file_type=document.file_type,
                generation=document.generation,
                document_version=1,
                ordinal=10_000 + i,
                active=True,
                text=" ".join(random.choices(WORDS, k=12)),
                embedding=vectors[i].tolist(),
                dims=384,
            )
            for i in range(count)
        ],
        batch_size=1000,
    )


@pytest.mark.django_db(transaction=True)
def test_isolation_search_never_returns_another_tenants_rows_and_keeps_k(
    org_a: Member, org_b: Member, make_kb: Callable[..., KnowledgeBase]
) -> None:
    kb_a, kb_b = make_kb(org_a, chunk_size=48, chunk_overlap=0), make_kb(org_b, chunk_size=48, chunk_overlap=0)
    for member, kb in ((org_a, kb_a), (org_b, kb_b)):
        document_upload(access=member.access, knowledge_base_id=kb.id, files=files.good_files())
        assert ingest_pending(kb) == ["ready"] * 4
    _filler_rows(kb_b, Document.objects.filter(knowledge_base=kb_b).first(), 6000)  # type: ignore[arg-type]
    own = set(Chunk.objects.filter(knowledge_base=kb_a).values_list("id", flat=True))
    assert len(own) / Chunk.objects.count() < 0.02
    k = 10
    assert len(own) >= k
    with connection.cursor() as cursor:  # make the planner take the HNSW index, not an exact sort
        cursor.execute("SET enable_sort = off")
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM knowledge_chunk c WHERE c.dims = 384 AND c.organization_id = %s "
            "AND c.knowledge_base_id = %s AND c.active ORDER BY c.embedding::vector(384) <=> %s::vector(384) LIMIT 10",
            [kb_a.organization_id, kb_a.id, "[" + ",".join(["0.05"] * 384) + "]"],
        )
        assert "chunk_embedding_hnsw_384" in " ".join(row[0] for row in cursor.fetchall())
    rng = random.Random(5)
    try:
        for i in range(1000):
            query = " ".join(rng.choices(WORDS, k=rng.randint(1, 5)))
            mode = ("vector", "hybrid", "keyword")[i % 3]
            hits = knowledge_search(knowledge_base=kb_a, query=query, k=k, mode=mode).hits
            assert {hit.chunk_id for hit in hits} <= own, f"query {i} {query!r} ({mode}) leaked"
            if mode != "keyword":  # keyword returns only chunks containing a query word
                assert len(hits) == k, f"query {i} {query!r} ({mode}) returned {len(hits)}"
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_sort; RESET enable_seqscan")


@pytest.fixture
def victim_kb(org_b: Member, make_kb: Callable[..., KnowledgeBase]) -> tuple[KnowledgeBase, Document]:
    kb = make_kb(org_b, name="Secret")
    [upload] = document_upload(
        access=org_b.access, knowledge_base_id=kb.id, files=[files.upload("notes.md", files.markdown_bytes())]
    )
    return kb, upload.document


@pytest.mark.django_db
def test_isolation_other_tenant_knowledge_ids_answer_404(
    org_a: Member, victim_kb: tuple[KnowledgeBase, Document], make_kb: Callable[..., KnowledgeBase]
) -> None:
    kb, doc = victim_kb
    own = make_kb(org_a, name="Mine")
    b, a = kb.organization_id, org_a.organization.id
    client = org_a.client()
    attacks = [
        ("get", f"/api/v1/orgs/{b}/knowledge-bases/", {}),
        ("post", f"/api/v1/orgs/{b}/knowledge-bases/", {"name": "x"}),
        ("get", f"/api/v1/orgs/{b}/knowledge-bases/{kb.id}/", {}),
        ("patch", f"/api/v1/orgs/{a}/knowledge-bases/{kb.id}/", {"name": "pwned"}),
        ("delete", f"/api/v1/orgs/{a}/knowledge-bases/{kb.id}/", {}),
        ("post", f"/api/v1/orgs/{a}/knowledge-bases/{kb.id}/reindex/", {}),
        ("post", f"/api/v1/orgs/{a}/knowledge-bases/{kb.id}/search/", {"query": "lens"}),
        ("post", f"/api/v1/orgs/{b}/knowledge-bases/{kb.id}/search/", {"query": "lens"}),
        ("post", f"/api/v1/orgs/{b}/knowledge-bases/chunk-preview/", {"text": "x"}),
        ("post", f"/api/v1/orgs/{a}/knowledge-bases/{kb.id}/chunk-preview/", {"text": "x"}),
        ("post", f"/api/v1/orgs/{a}/knowledge-bases/{own.id}/chunk-preview/", {"document": str(doc.id)}),
        ("get", f"/api/v1/orgs/{a}/knowledge-bases/{kb.id}/documents/", {}),
        ("get", f"/api/v1/orgs/{a}/knowledge-bases/{own.id}/documents/{doc.id}/", {}),
        ("delete", f"/api/v1/orgs/{a}/knowledge-bases/{own.id}/documents/{doc.id}/", {}),
        ("delete", f"/api/v1/orgs/{a}/knowledge-bases/{kb.id}/documents/{doc.id}/", {}),
        ("post", f"/api/v1/orgs/{a}/knowledge-bases/{own.id}/documents/{doc.id}/retry/", {}),
        ("get", f"/api/v1/orgs/{a}/knowledge-bases/{own.id}/documents/{doc.id}/chunks/", {}),
        ("get", f"/api/v1/orgs/{b}/knowledge-bases/{kb.id}/documents/{doc.id}/chunks/", {}),
    ]
    for method, url, body in attacks:
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
    upload = client.post(
        f"/api/v1/orgs/{a}/knowledge-bases/{kb.id}/documents/",
        {"files": [files.upload("x.md", b"# hi")]},
        format="multipart",
    )
    assert upload.status_code == 404
    replace = client.post(
        f"/api/v1/orgs/{a}/knowledge-bases/{own.id}/documents/{doc.id}/replace/",
        {"file": files.upload("x.md", b"# hi")},
        format="multipart",
    )
    assert replace.status_code == 404
    kb.refresh_from_db()
    assert kb.name == "Secret"
    assert Document.objects.filter(knowledge_base=kb).count() == 1
