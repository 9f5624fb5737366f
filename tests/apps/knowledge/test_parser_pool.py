"""The warm pool of sandboxed parser workers (apps/knowledge/parsing.py) and the parse-ahead
pipeline (apps/knowledge/ingestion.py): workers are reused, keep the one-off child's limits, are
killed and replaced when they time out or die, and are retired after N documents."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from apps.knowledge import parsing
from apps.knowledge.ingestion import document_ingest
from apps.knowledge.models import Document, DocumentStatus, KnowledgeBase
from apps.knowledge.services import document_upload
from tests.apps.knowledge import files
from tests.conftest import Member


@pytest.fixture(autouse=True)
def fresh_pool() -> Iterator[None]:
    parsing.parser_pool_close()
    yield
    parsing.parser_pool_close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def _idle_pid() -> int:
    idle = parsing.parser_pool_state()["idle"]
    assert len(idle) == 1
    return int(idle[0])


def test_parser_pool_reuses_a_warm_worker_with_the_sandbox_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRELLIS_POOL_TEST_SECRET", "must-not-leak")
    started = parsing.parser_pool_state()["started"]
    first = parsing.parse_in_sandbox(files.html_bytes(), "html")
    pid = _idle_pid()
    second = parsing.parse_in_sandbox(files.markdown_bytes(), "markdown")
    assert first[0].text and second[0].text
    assert _idle_pid() == pid
    assert parsing.parser_pool_state()["started"] == started + 1
    limits = Path(f"/proc/{pid}/limits").read_text()
    memory = 1024 * 1024 * 1024  # settings.KNOWLEDGE_PARSE_MEMORY_MB in tests
    address_space = next(line for line in limits.splitlines() if line.startswith("Max address space"))
    assert address_space.split()[3:5] == [str(memory), str(memory)]
    cpu = next(line for line in limits.splitlines() if line.startswith("Max cpu time"))
    assert cpu.split()[3] != "unlimited" and cpu.split()[4] != "unlimited"
    core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
    assert core.split()[4:6] == ["0", "0"]
    environment = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"must-not-leak" not in environment and b"SECRET_KEY" not in environment
    assert os.getsid(pid) == pid  # its own session: killing it kills whatever it started


def test_parser_pool_kills_and_replaces_a_worker_that_times_out() -> None:
    parsing.parse_in_sandbox(files.markdown_bytes(), "markdown")
    pid = _idle_pid()
    # A page long enough that no machine parses it in 50 ms (a small PDF within 0.3 s did, on a
    # quiet machine with the worker warm).
    slow_page = files.html_bytes(" ".join(f"<p>Section {i}: {files.FILLER}</p>" for i in range(20_000)))
    with pytest.raises(parsing.ParseFailed) as slow:
        parsing.parse_in_sandbox(slow_page, "html", timeout=0.05)
    assert slow.value.code == "parse_timeout"
    assert not _alive(pid)
    assert parsing.parser_pool_state()["idle"] == []
    assert parsing.parse_in_sandbox(files.markdown_bytes(), "markdown")[0].text
    assert _idle_pid() != pid


def test_parser_pool_replaces_a_dead_worker() -> None:
    parsing.parse_in_sandbox(files.markdown_bytes(), "markdown")
    pid = _idle_pid()
    os.kill(pid, signal.SIGKILL)
    sections = parsing.parse_in_sandbox(files.html_bytes(), "html")
    assert "anchors" in sections[0].stored() or sections[0].text
    assert _idle_pid() != pid


def test_parser_pool_memory_limit_fails_the_file_not_the_pool() -> None:
    with pytest.raises(parsing.ParseFailed) as caught:
        parsing.parse_in_sandbox(files.pdf_bytes(), "pdf", memory_mb=64)
    assert caught.value.code in {"too_large_to_parse", "parser_crashed"}
    assert parsing.parser_pool_state()["idle"] == []  # a worker with another memory limit is never pooled
    assert parsing.parse_in_sandbox(files.markdown_bytes(), "markdown")[0].text


def test_parser_pool_retires_a_worker_after_n_documents() -> None:
    with override_settings(KNOWLEDGE_PARSE_WORKER_DOCUMENTS=2):
        started = parsing.parser_pool_state()["started"]
        pids = []
        for _ in range(5):
            parsing.parse_in_sandbox(files.markdown_bytes(), "markdown")
            pids.append(tuple(parsing.parser_pool_state()["idle"]))
        assert parsing.parser_pool_state()["started"] == started + 3
    assert len(pids[0]) == 1
    assert pids[1] == ()  # the first worker retired after its second document
    assert pids[2] and pids[2] != pids[0]


@pytest.mark.django_db(transaction=True)
def test_parser_pool_parse_ahead_stores_the_next_documents_sections(
    org_a: Member, make_kb: Callable[..., KnowledgeBase]
) -> None:
    kb = make_kb(org_a, chunk_size=128)
    uploads = document_upload(
        access=org_a.access,
        knowledge_base_id=kb.id,
        files=[files.upload("coast.md", files.markdown_bytes()), files.upload("page.html", files.html_bytes())],
    )
    first, second = sorted((u.document for u in uploads), key=lambda d: (d.created_at, d.id))
    assert document_ingest(first.id, first.generation) == "ready"
    second.refresh_from_db()
    assert second.status == DocumentStatus.QUEUED  # not claimed, only parsed ahead
    assert second.sections and second.parsed_version == second.version
    parsed_ahead = second.sections
    with override_settings(KNOWLEDGE_PARSE_TIMEOUT=0):  # any parse now would fail: the job must not parse
        assert document_ingest(second.id, second.generation) == "ready"
    second = Document.objects.get(pk=second.id)
    assert second.sections == parsed_ahead and second.chunk_count > 0
