"""Real files through the sandboxed parser, the real embedding model and real pgvector search."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apps.knowledge.models import Chunk, Document, DocumentStatus, KnowledgeBase
from apps.knowledge.search import SearchFilters, knowledge_search
from apps.knowledge.services import document_delete, document_replace, document_upload, knowledge_base_update
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)

QUESTIONS = {
    "permits.pdf": ("How much does the aurora observation permit cost?", "forty two crowns", 2, []),
    "council.docx": ("When do beekeepers register their hives?", "spring equinox", None, []),
    "coast.md": (
        "Who turns the fresnel lens in a storm?",
        "fresnel lens",
        None,
        ["Coastal handbook", "Lighthouse", "Storm duty"],
    ),
    "tours.html": ("When do glacier tours depart?", "blue hut at dawn", None, ["Mountain tours", "Glacier walks"]),
}


@pytest.fixture
def loaded_kb(org_a: Member, make_kb: Callable[..., KnowledgeBase]) -> KnowledgeBase:
    kb = make_kb(org_a, chunk_size=64, chunk_overlap=8)
    document_upload(access=org_a.access, knowledge_base_id=kb.id, files=files.good_files())
    assert ingest_pending(kb) == ["ready"] * 4
    return kb


def test_ingest_search_finds_known_passage_in_every_format_by_every_mode(loaded_kb: KnowledgeBase) -> None:
    documents = {d.name: d for d in Document.objects.filter(knowledge_base=loaded_kb)}
    assert documents["permits.pdf"].page_count == 3
    for name, (question, passage, page, headings) in QUESTIONS.items():
        for mode in ("vector", "keyword", "hybrid"):
            hits = knowledge_search(knowledge_base=loaded_kb, query=question, k=3, mode=mode).hits
            assert hits, f"{mode}: nothing for {name}"
            top = hits[0]
            assert passage in top.text, f"{mode} {name}: {top.document_name} {top.text[:80]!r}"
            assert top.document_id == str(documents[name].id)
            assert top.page == page
            assert top.heading_path == headings
            assert top.chunk_id == Chunk.objects.get(pk=top.chunk_id, document=documents[name]).pk
            assert 0 < top.score <= 1


def test_ingest_search_filters_and_threshold(loaded_kb: KnowledgeBase) -> None:
    pdf = Document.objects.get(knowledge_base=loaded_kb, name="permits.pdf")
    question = "When do glacier tours depart?"
    only_pdf = knowledge_search(
        knowledge_base=loaded_kb, query=question, k=5, mode="hybrid", filters=SearchFilters(documents=[str(pdf.id)])
    )
    assert only_pdf.hits and {h.document_id for h in only_pdf.hits} == {str(pdf.id)}
    by_type = knowledge_search(
        knowledge_base=loaded_kb, query=question, k=5, mode="vector", filters=SearchFilters(file_types=["html"])
    )
    assert by_type.hits and {h.file_type for h in by_type.hits} == {"html"}
    strict = knowledge_search(knowledge_base=loaded_kb, query=question, k=5, mode="vector", score_threshold=0.99)
    assert strict.hits == []
    assert "glacier" in knowledge_search(knowledge_base=loaded_kb, query=question, k=1, mode="keyword").terms


def test_ingest_same_file_twice_does_not_duplicate(org_a: Member, loaded_kb: KnowledgeBase) -> None:
    chunks = Chunk.objects.filter(knowledge_base=loaded_kb).count()
    again = document_upload(
        access=org_a.access, knowledge_base_id=loaded_kb.id, files=[files.upload("copy.pdf", files.pdf_bytes())]
    )
    assert [u.created for u in again] == [False]
    assert again[0].document.name == "permits.pdf"
    assert ingest_pending(loaded_kb) == []
    assert Chunk.objects.filter(knowledge_base=loaded_kb).count() == chunks


def test_ingest_replace_delete_and_reindex(org_a: Member, loaded_kb: KnowledgeBase) -> None:
    md = Document.objects.get(knowledge_base=loaded_kb, name="coast.md")
    new_passage = "The ferry to the outer islands leaves at noon on Thursdays."
    document_replace(
        access=org_a.access,
        knowledge_base_id=loaded_kb.id,
        document_id=md.id,
        file=files.upload("coast.md", files.markdown_bytes(new_passage)),
    )
    md.refresh_from_db()
    assert (md.version, md.status) == (2, DocumentStatus.QUEUED)
    # Until the new version is ready, searches answer from the old one.
    old = knowledge_search(knowledge_base=loaded_kb, query="fresnel lens storm", k=1, mode="keyword").hits
    assert old and old[0].document_id == str(md.id)
    assert ingest_pending(loaded_kb) == ["ready"]
    hits = knowledge_search(knowledge_base=loaded_kb, query="When does the ferry leave?", k=1, mode="hybrid").hits
    assert "ferry" in hits[0].text
    assert set(Chunk.objects.filter(document=md).values_list("document_version", flat=True)) == {2}
    assert not knowledge_search(knowledge_base=loaded_kb, query="fresnel", k=3, mode="keyword").hits

    before = Chunk.objects.filter(knowledge_base=loaded_kb).count()
    knowledge_base_update(access=org_a.access, knowledge_base_id=loaded_kb.id, chunk_size=128, chunk_strategy="token")
    assert Document.objects.filter(knowledge_base=loaded_kb, status=DocumentStatus.QUEUED).count() == 4
    assert ingest_pending(loaded_kb) == ["ready"] * 4
    after = Chunk.objects.filter(knowledge_base=loaded_kb)
    assert 0 < after.count() < before
    assert after.filter(active=False).count() == 0

    document_delete(access=org_a.access, knowledge_base_id=loaded_kb.id, document_id=md.id)
    assert not Chunk.objects.filter(document_id=md.id).exists()
    assert not Document.objects.filter(pk=md.id).exists()
