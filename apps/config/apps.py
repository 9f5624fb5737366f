from django.apps import AppConfig


class ConfigConfig(AppConfig):
    name = "apps.config"
    label = "config"
    verbose_name = "Trellis platform"

    def ready(self) -> None:
        from django.conf import settings
        from django.db.backends.signals import connection_created
        from huey.consumer import Scheduler

        from apps.config.db import OUTAGE, pool_checks_install

        # A connection handed out again ends a database outage (apps.config.db.Outage).
        connection_created.connect(OUTAGE.connected, dispatch_uid="trellis-outage")
        # The pool checks only connections that sat idle a while (apps.config.db.pool_check).
        connection_created.connect(pool_checks_install, dispatch_uid="trellis-pool-check")

        # huey's scheduler looks at periodic tasks every `periodic_task_seconds` (60). Every
        # periodic task here is `crontab(minute="*")`, which matches each look, so this is the
        # upkeep tick: TRELLIS_PERIODIC_SECONDS (the multi-host tests shorten it).
        Scheduler.periodic_task_seconds = settings.PERIODIC_SECONDS
