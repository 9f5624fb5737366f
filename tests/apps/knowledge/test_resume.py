"""Kill the real huey worker mid-document, start it again: it resumes from the last committed
batch and ends with exactly the chunks of a clean run, none doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from apps.knowledge.models import Chunk, Document, DocumentStatus, KnowledgeBase
from apps.knowledge.services import document_upload
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member

ROOT = Path(__file__).resolve().parents[3]
LEASE = 2


def _worker(log: Path) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "TRELLIS_DATA_DIR": str(settings.DATA_DIR),
        "TRELLIS_DB_NAME": connection.settings_dict["NAME"],
        "TRELLIS_KNOWLEDGE_LEASE_SECONDS": str(LEASE),
        "HUEY_WORKERS": "1",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_huey"],
        cwd=ROOT,
        env=environment,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


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
    worker = _worker(log)
    try:
        _wait(lambda: chunks.count() >= 64, 300, "the first batches")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        partial = chunks.count()
        document = Document.objects.get(pk=upload.document.pk)
        assert document.status == DocumentStatus.EMBEDDING, log.read_text()[-2000:]
        assert 0 < partial < len(clean)
        time.sleep(LEASE + 0.5)  # the dead worker's lease runs out
        worker = _worker(log)
        _wait(lambda: Document.objects.get(pk=document.pk).status == DocumentStatus.READY, 240, "the resumed document")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    resumed = list(chunks.order_by("ordinal").values_list("ordinal", "text"))
    assert resumed == clean
    assert Document.objects.get(pk=document.pk).chunk_count == len(clean)
    assert chunks.filter(active=False).count() == 0
    assert "resuming 1 unfinished documents" in log.read_text()
