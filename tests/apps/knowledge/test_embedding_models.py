"""Embedding models per knowledge base: the built-in MiniLM or an OpenAI-compatible embedding
endpoint (a real local server answering real MiniLM vectors, tests/support/embedding_server.py),
chosen at creation, and re-embedding a base onto another model as a resumable job."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection

from apps.knowledge.ingestion import document_ingest
from apps.knowledge.models import Chunk, KnowledgeBase, ReembedJob, ReembedStatus
from apps.knowledge.reembed import reembed_run
from apps.knowledge.services import document_upload
from apps.serving.models import ModelKind
from apps.serving.services import model_endpoint_create
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member
from tests.support.egress import allow_egress, nothing_listens_url
from tests.support.embedding_server import EmbeddingServer

PASSAGES = {
    "aurora.md": "# Aurora permits\n\nThe aurora observation permit costs forty two crowns for one winter season.",
    "bees.md": "# Hives\n\nBeekeepers must register every hive with the valley council before the spring equinox.",
    "lighthouse.md": "# Lighthouse\n\nThe keeper rotates the fresnel lens by hand during northern storms.",
    "glacier.md": "# Glacier tours\n\nGlacier tours leave from the blue hut at dawn and return before the melt.",
}
QUERY = "How much is a permit to watch the northern lights?"


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddingServer]:
    running = EmbeddingServer().start()
    allow_egress(running.url)
    yield running
    running.stop()


@pytest.fixture
def embed(server: EmbeddingServer) -> EmbeddingServer:
    server.fail_with = server.fail_after = None
    server.delay_s = 0.0
    return server


def _endpoint(member: Member, alias: str, url: str, model: str) -> None:
    model_endpoint_create(access=member.access, alias=alias, kind=ModelKind.EMBEDDING, base_url=url, model=model)


def _kb_url(member: Member, kb: KnowledgeBase | None = None, tail: str = "") -> str:
    base = f"/api/v1/orgs/{member.organization.id}/knowledge-bases/"
    return base + (f"{kb.id}/" if kb else "") + tail


def _filled(member: Member, model: str, name: str = "Handbook") -> KnowledgeBase:
    response = member.client().post(_kb_url(member), {"name": name, "embedding_model": model}, format="json")
    assert response.status_code == 201, response.content
    kb = KnowledgeBase.objects.get(pk=response.json()["id"])
    uploads = [files.upload(n, t.encode()) for n, t in PASSAGES.items()]
    document_upload(access=member.access, knowledge_base_id=kb.id, files=uploads)
    assert ingest_pending(kb) == ["ready"] * len(PASSAGES)
    return kb


def _search(member: Member, kb: KnowledgeBase, mode: str = "vector") -> list[tuple[str, float]]:
    response = member.client().post(_kb_url(member, kb, "search/"), {"query": QUERY, "mode": mode}, format="json")
    assert response.status_code == 200, response.content
    return [(hit["document_name"], hit["score"]) for hit in response.json()["hits"]]


def _dims(kb: KnowledgeBase) -> set[int]:
    return set(Chunk.objects.filter(knowledge_base=kb).values_list("dims", flat=True))


def test_embedding_models_lists_the_builtin_and_each_endpoint_with_its_size(org_a: Member, embed: Any) -> None:
    _endpoint(org_a, "mini", embed.url, "minilm")
    _endpoint(org_a, "wide", embed.url, "minilm-768")
    _endpoint(org_a, "gone", nothing_listens_url(), "minilm")
    response = org_a.client().get(_kb_url(org_a, tail="embedding-models/"))
    assert response.status_code == 200, response.content
    found = {m["id"]: m for m in response.json()}
    assert found["local"]["dimensions"] == 384 and found["local"]["problem"] == ""
    assert found["mini"]["dimensions"] == 384 and found["wide"]["dimensions"] == 768
    assert found["gone"]["dimensions"] is None and "cannot be reached" in found["gone"]["problem"]


def test_a_base_on_an_endpoint_model_embeds_documents_and_queries_with_it(org_a: Member, embed: Any) -> None:
    _endpoint(org_a, "wide", embed.url, "minilm-768")
    local = _filled(org_a, "local", name="local")
    before = embed.texts
    wide = _filled(org_a, "wide", name="wide")
    assert wide.embedding_model == "wide" and wide.embedding_dims == 768
    assert _dims(wide) == {768} and _dims(local) == {384}
    assert embed.texts - before >= len(PASSAGES)  # the probe and every chunk went to the endpoint
    before = embed.texts
    hits = _search(org_a, wide)
    assert embed.texts == before + 1  # the query, embedded by the base's model
    assert hits[0][0] == "aurora.md"
    # Zero-padded MiniLM vectors: the same cosine, so the same ranking through the 768 index.
    assert [name for name, _ in hits] == [name for name, _ in _search(org_a, local)]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = on")
        cursor.execute(
            "EXPLAIN SELECT id FROM knowledge_chunk WHERE dims = 768 "
            "ORDER BY embedding::vector(768) <=> (SELECT embedding::vector(768) FROM knowledge_chunk "
            "WHERE dims = 768 LIMIT 1) LIMIT 5"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "chunk_embedding_hnsw_768" in plan


@pytest.mark.parametrize(
    ("model", "code"),
    [
        ("nope", "unknown_embedding_model"),  # no such endpoint
        ("gone", "embedding_failed"),  # nothing listens
        ("odd", "embedding_failed"),  # 1,000 dimensions: no index for that size
        ("down", "embedding_failed"),  # HTTP 503
    ],
)
def test_a_base_on_a_model_that_cannot_serve_is_refused_and_nothing_is_stored(
    org_a: Member, embed: Any, model: str, code: str
) -> None:
    _endpoint(org_a, "gone", nothing_listens_url(), "minilm")
    _endpoint(org_a, "odd", embed.url, "minilm-1000")
    _endpoint(org_a, "down", embed.url, "minilm")
    if model == "down":
        embed.fail_with = 503
    response = org_a.client().post(_kb_url(org_a), {"name": "x", "embedding_model": model}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code and response.json()["message"]
    assert not KnowledgeBase.objects.filter(organization=org_a.organization).exists()


def test_patching_the_model_asks_for_a_reembed_job(org_a: Member, make_kb: Callable[..., KnowledgeBase]) -> None:
    kb = make_kb(org_a)
    response = org_a.client().patch(_kb_url(org_a, kb), {"embedding_model": "other"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "reembed_required"
    assert KnowledgeBase.objects.get(pk=kb.pk).embedding_model == "local"


def test_reembed_keeps_the_old_vectors_until_an_atomic_switch_and_resumes_after_an_error(
    org_a: Member, embed: Any
) -> None:
    _endpoint(org_a, "wide", embed.url, "minilm-768")
    big = {**PASSAGES, **{f"filler-{i}.md": f"# Notes {i}\n\n" + files.FILLER * 6 for i in range(12)}}
    response = org_a.client().post(_kb_url(org_a), {"name": "kb", "chunk_size": 32, "chunk_overlap": 0}, format="json")
    kb = KnowledgeBase.objects.get(pk=response.json()["id"])
    document_upload(
        access=org_a.access, knowledge_base_id=kb.id, files=[files.upload(n, t.encode()) for n, t in big.items()]
    )
    ingest_pending(kb)
    total = Chunk.objects.filter(knowledge_base=kb).count()
    assert total > 64  # more than two batches
    old = _search(org_a, kb)

    started = org_a.client().post(_kb_url(org_a, kb, "reembed/"), {"embedding_model": "wide"}, format="json")
    assert started.status_code == 202, started.content
    job = started.json()["job"]
    assert (job["status"], job["target_model"], job["target_dims"], job["total"]) == ("queued", "wide", 768, total)
    again = org_a.client().post(_kb_url(org_a, kb, "reembed/"), {"embedding_model": "wide"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "reembed_running"

    embed.fail_with, embed.fail_after = 503, embed.requests + 2  # two batches, then the endpoint goes down
    assert reembed_run(job["id"]) == "failed"
    state = org_a.client().get(_kb_url(org_a, kb, "reembed/")).json()["job"]
    assert state["status"] == "failed" and state["error_code"] == "embedding_failed"
    assert "HTTP 503" in state["error_message"] and "Nothing was switched" in state["error_message"]
    assert state["done"] == 64
    kb.refresh_from_db()
    assert (kb.embedding_model, kb.embedding_dims, _dims(kb)) == ("local", 384, {384})
    assert _search(org_a, kb) == old  # still the old model and vectors

    # A document arriving meanwhile is embedded by the old model; the job picks it up too.
    document_upload(
        access=org_a.access, knowledge_base_id=kb.id, files=[files.upload("late.md", b"# Late\n\nA late note.")]
    )
    assert ingest_pending(kb) == ["ready"]
    embed.fail_with = None
    resumed = org_a.client().post(_kb_url(org_a, kb, "reembed/resume/"))
    assert resumed.status_code == 202 and resumed.json()["job"]["status"] == "queued"
    requests = embed.requests
    assert reembed_run(job["id"]) == "done"
    batches = embed.requests - requests
    assert batches == -(-(Chunk.objects.filter(knowledge_base=kb).count() - 64) // 32)  # nothing embedded twice
    kb.refresh_from_db()
    assert (kb.embedding_model, kb.embedding_dims, _dims(kb)) == ("wide", 768, {768})
    assert not Chunk.objects.filter(knowledge_base=kb, next_embedding__isnull=False).exists()
    done = ReembedJob.objects.get(pk=job["id"])
    assert (
        done.status == ReembedStatus.DONE and done.done == done.total == Chunk.objects.filter(knowledge_base=kb).count()
    )
    assert [name for name, _ in _search(org_a, kb)] == [name for name, _ in old]

    # and back to the built-in model
    back = org_a.client().post(_kb_url(org_a, kb, "reembed/"), {"embedding_model": "local"}, format="json")
    assert back.status_code == 202
    assert reembed_run(back.json()["job"]["id"]) == "done"
    kb.refresh_from_db()
    assert (kb.embedding_model, _dims(kb)) == ("local", {384})
    assert [name for name, _ in _search(org_a, kb)] == [name for name, _ in old]


def test_cancel_forgets_the_new_vectors_and_keeps_the_model(org_a: Member, embed: Any) -> None:
    _endpoint(org_a, "wide", embed.url, "minilm-768")
    kb = _filled(org_a, "local")
    job = org_a.client().post(_kb_url(org_a, kb, "reembed/"), {"embedding_model": "wide"}, format="json").json()["job"]
    embed.fail_with, embed.fail_after = 503, embed.requests  # down from the start
    assert reembed_run(job["id"]) == "failed"
    cancelled = org_a.client().post(_kb_url(org_a, kb, "reembed/cancel/"))
    assert cancelled.status_code == 200 and cancelled.json()["job"]["status"] == "cancelled"
    twice = org_a.client().post(_kb_url(org_a, kb, "reembed/cancel/"))
    assert twice.status_code == 409 and twice.json()["code"] == "reembed_ended"
    assert reembed_run(job["id"]) == "skipped"
    kb.refresh_from_db()
    assert kb.embedding_model == "local" and _dims(kb) == {384}
    assert not Chunk.objects.filter(knowledge_base=kb, next_embedding__isnull=False).exists()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"embedding_model": "local"}, 400, "same_embedding_model"),
        ({"embedding_model": "nope"}, 400, "unknown_embedding_model"),
        ({"embedding_model": "gone"}, 400, "embedding_failed"),
        ({}, 400, "invalid"),
        ({"embedding_model": "wide", "extra": 1}, 400, "invalid"),
    ],
)
def test_reembed_bad_input_is_a_4xx_and_queues_nothing(
    org_a: Member, embed: Any, make_kb: Callable[..., KnowledgeBase], body: dict[str, Any], status: int, code: str
) -> None:
    _endpoint(org_a, "wide", embed.url, "minilm-768")
    _endpoint(org_a, "gone", nothing_listens_url(), "minilm")
    kb = make_kb(org_a)
    response = org_a.client().post(_kb_url(org_a, kb, "reembed/"), body, format="json")
    assert response.status_code == status, response.content
    assert response.json()["code"].startswith(code) and response.json()["message"]
    assert not ReembedJob.objects.filter(knowledge_base=kb).exists()
    for tail in ("reembed/cancel/", "reembed/resume/"):
        assert org_a.client().post(_kb_url(org_a, kb, tail)).json()["code"] == "no_reembed_job"


def test_reembed_routes_are_tenant_scoped_and_need_an_editor(
    org_a: Member, org_b: Member, embed: Any, add_member: Callable[..., Member], make_kb: Callable[..., KnowledgeBase]
) -> None:
    _endpoint(org_a, "wide", embed.url, "minilm-768")
    _endpoint(org_b, "theirs", embed.url, "minilm")
    kb = make_kb(org_a)
    stranger = org_b.client()
    for tail in ("reembed/", "reembed/cancel/", "reembed/resume/"):
        url = _kb_url(org_a, kb, tail)
        assert stranger.post(url, {"embedding_model": "wide"}, format="json").status_code == 404
    assert stranger.get(_kb_url(org_a, kb, "reembed/")).status_code == 404
    assert stranger.get(_kb_url(org_a, tail="embedding-models/")).status_code == 404
    # org B's endpoints are not org A's choices, and not usable by org A's bases
    listed = {m["id"] for m in org_a.client().get(_kb_url(org_a, tail="embedding-models/")).json()}
    assert listed == {"local", "wide"}
    response = org_a.client().post(_kb_url(org_a, kb, "reembed/"), {"embedding_model": "theirs"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "unknown_embedding_model"
    viewer = add_member(org_a.organization, "viewer")
    response = viewer.client().post(_kb_url(org_a, kb, "reembed/"), {"embedding_model": "wide"}, format="json")
    assert response.status_code == 403
    assert viewer.client().get(_kb_url(org_a, kb, "reembed/")).json() == {"job": None}
    assert not ReembedJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_ingestion_batch_committed_after_a_switch_is_embedded_again_with_the_new_model(
    org_a: Member, embed: Any
) -> None:
    """The race the base's row lock closes: a document embedded by the old model (a slow server)
    commits after the re-embed job switched the base; its batch is embedded again with the new
    model, so no old-model vector lands in the switched base."""
    slow = EmbeddingServer().start()
    allow_egress(slow.url)
    try:
        _endpoint(org_a, "mini", slow.url, "minilm")
        _endpoint(org_a, "wide", embed.url, "minilm-768")
        kb = _filled(org_a, "mini")
        [upload] = document_upload(
            access=org_a.access, knowledge_base_id=kb.id, files=[files.upload("late.md", b"# Late\n\nA late note.")]
        )
        slow.delay_s = 3.0
        outcome: list[str] = []

        def ingest() -> None:
            try:
                outcome.append(document_ingest(upload.document.id, upload.document.generation))
            finally:
                connection.close()

        worker = threading.Thread(target=ingest)
        worker.start()
        _wait(lambda: slow.requests > 1 + len(PASSAGES), "the slow embedding call")  # probe + 4 documents before
        job = org_a.client().post(_kb_url(org_a, kb, "reembed/"), {"embedding_model": "wide"}, format="json")
        assert reembed_run(job.json()["job"]["id"]) == "done"
        assert worker.is_alive()  # the document's batch is still with the old model's server
        worker.join(30)
        assert outcome == ["ready"]
        kb.refresh_from_db()
        assert kb.embedding_model == "wide" and _dims(kb) == {768}
    finally:
        slow.stop()


def _wait(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
