"""Re-embedding a knowledge base onto another embedding model: a resumable queue job.

The job (a ReembedJob row; huey only carries the wake-up) gives every chunk of the base a
`next_embedding` from the target model, in batches; each batch commits its vectors and the
job's progress together, so a worker killed mid-way leaves committed batches behind and whoever
claims the job next (after its lease) carries on with the chunks still without one. Search keeps
answering from `embedding` (the old model's vectors, the old model for the query) all along.

When no chunk is left, one transaction locks the base, checks again that none is left (a
document ingested meanwhile adds chunks without one: the job goes back and embeds them), copies
`next_embedding` over `embedding` for the whole base and sets the base's model and dimensions:
searches see the old model or the new one, never a mix. Ingestion takes the base's row FOR SHARE
when it commits a batch and re-embeds the batch if the model changed under it (ingestion.py).

Cancel clears the next vectors; an error (the endpoint down, refused, a vector of another size)
stops the job as `failed` with the reason in words, nothing switched, and `resume` goes on from
where it stopped.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.config.errors import Conflict, InvalidInput, TrellisError
from apps.knowledge import realtime
from apps.knowledge.chunking import embedding_text
from apps.knowledge.embeddings import BATCH_SIZE, EmbeddingFailed, embedder_for, probe_dimensions
from apps.knowledge.models import REEMBED_ACTIVE, Chunk, KnowledgeBase, ReembedJob, ReembedStatus

logger = logging.getLogger(__name__)


def _lease() -> timedelta:
    return timedelta(seconds=settings.KNOWLEDGE_LEASE_SECONDS)


def job_event(job: ReembedJob) -> dict[str, Any]:
    return {
        "type": "knowledge.reembed",
        "event": "knowledge.reembed",
        "knowledge_base": str(job.knowledge_base_id),
        "job": str(job.id),
        "status": job.status,
        "from_model": job.from_model,
        "target_model": job.target_model,
        "target_dims": job.target_dims,
        "done": job.done,
        "total": job.total,
        "error_code": job.error_code,
        "error_message": job.error_message[:500],
    }


def _publish(job: ReembedJob) -> None:
    realtime.publish_event(job_event(job))


def _clear_next(knowledge_base_id: UUID) -> None:
    Chunk.objects.filter(knowledge_base_id=knowledge_base_id, next_embedding__isnull=False).update(next_embedding=None)


def target_dimensions(knowledge_base: KnowledgeBase, model: str) -> int:
    """The target model's vector size, asked of it now; a model that cannot answer is bad input
    (400 with its reason), so nothing is queued that would fail at once."""
    try:
        return probe_dimensions(organization=knowledge_base.organization, model=model)
    except EmbeddingFailed as failed:
        raise InvalidInput(failed.message, code=failed.code) from None


def start(*, knowledge_base: KnowledgeBase, model: str, dims: int, user: Any) -> ReembedJob:
    """A queued job (inside the caller's transaction, the base's row locked); the caller enqueues
    it (services: this module is what the task runs, so it does not import the tasks)."""
    if model == knowledge_base.embedding_model:
        raise InvalidInput(f"The knowledge base already uses {model!r}.", code="same_embedding_model")
    if ReembedJob.objects.filter(knowledge_base=knowledge_base, status__in=REEMBED_ACTIVE).exists():
        raise Conflict(
            "A re-embed job of this knowledge base is already running; cancel it first.", code="reembed_running"
        )
    ReembedJob.objects.filter(knowledge_base=knowledge_base, status=ReembedStatus.FAILED).update(
        status=ReembedStatus.CANCELLED, finished_at=timezone.now()
    )
    _clear_next(knowledge_base.id)
    job = ReembedJob.objects.create(
        organization_id=knowledge_base.organization_id,
        knowledge_base=knowledge_base,
        from_model=knowledge_base.embedding_model,
        target_model=model,
        target_dims=dims,
        total=Chunk.objects.filter(knowledge_base=knowledge_base).count(),
        created_by=user,
    )
    _publish(job)
    return job


def resume(job: ReembedJob) -> ReembedJob:
    """A failed job queued again; its committed vectors are kept."""
    if job.status != ReembedStatus.FAILED:
        raise Conflict("Only a job stopped by an error can be resumed.", code="not_resumable")
    job.status, job.error_code, job.error_message, job.lease_until = ReembedStatus.QUEUED, "", "", None
    job.save()
    _publish(job)
    return job


def cancel(job: ReembedJob) -> ReembedJob:
    """Stop a queued, running or failed job and forget its vectors; the base keeps its model."""
    if job.status not in (*REEMBED_ACTIVE, ReembedStatus.FAILED):
        raise Conflict("This re-embed job has already ended.", code="reembed_ended")
    job.status, job.lease_until, job.finished_at = ReembedStatus.CANCELLED, None, timezone.now()
    job.save()
    _clear_next(job.knowledge_base_id)
    _publish(job)
    return job


def _claim(job_id: UUID | str) -> bool:
    now = timezone.now()
    claimed = (
        ReembedJob.objects.filter(pk=job_id, status__in=REEMBED_ACTIVE)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(status=ReembedStatus.RUNNING, lease_until=now + _lease(), updated_at=now)
    )
    return claimed == 1


def _running(job_id: UUID | str) -> ReembedJob | None:
    """The job row locked, if it is still this worker's to run."""
    return ReembedJob.objects.select_for_update().filter(pk=job_id, status=ReembedStatus.RUNNING).first()


@transaction.atomic
def _stop(job_id: UUID | str, code: str, message: str) -> None:
    job = _running(job_id)
    if job is None:
        return
    job.status, job.error_code, job.error_message, job.lease_until = ReembedStatus.FAILED, code, message, None
    job.save()
    _publish(job)


def _pending(organization_id: UUID, knowledge_base_id: UUID) -> list[tuple[int, str, list[str], str]]:
    """(chunk id, text, heading path, document title) of the next batch still without a next vector."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.id, c.text, c.heading_path, COALESCE(NULLIF(d.title, ''), d.name)
            FROM knowledge_chunk c JOIN knowledge_document d ON d.id = c.document_id
            WHERE c.organization_id = %s AND c.knowledge_base_id = %s AND c.next_embedding IS NULL
            ORDER BY c.id LIMIT %s
            """,
            [organization_id, knowledge_base_id, BATCH_SIZE],
        )
        rows = cursor.fetchall()
    return [(int(r[0]), r[1], list(r[2] or []) if not isinstance(r[2], str) else _json(r[2]), r[3]) for r in rows]


def _json(raw: str) -> list[str]:
    import json

    value = json.loads(raw)
    return [str(v) for v in value] if isinstance(value, list) else []


def reembed_run(job_id: UUID | str) -> str:
    """Run (or resume) one job to its end; answers what happened (for logs and tests)."""
    if not _claim(job_id):
        return "skipped"
    job = ReembedJob.objects.select_related("knowledge_base__organization").get(pk=job_id)
    knowledge_base = job.knowledge_base
    try:
        embedder = embedder_for(organization=knowledge_base.organization, model=job.target_model)
    except TrellisError as exc:
        _stop(job_id, exc.code, exc.message)
        return "failed"
    with transaction.atomic():
        current = _running(job_id)
        if current is None:
            return "cancelled"
        current.attempts += 1
        current.total = Chunk.objects.filter(knowledge_base=knowledge_base).count()
        current.done = Chunk.objects.filter(knowledge_base=knowledge_base, next_embedding__isnull=False).count()
        current.save()
        _publish(current)
    while True:
        batch = _pending(knowledge_base.organization_id, knowledge_base.id)
        if not batch:
            outcome = _switch(job_id)
            if outcome != "more":
                return outcome
            continue
        try:
            vectors = embedder.embed([embedding_text(text, title=t, heading_path=hp) for _, text, hp, t in batch])
        except EmbeddingFailed as failed:
            _stop(job_id, failed.code, f"{failed.message} Nothing was switched; resume when it answers again.")
            return "failed"
        if any(len(v) != job.target_dims for v in vectors):
            _stop(
                job_id,
                "embedding_dimensions_changed",
                f"The model {job.target_model!r} now answers vectors of {len(vectors[0])} dimensions instead of "
                f"{job.target_dims}; start the re-embed again.",
            )
            return "failed"
        with transaction.atomic():
            current = _running(job_id)
            if current is None:
                return "cancelled"
            for (chunk_id, *_), vector in zip(batch, vectors, strict=True):
                Chunk.objects.filter(pk=chunk_id).update(next_embedding=vector)
            current.done += len(batch)
            current.total = max(current.total, current.done)
            current.lease_until = timezone.now() + _lease()
            current.save(update_fields=["done", "total", "lease_until", "updated_at"])
            _publish(current)


@transaction.atomic
def _switch(job_id: UUID | str) -> str:
    """The base moves to the target model in one transaction, or 'more' when chunks arrived."""
    knowledge_base_id = ReembedJob.objects.filter(pk=job_id).values_list("knowledge_base_id", flat=True).get()
    # The base's row first, then the job's: the order cancel and ingestion take them in.
    knowledge_base = KnowledgeBase.objects.select_for_update().get(pk=knowledge_base_id)
    job = _running(job_id)
    if job is None:
        return "cancelled"
    if Chunk.objects.filter(knowledge_base=knowledge_base, next_embedding__isnull=True).exists():
        return "more"
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE knowledge_chunk SET embedding = next_embedding, dims = %s, next_embedding = NULL "
            "WHERE knowledge_base_id = %s",
            [job.target_dims, knowledge_base.id],
        )
        switched = cursor.rowcount
    knowledge_base.embedding_model, knowledge_base.embedding_dims = job.target_model, job.target_dims
    knowledge_base.save(update_fields=["embedding_model", "embedding_dims", "updated_at"])
    job.status, job.lease_until, job.finished_at = ReembedStatus.DONE, None, timezone.now()
    job.done = job.total = switched
    job.save()
    _publish(job)
    logger.info("knowledge base %s switched to %r (%d chunks)", knowledge_base.id, job.target_model, switched)
    return "done"


def jobs_to_resume() -> list[UUID]:
    """Jobs nobody holds: their worker died (or their queue message was lost)."""
    now = timezone.now()
    stalled = ReembedJob.objects.filter(status__in=REEMBED_ACTIVE).filter(
        Q(lease_until__lt=now) | Q(lease_until__isnull=True, updated_at__lt=now - _lease())
    )
    return list(stalled.values_list("id", flat=True))
