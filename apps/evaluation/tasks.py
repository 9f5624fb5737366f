"""huey tasks. huey only carries the wake-up: the evaluation row (its samples and lease) says
what is left, so a task lost with a killed worker is queued again by the resume sweep."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from apps.evaluation.models import Evaluation
from apps.evaluation.runner import ACTIVE, evaluation_execute

logger = logging.getLogger(__name__)
_started = threading.Event()
QUEUED_GRACE_S = 60  # a queued evaluation nobody took for this long is queued again


@db_task()  # type: ignore[untyped-decorator]
def run_evaluation(evaluation_id: str) -> str:
    outcome = evaluation_execute(evaluation_id)
    logger.info("evaluation %s: %s", evaluation_id, outcome)
    return outcome


def resume_stalled_evaluations() -> int:
    """Queue every active evaluation whose worker's lease ran out (its worker died)."""
    now = datetime.now(tz=UTC)
    stalled = Evaluation.objects.filter(status=Evaluation.Status.RUNNING, lease_until__lt=now)
    stale_queued = Evaluation.objects.filter(
        status=Evaluation.Status.QUEUED, created_at__lt=now - timedelta(seconds=QUEUED_GRACE_S), baseline__isnull=True
    ).exclude(pk__in=Evaluation.objects.filter(status__in=ACTIVE).values("baseline"))
    pending = [str(pk) for pk in stalled.values_list("pk", flat=True)]
    pending += [str(pk) for pk in stale_queued.values_list("pk", flat=True)]
    for evaluation_id in pending:
        run_evaluation(evaluation_id)
    if pending:
        logger.info("resuming %d unfinished evaluations", len(pending))
    return len(pending)


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def resume_stalled() -> None:
    resume_stalled_evaluations()


@HUEY.on_startup()  # type: ignore[untyped-decorator]
def _resume_on_start() -> None:
    """A restarted worker picks up what its predecessor left, without waiting a minute."""
    if _started.is_set():
        return
    _started.set()
    from django.db import close_old_connections

    try:
        resume_stalled_evaluations()
    finally:
        close_old_connections()
