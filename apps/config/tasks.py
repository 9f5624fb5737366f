"""Platform-level periodic tasks."""

from __future__ import annotations

import time

from huey import crontab
from huey.contrib.djhuey import HUEY, periodic_task

from apps.config.health import HEARTBEAT_KEY


@periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def worker_heartbeat() -> None:
    """Lets /readyz tell a live queue worker from a dead one."""
    HUEY.put(HEARTBEAT_KEY, str(time.time()))
