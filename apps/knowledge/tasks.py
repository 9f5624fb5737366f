"""huey tasks. huey only carries the wake-up: the document row says what is left to do."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from uuid import UUID

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from apps.knowledge.ingestion import document_ingest, documents_to_resume

logger = logging.getLogger(__name__)
_started = threading.Event()


@db_task()  # type: ignore[untyped-decorator]
def ingest_document(document_id: UUID | str, generation: int) -> str:
    outcome = document_ingest(document_id, generation)
    logger.info("document %s generation %s: %s", document_id, generation, outcome)
    return outcome


def resume_stalled_documents() -> int:
    pending = documents_to_resume()
    for document_id, generation in pending:
        ingest_document(document_id, generation)
    if pending:
        logger.info("resuming %d unfinished documents", len(pending))
    return len(pending)


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def resume_stalled() -> None:
    resume_stalled_documents()
    resume_stalled_reembeds()


@db_task()  # type: ignore[untyped-decorator]
def reembed_knowledge_base(job_id: UUID | str) -> str:
    from apps.knowledge.reembed import reembed_run

    outcome = reembed_run(job_id)
    logger.info("re-embed job %s: %s", job_id, outcome)
    return outcome


def resume_stalled_reembeds() -> int:
    from apps.knowledge.reembed import jobs_to_resume

    pending = jobs_to_resume()
    for job_id in pending:
        reembed_knowledge_base(job_id)
    if pending:
        logger.info("resuming %d unfinished re-embed jobs", len(pending))
    return len(pending)


@db_task()  # type: ignore[untyped-decorator]
def sync_source(source_id: UUID | str, generation: int) -> str:
    from apps.knowledge.sources import source_sync

    outcome = source_sync(source_id, generation, enqueue_ingest=ingest_document)
    logger.info("source %s sync %s: %s", source_id, generation, outcome)
    return outcome


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def sync_due_sources() -> None:
    """Scheduled re-syncs, and syncs whose worker died."""
    from apps.knowledge.sources import sources_due

    queued = sources_due(enqueue=sync_source)
    if queued:
        logger.info("queued %d source syncs", len(queued))


def _warm_quietly(warm: Callable[[], None]) -> None:
    try:
        warm()
    except Exception:  # a warm-up never stops the worker: the first document loads it instead
        logger.exception("warming the chunker failed")


@HUEY.on_startup()  # type: ignore[untyped-decorator]
def _resume_on_start() -> None:
    """A restarted worker picks up what its predecessor left, without waiting a minute."""
    if _started.is_set():
        return
    _started.set()
    from django.db import close_old_connections

    from apps.knowledge.chunking import chunker_warm

    # The chunker's libraries load in the background while the worker starts taking tasks: the
    # first document then costs what every other one does (docs/BENCHMARKS.md, issue 19).
    threading.Thread(target=_warm_quietly, args=(chunker_warm,), name="chunker-warm", daemon=True).start()
    from apps.knowledge.warmup import start_search_warm_up

    start_search_warm_up()  # big bases' search pages into shared buffers, in the background (warmup.py)

    try:
        resume_stalled_documents()
        resume_stalled_reembeds()
    finally:
        close_old_connections()
