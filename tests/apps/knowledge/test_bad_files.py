"""Invariant 8: each bad file fails alone with its reason; the rest of the batch succeeds, and
parsing never happens in the worker's own process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings

from apps.knowledge import parsing
from apps.knowledge.models import DocumentStatus, KnowledgeBase
from apps.knowledge.services import document_upload
from tests.apps.knowledge import files
from tests.apps.knowledge.conftest import ingest_pending
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)


def test_bad_files_fail_alone_with_their_reason(org_a: Member, make_kb: Callable[..., KnowledgeBase]) -> None:
    kb = make_kb(org_a, chunk_size=128)
    batch = [
        files.upload("locked.pdf", files.encrypted_pdf_bytes()),
        files.upload("broken.pdf", b"%PDF-1.7\n" + b"\x00garbage" * 100),
        files.upload("not-really.docx", b"plain text pretending to be Word"),
        files.upload("bomb.docx", files.zip_bomb_docx()),
        files.upload("huge.txt", b"a" * (2 * 1024 * 1024)),
        files.upload("tool.exe", b"MZ\x90\x00"),
        files.upload("people.csv", files.csv_bytes()),
        files.upload("coast.md", files.markdown_bytes()),
        files.upload("permits.pdf", files.pdf_bytes()),
    ]
    with override_settings(KNOWLEDGE_MAX_UPLOAD_MB=1):
        uploads = document_upload(access=org_a.access, knowledge_base_id=kb.id, files=batch)
        ingest_pending(kb)
    outcome = {}
    for upload in uploads:
        upload.document.refresh_from_db()
        outcome[upload.document.name] = (upload.document.status, upload.document.error_code)
    failed = DocumentStatus.FAILED
    assert outcome == {
        "locked.pdf": (failed, "encrypted_pdf"),
        "broken.pdf": (failed, "corrupt_file"),
        "not-really.docx": (failed, "corrupt_file"),
        "bomb.docx": (failed, "decompression_bomb"),
        "huge.txt": (failed, "file_too_large"),
        "tool.exe": (failed, "unsupported_type"),
        "people.csv": (DocumentStatus.READY, ""),
        "coast.md": (DocumentStatus.READY, ""),
        "permits.pdf": (DocumentStatus.READY, ""),
    }
    for upload in uploads:
        if upload.document.status == failed:
            assert len(upload.document.error_message) > 10


def test_bad_files_memory_and_time_limits_hold() -> None:
    with pytest.raises(parsing.ParseFailed) as caught:
        parsing.parse_in_sandbox(files.pdf_bytes(), "pdf", memory_mb=64)
    assert caught.value.code in {"too_large_to_parse", "parser_crashed"}
    with pytest.raises(parsing.ParseFailed) as slow:
        parsing.parse_in_sandbox(files.pdf_bytes(), "pdf", timeout=0.5)
    assert slow.value.code == "parse_timeout"


def test_bad_files_parsing_happens_in_a_subprocess(
    org_a: Member, make_kb: Callable[..., KnowledgeBase], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fails if someone parses in-process: every parse must go through a child process (a pooled
    sandbox worker, started fresh here so the test sees it start)."""
    import subprocess

    from apps.knowledge import sandbox

    children: list[Any] = []
    real_popen = subprocess.Popen

    def spy(*args: Any, **kwargs: Any) -> Any:
        children.append(args[0])
        return real_popen(*args, **kwargs)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parsed in the worker's process")

    parsing.parser_pool_close()
    monkeypatch.setattr(subprocess, "Popen", spy)  # the module object parsing.py calls
    for name in list(sandbox.PARSERS):
        monkeypatch.setitem(sandbox.PARSERS, name, forbidden)
    kb = make_kb(org_a)
    document_upload(
        access=org_a.access, knowledge_base_id=kb.id, files=[files.upload("coast.md", files.markdown_bytes())]
    )
    assert ingest_pending(kb) == ["ready"]
    assert len(children) == 1
    assert children[0][1:] == ["-I", "-m", "apps.knowledge.sandbox", "--serve"]
