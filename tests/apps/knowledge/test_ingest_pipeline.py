"""The ingestion pipeline (ingestion.ParseAhead): the next queued documents are parsed, chunked
and embedded (several documents in one call) while a job builds its own. What it stores must be
what the job alone stores (the same chunks; vectors to float rounding: one call's passes mix
documents); what it prepared from other inputs is never used; a failing batch still fails the
document with its reason and leaves nothing searchable half-written."""

from __future__ import annotations

import platform
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db import connection

from apps.knowledge import ingestion
from apps.knowledge.chunking import ChunkSettings, chunk_sections
from apps.knowledge.embeddings import (
    LOCAL_PASS_SIZE,
    LOCAL_SWITCH_INTERVAL_S,
    LocalEmbedder,
    _local_encode,
    _local_model,
    _local_thread,
    keep_freed_memory,
    local_passes,
)
from apps.knowledge.ingestion import document_ingest
from apps.knowledge.keywords import stats_rebuild
from apps.knowledge.models import Chunk, Document, DocumentStatus, KnowledgeBase
from apps.knowledge.parsing import Section, parse_in_sandbox
from apps.knowledge.services import document_delete, document_upload
from apps.serving.models import ModelKind
from apps.serving.services import model_endpoint_create
from tests.apps.knowledge import files
from tests.conftest import Member
from tests.support.egress import allow_egress
from tests.support.embedding_server import EmbeddingServer

pytestmark = pytest.mark.django_db(transaction=True)


def _page(seed: int) -> bytes:
    """A text-heavy manual page, as the ingestion bench's: navigation, headings, a table, a footer."""
    nav = " ".join(f'<a href="/p{i}.html">Page {i}</a>' for i in range(8))
    body = "".join(
        f"<h2 id='s{i}'>Section {seed}.{i}</h2><p>{files.FILLER} Part {seed}.{i} explains option{i}.</p>"
        for i in range(4)
    )
    rows = "".join(f"<tr><td>option{i}</td><td>Sets the level of part {seed}.{i}.</td></tr>" for i in range(4))
    return (
        f"<html><head><title>Manual page {seed}</title></head><body><nav>{nav}</nav><main>"
        f"<h1>Manual page {seed}</h1>{body}<table><tr><th>Option</th><th>Meaning</th></tr>{rows}</table>"
        f"</main><footer>Copyright the authors.</footer></body></html>"
    ).encode()


def _upload(member: Member, kb: KnowledgeBase, pages: dict[str, bytes]) -> list[Document]:
    uploads = document_upload(
        access=member.access, knowledge_base_id=kb.id, files=[files.upload(n, d) for n, d in pages.items()]
    )
    return sorted((u.document for u in uploads), key=lambda d: (d.created_at, d.id))


def _stored(kb: KnowledgeBase) -> list[tuple[Any, ...]]:
    rows = Chunk.objects.filter(knowledge_base=kb, active=True).order_by("document__name", "ordinal")
    return [
        (
            *(c.document.name, c.ordinal, c.text, c.heading_path, c.start_char, c.end_char, c.token_count),
            *(c.anchor, c.search_text, [float(x) for x in c.embedding]),
        )
        for c in rows.select_related("document")
    ]


# Vectors of the same text from forward passes of other shapes (a call over several documents'
# chunks against one document's) differ by float rounding: at most 1.4e-7 seen (docs/BENCHMARKS.md,
# issue 19); a chunk's vector against another chunk's differs by more than 0.01.
ROUNDING = 1e-6


def _assert_same(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> None:
    """The same chunks field for field, in the same order, and each one's vector to float rounding."""
    assert [row[:-1] for row in got] == [row[:-1] for row in want]
    assert float(np.abs(np.asarray([r[-1] for r in got]) - np.asarray([r[-1] for r in want])).max()) < ROUNDING


def _ingest(document: Document) -> str:
    """One job, then its pipeline waited for (it goes on after the job: the next one's embedding)."""
    outcome = document_ingest(document.id, document.generation)
    ingestion.pipeline_drain()
    return outcome


def test_pipeline_stores_exactly_the_chunks_and_vectors_of_the_job_alone(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], serial: Callable[[], None]
) -> None:
    pages = {f"page{i}.html": _page(i) for i in range(3)}
    piped = make_kb(org_a, name="piped", chunk_size=64, chunk_overlap=8)
    first, second, third = _upload(org_a, piped, pages)
    assert _ingest(first) == "ready"
    ahead = ingestion._prepared[str(second.id)]  # embedded ahead, while the first was written
    assert ahead.ready.is_set() and ahead.drafts and ahead.vectors and len(ahead.vectors) == len(ahead.drafts)
    # At the end of the queue (fewer than EMBED_AHEAD left) one document a call: the next is parsed only.
    assert ingestion._prepared[str(third.id)].drafts and ingestion._prepared[str(third.id)].vectors is None
    assert Document.objects.get(pk=second.id).status == DocumentStatus.QUEUED  # nothing claimed ahead
    assert not Chunk.objects.filter(document_id=second.id).exists()
    assert [_ingest(d) for d in (second, third)] == ["ready", "ready"]
    assert str(second.id) not in ingestion._prepared and str(third.id) not in ingestion._prepared

    serial()
    alone = make_kb(org_a, name="alone", chunk_size=64, chunk_overlap=8)
    assert [_ingest(d) for d in _upload(org_a, alone, pages)] == ["ready"] * 3
    assert not ingestion._prepared
    got, want = _stored(piped), _stored(alone)
    assert len(got) > 3 * 2
    _assert_same(got, want)  # the same chunks, byte for byte, and their vectors


def test_chunks_prepared_from_other_settings_are_not_used(org_a: Member, make_kb: Callable[..., KnowledgeBase]) -> None:
    kb = make_kb(org_a, chunk_size=128, chunk_overlap=8)
    first, second = _upload(org_a, kb, {"a.html": _page(1), "b.html": _page(2)})
    assert _ingest(first) == "ready"
    assert ingestion._prepared[str(second.id)].vectors
    KnowledgeBase.objects.filter(pk=kb.pk).update(chunk_size=48, chunk_overlap=4)  # changed after the preparation
    assert _ingest(second) == "ready"
    second.refresh_from_db()
    expected = chunk_sections([Section.from_stored(s) for s in second.sections or []], ChunkSettings("sentence", 48, 4))
    stored = list(Chunk.objects.filter(document=second).order_by("ordinal").values_list("text", "token_count"))
    assert stored == [(d.text, d.token_count) for d in expected]
    assert max(count for _, count in stored) <= 48


@pytest.fixture
def server() -> Iterator[EmbeddingServer]:
    running = EmbeddingServer().start()
    allow_egress(running.url)
    yield running
    running.stop()


def test_a_failing_batch_fails_the_document_with_its_reason_and_nothing_becomes_searchable(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], server: EmbeddingServer
) -> None:
    model_endpoint_create(
        access=org_a.access, alias="remote", kind=ModelKind.EMBEDDING, base_url=server.url, model="minilm"
    )
    kb = make_kb(org_a, chunk_size=32, chunk_overlap=0, embedding_model="remote")
    long_page = b"<html><body><h1>Long</h1>" + b"".join(b"<p>" + files.FILLER.encode() + b"</p>" for _ in range(40))
    first, second = _upload(org_a, kb, {"a.html": _page(1), "b.html": long_page + b"</body></html>"})
    assert _ingest(first) == "ready"
    prepared = ingestion._prepared[str(second.id)]
    assert prepared.drafts and len(prepared.drafts) > 32 and prepared.vectors is None  # a remote model: not ahead
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(df), 0) FROM knowledge_keywordterm WHERE knowledge_base_id = %s", [kb.id]
        )
        stats_before = cursor.fetchone()

    server.fail_with, server.fail_after = 503, server.requests + 1  # the first batch, then down
    assert _ingest(second) == "failed"
    second.refresh_from_db()
    assert (second.status, second.error_code) == (DocumentStatus.FAILED, "embedding_failed")
    assert "HTTP 503" in second.error_message
    written = Chunk.objects.filter(document=second)
    assert written.count() == 32 and not written.filter(active=True).exists()  # the batch before, kept to resume
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(df), 0) FROM knowledge_keywordterm WHERE knowledge_base_id = %s", [kb.id]
        )
        assert cursor.fetchone() == stats_before  # the statistics count only the searchable chunks
    stats_rebuild(kb.id)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), coalesce(sum(df), 0) FROM knowledge_keywordterm WHERE knowledge_base_id = %s", [kb.id]
        )
        assert cursor.fetchone() == stats_before
    assert set(Chunk.objects.filter(knowledge_base=kb, active=True).values_list("document_id", flat=True)) == {first.id}


def test_jobs_back_to_back_with_the_pipeline_still_running_store_what_the_job_alone_stores(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], serial: Callable[[], None]
) -> None:
    """As the queue worker runs them: each job returns while its pipeline still embeds the next
    document, and the next job takes the vectors when they are ready (or embeds them itself)."""
    pages = {f"page{i}.html": _page(i) for i in range(4)}
    piped = make_kb(org_a, name="piped", chunk_size=64, chunk_overlap=8)
    outcomes = [document_ingest(d.id, d.generation) for d in _upload(org_a, piped, pages)]
    ingestion.pipeline_drain()
    assert outcomes == ["ready"] * 4
    assert not [t.name for t in threading.enumerate() if t.name.startswith("parse-ahead")]  # nothing left running
    assert not ingestion._prepared  # every document's preparation taken by its job

    serial()
    alone = make_kb(org_a, name="alone", chunk_size=64, chunk_overlap=8)
    assert [_ingest(d) for d in _upload(org_a, alone, pages)] == ["ready"] * 4
    got, want = _stored(piped), _stored(alone)
    assert len(got) > 4 * 2
    _assert_same(got, want)


def test_a_document_deleted_while_the_pipeline_embeds_it_gets_nothing_written_and_the_queue_goes_on(
    org_a: Member, make_kb: Callable[..., KnowledgeBase]
) -> None:
    kb = make_kb(org_a, chunk_size=64, chunk_overlap=8)
    first, second, third = _upload(org_a, kb, {f"page{i}.html": _page(i) for i in range(3)})
    assert document_ingest(first.id, first.generation) == "ready"  # its pipeline goes on with the second
    document_delete(access=org_a.access, knowledge_base_id=kb.id, document_id=second.id)
    assert document_ingest(second.id, second.generation) == "skipped"  # its queue message, after the delete
    assert document_ingest(third.id, third.generation) == "ready"
    ingestion.pipeline_drain()
    assert not Document.objects.filter(pk=second.id).exists()
    assert not Chunk.objects.filter(document_id=second.id).exists()
    assert set(Chunk.objects.filter(knowledge_base=kb, active=True).values_list("document_id", flat=True)) == {
        first.id,
        third.id,
    }


def test_the_built_in_models_passes_of_16_give_the_vectors_of_passes_of_32_to_float_rounding() -> None:
    texts = [f"Manual page {i}. " + (files.FILLER * 8)[: 80 + 37 * i] for i in range(40)]  # many lengths
    model = _local_model()
    before = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    now = np.asarray(LocalEmbedder().embed(texts))
    assert LOCAL_PASS_SIZE == 16 and now.shape == before.shape == (40, 384)
    assert float(np.abs(now - before).max()) < 1e-5
    assert float((now * before).sum(axis=1).min()) > 0.99999


def test_local_embeddings_from_many_threads_run_on_one_thread_and_match_the_model() -> None:
    texts = [f"Part {i}: " + files.FILLER for i in range(5)]
    results: list[list[list[float]]] = []
    callers = [threading.Thread(target=lambda: results.append(LocalEmbedder().embed(texts))) for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    direct = _local_model().encode(texts, batch_size=16, normalize_embeddings=True, convert_to_numpy=True)
    assert len(results) == 3 and all(r == results[0] for r in results)
    assert results[0] == [[float(x) for x in row] for row in direct]
    assert len([t for t in threading.enumerate() if t.name.startswith("local-embedder")]) == 1


def test_a_pages_short_last_chunk_gets_a_pass_of_its_own() -> None:
    lengths = [226, 235, 231, 232, 215, 230, 242, 72]  # a bench page's chunks
    assert local_passes(lengths) == [[6, 1, 3, 2, 5, 0, 4], [7]]
    many = [200 - i % 3 for i in range(40)] + [50, 45]
    passes = local_passes(many)
    assert sorted(i for p in passes for i in p) == list(range(42))
    assert [len(p) for p in passes] == [16, 16, 8, 2] and passes[-1] == [40, 41]


def test_passes_split_by_length_give_the_vectors_of_passes_of_16_on_html_pages() -> None:
    """The chunks of real pages (parsed in the sandbox, cut as a base of chunk size 128 cuts them)
    embedded page by page, as a job does: the same vectors as one model call of passes of 16."""
    model = _local_model()
    split = 0
    for seed in range(3):
        sections = parse_in_sandbox(_page(seed), "html")
        drafts = chunk_sections(sections, ChunkSettings("sentence", 128, 8))
        texts = ingestion._texts(drafts, sections[0].title or "")
        fixed = 1 + (len(texts) - 1) // LOCAL_PASS_SIZE
        split += len(local_passes([len(t) for t in texts])) > fixed  # a pass cut by length
        before = model.encode(texts, batch_size=16, normalize_embeddings=True, convert_to_numpy=True)
        now = np.asarray(LocalEmbedder().embed(texts))
        assert now.shape == before.shape == (len(texts), 384)
        assert float(np.abs(now - before).max()) < 2e-7
    assert split  # the pages' passes were split by length, so the comparison says something


def test_a_local_embedding_shortens_the_gil_switch_interval_and_keeps_python_floats() -> None:
    vectors = LocalEmbedder().embed(["Part one: " + files.FILLER])
    assert sys.getswitchinterval() <= LOCAL_SWITCH_INTERVAL_S + 1e-9  # the embedder's thread waits less
    assert type(vectors[0][0]) is float and len(vectors[0]) == 384


def _minor_faults() -> int:
    return int(Path(f"/proc/self/task/{threading.get_native_id()}/stat").read_text().rsplit(")", 1)[1].split()[7])


@pytest.mark.skipif(not Path("/proc/self/task").exists() or platform.libc_ver()[0] != "glibc", reason="glibc on Linux")
def test_the_embedding_thread_reuses_its_memory_and_its_vectors_are_the_models() -> None:
    """With the allocator's thresholds the process sets (LOCAL_MALLOC), the forward passes' memory
    is kept: the same call again touches (almost) no fresh page. (Without them it took ~100,000
    minor faults each time for these texts.)"""
    texts = [" ".join(f"word{(i * 7 + j) % 97} text" for j in range(120)) for i in range(32)]

    def call() -> tuple[int, list[list[float]]]:
        before = _minor_faults()
        vectors = _local_encode(texts)
        return _minor_faults() - before, vectors.tolist()

    assert keep_freed_memory()  # what the embedding thread's first call set
    _local_thread().submit(call).result()
    faults = [_local_thread().submit(call).result() for _ in range(2)]
    assert min(f for f, _ in faults) < 5_000, faults[0][0]
    direct = _local_model().encode(texts, batch_size=16, normalize_embeddings=True, convert_to_numpy=True)
    assert float(np.abs(np.asarray(faults[0][1]) - direct).max()) < 2e-7
