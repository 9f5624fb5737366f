"""Background upkeep: a run never stays "running" after the process executing it is gone."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from apps.runs.models import Run

logger = logging.getLogger(__name__)
# The recorder heartbeats live runs every 10 s; TRELLIS_RUN_ORPHAN_SECONDS (default 90).
ORPHAN_AFTER = timedelta(seconds=settings.RUN_ORPHAN_SECONDS)


def runs_reap_orphans() -> int:
    cutoff = timezone.now() - ORPHAN_AFTER
    stale = Run.objects.filter(status=Run.Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    count = stale.update(
        status=Run.Status.FAILED,
        error_code="worker_lost",
        finished_at=timezone.now(),
        error_message="The process executing this run stopped before it finished.",
    )
    if count:
        logger.warning("marked %d orphaned runs as failed", count)
    return count


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def reap_orphaned_runs() -> None:
    runs_reap_orphans()
