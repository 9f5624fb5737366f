"""Kill the real huey worker mid-document, start it again: it resumes from the last committed
batch and ends with exactly the chunks of a clean run, none doubled."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from apps.knowledge.models import Chunk, Document, DocumentStatus, KnowledgeBase
from apps.knowledge.services import document_upload
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member
from tests.support.worker import huey_worker, wait_until

LEASE = 2


def _long_markdown() -> bytes:
    paragraphs = [f"## Part {i}\n\nSection {i} of the manual. " + files.FILLER * 2 for i in range(360)]
    return ("# Manual\n\n" + "\n\n".join(paragraphs)).encode()


@pytest.mark.django_db(transaction=True)
def test_resume_after_killed_worker_matches_a_clean_run(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], tmp_path: Path
) -> None:
    data = _long_markdown()
    clean_kb = make_kb(org_a, name="clean", chunk_size=48, chunk_overlap=8)
    document_upload(access=org_a.access, knowledge_base_id=clean_kb.id, files=[files.upload("manual.md", data)])
    assert ingest_pending(clean_kb) == ["ready"]
    clean = list(Chunk.objects.filter(knowledge_base=clean_kb).order_by("ordinal").values_list("ordinal", "text"))
    assert len(clean) > 100

    kb = make_kb(org_a, name="killed", chunk_size=48, chunk_overlap=8)
    [upload] = document_upload(access=org_a.access, knowledge_base_id=kb.id, files=[files.upload("manual.md", data)])
    chunks = Chunk.objects.filter(document=upload.document)
    log = tmp_path / "worker.log"
    from huey.contrib.djhuey import HUEY

    HUEY.flush()  # queue messages of earlier tests (their documents are gone) would only delay this one
    worker = huey_worker(log, TRELLIS_KNOWLEDGE_LEASE_SECONDS=str(LEASE))
    try:
        wait_until(lambda: chunks.count() >= 64, 300, "the first batches")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        partial = chunks.count()
        document = Document.objects.get(pk=upload.document.pk)
        assert document.status == DocumentStatus.EMBEDDING, log.read_text()[-2000:]
        assert 0 < partial < len(clean)
        time.sleep(LEASE + 0.5)  # the dead worker's lease runs out
        worker = huey_worker(log, TRELLIS_KNOWLEDGE_LEASE_SECONDS=str(LEASE))
        wait_until(
            lambda: Document.objects.get(pk=document.pk).status == DocumentStatus.READY, 240, "the resumed document"
        )
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    resumed = list(chunks.order_by("ordinal").values_list("ordinal", "text"))
    assert resumed == clean
    assert Document.objects.get(pk=document.pk).chunk_count == len(clean)
    assert chunks.filter(active=False).count() == 0
    assert "resuming 1 unfinished documents" in log.read_text()
