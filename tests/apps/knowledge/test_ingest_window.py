"""The pipeline embeds the next queued documents together, in one call on the local embedder
(ingestion.EMBED_AHEAD of them): each chunk is stored with its own vector, in its document's
order; a bad document in the window fails alone with its reason; each document's job still
writes its own batches and progress events, one document after the other."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
import pytest

from apps.knowledge import ingestion, realtime
from apps.knowledge.embeddings import BATCH_SIZE, LocalEmbedder, local_passes
from apps.knowledge.ingestion import document_ingest
from apps.knowledge.models import Chunk, Document, DocumentStatus, KnowledgeBase
from tests.apps.knowledge import files
from tests.apps.knowledge.test_ingest_pipeline import _assert_same, _ingest, _page, _stored, _upload
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)


def _long_page(seed: int, paragraphs: int = 40) -> bytes:
    """More than one batch (BATCH_SIZE chunks) at a chunk size of 32 tokens."""
    body = "".join(f"<p>Part {seed}.{i}. {files.FILLER}</p>" for i in range(paragraphs))
    return f"<html><body><h1>Long page {seed}</h1>{body}</body></html>".encode()


def test_the_next_documents_are_embedded_in_one_call_and_each_chunk_is_stored_with_its_own_vector(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], serial: Callable[[], None]
) -> None:
    assert ingestion.EMBED_AHEAD == 4
    pages = {f"page{i}.html": _page(i) for i in range(6)}
    piped = make_kb(org_a, name="piped", chunk_size=64, chunk_overlap=8)
    documents = _upload(org_a, piped, pages)
    assert _ingest(documents[0]) == "ready"
    window = [ingestion._prepared[str(d.id)] for d in documents[1:5]]
    assert all(entry.ready.is_set() and entry.vectors for entry in window)
    assert ingestion._prepared[str(documents[5].id)].vectors is None  # beyond the window: parsed and chunked only

    texts = [ingestion._texts(entry.drafts or [], entry.key[3]) for entry in window]
    joined = [text for page in texts for text in page]
    owner = [n for n, page in enumerate(texts) for _ in page]
    # The call's passes mix the documents' chunks (a page's short last chunk with the others').
    assert any(len({owner[i] for i in p}) > 1 for p in local_passes([len(t) for t in joined]))
    one_call = LocalEmbedder().embed(joined)
    assert [v for entry in window for v in entry.vectors or []] == one_call  # bit for bit
    expected = {d.id: (e.drafts or [], e.vectors) for d, e in zip(documents[1:5], window, strict=True)}

    assert [_ingest(d) for d in documents[1:]] == ["ready"] * 5
    for document_id, (drafts, vectors) in expected.items():
        stored = list(Chunk.objects.filter(document_id=document_id, active=True).order_by("ordinal"))
        assert [(c.ordinal, c.text) for c in stored] == [(i, d.text) for i, d in enumerate(drafts)]
        # Each chunk its own vector (stored as float4, as the embedder made them).
        assert np.array_equal(np.asarray([c.embedding for c in stored], np.float32), np.asarray(vectors, np.float32))

    serial()
    alone = make_kb(org_a, name="alone", chunk_size=64, chunk_overlap=8)
    assert [_ingest(d) for d in _upload(org_a, alone, pages)] == ["ready"] * 6
    _assert_same(_stored(piped), _stored(alone))


def test_a_bad_document_in_the_window_fails_alone_with_its_reason_and_the_others_are_embedded_together(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], serial: Callable[[], None]
) -> None:
    uploads = {
        "a.html": _page(0),
        "b.html": _page(1),
        "broken.pdf": b"%PDF-1.7\n" + b"\x00garbage" * 100,
        "empty.html": b"<html><body><nav><a href='/'>Home</a></nav></body></html>",
        "c.html": _page(2),
        "d.html": _page(3),
    }
    kb = make_kb(org_a, name="piped", chunk_size=64, chunk_overlap=8)
    first, good, broken, empty, also_good, last = _upload(org_a, kb, uploads)
    assert _ingest(first) == "ready"
    assert str(broken.id) not in ingestion._prepared  # its parse failed: nothing kept
    assert not getattr(ingestion._prepared.get(str(empty.id)), "vectors", None)  # no text: nothing to embed
    assert all(ingestion._prepared[str(d.id)].vectors for d in (good, also_good))  # embedded together
    assert ingestion._prepared[str(last.id)].vectors is None  # beyond the window

    outcomes = [_ingest(d) for d in (good, broken, empty, also_good, last)]
    assert outcomes == ["ready", "failed", "failed", "ready", "ready"]
    outcome = {d.name: (d.status, d.error_code) for d in Document.objects.filter(knowledge_base=kb)}
    assert outcome == {
        "a.html": (DocumentStatus.READY, ""),
        "b.html": (DocumentStatus.READY, ""),
        "broken.pdf": (DocumentStatus.FAILED, "corrupt_file"),
        "empty.html": (DocumentStatus.FAILED, "no_text"),
        "c.html": (DocumentStatus.READY, ""),
        "d.html": (DocumentStatus.READY, ""),
    }
    assert not Chunk.objects.filter(document_id__in=[broken.id, empty.id]).exists()  # nothing half-written

    serial()
    alone = make_kb(org_a, name="alone", chunk_size=64, chunk_overlap=8)
    good_pages = {name: data for name, data in uploads.items() if name not in ("broken.pdf", "empty.html")}
    assert [_ingest(d) for d in _upload(org_a, alone, good_pages)] == ["ready"] * 4
    _assert_same(_stored(kb), _stored(alone))


def _progress_events(listener: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    return [json.loads(n.payload) for n in listener.notifies(timeout=2.0)]


def test_each_document_sends_its_own_progress_per_batch_one_document_after_the_other(
    org_a: Member, make_kb: Callable[..., KnowledgeBase]
) -> None:
    kb = make_kb(org_a, chunk_size=32, chunk_overlap=0)
    pages = {"a.html": _page(0), "b.html": _long_page(1), "c.html": _long_page(2), "d.html": _page(3)}
    documents = _upload(org_a, kb, pages)
    with psycopg.connect(autocommit=True, **realtime._conninfo()) as listener:
        listener.execute(f"LISTEN {realtime.CHANNEL}")
        outcomes = [document_ingest(d.id, d.generation) for d in documents]  # as the queue worker runs them
        ingestion.pipeline_drain()
        events = [e for e in _progress_events(listener) if e["knowledge_base"] == str(kb.id)]
    assert outcomes == ["ready"] * 4

    order = [e["document"] for e in events]
    assert [d for i, d in enumerate(order) if i == 0 or order[i - 1] != d] == [str(d.id) for d in documents]
    for document in documents:
        document.refresh_from_db()
        total = document.chunk_count
        mine = [e for e in events if e["document"] == str(document.id)]
        embedding = [e["progress"] for e in mine if e["status"] == DocumentStatus.EMBEDDING]
        batches = [min(total, k * BATCH_SIZE) for k in range(math.ceil(total / BATCH_SIZE) + 1)]
        assert embedding == [round(ingestion._progress(done, total), 4) for done in batches]
        assert (mine[-1]["status"], mine[-1]["progress"], mine[-1]["chunk_count"]) == (DocumentStatus.READY, 1.0, total)
    assert min(d.chunk_count for d in documents[1:3]) > BATCH_SIZE  # the long pages took several batches
    assert np.all([ingestion._prepared.get(str(d.id)) is None for d in documents])
