"""The model supervisor of this host (apps/serving/supervisor.py); `manage.py serve` starts it."""

from __future__ import annotations

import logging
import signal
from typing import Any

from django.core.management.base import BaseCommand

from apps.serving.supervisor import Supervisor


class Command(BaseCommand):
    help = "Runs the vLLM deployments of this host: starts, health-checks, restarts and stops them."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="The address this host's deployments listen on.")

    def handle(self, *args: Any, **options: Any) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s")
        stop: list[bool] = []

        def request_stop(signum: int, frame: Any) -> None:
            stop.append(True)

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        Supervisor(host=options["host"]).run_forever(stop)
