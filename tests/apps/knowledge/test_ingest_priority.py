"""Ingestion's side work runs at a lower scheduling priority than the embedder (apps/knowledge/
priority.py): the job's thread for the length of the job (and back afterwards), the pipeline's
threads, the parser sandbox's workers; the embedding thread keeps the process's own priority,
whichever thread started it. The chunks and vectors stored are those of the same job without it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from apps.knowledge import ingestion, priority
from apps.knowledge.embeddings import _local_thread, local_thread_start
from apps.knowledge.ingestion import document_ingest
from apps.knowledge.models import Chunk, Document, KnowledgeBase
from apps.knowledge.parsing import parse_in_sandbox, parser_pool_close, parser_pool_state
from apps.knowledge.services import document_upload
from tests.apps.knowledge import files
from tests.conftest import Member

pytestmark = pytest.mark.django_db(transaction=True)
linux = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="thread priorities are Linux's")


def _page(seed: int) -> bytes:
    body = "".join(f"<h2 id='s{i}'>Part {seed}.{i}</h2><p>{files.FILLER} Option{i} of {seed}.</p>" for i in range(3))
    return f"<html><head><title>Page {seed}</title></head><body><main>{body}</main></body></html>".encode()


def _thread_nices() -> dict[int, tuple[str, int]]:
    """Every Python thread of this process: its name and niceness."""
    seen: dict[int, tuple[str, int]] = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
            seen[thread.native_id or 0] = (thread.name, int(stat.rsplit(")", 1)[1].split()[16]))
        except (OSError, IndexError, ValueError):
            continue  # the thread ended meanwhile
    return seen


class Sampler:
    """Records the niceness of every thread of this process every few ms while running."""

    def __init__(self) -> None:
        self.seen: dict[int, set[tuple[str, int]]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            for tid, entry in _thread_nices().items():
                self.seen.setdefault(tid, set()).add(entry)
            time.sleep(0.002)

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


@linux
def test_lowered_applies_to_the_block_and_to_threads_started_in_it_then_is_undone() -> None:
    before = priority.nice_of()
    inside: list[int] = []
    with priority.lowered():
        inside.append(priority.nice_of())
        started = threading.Thread(target=lambda: inside.append(priority.nice_of()))
        started.start()
        started.join()
    assert inside == [priority.side_nice(), priority.side_nice()]
    assert priority.side_nice() == min(19, priority.base_nice() + priority.SIDE_NICE) > before
    assert priority.nice_of() == before


@linux
def test_a_thread_started_from_a_lowered_one_goes_back_to_the_process_priority_with_to_base() -> None:
    got: list[int] = []

    def child() -> None:
        got.append(priority.nice_of())
        priority.to_base()
        got.append(priority.nice_of())

    with priority.lowered():
        thread = threading.Thread(target=child)
        thread.start()
        thread.join()
    assert got == [priority.side_nice(), priority.base_nice()]
    # the embedding thread runs at the process's own priority, whoever started it
    assert _local_thread().submit(priority.nice_of).result() == priority.base_nice()


@linux
def test_parser_workers_run_at_the_side_priority() -> None:
    parser_pool_close()  # the next parse starts a worker
    parse_in_sandbox(_page(1), "html")
    workers = parser_pool_state()["idle"]
    assert workers
    assert [priority.nice_of(pid) for pid in workers] == [priority.side_nice()] * len(workers)


@linux
def test_a_job_runs_its_side_work_lower_and_the_embedder_at_the_process_priority(
    org_a: Member, make_kb: Callable[..., KnowledgeBase]
) -> None:
    kb = make_kb(org_a, name="nice", chunk_size=64, chunk_overlap=8)
    uploads = document_upload(
        access=org_a.access, knowledge_base_id=kb.id, files=[files.upload(f"p{i}.html", _page(i)) for i in range(3)]
    )
    documents = sorted((u.document for u in uploads), key=lambda d: (d.created_at, d.id))
    me, before = threading.get_native_id(), priority.nice_of()
    with Sampler() as sampler:
        outcomes = [document_ingest(d.id, d.generation) for d in documents]
        ingestion.pipeline_drain()
    assert outcomes == ["ready"] * 3
    assert priority.nice_of() == before  # the job's thread is given back its priority
    side, base = priority.side_nice(), priority.base_nice()
    mine = {nice for _, nice in sampler.seen[me]}
    assert side in mine  # lowered during the jobs
    ahead = {nice for entries in sampler.seen.values() for name, nice in entries if name.startswith("parse-ahead")}
    assert ahead == {side}  # the pipeline's threads, all the time they were seen
    embedder = {nice for entries in sampler.seen.values() for name, nice in entries if name.startswith("local-embed")}
    assert embedder == {base}
    assert Chunk.objects.filter(knowledge_base=kb, active=True).count() > 3
    assert all(d.status == "ready" for d in Document.objects.filter(knowledge_base=kb))


def test_starting_the_embedding_thread_again_does_not_wait_for_its_work() -> None:
    """A job makes sure the embedding thread runs before it lowers itself; once it runs, that must
    not queue behind the embedder's work (it held every job until the embedder was idle)."""
    local_thread_start()
    busy = _local_thread().submit(time.sleep, 1.0)
    began = time.perf_counter()
    local_thread_start()
    took = time.perf_counter() - began
    assert not busy.done()  # the embedder was still busy when it returned
    busy.result()
    assert took < 0.5
