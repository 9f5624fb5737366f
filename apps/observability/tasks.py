"""The queue worker's part: alert rules and the dashboard's rollups every minute."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from apps.observability.alerts import alert_rules_evaluate
from apps.observability.rollups import rollups_refresh


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def alerts_evaluate() -> int:
    return alert_rules_evaluate()


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def rollups_roll() -> None:
    rollups_refresh()
