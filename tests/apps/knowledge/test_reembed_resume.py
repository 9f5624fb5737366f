"""Kill the real huey worker in the middle of a re-embed job, start it again: the job resumes with
the chunks still without a new vector, embeds none twice, and switches the base once at the end;
search answered from the old model all along."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from apps.knowledge.models import Chunk, KnowledgeBase, ReembedJob, ReembedStatus
from apps.knowledge.search import knowledge_search
from apps.knowledge.services import document_upload, knowledge_base_reembed
from apps.serving.models import ModelKind
from apps.serving.services import model_endpoint_create
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member
from tests.support.egress import allow_egress, egress_pair
from tests.support.embedding_server import EmbeddingServer
from tests.support.worker import huey_worker, wait_until

LEASE = 2


@pytest.mark.django_db(transaction=True)
def test_reembed_resumes_after_a_killed_worker_and_switches_once(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], tmp_path: Path
) -> None:
    server = EmbeddingServer().start()
    allow_egress(server.url)
    worker: subprocess.Popen[bytes] | None = None
    try:
        model_endpoint_create(
            access=org_a.access, alias="wide", kind=ModelKind.EMBEDDING, base_url=server.url, model="minilm-768"
        )
        kb = make_kb(org_a, chunk_size=32, chunk_overlap=0)
        notes = [files.upload(f"n{i}.md", (f"# Notes {i}\n\n" + files.FILLER * 8).encode()) for i in range(16)]
        aurora = files.upload("aurora.md", b"# Aurora\n\nThe aurora observation permit costs forty two crowns.")
        document_upload(access=org_a.access, knowledge_base_id=kb.id, files=[*notes, aurora])
        ingest_pending(kb)
        total = Chunk.objects.filter(knowledge_base=kb).count()
        assert total > 6 * 32
        before = [
            h.document_name for h in knowledge_search(knowledge_base=kb, query="aurora permit", mode="vector").hits
        ]

        server.delay_s = 0.4  # each batch takes a while: the worker is killed between batches
        from huey.contrib.djhuey import HUEY

        HUEY.flush()
        log = tmp_path / "worker.log"
        job = knowledge_base_reembed(access=org_a.access, knowledge_base_id=kb.id, embedding_model="wide")
        with_next = Chunk.objects.filter(knowledge_base=kb, next_embedding__isnull=False)
        worker = huey_worker(
            log, TRELLIS_KNOWLEDGE_LEASE_SECONDS=str(LEASE), TRELLIS_EGRESS_ALLOW=egress_pair(server.url)
        )
        wait_until(lambda: with_next.count() >= 64, 120, "the first batches")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        partial = with_next.count()
        assert 0 < partial < total, log.read_text()[-2000:]
        assert ReembedJob.objects.get(pk=job.pk).status == ReembedStatus.RUNNING
        kb.refresh_from_db()
        assert kb.embedding_model == "local"  # half done: the base still searches on the old model
        hits = knowledge_search(knowledge_base=kb, query="aurora permit", mode="vector").hits
        assert [h.document_name for h in hits] == before
        texts_before = server.texts

        time.sleep(LEASE + 0.5)  # the dead worker's lease runs out
        worker = huey_worker(
            log, TRELLIS_KNOWLEDGE_LEASE_SECONDS=str(LEASE), TRELLIS_EGRESS_ALLOW=egress_pair(server.url)
        )
        wait_until(lambda: ReembedJob.objects.get(pk=job.pk).status == ReembedStatus.DONE, 180, "the resumed job")
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait(10)
        server.stop()
    # the resumed worker embedded only what was missing (the killed batch at most once more)
    assert total - partial <= server.texts - texts_before <= total - partial + 32
    kb.refresh_from_db()
    assert (kb.embedding_model, kb.embedding_dims) == ("wide", 768)
    assert set(Chunk.objects.filter(knowledge_base=kb).values_list("dims", flat=True)) == {768}
    assert Chunk.objects.filter(knowledge_base=kb).count() == total
    assert not Chunk.objects.filter(knowledge_base=kb, next_embedding__isnull=False).exists()
    assert "resuming 1 unfinished re-embed jobs" in log.read_text()
