"""The queue worker's part: alert rules every minute."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from apps.observability.alerts import alert_rules_evaluate


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def alerts_evaluate() -> int:
    return alert_rules_evaluate()
