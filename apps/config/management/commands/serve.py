"""Run Trellis: migrations, demo account, the ASGI server and the queue worker, supervised.

The embedded PostgreSQL is started by the settings on import (when DATABASE_URL is unset) and
shared by the children; it stops when the last of them exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Starts Trellis: uvicorn (HTTP + WebSockets) and the huey consumer."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="Do not start the queue worker.")
        parser.add_argument("--skip-setup", action="store_true", help="Skip migrations and the demo account.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["skip_setup"]:
            call_command("migrate", interactive=False, verbosity=0)
            call_command("ensure_demo")
        python = sys.executable
        children: list[subprocess.Popen[bytes]] = [
            subprocess.Popen(
                [
                    python,
                    "-m",
                    "uvicorn",
                    "apps.config.asgi:application",
                    "--host",
                    options["host"],
                    "--port",
                    str(options["port"]),
                    "--lifespan",
                    "off",
                    "--no-server-header",
                    "--log-level",
                    settings.LOG_LEVEL.lower(),
                ]
            )
        ]
        if not options["no_worker"]:
            children.append(subprocess.Popen([python, "manage.py", "run_huey", "--quiet"]))
        self.stdout.write(f"Trellis is starting on http://{options['host']}:{options['port']}/  (Ctrl+C stops it)")
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    self.stderr.write(f"{child.args!r} exited with {child.returncode}; stopping Trellis.")
                    stopping, exit_code = True, 1
            time.sleep(0.3)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(exit_code)
